"""Out-of-fold networks without torch: the fold of each training patient, the inner-CV AUC, the
backbone a stated rule picks, and the comparison table (`deep_table` runs without torch).

deep.signature: probability and a backbone comparison (deep.backbones) both fine-tune one network
per fold on the other folds' training patients; the folds are stratified by node status, patient
by patient (a patient's slices stay in its fold), shuffled with the study's seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

CHOOSE_RULES = ("max_auc",)
HELD_OUT = -1  # the fold of a patient outside the training cohort: scored by the full-cohort network


def fold_of(is_train: np.ndarray, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Per patient, its fold 0..folds-1 (training patients, stratified k-fold, shuffled with `seed`)
    or HELD_OUT (every other cohort); ValueError when a class has fewer training patients than folds."""
    from sklearn.model_selection import StratifiedKFold

    is_train, y = np.asarray(is_train, bool), np.asarray(y)
    counts = np.bincount(y[is_train].astype(int), minlength=2)
    if counts.min() < folds:
        raise ValueError(f"deep.folds = {folds} needs at least {folds} node-positive and {folds} node-negative "
                         f"training patients; there are {counts[1]} and {counts[0]}: lower deep.folds")
    out = np.full(len(y), HELD_OUT)
    train = np.flatnonzero(is_train)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (_, va) in enumerate(cv.split(train, y[train])):
        out[train[va]] = k
    return out


def inner_cv_auc(y: np.ndarray, oof: np.ndarray) -> float:
    """ROC AUC of the training patients' out-of-fold probabilities (NaN when not computable)."""
    from sklearn.metrics import roc_auc_score

    y, oof = np.asarray(y), np.asarray(oof, float)
    ok = np.isfinite(oof)
    if len(np.unique(y[ok])) < 2:
        return math.nan
    return float(roc_auc_score(y[ok], oof[ok]))


def choose(aucs: Mapping[str, float], rule: str = "max_auc") -> str:
    """The backbone `rule` picks: max_auc = the highest AUC, a tie going to the first listed (the
    mapping's order, as in deep.backbones); a NaN AUC never wins over a number."""
    if rule not in CHOOSE_RULES:
        raise ValueError(f"deep.choose must be one of {CHOOSE_RULES}, got {rule!r}")
    if not aucs:
        raise ValueError("no backbones to choose from")
    best, best_auc = None, -math.inf
    for name, auc in aucs.items():
        value = -math.inf if auc is None or math.isnan(auc) else auc
        if best is None or value > best_auc:  # strictly greater: the first listed keeps a tie
            best, best_auc = name, value
    return best


def comparison_rows(aucs: Mapping[str, float], chosen: str) -> list[dict]:
    return [{"backbone": b, "inner_cv_auc": a, "chosen": b == chosen} for b, a in aucs.items()]


def backbones_table(provenances: Mapping[str, dict]):
    """view, backbone, inner_cv_auc, chosen of every view that compared backbones (its provenance's
    `comparison`); None when none did."""
    import pandas as pd

    rows = [{"view": view, **r} for view, p in provenances.items() for r in p.get("comparison") or []]
    return pd.DataFrame(rows, columns=["view", "backbone", "inner_cv_auc", "chosen"]) if rows else None


def signature_column(patients: Sequence[str], prefix: str, prob: np.ndarray):
    """The probability signature as the view's feature table: one column `<MOD>_<view>_dl_sig`."""
    import pandas as pd

    return pd.DataFrame({"patient_id": list(patients), f"{prefix}_dl_sig": np.asarray(prob, float)})
