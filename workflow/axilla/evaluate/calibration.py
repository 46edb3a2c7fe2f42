"""Calibration: Brier score, logistic recalibration (R rms `val.prob`), Hosmer-Lemeshow."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats
# the GLM itself, not statsmodels.api: that imports every submodule (time series, plots, datasets),
# ~0.7 s in each job that evaluates
from statsmodels.genmod.families import Binomial
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)

from ._checks import _as_binary, _as_probs, _r_div


def brier(y, p) -> float:
    """Mean squared difference between predicted probability and outcome."""
    y = _as_binary(y)
    p = _as_probs(p, y.size, "p")
    return float(np.mean((p - y) ** 2))


def _fit_logistic(y: np.ndarray, exog: np.ndarray, offset: np.ndarray | None) -> np.ndarray | None:
    """Unpenalised logistic GLM; None when the MLE does not exist (separation) or did not converge."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = GLM(y, exog, family=Binomial(), offset=offset).fit()
        except PerfectSeparationError:
            return None
    bad = any(issubclass(w.category, (PerfectSeparationWarning, ConvergenceWarning)) for w in caught)
    if bad or not res.converged or not np.isfinite(res.params).all():
        return None
    return np.asarray(res.params)


def calibration_intercept_slope(y, p) -> dict[str, float]:
    """Logistic recalibration as rms `val.prob` (with the offset model of `val.prob.ci.2`).

    Returns
      cal_slope      coefficient of logit(p) in   logit P(y=1) = a + b·logit(p)
      cal_intercept  a of that same model
      citl           a in logit P(y=1) = a + offset(logit(p))   (calibration-in-the-large)
      n_excluded     predictions of exactly 0 or 1, left out of both fits (infinite logit),
                     as val.prob does; a warning says how many.
    Values are nan where the MLE does not exist: one outcome class (after exclusion),
    constant predictions (slope model only), or perfect separation by logit(p).
    """
    y = _as_binary(y)
    p = _as_probs(p, y.size, "p")
    keep = (p > 0) & (p < 1)
    n_excluded = int((~keep).sum())
    if n_excluded:
        warnings.warn(
            f"{n_excluded} predictions of exactly 0 or 1 left out of logistic calibration",
            RuntimeWarning,
            stacklevel=2,
        )
    out = {"cal_intercept": math.nan, "cal_slope": math.nan, "citl": math.nan, "n_excluded": n_excluded}
    yk, pk = y[keep], p[keep]
    if yk.size == 0 or yk.min() == yk.max():
        return out
    lp = np.log(pk) - np.log1p(-pk)
    ones = np.ones((yk.size, 1))
    citl = _fit_logistic(yk, ones, offset=lp)
    if citl is not None:
        out["citl"] = float(citl[0])
    if np.ptp(lp) > 0:  # constant logit is collinear with the intercept
        slope = _fit_logistic(yk, np.column_stack([ones, lp]), offset=None)
        if slope is not None:
            out["cal_intercept"], out["cal_slope"] = float(slope[0]), float(slope[1])
    return out


def hosmer_lemeshow(y, p, groups: int = 10) -> tuple[float, int, float]:
    """Hosmer-Lemeshow goodness of fit: (chi2, df, p-value).

    Groups: `pandas.qcut(p, groups, duplicates="drop")` — quantile breaks that tie are merged.
    qcut can still leave an interval that holds no prediction; empty groups are dropped, and
    df = (number of non-empty groups) - 2. chi2 = Σ (O-E)² / (E·(1-E/n_g)), written as the
    two-cell sum (O-E)²/E + (O-E)²/(n_g-E) so a group whose predictions are all 0 (or all 1)
    contributes 0 when it matches and inf when it does not. df < 1 gives p = nan.
    """
    if groups < 2:
        raise ValueError(f"groups must be at least 2, got {groups}")
    y = _as_binary(y)
    p = _as_probs(p, y.size, "p")
    codes = np.asarray(pd.qcut(p, groups, duplicates="drop").codes)
    if (codes < 0).all():
        codes = np.zeros_like(codes)  # constant p: qcut finds no interval; one group
    chi2 = 0.0
    n_groups = 0
    for g in np.unique(codes):
        sel = codes == g
        n_g = int(sel.sum())
        obs = float(y[sel].sum())
        exp = float(p[sel].sum())
        n_groups += 1
        for o, e in ((obs, exp), (n_g - obs, n_g - exp)):
            if o != e:  # a matching cell adds 0 even when e = 0
                chi2 += _r_div((o - e) ** 2, e)
    df = n_groups - 2
    pval = float(stats.chi2.sf(chi2, df)) if df >= 1 else math.nan
    return float(chi2), int(df), pval
