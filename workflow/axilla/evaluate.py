"""Statistics of model evaluation, each pinned to a named reference definition.

Every function here is pure (arrays in, numbers out) except the file-level `evaluate_cohorts`
(per-cohort prediction tables -> result tables) and `run` (the Snakemake rule's entry point,
per-model prediction files -> `evaluate_cohorts`). The definitions follow the references that
radiology papers cite, so numbers can be checked against R by a reviewer:

* AUC           Mann-Whitney statistic, "higher score = positive", never flipped.
* DeLong        R pROC `ci.auc(method="delong")` / `roc.test(method="delong", paired=TRUE)`.
* Calibration   R rms `val.prob` (logistic recalibration; p of exactly 0 or 1 left out).
* HL            Hosmer-Lemeshow with `pandas.qcut` decile groups.
* NRI / IDI     R Hmisc `improveProb` (category-free NRI, IDI, their standard errors).
* Net benefit   Vickers & Elkin decision-curve analysis, "p >= pt is treated".

Scores of exactly tied predictions are handled explicitly everywhere; see each docstring.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.tools.sm_exceptions import (
    ConvergenceWarning,
    PerfectSeparationError,
    PerfectSeparationWarning,
)

from axilla.errors import InputError, Problem

# Exactly the columns the issue lists, keyed by model; cohort sizes live in the split table.
METRIC_COLUMNS = [
    "model", "auc", "auc_ci_low", "auc_ci_high", "threshold",
    "sensitivity", "specificity", "accuracy", "ppv", "npv", "f1", "brier",
    "cal_intercept", "cal_slope", "citl", "hl_chi2", "hl_df", "hl_p",
]
PAIRWISE_COLUMNS = ["model_a", "model_b", "delong_z", "delong_p", "nri", "nri_p", "idi", "idi_p"]
# Clinical impact curve (Kerr et al.): per 1000 patients, how many are called high risk (p >= pt)
# and how many of those are events, at each threshold of the same grid.
DCA_COLUMNS = ["threshold", "model", "net_benefit", "high_risk_per_1000", "high_risk_events_per_1000"]
READER_COLUMNS = ["reader", "n", "auc", "auc_ci_low", "auc_ci_high", "threshold", "sensitivity",
                  "specificity", "accuracy"]
READER_VS_MODEL_COLUMNS = ["reader", "model", "reader_auc", "model_auc", "delong_z", "delong_p"]
READER_PAIR_COLUMNS = ["reader_a", "reader_b", "n", "agreement", "kappa", "auc_a", "auc_b", "delong_z", "delong_p"]
OPTIMISM_COLUMNS = ["model", "apparent", "optimism", "corrected", "n_boot"]
REFERENCE_STRATEGIES = ("treat_all", "treat_none")

# Integer hundredths, not np.arange(0.01, 1.0, 0.01): the latter accumulates rounding error
# (e.g. 0.07 comes out as 0.07000000000000001), which would move "p >= pt" at ties.
DEFAULT_DCA_THRESHOLDS = np.arange(1, 100) / 100


# ---------------------------------------------------------------------------------------------
# input checks (ValueError: these are programming/data errors seen by the caller)
# ---------------------------------------------------------------------------------------------

def _as_binary(y, name: str = "y") -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric 0/1, got dtype {arr.dtype}")
    ok = np.isin(arr, (0, 1))
    if not ok.all():
        bad = arr[~ok][:5]
        raise ValueError(f"{name} must contain only 0 and 1 (no missing values); found {bad.tolist()}")
    return arr.astype(np.int64)


def _as_scores(s, n: int, name: str) -> np.ndarray:
    arr = np.asarray(s, dtype=float)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be one-dimensional with {n} values (one per y), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains {int((~np.isfinite(arr)).sum())} missing or infinite values")
    return arr


def _as_probs(p, n: int, name: str) -> np.ndarray:
    arr = _as_scores(p, n, name)
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{name} must be probabilities in [0, 1]; range is [{arr.min()}, {arr.max()}]")
    return arr


def _require_both_classes(y: np.ndarray, what: str) -> None:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        only = "1 (all positive)" if n_pos else "0 (all negative)"
        raise ValueError(
            f"{what} needs at least one positive and one negative case, "
            f"but y has only class {only} among {y.size} cases"
        )


def _r_div(a: float, b: float) -> float:
    """a / b with IEEE/R semantics (x/0 = ±inf, 0/0 = nan) instead of ZeroDivisionError."""
    if b == 0 or math.isnan(b):
        if math.isnan(b) or a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a)
    return a / b


def _two_sided_p(z: float) -> float:
    # nan stays nan, ±inf gives 0, as R's 2 * pnorm(-abs(z)).
    return float(2.0 * stats.norm.sf(abs(z)))


# ---------------------------------------------------------------------------------------------
# discrimination: AUC and DeLong
# ---------------------------------------------------------------------------------------------

def _placements(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong placement values (V10 per positive, V01 per negative), via midranks.

    Midrank in the pooled sample minus midrank within one's own class equals
    (#other-class values below) + ½ (#other-class values tied), so no O(m·n) pair loop is needed.
    """
    pos = score[y == 1]
    neg = score[y == 0]
    m, n = pos.size, neg.size
    pooled = stats.rankdata(np.concatenate([pos, neg]))
    v10 = (pooled[:m] - stats.rankdata(pos)) / n
    v01 = 1.0 - (pooled[m:] - stats.rankdata(neg)) / m
    return v10, v01


def roc_auc(y, score) -> float:
    """Mann-Whitney AUC: P(score_pos > score_neg) + ½ P(tie). Higher score = positive.

    Never flipped: a model that ranks backwards gets AUC < 0.5, as it should be reported.
    Raises ValueError when y holds one class only.
    """
    y = _as_binary(y)
    score = _as_scores(score, y.size, "score")
    _require_both_classes(y, "roc_auc")
    v10, _ = _placements(y, score)
    return float(v10.mean())


def _delong_variance(v10: np.ndarray, v01: np.ndarray) -> float:
    m, n = v10.size, v01.size
    if m < 2 or n < 2:
        return math.nan  # sample variance undefined; pROC returns NA here too
    return float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)


def auc_variance_delong(y, score) -> float:
    """DeLong variance of the AUC, = pROC `var(roc, method="delong")`."""
    y = _as_binary(y)
    score = _as_scores(score, y.size, "score")
    _require_both_classes(y, "auc_variance_delong")
    return _delong_variance(*_placements(y, score))


def auc_ci_delong(y, score, level: float = 0.95) -> tuple[float, float, float]:
    """(auc, low, high): auc ± z·sqrt(var_DeLong), truncated to [0, 1] as pROC does.

    Zero variance (AUC of exactly 0 or 1) gives the degenerate interval (auc, auc). With a
    single positive or a single negative the variance is undefined and the bounds are nan.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    y = _as_binary(y)
    score = _as_scores(score, y.size, "score")
    _require_both_classes(y, "auc_ci_delong")
    v10, v01 = _placements(y, score)
    auc = float(v10.mean())
    var = _delong_variance(v10, v01)
    if math.isnan(var):
        return auc, math.nan, math.nan
    half = stats.norm.ppf(1 - (1 - level) / 2) * math.sqrt(var)
    return auc, float(max(0.0, auc - half)), float(min(1.0, auc + half))


def delong_test(y, s1, s2) -> tuple[float, float]:
    """Paired two-sided DeLong test of AUC(s1) - AUC(s2), = pROC `roc.test(method="delong", paired=TRUE)`.

    z = (AUC1 - AUC2) / sqrt(L S L'), S = S10/m + S01/n from the sample covariance matrices of
    the two scores' placement values. Zero variance of the difference follows pROC: equal AUCs
    give z = 0, p = 1 (pROC's special case); different AUCs give z = ±inf, p = 0 (what R's
    division yields). Fewer than 2 positives or negatives: (nan, nan).
    """
    y = _as_binary(y)
    s1 = _as_scores(s1, y.size, "s1")
    s2 = _as_scores(s2, y.size, "s2")
    _require_both_classes(y, "delong_test")
    a10, a01 = _placements(y, s1)
    b10, b01 = _placements(y, s2)
    m, n = a10.size, a01.size
    if m < 2 or n < 2:
        return math.nan, math.nan
    s10 = np.cov(np.vstack([a10, b10]), ddof=1)
    s01 = np.cov(np.vstack([a01, b01]), ddof=1)
    cov = s10 / m + s01 / n
    # Rounding can leave a hair below zero for (near-)identical scores.
    var_diff = max(0.0, float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]))
    d = float(a10.mean() - b10.mean())
    if var_diff == 0.0:
        z = 0.0 if d == 0 else math.copysign(math.inf, d)
    else:
        z = d / math.sqrt(var_diff)
    return z, _two_sided_p(z)


# ---------------------------------------------------------------------------------------------
# operating point
# ---------------------------------------------------------------------------------------------

def youden_threshold(y, p) -> float:
    """Cut-off maximising J = sensitivity + specificity - 1, rule "p >= threshold is positive".

    Candidates are the observed distinct values of p (so the cut-off reproduces exactly on the
    data it came from). J is compared in exact integer arithmetic (J·m·n), and ties in J go to
    the HIGHER threshold — the more specific, more conservative operating point.
    """
    y = _as_binary(y)
    p = _as_scores(p, y.size, "p")
    _require_both_classes(y, "youden_threshold")
    pos = np.sort(p[y == 1])
    neg = np.sort(p[y == 0])
    m, n = pos.size, neg.size
    cand = np.unique(p)  # ascending
    tp = m - np.searchsorted(pos, cand, side="left")  # positives with p >= t
    tn = np.searchsorted(neg, cand, side="left")  # negatives with p < t
    j_scaled = tp.astype(np.int64) * n + tn.astype(np.int64) * m
    best = np.flatnonzero(j_scaled == j_scaled.max())[-1]  # last = highest threshold
    return float(cand[best])


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def threshold_metrics(y, p, threshold: float) -> dict[str, float]:
    """Confusion-matrix metrics with "p >= threshold is positive".

    Returns tp, fp, tn, fn (counts) and sensitivity, specificity, accuracy, ppv, npv, f1;
    a metric whose denominator is zero is nan (e.g. ppv when nobody is called positive).
    """
    y = _as_binary(y)
    p = _as_scores(p, y.size, "p")
    call = p >= threshold
    tp = int(np.sum(call & (y == 1)))
    fp = int(np.sum(call & (y == 0)))
    tn = int(np.sum(~call & (y == 0)))
    fn = int(np.sum(~call & (y == 1)))
    return {
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "accuracy": _ratio(tp + tn, y.size),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def brier(y, p) -> float:
    """Mean squared difference between predicted probability and outcome."""
    y = _as_binary(y)
    p = _as_probs(p, y.size, "p")
    return float(np.mean((p - y) ** 2))


# ---------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------

def _fit_logistic(y: np.ndarray, exog: np.ndarray, offset: np.ndarray | None) -> np.ndarray | None:
    """Unpenalised logistic GLM; None when the MLE does not exist (separation) or did not converge."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = sm.GLM(y, exog, family=sm.families.Binomial(), offset=offset).fit()
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


# ---------------------------------------------------------------------------------------------
# reclassification: NRI and IDI (Hmisc improveProb)
# ---------------------------------------------------------------------------------------------

def _paired_probs(y, p_old, p_new, what: str) -> tuple[np.ndarray, np.ndarray]:
    y = _as_binary(y)
    p_old = _as_probs(p_old, y.size, "p_old")
    p_new = _as_probs(p_new, y.size, "p_new")
    _require_both_classes(y, what)
    return y, p_new - p_old


def nri_continuous(y, p_old, p_new) -> tuple[float, float, float, float]:
    """Category-free NRI of p_new over p_old, = Hmisc `improveProb`: (nri, se, z, p).

    nri = [P(up|event) - P(down|event)] + [P(down|non-event) - P(up|non-event)], where "up"
    means p_new > p_old exactly; unchanged predictions count as neither.
    Var = (u+d)/N² - (u-d)²/N³ per class (u, d = counts up/down, N = class size), summed.
    z = nri/se with R semantics: se = 0 gives z = ±inf (p = 0) or, with nri = 0, z = p = nan.
    """
    y, d = _paired_probs(y, p_old, p_new, "nri_continuous")
    ev, ne = d[y == 1], d[y == 0]

    def component(up: int, down: int, size: int) -> float:
        # (u+d)/N² - (u-d)²/N³ over a common denominator: exact in integers, never negative.
        return (size * (up + down) - (up - down) ** 2) / size**3

    up_ev, down_ev = int((ev > 0).sum()), int((ev < 0).sum())
    up_ne, down_ne = int((ne > 0).sum()), int((ne < 0).sum())
    nri = (up_ev - down_ev) / ev.size + (down_ne - up_ne) / ne.size
    se = math.sqrt(component(up_ev, down_ev, ev.size) + component(up_ne, down_ne, ne.size))
    z = _r_div(nri, se)
    return float(nri), se, z, _two_sided_p(z)


def idi(y, p_old, p_new) -> tuple[float, float, float, float]:
    """Integrated discrimination improvement of p_new over p_old, = Hmisc `improveProb`.

    idi = mean(Δp | event) - mean(Δp | non-event), Δp = p_new - p_old;
    se = sqrt(var(Δp|event)/n_ev + var(Δp|non-event)/n_ne) with sample variances (n-1).
    A class of size 1 makes se nan (R's var of one value is NA). z follows R semantics.
    """
    y, d = _paired_probs(y, p_old, p_new, "idi")
    ev, ne = d[y == 1], d[y == 0]
    value = float(ev.mean() - ne.mean())
    if ev.size < 2 or ne.size < 2:
        return value, math.nan, math.nan, math.nan
    se = math.sqrt(np.var(ev, ddof=1) / ev.size + np.var(ne, ddof=1) / ne.size)
    z = _r_div(value, se)
    return value, se, z, _two_sided_p(z)


# ---------------------------------------------------------------------------------------------
# decision-curve analysis
# ---------------------------------------------------------------------------------------------

def _check_thresholds(thresholds) -> np.ndarray:
    t = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if t.ndim != 1 or not np.isfinite(t).all() or t.min() < 0 or t.max() >= 1:
        raise ValueError("threshold probabilities must be finite and in [0, 1)")
    return t


def net_benefit(y, p, thresholds) -> np.ndarray:
    """Net benefit TP/n - FP/n · pt/(1-pt) at each threshold pt, with "p >= pt is treated"."""
    y = _as_binary(y)
    p = _as_scores(p, y.size, "p")
    t = _check_thresholds(thresholds)
    pos = np.sort(p[y == 1])
    neg = np.sort(p[y == 0])
    tp = pos.size - np.searchsorted(pos, t, side="left")
    fp = neg.size - np.searchsorted(neg, t, side="left")
    return tp / y.size - fp / y.size * (t / (1 - t))


def clinical_impact(y, p, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """Clinical impact curve per 1000 patients: (called high risk, events among them), p >= pt."""
    y = _as_binary(y)
    p = _as_scores(p, y.size, "p")
    t = _check_thresholds(thresholds)
    ps = np.sort(p)
    pos = np.sort(p[y == 1])
    high = ps.size - np.searchsorted(ps, t, side="left")
    events = pos.size - np.searchsorted(pos, t, side="left")
    return 1000.0 * high / y.size, 1000.0 * events / y.size


def decision_curve(y, preds: Mapping[str, np.ndarray], thresholds=None) -> pd.DataFrame:
    """Long table (DCA_COLUMNS): each model, then "treat_all" and "treat_none".

    treat_all is the net benefit of calling everyone positive (prevalence - (1-prevalence)·pt/(1-pt));
    treat_none is 0. Default thresholds 0.01, 0.02, ..., 0.99. The last two columns are the
    clinical impact curve (`clinical_impact`) of each strategy.
    """
    y = _as_binary(y)
    t = _check_thresholds(DEFAULT_DCA_THRESHOLDS if thresholds is None else thresholds)
    clash = set(preds) & set(REFERENCE_STRATEGIES)
    if clash:
        raise ValueError(f"model names {sorted(clash)} are reserved for the reference strategies")
    curves = {name: net_benefit(y, p, t) for name, p in preds.items()}
    curves["treat_all"] = net_benefit(y, np.ones(y.size), t)
    curves["treat_none"] = np.zeros(t.size)
    impact = {name: clinical_impact(y, p, t) for name, p in preds.items()}
    impact["treat_all"] = clinical_impact(y, np.ones(y.size), t)
    impact["treat_none"] = (np.zeros(t.size), np.zeros(t.size))
    frames = [pd.DataFrame({"threshold": t, "model": name, "net_benefit": nb,
                            "high_risk_per_1000": impact[name][0],
                            "high_risk_events_per_1000": impact[name][1]})
              for name, nb in curves.items()]
    return pd.concat(frames, ignore_index=True)[DCA_COLUMNS]


# ---------------------------------------------------------------------------------------------
# internal validation
# ---------------------------------------------------------------------------------------------

def bootstrap_optimism_auc(
    X,
    y,
    fit_predict: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    n_boot: int = 200,
    seed: int = 0,
    n_jobs: int = 1,
) -> dict[str, float]:
    """Harrell's bootstrap optimism correction of the apparent AUC.

    fit_predict(X_fit, y_fit, X_eval) -> scores for X_eval must refit the WHOLE modelling
    procedure (selection included) on X_fit. For each of n_boot resamples (with replacement,
    redrawn until both classes are present): optimism_b = AUC(model_b on its resample) -
    AUC(model_b on the original data). Returns apparent, optimism (mean), corrected
    (= apparent - optimism) and n_boot. All resamples are drawn up front from `seed`, so the
    result does not depend on n_jobs (resamples run in parallel processes when n_jobs > 1).
    """
    frame = isinstance(X, pd.DataFrame)  # kept as a frame: the pipeline's models need column names
    X = X.reset_index(drop=True) if frame else np.asarray(X)
    y = _as_binary(y)
    if X.shape[0] != y.size:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.size} values")
    _require_both_classes(y, "bootstrap_optimism_auc")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    resamples = []
    while len(resamples) < n_boot:
        idx = rng.integers(0, y.size, y.size)
        if 0 < y[idx].sum() < y.size:
            resamples.append(idx)
    apparent = roc_auc(y, fit_predict(X, y, X))
    if n_jobs == 1:
        optimism = [_optimism_one(X, y, idx, fit_predict, frame) for idx in resamples]
    else:
        from joblib import Parallel, delayed

        optimism = Parallel(n_jobs=n_jobs)(delayed(_optimism_one)(X, y, idx, fit_predict, frame) for idx in resamples)
    mean_opt = float(np.mean(optimism))
    return {"apparent": apparent, "optimism": mean_opt, "corrected": apparent - mean_opt, "n_boot": n_boot}


def _optimism_one(X, y: np.ndarray, idx: np.ndarray, fit_predict, frame: bool) -> float:
    yb = y[idx]
    if frame:  # a resample repeats rows: fresh labels so nothing downstream aligns on them
        Xb = X.iloc[idx].reset_index(drop=True)
        both = pd.concat([Xb, X], ignore_index=True)
    else:
        Xb = X[idx]
        both = np.concatenate([Xb, X])
    scores = np.asarray(fit_predict(Xb, yb, both), dtype=float)
    return roc_auc(yb, scores[: y.size]) - roc_auc(y, scores[y.size:])


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# reader study (seeds 002, 003)
# ---------------------------------------------------------------------------------------------

def reader_calls(r, threshold: float = 0.5) -> np.ndarray:
    """A reader's positive calls: "r >= threshold" (0/1 readings are their own calls)."""
    return (np.asarray(r, dtype=float) >= threshold).astype(np.int64)


def reader_tables(
    y,
    readers: Mapping[str, np.ndarray],
    models: Mapping[str, np.ndarray],
    threshold: float = 0.5,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Readers evaluated like models: (per reader, reader vs model, reader pairs).

    A reading is a probability or 0/1 (missing = not read; each statistic uses the patients
    that reader read). Per reader: AUC with DeLong CI (a 0/1 reader's AUC is (sens + spec)/2),
    and sensitivity, specificity, accuracy of the calls "reading >= threshold". Reader vs model:
    paired DeLong on the patients the reader read, z > 0 when the reader's AUC is higher.
    Reader pairs, on the patients both read: Cohen's unweighted kappa of the calls (sklearn
    `cohen_kappa_score`; nan when both call one class only) and paired DeLong of their AUCs, z > 0
    when reader_a's is higher; a reader with and without AI assistance is such a pair (seed 003).
    """
    from sklearn.metrics import cohen_kappa_score

    y = _as_binary(y)
    vals = {}
    for name, r in readers.items():
        arr = np.asarray(r, dtype=float)
        if arr.shape != y.shape:
            raise ValueError(f"reader '{name}' has {arr.size} readings for {y.size} patients")
        ok = np.isfinite(arr)
        if ok.any() and (arr[ok].min() < 0 or arr[ok].max() > 1):
            raise ValueError(f"reader '{name}': readings must be probabilities or 0/1 in [0, 1]")
        vals[name] = (arr, ok)
    rows, vs, kap = [], [], []
    for name, (arr, ok) in vals.items():
        yk, rk = y[ok], arr[ok]
        row = {"reader": name, "n": int(ok.sum())}
        if yk.size and 0 < yk.sum() < yk.size:
            row["auc"], row["auc_ci_low"], row["auc_ci_high"] = auc_ci_delong(yk, rk)
            for model, p in models.items():
                pk = _as_probs(p, y.size, f"predictions of model '{model}'")[ok]
                z, pv = delong_test(yk, rk, pk)
                vs.append({"reader": name, "model": model, "reader_auc": row["auc"],
                           "model_auc": roc_auc(yk, pk), "delong_z": z, "delong_p": pv})
        tm = threshold_metrics(yk, reader_calls(rk, threshold), 1)
        rows.append({**row, "threshold": threshold,
                     **{k: tm[k] for k in ("sensitivity", "specificity", "accuracy")}})
    names = list(vals)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = vals[a][1] & vals[b][1]
            ca, cb = reader_calls(vals[a][0][both], threshold), reader_calls(vals[b][0][both], threshold)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 when both call one class only
                kappa = float(cohen_kappa_score(ca, cb)) if both.any() else math.nan
            row = {"reader_a": a, "reader_b": b, "n": int(both.sum()),
                   "agreement": float(np.mean(ca == cb)) if both.any() else math.nan, "kappa": kappa}
            yb = y[both]
            if yb.size and 0 < yb.sum() < yb.size:
                ra, rb = vals[a][0][both], vals[b][0][both]
                row["auc_a"], row["auc_b"] = roc_auc(yb, ra), roc_auc(yb, rb)
                row["delong_z"], row["delong_p"] = delong_test(yb, ra, rb)
            kap.append(row)
    return (pd.DataFrame(rows, columns=READER_COLUMNS), pd.DataFrame(vs, columns=READER_VS_MODEL_COLUMNS),
            pd.DataFrame(kap, columns=READER_PAIR_COLUMNS))


def load_readers(clinical_path: str, readers: Mapping[str, str]) -> pd.DataFrame:
    """Reader columns of the clinical table, indexed by patient_id, renamed to reader names.

    Every problem (missing column, non-numeric or out-of-range reading) is reported at once.
    """
    from .io import read_table

    table = read_table(clinical_path)
    problems = []
    for name, col in readers.items():
        if col not in table.columns:
            problems.append(Problem(clinical_path, f"reader '{name}': column not found", column=col))
            continue
        v = pd.to_numeric(table[col], errors="coerce")
        bad = (table[col].notna() & v.isna()) | (v < 0) | (v > 1)
        for row in np.flatnonzero(bad.to_numpy())[:5]:
            problems.append(Problem(clinical_path, f"reading must be a probability or 0/1, found "
                                    f"'{table[col].iloc[row]}'", row + 1, col))
    if problems:
        raise InputError(problems)
    out = pd.DataFrame({name: pd.to_numeric(table[col], errors="coerce") for name, col in readers.items()})
    out.index = table["patient_id"].astype(str).str.strip()
    return out


# ---------------------------------------------------------------------------------------------
# file level
# ---------------------------------------------------------------------------------------------

def _write_csv_atomic(df: pd.DataFrame, path: str) -> None:
    """Temp file in the same folder + os.replace, so a reader never sees half a table."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            df.to_csv(fh, index=False, lineterminator="\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_predictions(path: str, problems: list[Problem]) -> pd.DataFrame | None:
    """Read one predictions CSV, appending every problem found (not only the first)."""
    try:
        df = pd.read_csv(path, dtype={"patient_id": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        problems.append(Problem(path, f"cannot read predictions table: {exc}"))
        return None
    cols = list(df.columns)
    if cols[:2] != ["patient_id", "y"]:
        problems.append(Problem(path, f"columns must start with 'patient_id, y', found {cols[:2]}"))
        return None
    if len(cols) < 3:
        problems.append(Problem(path, "no model probability columns after 'patient_id, y'"))
        return None
    n_before = len(problems)
    dup = df["patient_id"].duplicated(keep="first")
    for row in np.flatnonzero(dup.to_numpy())[:5]:
        problems.append(Problem(path, f"duplicate patient_id {df['patient_id'].iloc[row]!r}", row + 1, "patient_id"))
    y = pd.to_numeric(df["y"], errors="coerce")
    for row in np.flatnonzero(~y.isin([0, 1]).to_numpy())[:5]:
        problems.append(Problem(path, f"outcome must be 0 or 1, found {df['y'].iloc[row]!r}", row + 1, "y"))
    for col in cols[2:]:
        p = pd.to_numeric(df[col], errors="coerce")
        bad = ~(p.between(0, 1) & np.isfinite(p))
        for row in np.flatnonzero(bad.to_numpy())[:5]:
            problems.append(Problem(path, f"probability must be a number in [0, 1], found {df[col].iloc[row]!r}",
                                    row + 1, col))
    if len(problems) > n_before:
        return None
    return df


def evaluate_cohorts(predictions: Mapping[str, str], train_cohort: str, out_dir: str) -> dict[str, list[str]]:
    """Evaluate every cohort's predictions with the TRAINING cohort's Youden cut-offs.

    predictions: cohort name -> CSV with columns `patient_id, y, <model>...` (probabilities).
    Writes, atomically, per cohort: <cohort>.csv (metrics_table), <cohort>_pairwise.csv,
    <cohort>_dca.csv. Returns cohort -> written paths. All input problems across all files
    are reported together as one InputError before anything is written.
    """
    problems: list[Problem] = []
    if train_cohort not in predictions:
        raise ValueError(f"training cohort '{train_cohort}' is not among the cohorts {sorted(predictions)}")
    outputs: dict[str, list[str]] = {}
    for cohort in predictions:
        if not cohort or os.sep in cohort or (os.altsep and os.altsep in cohort) or cohort.startswith("."):
            raise ValueError(f"cohort name {cohort!r} cannot be used as a file name")
        outputs[cohort] = [os.path.join(out_dir, f"{cohort}{suffix}.csv") for suffix in ("", "_pairwise", "_dca")]
    every = [p for paths in outputs.values() for p in paths]
    if len(set(every)) != len(every):
        raise ValueError(f"cohort names {sorted(predictions)} would write two tables to the same file")

    tables = {cohort: _read_predictions(path, problems) for cohort, path in predictions.items()}
    train = tables[train_cohort]
    if train is not None:
        models = list(train.columns[2:])
        for cohort, df in tables.items():
            if df is None or cohort == train_cohort:
                continue
            if sorted(df.columns[2:]) != sorted(models):
                problems.append(Problem(predictions[cohort],
                                        f"model columns {list(df.columns[2:])} differ from the training "
                                        f"cohort's {models}"))
        y_train = train["y"].to_numpy(dtype=np.int64)
        if y_train.size == 0 or y_train.min() == y_train.max():
            problems.append(Problem(predictions[train_cohort],
                                    "training cohort has one outcome class only; no cut-off can be derived",
                                    column="y"))
    if problems:
        raise InputError(problems)

    thresholds = {m: youden_threshold(y_train, train[m].to_numpy(dtype=float)) for m in models}
    os.makedirs(out_dir, exist_ok=True)
    for cohort, df in tables.items():
        y = df["y"].to_numpy(dtype=np.int64)
        preds = {m: df[m].to_numpy(dtype=float) for m in models}  # training order, every cohort
        try:
            results = (metrics_table(y, preds, thresholds), pairwise_table(y, preds), decision_curve(y, preds))
        except ValueError as exc:
            raise ValueError(f"cohort '{cohort}' ({predictions[cohort]}): {exc}") from exc
        for table, path in zip(results, outputs[cohort], strict=True):
            _write_csv_atomic(table, path)
    return outputs


def run(model_predictions: Mapping[str, str], cohorts: Sequence[str], outdir: str,
        train_cohort: str = "train", clinical: str | None = None,
        readers: Mapping[str, str] | None = None, reader_threshold: float = 0.5) -> None:
    """The `evaluate` rule: per-model prediction files -> per-cohort tables.

    model_predictions: model name -> CSV written by training (`patient_id, cohort, y, prob, ...`;
    `prob` is the final model's probability, which is what is evaluated).
    Writes <outdir>/predictions/<cohort>.csv (`patient_id, y, <model>...`) and, through
    `evaluate_cohorts`, <outdir>/metrics/<cohort>.csv, _pairwise.csv and _dca.csv. With
    `readers` (reader name -> column of the `clinical` table) also <cohort>_readers.csv,
    _readers_vs_models.csv and _reader_pairs.csv (`reader_tables`).
    """
    problems: list[Problem] = []
    frames: dict[str, pd.DataFrame] = {}
    for model, path in model_predictions.items():
        try:
            df = pd.read_csv(path, dtype={"patient_id": str, "cohort": str})
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            problems.append(Problem(path, f"cannot read predictions of model '{model}': {exc}"))
            continue
        missing = [c for c in ("patient_id", "cohort", "y", "prob") if c not in df.columns]
        if missing:
            problems.append(Problem(path, f"missing column(s) {missing}"))
            continue
        if df["patient_id"].duplicated().any():
            problems.append(Problem(path, "duplicate patient_id", column="patient_id"))
            continue
        frames[model] = df.set_index("patient_id")[["cohort", "y", "prob"]]
    if not problems and not frames:
        raise ValueError("evaluate: no model predictions given")
    if frames:
        first, ref = next(iter(frames.items()))
        for model, df in frames.items():
            # Every model must score the same patients with the same outcome and cohort.
            if set(df.index) != set(ref.index):
                problems.append(Problem(model_predictions[model],
                                        f"patients differ from those of model '{first}'"))
            elif not df.loc[ref.index, ["cohort", "y"]].equals(ref[["cohort", "y"]]):
                problems.append(Problem(model_predictions[model],
                                        f"cohort or outcome of some patients differ from model '{first}'"))
        for cohort in cohorts:
            if not (ref["cohort"] == cohort).any():
                problems.append(Problem(model_predictions[first], f"no patient in cohort '{cohort}'",
                                        column="cohort"))
    if problems:
        raise InputError(problems)

    paths: dict[str, str] = {}
    for cohort in cohorts:
        ids = ref.index[ref["cohort"] == cohort]
        wide = pd.DataFrame({"patient_id": ids, "y": ref.loc[ids, "y"].to_numpy()})
        for model, df in frames.items():
            wide[model] = df.loc[ids, "prob"].to_numpy()
        paths[cohort] = os.path.join(outdir, "predictions", f"{cohort}.csv")
        os.makedirs(os.path.dirname(paths[cohort]), exist_ok=True)
        _write_csv_atomic(wide, paths[cohort])
    evaluate_cohorts(paths, train_cohort, os.path.join(outdir, "metrics"))
    if readers:
        reads = load_readers(clinical, readers).reindex(ref.index)
        for cohort in cohorts:
            ids = ref.index[ref["cohort"] == cohort]
            tables = reader_tables(ref.loc[ids, "y"].to_numpy(), {r: reads.loc[ids, r].to_numpy() for r in readers},
                                   {m: df.loc[ids, "prob"].to_numpy() for m, df in frames.items()},
                                   reader_threshold)
            for table, suffix in zip(tables, ("_readers", "_readers_vs_models", "_reader_pairs"), strict=True):
                _write_csv_atomic(table, os.path.join(outdir, "metrics", f"{cohort}{suffix}.csv"))


class _RefitPredict:
    """fit_predict for bootstrap_optimism_auc: a fresh clone of the model per call (picklable,
    so resamples can run in worker processes)."""

    def __init__(self, template):
        self.template = template

    def __call__(self, X_fit, y_fit, X_eval):
        from sklearn.base import clone

        return clone(self.template).fit(X_fit, y_fit).predict_proba(X_eval)[:, 1]


def run_optimism(X: pd.DataFrame, split: pd.DataFrame, selection_pkl: str, model_name: str,
                 n_boot: int, seed: int, out_csv: str, train_cohort: str = "train", n_jobs: int = 1) -> None:
    """Harrell's optimism-corrected training AUC of one feature model, refitting the whole
    procedure (clinical encoding, selection chain, logistic regression) in every resample."""
    from sklearn.base import clone

    from .train import load_model

    template = clone(load_model(selection_pkl))  # settings only; refitted from scratch each time
    split = split.set_index("patient_id").loc[X.index]
    train = (split["cohort"] == train_cohort).to_numpy()

    res = bootstrap_optimism_auc(X[train], split["y"].to_numpy()[train], _RefitPredict(template), n_boot=n_boot,
                                 seed=seed, n_jobs=n_jobs)
    table = pd.DataFrame([{"model": model_name, **res}], columns=OPTIMISM_COLUMNS)
    os.makedirs(os.path.dirname(os.path.abspath(out_csv)), exist_ok=True)
    _write_csv_atomic(table, out_csv)
