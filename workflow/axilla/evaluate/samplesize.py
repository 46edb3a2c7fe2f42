"""Sample-size adequacy of the training cohort: Riley et al. (Stat Med 2019; BMJ 2020;368:m441).

The minimum number of patients to develop a model of a binary outcome with p candidate predictor
parameters is the largest of three criteria, as pmsampsize (R, >= 1.1.1) computes them:
(1) expected uniform shrinkage >= S (default 0.9):  n = p / ((S - 1) ln(1 - R2cs / S));
(2) apparent minus adjusted Nagelkerke R² <= 0.05:  criterion 1 with S = R2cs / (R2cs + 0.05 · max R2cs);
(3) overall risk within ±0.05 (95 %):               n = (1.96 / 0.05)² φ (1 - φ).
R2cs is the anticipated (adjusted) Cox-Snell R² and max R2cs = 1 - exp(2 (φ ln φ + (1-φ) ln(1-φ))).
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import _as_binary, _as_probs

# Riley et al.'s conservative choice when nothing better is known: a Nagelkerke R² of 0.15.
CONSERVATIVE_NAGELKERKE = 0.15
SAMPLE_SIZE_COLUMNS = ["model", "parameters", "parameter_count", "n_train", "events", "prevalence", "r2_cs",
                       "r2_source", "max_r2_cs", "n_shrinkage", "n_nagelkerke", "n_risk", "n_required",
                       "events_required", "events_per_parameter", "adequate"]


def max_r2_cs(prevalence: float) -> float:
    """The largest Cox-Snell R² a model can reach at this outcome prevalence (Riley et al., eq. 23)."""
    if not 0 < prevalence < 1:
        raise ValueError(f"prevalence must be in (0, 1), got {prevalence}")
    ln_null = prevalence * math.log(prevalence) + (1 - prevalence) * math.log(1 - prevalence)
    return 1 - math.exp(2 * ln_null)


def _n_for_shrinkage(parameters: int, r2_cs: float, shrinkage: float) -> int:
    return math.ceil(parameters / ((shrinkage - 1) * math.log(1 - r2_cs / shrinkage)))


def riley_binary(parameters: int, prevalence: float, r2_cs: float, shrinkage: float = 0.9,
                 delta: float = 0.05, margin: float = 0.05) -> dict[str, float]:
    """The three criteria and the minimum sample size (their maximum), with events and events per
    parameter (EPP) at that size, for `parameters` candidate predictor parameters."""
    if parameters < 1:
        raise ValueError(f"parameters must be at least 1, got {parameters}")
    top = max_r2_cs(prevalence)
    if not 0 < r2_cs < min(shrinkage, top):
        raise ValueError(f"Cox-Snell R² must be in (0, {min(shrinkage, top):.3f}), got {r2_cs}")
    n1 = _n_for_shrinkage(parameters, r2_cs, shrinkage)
    n2 = _n_for_shrinkage(parameters, r2_cs, r2_cs / (r2_cs + delta * top))
    n3 = math.ceil((1.96 / margin) ** 2 * prevalence * (1 - prevalence))
    n = max(n1, n2, n3)
    return {"max_r2_cs": top, "n_shrinkage": n1, "n_nagelkerke": n2, "n_risk": n3, "n_required": n,
            "events_required": n * prevalence, "epp_required": n * prevalence / parameters}


def cox_snell_r2(y, p) -> float:
    """Cox-Snell R² of probabilities p against the intercept-only model: 1 - exp(-LR / n),
    LR = 2 (lnL(p) - lnL(prevalence)). Negative when p fits worse than the prevalence."""
    y = _as_binary(y)
    p = np.clip(_as_probs(p, y.size, "p"), 1e-12, 1 - 1e-12)
    phi = y.mean()
    if phi in (0, 1):
        raise ValueError("Cox-Snell R² needs both outcome classes")
    ll = np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
    ll0 = y.size * (phi * math.log(phi) + (1 - phi) * math.log(1 - phi))
    return float(1 - math.exp(-2 * (ll - ll0) / y.size))


def anticipated_r2(y, p_oof) -> tuple[float, str]:
    """(R2cs, source): the Cox-Snell R² of the model's out-of-fold training probabilities (already an
    out-of-sample, i.e. adjusted, value), or Riley's conservative 15 % of max R2cs when that is not
    positive (the model fits its held-out folds no better than the prevalence)."""
    y = _as_binary(y)
    r2 = cox_snell_r2(y, p_oof)
    if r2 > 0:
        return r2, "out-of-fold"
    return CONSERVATIVE_NAGELKERKE * max_r2_cs(float(y.mean())), "conservative (Nagelkerke 0.15)"


def sample_size_rows(model: str, counts: dict[str, int], y, p_oof, shrinkage: float = 0.9) -> list[dict]:
    """SAMPLE_SIZE_COLUMNS rows of one model: one per parameter count (`counts`: e.g. candidate and
    selected -> number), against its training cohort (outcomes y, out-of-fold probabilities p_oof)."""
    y = _as_binary(y)
    r2, source = anticipated_r2(y, p_oof)
    n, events = int(y.size), int(y.sum())
    rows = []
    for what, count in counts.items():
        res = riley_binary(max(int(count), 1), events / n, r2, shrinkage)
        rows.append({"model": model, "parameters": what, "parameter_count": int(count), "n_train": n,
                     "events": events, "prevalence": events / n, "r2_cs": r2, "r2_source": source,
                     **{k: res[k] for k in ("max_r2_cs", "n_shrinkage", "n_nagelkerke", "n_risk", "n_required",
                                            "events_required")},
                     "events_per_parameter": events / max(int(count), 1), "adequate": n >= res["n_required"]})
    return rows
