"""The review list (seed 000's workflow: radiologists correct the failures): the fused automatic
masks a radiologist should check, `segmentation/review.csv`, one row per image and reason.

Reasons: `empty` (no foreground); `low_dice` (Dice to the primary rater's manual mask below
`segment.review.dice_below`, where a manual mask exists: an empty mask of an image with one has
Dice 0 and is listed for both); `area_out_of_range` (a non-empty mask whose pixel count lies
outside the range of the training cohort's primary manual masks of the view, on the same
preprocessed grid: a lesion far smaller or larger than any the networks learned from).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["modality", "view", "patient_id", "cohort", "reason", "dice", "roi_pixels", "train_min_pixels",
           "train_max_pixels"]
REASONS = ("empty", "low_dice", "area_out_of_range")
FUSED = "fused"  # the model name of the fused masks in cases.csv (axilla.segment.stage)


def reasons_of(roi_pixels: int, dice: float, low: float, high: float, dice_below: float) -> list[str]:
    """The reasons to review one mask; `dice` NaN without a manual mask, `low`/`high` NaN without a
    training range."""
    out = []
    if roi_pixels == 0:
        out.append("empty")
    if not np.isnan(dice) and dice < dice_below:
        out.append("low_dice")
    if roi_pixels > 0 and not np.isnan(low) and not low <= roi_pixels <= high:
        out.append("area_out_of_range")
    return out


def review_list(cases: pd.DataFrame, dice_below: float, train_cohort: str = "train") -> pd.DataFrame:
    """The review list of per-case rows (the stage's cases.csv: model, modality, view, cohort,
    patient, dice, roi_pixels, manual_pixels; manual_pixels and dice empty without a manual mask)."""
    rows = []
    fused = cases[cases.model == FUSED]
    for (mod, view), g in fused.groupby(["modality", "view"], sort=True):
        known = g[g.manual_pixels.notna()]
        train = known[known.cohort == train_cohort].manual_pixels
        low, high = (float(train.min()), float(train.max())) if len(train) else (np.nan, np.nan)
        for r in g.sort_values(["cohort", "patient"]).itertuples(index=False):
            dice = float(r.dice) if not pd.isna(r.manual_pixels) else np.nan
            for reason in reasons_of(int(r.roi_pixels), dice, low, high, dice_below):
                rows.append({"modality": mod, "view": view, "patient_id": r.patient, "cohort": r.cohort,
                             "reason": reason, "dice": dice, "roi_pixels": int(r.roi_pixels),
                             "train_min_pixels": low, "train_max_pixels": high})
    return pd.DataFrame(rows, columns=COLUMNS)


def counts(review: pd.DataFrame) -> pd.DataFrame:
    """Images listed per view, cohort and reason (the report's summary of the list)."""
    if review.empty:
        return pd.DataFrame(columns=["modality", "view", "cohort", *REASONS])
    table = review.groupby(["modality", "view", "cohort", "reason"]).size().unstack("reason", fill_value=0)
    return table.reindex(columns=list(REASONS), fill_value=0).reset_index()
