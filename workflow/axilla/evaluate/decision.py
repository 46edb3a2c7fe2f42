"""Decision-curve analysis (Vickers & Elkin) and the clinical impact curve (Kerr et al.)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._checks import _as_binary, _as_scores

# Clinical impact curve (Kerr et al.): per 1000 patients, how many are called high risk (p >= pt)
# and how many of those are events, at each threshold of the same grid.
DCA_COLUMNS = ["threshold", "model", "net_benefit", "high_risk_per_1000", "high_risk_events_per_1000"]
REFERENCE_STRATEGIES = ("treat_all", "treat_none")

# Integer hundredths, not np.arange(0.01, 1.0, 0.01): the latter accumulates rounding error
# (e.g. 0.07 comes out as 0.07000000000000001), which would move "p >= pt" at ties.
DEFAULT_DCA_THRESHOLDS = np.arange(1, 100) / 100


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
