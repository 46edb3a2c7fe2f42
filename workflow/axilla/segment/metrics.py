"""Agreement of a mask with the manual one: Dice, IoU, precision, recall, HD95 (MONAI metrics),
per image and per cohort with percentile-bootstrap 95 % CIs over patients.

Conventions for empty masks (MONAI leaves them undefined): both empty is perfect agreement (Dice,
IoU, precision, recall 1, HD95 0); an empty prediction of a non-empty truth scores Dice, IoU,
precision and recall 0 and HD95 the image's diagonal in mm (the worst distance it can hold), so a
missed lesion counts against a network instead of leaving the average.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from monai.metrics import compute_confusion_matrix_metric, compute_dice, compute_hausdorff_distance, compute_iou, \
    get_confusion_matrix

METRICS = ("dice", "iou", "precision", "recall", "hd95")
COLUMNS = ["model", "modality", "view", "cohort", "n", *METRICS,
           *[f"{m}_ci_{end}" for m in METRICS for end in ("low", "high")], "n_empty"]


def _t(mask: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(mask) > 0, dtype=torch.float32)[None, None]


def case_metrics(pred: np.ndarray, truth: np.ndarray, spacing=None) -> dict:
    """The five metrics of one 2D (or 3D) mask `pred` against `truth`; `spacing` in mm per axis."""
    p, t = _t(pred), _t(truth)
    if not p.any() or not t.any():
        both = not p.any() and not t.any()
        diag = float(np.linalg.norm(np.asarray(truth.shape) * np.asarray(spacing if spacing is not None else 1.0)))
        return {"dice": float(both), "iou": float(both), "precision": float(both), "recall": float(both),
                "hd95": 0.0 if both else diag, "empty": bool(not p.any())}
    cm = get_confusion_matrix(p, t, include_background=True)
    prec = compute_confusion_matrix_metric("precision", cm)
    rec = compute_confusion_matrix_metric("sensitivity", cm)
    hd = compute_hausdorff_distance(p, t, include_background=True, percentile=95,
                                    spacing=None if spacing is None else list(spacing))
    return {"dice": float(compute_dice(p, t, include_background=True)), "iou": float(compute_iou(p, t)),
            "precision": float(prec), "recall": float(rec), "hd95": float(hd), "empty": False}


def bootstrap_ci(values, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean of `values` (NaN, NaN without resamples or values)."""
    v = np.asarray(values, dtype=float)
    if n_boot <= 0 or len(v) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def summarise(cases: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """One row per model × modality × view × cohort of per-case rows (axilla.segment.stage); rows
    without a manual mask (dice empty) are left out, so `n` counts the evaluated images."""
    rows = []
    keys = ["model", "modality", "view", "cohort"]
    cases = cases[cases.dice.notna()]
    for i, (key, group) in enumerate(cases.groupby(keys, sort=True)):
        row = dict(zip(keys, key), n=len(group), n_empty=int(group["empty"].sum()))
        for m in METRICS:
            row[m] = float(group[m].mean())
            row[f"{m}_ci_low"], row[f"{m}_ci_high"] = bootstrap_ci(group[m], n_boot, seed + i)
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
