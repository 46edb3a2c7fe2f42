"""The report's examples: per cohort, the fused mask's best, median and worst case by Dice.

A plain PNG (no metadata): the image in grey, the manual mask's outline in green, the automatic
one's in red; the file name is the caption (`<cohort>_<rank>_<patient>_dice<d>.png`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from ..io import atomic_path

RANKS = ("best", "median", "worst")
MANUAL, AUTO = (0.1, 0.85, 0.1), (0.95, 0.1, 0.1)


def picks(cases: pd.DataFrame) -> list[tuple[str, str, str, float]]:
    """(cohort, rank, patient, dice) of the best, median and worst case of each cohort (ties: patient id)."""
    out = []
    for cohort, g in cases.groupby("cohort", sort=True):
        g = g.sort_values(["dice", "patient"], ascending=[False, True]).reset_index(drop=True)
        for rank, i in zip(RANKS, (0, (len(g) - 1) // 2, len(g) - 1)):
            out.append((cohort, rank, g.patient[i], float(g.dice[i])))
    return out


def outline(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask) > 0
    return m & ~ndimage.binary_erosion(m)


def overlay_png(image: np.ndarray, manual: np.ndarray, auto: np.ndarray, path: str | Path, min_side: int = 256) -> None:
    from PIL import Image

    lo, hi = np.percentile(image, [1, 99])
    grey = np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    rgb[outline(manual)] = MANUAL
    rgb[outline(auto)] = AUTO
    k = max(1, math.ceil(min_side / max(image.shape)))
    rgb = rgb.repeat(k, axis=0).repeat(k, axis=1)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(np.round(rgb * 255).astype(np.uint8), mode="RGB").save(tmp, format="PNG")


def write_examples(cases: pd.DataFrame, images: dict, manual: dict, auto: dict, folder: Path) -> list[str]:
    """PNGs of `picks(cases)` into `folder`; the file names written."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for cohort, rank, patient, dice in picks(cases):
        name = f"{cohort}_{rank}_{patient}_dice{dice:.2f}.png"
        overlay_png(images[patient], manual[patient], auto[patient], folder / name)
        names.append(name)
    return names
