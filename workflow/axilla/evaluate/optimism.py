"""Internal validation: Harrell's bootstrap optimism correction of the apparent AUC."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ._checks import _as_binary, _require_both_classes
from .discrimination import roc_auc

OPTIMISM_COLUMNS = ["model", "apparent", "optimism", "corrected", "n_boot"]


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


class _RefitPredict:
    """fit_predict for bootstrap_optimism_auc: a fresh clone of the model per call (picklable,
    so resamples can run in worker processes)."""

    def __init__(self, template):
        self.template = template

    def __call__(self, X_fit, y_fit, X_eval):
        from sklearn.base import clone

        return clone(self.template).fit(X_fit, y_fit).predict_proba(X_eval)[:, 1]


def refit_optimism_table(template, X, y, model_name: str, n_boot: int, seed: int, n_jobs: int = 1) -> pd.DataFrame:
    """One-row OPTIMISM_COLUMNS table: bootstrap optimism of refitting a fresh clone of `template`."""
    res = bootstrap_optimism_auc(X, y, _RefitPredict(template), n_boot=n_boot, seed=seed, n_jobs=n_jobs)
    return pd.DataFrame([{"model": model_name, **res}], columns=OPTIMISM_COLUMNS)
