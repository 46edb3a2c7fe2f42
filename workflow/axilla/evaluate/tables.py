"""Per-cohort result tables: one row per model (metrics) and one per model pair (pairwise)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._checks import _as_binary, _as_probs
from .calibration import brier, calibration_intercept_slope, hosmer_lemeshow
from .discrimination import auc_ci_delong, delong_test
from .proportions import PROPORTION_CI_COLUMNS, proportion_cis
from .reclassification import idi, nri_continuous
from .thresholds import threshold_metrics, youden_threshold

# Keyed by model; cohort sizes live in the split table. The Wilson 95 % CIs of the five
# proportions come last, so the columns before them keep their places.
METRIC_COLUMNS = [
    "model", "auc", "auc_ci_low", "auc_ci_high", "threshold",
    "sensitivity", "specificity", "accuracy", "ppv", "npv", "f1", "brier",
    "cal_intercept", "cal_slope", "citl", "hl_chi2", "hl_df", "hl_p",
    *PROPORTION_CI_COLUMNS,
]
PAIRWISE_COLUMNS = ["model_a", "model_b", "delong_z", "delong_p", "nri", "nri_p", "idi", "idi_p"]


def _model_arrays(y: np.ndarray, preds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not preds:
        raise ValueError("preds is empty: no model predictions to evaluate")
    return {name: _as_probs(p, y.size, f"predictions of model '{name}'") for name, p in preds.items()}


def metrics_table(
    y,
    preds: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """One row per model (in `preds` order), columns METRIC_COLUMNS.

    `thresholds` are the per-model cut-offs to apply unchanged (in the pipeline: the training
    cohort's Youden cut-offs); None computes Youden on these data.
    """
    y = _as_binary(y)
    arrays = _model_arrays(y, preds)
    if thresholds is not None:
        missing = [name for name in arrays if name not in thresholds]
        if missing:
            raise ValueError(f"no threshold given for model(s) {missing}")
    rows = []
    for name, p in arrays.items():
        auc, low, high = auc_ci_delong(y, p)
        cut = float(thresholds[name]) if thresholds is not None else youden_threshold(y, p)
        tm = threshold_metrics(y, p, cut)
        with warnings.catch_warnings():
            # Re-raised below with the model's name, which the pure function does not know.
            warnings.filterwarnings("ignore", message=".*left out of logistic calibration", category=RuntimeWarning)
            cal = calibration_intercept_slope(y, p)
        if cal["n_excluded"]:
            warnings.warn(
                f"model '{name}': {cal['n_excluded']} predictions of exactly 0 or 1 left out of "
                "logistic calibration",
                RuntimeWarning,
                stacklevel=2,
            )
        chi2, df, hl_p = hosmer_lemeshow(y, p)
        rows.append({
            "model": name, "auc": auc, "auc_ci_low": low, "auc_ci_high": high, "threshold": cut,
            **{k: tm[k] for k in ("sensitivity", "specificity", "accuracy", "ppv", "npv", "f1")},
            "brier": brier(y, p),
            "cal_intercept": cal["cal_intercept"], "cal_slope": cal["cal_slope"], "citl": cal["citl"],
            "hl_chi2": chi2, "hl_df": df, "hl_p": hl_p,
            **proportion_cis(tm),
        })
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def pairwise_table(y, preds: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Every pair a < b in `preds` order, oriented "b over a" in every column.

    delong_z > 0 means AUC(b) > AUC(a) (i.e. delong_test(y, p_b, p_a)); nri and idi are of
    b (new) over a (old).
    """
    y = _as_binary(y)
    arrays = _model_arrays(y, preds)
    names = list(arrays)
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            z, p = delong_test(y, arrays[b], arrays[a])
            nri, _, _, nri_p = nri_continuous(y, arrays[a], arrays[b])
            idi_v, _, _, idi_p = idi(y, arrays[a], arrays[b])
            rows.append({"model_a": a, "model_b": b, "delong_z": z, "delong_p": p,
                         "nri": nri, "nri_p": nri_p, "idi": idi_v, "idi_p": idi_p})
    return pd.DataFrame(rows, columns=PAIRWISE_COLUMNS)
