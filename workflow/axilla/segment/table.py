"""The study-wide segmentation tables: `segmentation/metrics.csv` (every model × view × cohort),
`segmentation/raters.csv` (Dice between manual masks, per view and rater pair) and
`segmentation/review.csv` (the automatic masks to check, axilla.segment.review)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..io import write_csv
from .metrics import bootstrap_ci, summarise
from .review import review_list

RATER_COLUMNS = ["modality", "view", "pair", "kind", "n", "dice", "dice_ci_low", "dice_ci_high"]


def rater_summary(raters: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Mean Dice per view × rater pair over every patient with both masks; `kind` says whether
    the pair is the primary rater and its own repeat (intra, e.g. A-A2) or two raters (inter)."""
    rows = []
    for i, ((mod, view, pair), g) in enumerate(raters.groupby(["modality", "view", "pair"], sort=True)):
        a, b = pair.split("-", 1)
        intra = a.rstrip("0123456789") == b.rstrip("0123456789")
        low, high = bootstrap_ci(g.dice, n_boot, seed + i)
        rows.append({"modality": mod, "view": view, "pair": pair, "kind": "intra" if intra else "inter",
                     "n": len(g), "dice": float(g.dice.mean()), "dice_ci_low": low, "dice_ci_high": high})
    return pd.DataFrame(rows, columns=RATER_COLUMNS)


def run(view_dirs: Sequence[str], n_boot: int, seed: int, out_metrics: str, out_raters: str,
        out_review: str, dice_below: float) -> None:
    cases = pd.concat([pd.read_csv(Path(d) / "cases.csv", dtype={"patient": str}) for d in view_dirs],
                      ignore_index=True)
    raters = pd.concat([pd.read_csv(Path(d) / "raters.csv", dtype={"patient": str}) for d in view_dirs],
                       ignore_index=True)
    write_csv(summarise(cases, n_boot, seed), out_metrics)
    write_csv(rater_summary(raters, n_boot, seed), out_raters)
    write_csv(review_list(cases, dice_below), out_review)
