"""Discrimination: Mann-Whitney AUC and DeLong variance, CI and paired test (R pROC)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ._checks import _as_binary, _as_scores, _require_both_classes, _two_sided_p


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
