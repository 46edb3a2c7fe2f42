"""Operating point: the Youden cut-off and confusion-matrix metrics at a threshold."""

from __future__ import annotations

import math

import numpy as np

from ._checks import _as_binary, _as_scores, _require_both_classes


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
