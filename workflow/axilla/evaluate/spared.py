"""The clinical question: axillary surgery spared at a safe false-negative rate.

A patient the model calls negative ("p < threshold") is spared sentinel / axillary surgery; a
node-positive patient among them is a false negative (a missed metastasis). Two operating points,
both fixed on the training cohort: the largest cut-off whose training out-of-fold sensitivity
reaches a target (default 0.90, i.e. at most 10 % of metastases missed), and the Youden cut-off.
The net reduction in interventions is Vickers et al. (BMC Med Inform Decis Mak 2008; Vickers & Elkin
2006): (NB_model - NB_treat_all) · (1 - pt) / pt per 100 patients, the same as dcurves'
``net_intervention_avoided(nper = 100)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._checks import _as_binary, _as_scores
from .decision import DEFAULT_DCA_THRESHOLDS, _check_thresholds

SPARED_MEASURES = ("spared_per_100", "fn_per_100", "npv", "sensitivity")
SPARED_COLUMNS = (["model", "cohort", "rule", "threshold", "train_sensitivity", "n", "positives", "spared", "fn"]
                  + [c for m in SPARED_MEASURES for c in (m, f"{m}_ci_low", f"{m}_ci_high")] + ["n_boot"])
INTERVENTION_COLUMNS = ["threshold", "model", "net_reduction_per_100"]


def sensitivity_threshold(y, p, target: float) -> float:
    """The largest cut-off t with training sensitivity (p >= t called positive) >= target.

    Sensitivity falls as t rises, so t is the k-th largest positive score, k = ceil(target · m):
    exactly k or more of the m positives lie at or above it and any larger cut-off has fewer.
    """
    y = _as_binary(y)
    p = _as_scores(p, y.size, "p")
    if not 0 < target <= 1:
        raise ValueError(f"sensitivity target must be in (0, 1], got {target}")
    pos = np.sort(p[y == 1])[::-1]
    if pos.size == 0:
        raise ValueError("no node-positive patient in the training cohort: no sensitivity can be set")
    k = math.ceil(target * pos.size - 1e-9)  # 0.9 · 30 is 27.000000000000004 in floating point
    return float(pos[k - 1])


def spared_measures(y, p, threshold: float) -> dict[str, float]:
    """Counts and the four measures at a cut-off: spared (called negative) and false negatives per 100
    patients, NPV and sensitivity (nan when their denominator is zero)."""
    y = _as_binary(y)
    p = _as_scores(p, y.size, "p")
    negative = p < threshold
    spared, fn, pos = int(negative.sum()), int((negative & (y == 1)).sum()), int(y.sum())
    return {"n": int(y.size), "positives": pos, "spared": spared, "fn": fn,
            "spared_per_100": 100.0 * spared / y.size, "fn_per_100": 100.0 * fn / y.size,
            "npv": (spared - fn) / spared if spared else math.nan,
            "sensitivity": (pos - fn) / pos if pos else math.nan}


def bootstrap_spared(y, p, threshold: float, n_boot: int, seed: int, level: float = 0.95) -> dict[str, float]:
    """Percentile bootstrap CIs of SPARED_MEASURES: patients resampled with replacement, the cut-off held
    fixed (it is set on the training cohort, as it would be in use). Resamples where a measure is undefined
    (e.g. nobody spared for NPV) are left out of that measure's interval."""
    y = _as_binary(y)
    p = _as_scores(p, y.size, "p")
    if n_boot < 1:
        return {f"{m}_ci_{e}": math.nan for m in SPARED_MEASURES for e in ("low", "high")}
    idx = np.random.default_rng(seed).integers(0, y.size, (y.size, n_boot))
    yb, negative = y[idx], p[idx] < threshold
    spared = negative.sum(axis=0).astype(float)
    fn = (negative & (yb == 1)).sum(axis=0).astype(float)
    pos = (yb == 1).sum(axis=0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = {"spared_per_100": 100 * spared / y.size, "fn_per_100": 100 * fn / y.size,
                  "npv": np.where(spared > 0, (spared - fn) / spared, np.nan),
                  "sensitivity": np.where(pos > 0, (pos - fn) / pos, np.nan)}
    tail = 100 * (1 - level) / 2
    out = {}
    for m, v in values.items():
        v = v[np.isfinite(v)]
        low, high = np.percentile(v, [tail, 100 - tail]) if v.size else (math.nan, math.nan)
        out[f"{m}_ci_low"], out[f"{m}_ci_high"] = float(low), float(high)
    return out


def net_reduction(y, p, thresholds=None) -> np.ndarray:
    """Net reduction in interventions per 100 patients at each threshold pt ("p >= pt is operated"):
    (TN/n - FN/n · (1 - pt)/pt) · 100, i.e. (NB_model - NB_treat_all) · (1 - pt)/pt · 100."""
    y = _as_binary(y)
    p = _as_scores(p, y.size, "p")
    t = _check_thresholds(DEFAULT_DCA_THRESHOLDS if thresholds is None else thresholds)
    if (t <= 0).any():
        raise ValueError("net reduction in interventions needs threshold probabilities above 0")
    pos, neg = np.sort(p[y == 1]), np.sort(p[y == 0])
    fn = np.searchsorted(pos, t, side="left")  # positives with p < pt
    tn = np.searchsorted(neg, t, side="left")
    return 100.0 * (tn / y.size - fn / y.size * (1 - t) / t)


def interventions_curve(y, preds: Mapping[str, np.ndarray], thresholds=None) -> pd.DataFrame:
    """Long table (INTERVENTION_COLUMNS): the net reduction in interventions of each model over the
    decision curve's thresholds (0.01, ..., 0.99 by default)."""
    t = _check_thresholds(DEFAULT_DCA_THRESHOLDS if thresholds is None else thresholds)
    frames = [pd.DataFrame({"threshold": t, "model": name, "net_reduction_per_100": net_reduction(y, p, t)})
              for name, p in preds.items()]
    return pd.concat(frames, ignore_index=True)[INTERVENTION_COLUMNS] if frames else pd.DataFrame(
        columns=INTERVENTION_COLUMNS)


def spared_rows(model: str, cohort: str, y, p, cutoffs: Mapping[str, tuple[float, float]],
                n_boot: int, seed: int) -> list[dict]:
    """SPARED_COLUMNS rows of one model on one cohort: per rule name -> (cut-off, its training
    sensitivity), the measures with their bootstrap CIs."""
    rows = []
    for rule, (threshold, train_sens) in cutoffs.items():
        rows.append({"model": model, "cohort": cohort, "rule": rule, "threshold": threshold,
                     "train_sensitivity": train_sens, **spared_measures(y, p, threshold),
                     **bootstrap_spared(y, p, threshold, n_boot, seed), "n_boot": n_boot})
    return rows
