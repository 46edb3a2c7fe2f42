"""Input checks shared by the statistics (ValueError: programming/data errors seen by the caller),
and the R-semantics arithmetic the reference definitions rely on."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


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
