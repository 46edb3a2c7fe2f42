"""The `permutation` rules: each model's whole procedure refitted on permuted training labels.

A feature model is refitted from its selection template (encoder, selection chain, SMOTE, tuned
classifier), as `optimism` does; a score-fusion model on its base models' scores from the SAME
permutation; a post-fusion model on its base models' out-of-fold probabilities from the same
permutation. So the whole stack sees permuted labels, never the real ones. Every model draws the
same permutations (`axilla.evaluate.permutation.permuted_labels` on the split's training patients).
Per permutation the predictions are written (out-of-fold ones only when another model fuses this
one), then the held-out null AUCs and their summary (`axilla.evaluate.permutation`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import clone

from .evaluate.permutation import NULL_COLUMNS, null_aucs, permuted_labels, summarise
from .features import score_column
from .io import load_model, write_csv
from .split import TRAIN
from .train import FusionModel, oof_proba, row_patterns

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["permutation", "patient_id", "cohort", "prob", "oof_prob", "score", "oof_score"]


def training_permutations(split: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """The study's n permutations of its training labels (patients x permutations)."""
    train = split[split.cohort == TRAIN]
    return permuted_labels(train.patient_id.astype(str), train.y.to_numpy(), n, seed)


def _frame(k: int, ids, cohort, prob, oof=None, score=None, oof_score=None) -> pd.DataFrame:
    nan = np.full(len(ids), np.nan)
    return pd.DataFrame({"permutation": k, "patient_id": ids, "cohort": cohort, "prob": prob,
                         "oof_prob": nan if oof is None else oof, "score": nan if score is None else score,
                         "oof_score": nan if oof_score is None else oof_score})[PREDICTION_COLUMNS]


class FeatureRefit:
    """One permutation of a feature (or score-fusion) model: fit on (X_train, permuted y), predict
    everyone; out-of-fold training probabilities and LASSO scores when ``need_oof``. Picklable."""

    def __init__(self, template, X: pd.DataFrame, cohort: np.ndarray, need_oof: bool, seed: int,
                 base_scores: Mapping[str, pd.DataFrame] | None = None):
        self.template, self.X, self.cohort = template, X, cohort
        self.need_oof, self.seed, self.base_scores = need_oof, seed, dict(base_scores or {})

    def design(self, k: int) -> pd.DataFrame:
        """X with each base model's score column from permutation k (score fusion)."""
        X = self.X.copy()
        for base, pred in self.base_scores.items():
            X[f"{base}_score"] = score_column(pred[pred.permutation == k], X.index)
        return X

    def __call__(self, k: int, y_train: np.ndarray) -> pd.DataFrame:
        X = self.design(k)
        train = self.cohort == TRAIN
        model = clone(self.template).fit(X[train], y_train)
        prob, score = model.predict_proba(X)[:, 1], model.linear_score(X)
        oof = oof_score = None
        if self.need_oof:  # what a model fusing this one is fitted on
            oof, oof_score = np.full(len(X), np.nan), np.full(len(X), np.nan)
            oof[train], oof_score[train] = oof_proba(clone(self.template), X[train], y_train, self.seed,
                                                     with_score=True)
        return _frame(k, X.index.to_numpy(), self.cohort, prob, oof, score, oof_score)


class FusionRefit:
    """One permutation of a post-fusion model: the meta-classifier on the base models' out-of-fold
    probabilities of permutation k (training) and their full-fit ones (everyone else). Picklable."""

    def __init__(self, base: Mapping[str, pd.DataFrame], ids: pd.Index, cohort: np.ndarray, meta: str,
                 need_oof: bool, seed: int):
        self.base, self.ids, self.cohort = dict(base), ids, cohort
        self.meta, self.need_oof, self.seed = meta, need_oof, seed

    def __call__(self, k: int, y_train: np.ndarray) -> pd.DataFrame:
        frames = {b: f[f.permutation == k].set_index("patient_id") for b, f in self.base.items()}
        oof = pd.DataFrame({b: f.oof_prob.reindex(self.ids) for b, f in frames.items()}, index=self.ids)
        full = pd.DataFrame({b: f.prob.reindex(self.ids) for b, f in frames.items()}, index=self.ids)
        train = self.cohort == TRAIN
        inputs = full.where(~pd.Series(train, index=self.ids), oof, axis=0)
        patterns = sorted(set(row_patterns(inputs)))
        model = FusionModel(meta=self.meta, random_state=self.seed, patterns=patterns).fit(oof[train], y_train)
        oof_meta = None
        if self.need_oof:
            oof_meta = np.full(len(self.ids), np.nan)
            oof_meta[train] = oof_proba(FusionModel(meta=self.meta, random_state=self.seed, patterns=patterns),
                                        oof[train], y_train, self.seed)
        return _frame(k, self.ids.to_numpy(), self.cohort, model.predict_proba(inputs)[:, 1], oof_meta)


def _read_perms(paths: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    return {b: pd.read_csv(p, dtype={"patient_id": str, "cohort": str}) for b, p in paths.items()}


def _null_table(model: str, preds: pd.DataFrame, held_out: pd.DataFrame) -> pd.DataFrame:
    """NULL_COLUMNS: per permutation, the held-out AUC (true outcomes) of each held-out cohort."""
    y = {c: g.y.to_numpy() for c, g in held_out.groupby("cohort", sort=False)}
    rows = []
    for k, g in preds.groupby("permutation", sort=True):
        prob = g.set_index("patient_id").prob
        aucs = null_aucs(y, {c: prob.loc[h.patient_id].to_numpy() for c, h in held_out.groupby("cohort", sort=False)})
        rows += [{"model": model, "cohort": c, "permutation": int(k), "auc": a} for c, a in aucs.items()]
    return pd.DataFrame(rows, columns=NULL_COLUMNS)


def _run(refit, train_ids: np.ndarray, n: int, seed: int, split: pd.DataFrame, predictions_csv: str, model: str,
         out: Mapping[str, str], n_jobs: int) -> None:
    """Refit per permutation (in parallel processes when n_jobs > 1), then the three tables."""
    from joblib import Parallel, delayed

    from .evaluate.discrimination import roc_auc

    perms = training_permutations(split, n, seed).loc[train_ids]
    jobs = (delayed(refit)(k, perms[k].to_numpy()) for k in range(n))
    frames = Parallel(n_jobs=n_jobs)(jobs) if n_jobs > 1 else [refit(k, perms[k].to_numpy()) for k in range(n)]
    preds = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PREDICTION_COLUMNS)
    real = pd.read_csv(predictions_csv, dtype={"patient_id": str, "cohort": str})
    held_out = real[real.cohort != TRAIN]
    null = _null_table(model, preds, held_out)
    y = {c: g.y.to_numpy() for c, g in held_out.groupby("cohort", sort=False)}
    aucs = {c: roc_auc(g.y, g.prob) if 0 < g.y.sum() < len(g) else np.nan for c, g in held_out.groupby("cohort", sort=False)}
    write_csv(preds, out["predictions"], float_format=None)
    write_csv(null, out["null"], float_format=None)
    write_csv(summarise(model, aucs, null, y), out["summary"], float_format=None)
    log.info("%s: %d permutations of the training labels refitted", model, n)


def run_feature_permutations(X: pd.DataFrame, split: pd.DataFrame, selection_pkl: str, predictions_csv: str,
                             base_permutations: Mapping[str, str], n: int, seed: int, need_oof: bool, model: str,
                             out: Mapping[str, str], n_jobs: int = 1) -> None:
    """The `permutation` rule of a feature or score-fusion model (``base_permutations``: score base
    model -> its permutation_predictions.csv). ``out``: summary, null and predictions paths."""
    template = clone(load_model(selection_pkl))  # settings only; refitted from scratch each time
    cohort = split.set_index("patient_id").loc[X.index, "cohort"].to_numpy()
    refit = FeatureRefit(template, X, cohort, need_oof, seed, _read_perms(base_permutations))
    _run(refit, X.index[cohort == TRAIN].to_numpy(), n, seed, split, predictions_csv, model, out, n_jobs)


def run_fusion_permutations(split: pd.DataFrame, base_permutations: Mapping[str, str], predictions_csv: str,
                            meta: str, n: int, seed: int, need_oof: bool, model: str, out: Mapping[str, str],
                            n_jobs: int = 1) -> None:
    """The `permutation_fusion` rule: the meta-classifier refitted on each permutation of its base models."""
    own = pd.read_csv(predictions_csv, dtype={"patient_id": str, "cohort": str})
    ids = pd.Index(own.patient_id, name="patient_id")
    cohort = own.cohort.to_numpy()
    refit = FusionRefit(_read_perms(base_permutations), ids, cohort, meta, need_oof, seed)
    _run(refit, ids[cohort == TRAIN].to_numpy(), n, seed, split, predictions_csv, model, out, n_jobs)
