"""Confidence intervals of proportions (sensitivity, specificity, accuracy, PPV, NPV, event rates)."""

from __future__ import annotations

import math

# The proportions of threshold_metrics that get an interval, each with its (successes, trials).
PROPORTIONS = {
    "sensitivity": ("tp", ("tp", "fn")),
    "specificity": ("tn", ("tn", "fp")),
    "accuracy": (("tp", "tn"), ("tp", "tn", "fp", "fn")),
    "ppv": ("tp", ("tp", "fp")),
    "npv": ("tn", ("tn", "fn")),
}
PROPORTION_CI_COLUMNS = [f"{m}_ci_{end}" for m in PROPORTIONS for end in ("low", "high")]


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of k successes in n trials (statsmodels ``proportion_confint``,
    ``method="wilson"``; Wilson 1927, Newcombe 1998).

    Unlike the Wald interval it stays inside [0, 1] and is not degenerate at k = 0 or k = n,
    where one end is exactly 0 or 1. n = 0 gives (nan, nan): no patients, no estimate.
    """
    from statsmodels.stats.proportion import proportion_confint

    k, n = int(k), int(n)
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return math.nan, math.nan
    low, high = proportion_confint(k, n, alpha=1 - level, method="wilson")
    # the ends are exact where the data pin them (float rounding would leave e.g. 1e-17)
    return (0.0 if k == 0 else max(0.0, float(low))), (1.0 if k == n else min(1.0, float(high)))


def _count(counts: dict, keys) -> int:
    return sum(int(counts[k]) for k in ((keys,) if isinstance(keys, str) else keys))


def proportion_cis(counts: dict, level: float = 0.95) -> dict[str, float]:
    """``<metric>_ci_low`` / ``_ci_high`` (Wilson) of each metric of PROPORTIONS from the
    confusion-matrix counts tp, fp, tn, fn; nan where the metric's denominator is 0."""
    out = {}
    for metric, (num, den) in PROPORTIONS.items():
        out[f"{metric}_ci_low"], out[f"{metric}_ci_high"] = wilson_interval(_count(counts, num), _count(counts, den),
                                                                            level)
    return out
