"""Permutation negative control: the whole fitted procedure refitted on permuted training labels.

Under permuted training labels a model can learn nothing about the held-out patients' outcomes, so
its held-out AUCs must be centred on 0.5; a null whose mean is not is a leak (something fitted saw
held-out outcomes, or the evaluation is biased). The p-value of the real AUC is Ojala & Garriga
(J Mach Learn Res 2010, 11:1833), (1 + #{null AUC >= real AUC}) / (N + 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from ._checks import _as_binary
from .discrimination import roc_auc

NULL_COLUMNS = ["model", "cohort", "permutation", "auc"]
PERMUTATION_COLUMNS = ["model", "cohort", "auc", "n_permutations", "null_mean", "null_sd", "null_min", "null_max",
                       "chance_sd", "null_mean_se", "p_value", "flagged"]
# A null mean further than this many standard errors from 0.5 is flagged (see null_flagged), given
# at least MIN_FLAG permutations: with fewer, refits that resemble each other (same held-out patients,
# often the same selected features) make the mean's SE unreliable, and p cannot reach 0.05 anyway.
FLAG_SE = 3.0
MIN_FLAG = 20


def permuted_labels(ids, y, n: int, seed: int) -> pd.DataFrame:
    """n permutations of the training labels y (patients `ids`), as columns 0..n-1 indexed by patient.

    Drawn from `seed` in patient-id order, so every model of a study (and a fusion model's base
    models) gets the same n permutations whatever rows it uses.
    """
    order = np.argsort(np.asarray(ids, dtype=str), kind="stable")
    ids, y = np.asarray(ids, dtype=str)[order], _as_binary(y)[order]
    rng = np.random.default_rng(seed)
    return pd.DataFrame({k: rng.permutation(y) for k in range(n)}, index=pd.Index(ids, name="patient_id"))


def chance_sd(y) -> float:
    """SD of the AUC of a score unrelated to the outcome (Mann-Whitney null, no ties):
    sqrt((m + n + 1) / (12 m n)) for m positives and n negatives."""
    y = _as_binary(y)
    m, n = int(y.sum()), int(y.size - y.sum())
    return math.sqrt((m + n + 1) / (12 * m * n)) if m and n else math.nan


def p_value(real: float, null) -> float:
    """Ojala & Garriga permutation p-value: (1 + #{null >= real}) / (N + 1); nan without a null."""
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    if not null.size or not math.isfinite(real):
        return math.nan
    return float((1 + np.sum(null >= real)) / (null.size + 1))


def null_flagged(null, sd_chance: float, k: float = FLAG_SE, min_n: int = MIN_FLAG) -> bool:
    """True when at least `min_n` null AUCs have a mean outside 0.5 ± k · SE, SE = max(their SD, the
    chance SD) / √N.

    The chance SD (Mann-Whitney) floors the SE: a leak that makes every permuted model score the
    held-out patients alike (SD near 0) must not pass for precision. k = 3 keeps false alarms rare.
    """
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    if null.size < max(min_n, 1):
        return False
    sd = float(np.std(null, ddof=1)) if null.size > 1 else 0.0
    se = max(sd, sd_chance if math.isfinite(sd_chance) else 0.0) / math.sqrt(null.size)
    return bool(abs(null.mean() - 0.5) > k * se)


def null_aucs(y_by_cohort: Mapping[str, np.ndarray], prob_by_cohort: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Held-out AUC of one permuted fit per cohort (nan for a cohort with one outcome class)."""
    out = {}
    for cohort, y in y_by_cohort.items():
        y = _as_binary(y)
        out[cohort] = roc_auc(y, prob_by_cohort[cohort]) if 0 < y.sum() < y.size else math.nan
    return out


def summarise(model: str, real: Mapping[str, float], null: pd.DataFrame,
              y_by_cohort: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """PERMUTATION_COLUMNS, one row per held-out cohort, from the real AUCs and the NULL_COLUMNS table."""
    rows = []
    for cohort, y in y_by_cohort.items():
        v = null.loc[null.cohort == cohort, "auc"].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        sd_c = chance_sd(y)
        sd = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
        rows.append({"model": model, "cohort": cohort, "auc": real[cohort], "n_permutations": int(v.size),
                     "null_mean": float(v.mean()) if v.size else math.nan, "null_sd": sd,
                     "null_min": float(v.min()) if v.size else math.nan,
                     "null_max": float(v.max()) if v.size else math.nan, "chance_sd": sd_c,
                     "null_mean_se": max(0.0 if math.isnan(sd) else sd, sd_c) / math.sqrt(v.size) if v.size else math.nan,
                     "p_value": p_value(real[cohort], v), "flagged": null_flagged(v, sd_c)})
    return pd.DataFrame(rows, columns=PERMUTATION_COLUMNS)


def permutation_test(X_train, y_train, X_eval: Mapping[str, object], y_eval: Mapping[str, np.ndarray],
                     fit_predict: Callable, n: int, seed: int, model: str = "model") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The permutation control of one procedure on arrays: (summary, null table).

    fit_predict(X_fit, y_fit, X_eval) -> held-out probabilities must refit the WHOLE procedure.
    The real AUC is that of the fit on the true labels; each null AUC that of a fit on permuted
    training labels, evaluated on the held-out cohorts' true outcomes.
    """
    y_train = _as_binary(y_train)
    perms = permuted_labels(np.arange(y_train.size).astype(str), y_train, n, seed)
    perms = perms.loc[np.arange(y_train.size).astype(str)]  # back to row order
    real = null_aucs(y_eval, {c: fit_predict(X_train, y_train, X) for c, X in X_eval.items()})
    rows = []
    for k in range(n):
        yk = perms[k].to_numpy()
        aucs = null_aucs(y_eval, {c: fit_predict(X_train, yk, X) for c, X in X_eval.items()})
        rows += [{"model": model, "cohort": c, "permutation": k, "auc": a} for c, a in aucs.items()]
    null = pd.DataFrame(rows, columns=NULL_COLUMNS)
    return summarise(model, real, null, y_eval), null
