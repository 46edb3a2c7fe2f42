"""Discrimination per availability subgroup (``validate.missing_view: allow``): each model's AUC in
the patients of each pattern of present views that it scores."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .discrimination import auc_ci_delong

AVAILABILITY_COLUMNS = ["model", "cohort", "subgroup", "n", "positives", "auc", "auc_ci_low", "auc_ci_high"]


def availability_metrics(frames: Mapping[str, pd.DataFrame], groups: pd.Series, cohorts: Sequence[str],
                         complete: str = "complete") -> pd.DataFrame:
    """``AVAILABILITY_COLUMNS``: per model, cohort and subgroup with patients the model scores,
    their number, positives and AUC with DeLong 95 % CI (NaN without both outcome classes).

    frames: model -> its predictions indexed by patient_id (``cohort``, ``y``, ``prob``); groups:
    patient_id -> subgroup label (:func:`axilla.availability.subgroups`), ``complete`` first.
    """
    labels = [complete] + sorted(set(groups) - {complete})
    rows = []
    for model, df in frames.items():
        group = groups.reindex(df.index).to_numpy()
        for cohort in cohorts:
            for label in labels:
                sel = (df["cohort"].to_numpy() == cohort) & (group == label)
                if not sel.any():
                    continue
                y, p = df["y"].to_numpy(dtype=np.int64)[sel], df["prob"].to_numpy(dtype=float)[sel]
                auc = auc_ci_delong(y, p) if 0 < y.sum() < y.size else (math.nan,) * 3
                rows.append([model, cohort, label, int(y.size), int(y.sum()), *auc])
    return pd.DataFrame(rows, columns=AVAILABILITY_COLUMNS)
