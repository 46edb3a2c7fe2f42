"""Reclassification: category-free NRI and IDI of a new model over an old one (R Hmisc `improveProb`)."""

from __future__ import annotations

import math

import numpy as np

from ._checks import _as_binary, _as_probs, _r_div, _require_both_classes, _two_sided_p


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
