"""Models: a selection chain + a classifier of the zoo per feature set, score fusion and post-fusion stacking.

Everything is fitted on the training cohort only. Out-of-fold (OOF) training probabilities —
each patient predicted by a model that never saw them, selection chain refitted inside every
fold — feed the post-fusion meta-classifier, so stacking does not reward overfitting.
"""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold

from .features import ClinicalEncoder
from .io import load_model, save_model, write_csv
from .split import OOF_FOLDS, TRAIN

log = logging.getLogger(__name__)

class FeatureModel(BaseEstimator, ClassifierMixin):
    """Clinical encoder → selection chain → [SMOTE] → classifier (tuned or not), as one estimator.

    ``classifier``: the ``models.<name>.classifier`` entry (default plain L2 logistic regression);
    ``smote``: SMOTE options or None. Everything is refitted by ``clone`` in out-of-fold CV.
    """

    def __init__(self, kinds: dict | None = None, select: dict | None = None, random_state: int = 0,
                 classifier: dict | str | None = None, smote: dict | None = None, impute: str = "simple"):
        self.kinds = kinds
        self.impute = impute
        self.select = select
        self.random_state = random_state
        self.classifier = classifier
        self.smote = smote

    @classmethod
    def from_settings(cls, model, kinds: dict, seed: int, impute: str) -> "FeatureModel":
        """The unfitted model of one ``models`` entry (:class:`axilla.settings.Model`)."""
        return cls(kinds=kinds, select=model.select, random_state=seed, classifier=model.classifier,
                   smote=model.smote, impute=impute)

    def fit_selection(self, X: pd.DataFrame, y) -> "FeatureModel":
        from .select import build_chain

        self.encoder_ = ClinicalEncoder(self.kinds, strategy=self.impute, random_state=self.random_state).fit(X)
        Xe = self.encoder_.transform(X)
        self.chain_ = build_chain(self.select or {}, random_state=self.random_state).fit(Xe, np.asarray(y))
        return self

    def _design(self, X: pd.DataFrame) -> pd.DataFrame:
        return self.chain_.transform(self.encoder_.transform(X))

    def fit(self, X: pd.DataFrame, y) -> "FeatureModel":
        """Encoder, selection chain and classifier, all refitted on (X, y)."""
        return self.fit_selection(X, y).fit_classifier(X, y)

    def fit_classifier(self, X: pd.DataFrame, y) -> "FeatureModel":
        """The classifier on the already fitted selection (the `train` rule after `select`)."""
        from .models import make_classifier, smote_samples

        self.classes_ = np.array([0, 1])
        # the chain's training output: oversampled as its later steps saw it when it has a smote step
        Z, y = self.chain_.resample(self.encoder_.transform(X), np.asarray(y))
        D, y = Z.to_numpy(float), np.asarray(y)
        self.design_columns_ = list(self.chain_.get_feature_names_out())
        enc = self.encoder_.transform(X)[self.design_columns_]
        self.design_range_ = pd.DataFrame({"min": enc.min(), "max": enc.max()})  # for the nomogram axes
        self.smote_samples_ = smote_samples(D, y, self.smote, self.random_state)
        self.clf_ = make_classifier(self.classifier, self.random_state, self.smote).fit(D, y)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.clf_.predict_proba(self._design(X).to_numpy(float))

    @property
    def estimator_(self):
        from .models import final_estimator

        return final_estimator(self.clf_)

    @property
    def tuned_params_(self) -> dict:
        from .models import tuned_params

        return tuned_params(self.clf_)

    @property
    def lasso_(self):
        return self.chain_.named_steps.get("lasso")

    def linear_score(self, X: pd.DataFrame) -> np.ndarray | None:
        """The LASSO linear predictor (RadScore / DLScore / ...), or None without a lasso step."""
        if self.lasso_ is None:
            return None
        Z = self.encoder_.transform(X)
        for name, step in self.chain_.steps:
            if name == "lasso":
                return self.lasso_.linear_predictor(Z).to_numpy()
            Z = step.transform(Z)

    @property
    def selected_(self) -> list[str]:
        return list(self.chain_.get_feature_names_out())


class FusionModel(BaseEstimator, ClassifierMixin):
    """Post-fusion: a meta-classifier (``lr`` or ``svm``, as seed 000) on the logits of base models'
    probabilities.

    Absent base scores (``validate.missing_view: allow``) follow the missing-pattern submodel rule
    (Mercaldo & Blume 2020, Biostatistics 21:236): a patient whose available base models are S is
    predicted by the meta-classifier refitted on the training rows that have every base in S, on the
    logits of S alone; nothing is imputed. ``patterns``: the patterns (tuples of base names) of the
    patients to be predicted, fitted besides the training rows' own (a pattern says which bases
    exist, never an outcome). ``submodels_`` maps pattern -> fitted classifier; ``clf_`` is the
    one of all bases (the only one when no score is absent).
    """

    def __init__(self, meta: str = "lr", random_state: int = 0, patterns: list | None = None):
        self.meta = meta
        self.random_state = random_state
        self.patterns = patterns

    def fit(self, P: pd.DataFrame, y):
        if self.meta not in ("lr", "svm"):
            raise ValueError(f"post-fusion meta-classifier must be 'lr' or 'svm', got {self.meta!r}")
        self.columns_ = list(P.columns)
        self.classes_ = np.array([0, 1])
        y = np.asarray(y)
        every = tuple(self.columns_)
        wanted = {every} | set(row_patterns(P)) | {tuple(c for c in every if c in p) for p in self.patterns or []}
        self.submodels_ = {}
        for pattern in sorted(wanted - {()}, key=lambda p: (-len(p), p)):
            rows = P[list(pattern)].notna().all(axis=1).to_numpy()
            self.submodels_[pattern] = self._fit_pattern(P.loc[rows, list(pattern)], y[rows], pattern)
        self.clf_ = self.submodels_[every]
        return self

    def _fit_pattern(self, P: pd.DataFrame, y: np.ndarray, pattern: tuple):
        from .models import make_classifier

        if len(np.unique(y)) < 2:
            raise ValueError(f"post-fusion: the training patients having base model(s) {', '.join(pattern)} are "
                             f"{len(y)}, not both outcome classes; too few for the submodel of patients having "
                             "only these (add patients or fuse other base models)")
        return make_classifier(self.meta, self.random_state).fit(log_odds(P.to_numpy(float)), y)

    def predict_proba(self, P: pd.DataFrame) -> np.ndarray:
        P = P[self.columns_]
        patterns = row_patterns(P)
        out = np.full((len(P), 2), np.nan)
        for pattern in dict.fromkeys(patterns):
            if pattern not in self.submodels_:
                raise ValueError(f"post-fusion: no submodel for patients having only {pattern or 'no base model'}; "
                                 "fit with these patterns in `patterns`")
            rows = np.array([p == pattern for p in patterns])
            out[rows] = self.submodels_[pattern].predict_proba(log_odds(P.loc[rows, list(pattern)].to_numpy(float)))
        return out


def row_patterns(P: pd.DataFrame) -> list[tuple]:
    """Per row, the base models (columns) whose score it has, in column order."""
    present = P.notna().to_numpy()
    return [tuple(c for c, ok in zip(P.columns, row) if ok) for row in present]


def log_odds(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), p clipped to [1e-6, 1 - 1e-6] so certain base models stay finite."""
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def oof_proba(model: BaseEstimator, X: pd.DataFrame, y: np.ndarray, seed: int, folds: int = OOF_FOLDS,
              with_score: bool = False):
    """Out-of-fold probabilities on the training rows; every fold refits the whole estimator.

    With ``with_score``, also the out-of-fold LASSO linear predictor (NaN without a lasso step).
    """
    out, score = np.full(len(y), np.nan), np.full(len(y), np.nan)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for tr, va in cv.split(X, y):
        m = clone(model).fit(X.iloc[tr], y[tr])
        out[va] = m.predict_proba(X.iloc[va])[:, 1]
        if with_score:
            s = m.linear_score(X.iloc[va])
            if s is not None:
                score[va] = s
    return (out, score) if with_score else out


def predictions_frame(split: pd.DataFrame, proba: np.ndarray, oof: np.ndarray, score=None, oof_score=None) -> pd.DataFrame:
    df = split[["patient_id", "cohort", "y"]].copy()
    df["prob"] = proba
    df["oof_prob"] = np.nan
    df.loc[df.cohort == TRAIN, "oof_prob"] = oof
    if score is not None:
        df["score"] = score
        df["oof_score"] = np.nan
        df.loc[df.cohort == TRAIN, "oof_score"] = oof_score
    return df


def run_feature_model(X: pd.DataFrame, split: pd.DataFrame, selection_pkl: str, seed: int,
                      out_model: str, out_pred: str) -> None:
    """The `train` rule for a feature model: the classifier on the training cohort's selected
    features (selection as fitted by `select`), predictions for everyone, OOF ones for training."""
    model: FeatureModel = load_model(selection_pkl)
    split = split.set_index("patient_id").loc[X.index].reset_index()
    is_train = (split.cohort == TRAIN).to_numpy()
    y = split.y.to_numpy()
    model.fit_classifier(X[is_train], y[is_train])
    proba = model.predict_proba(X)[:, 1]
    score = model.linear_score(X)
    fresh = clone(model)  # unfitted: the OOF folds refit the selection chain too
    oof, oof_score = oof_proba(fresh, X[is_train], y[is_train], seed, with_score=True)
    save_model(model, out_model)
    write_csv(predictions_frame(split, proba, oof, score, oof_score if score is not None else None), out_pred)
    log.info("trained %s on %d patients with %d features: %s", type(model.estimator_).__name__, is_train.sum(),
             len(model.selected_), ", ".join(model.selected_))


def read_base_predictions(base_preds: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(split, OOF probabilities, full-fit probabilities) of a post-fusion model's base models, for
    every patient that one of them scores (NaN where a base model does not score the patient)."""
    frames = {name: pd.read_csv(p, dtype={"patient_id": str}).set_index("patient_id") for name, p in base_preds.items()}
    ids = next(iter(frames.values())).index
    for f in frames.values():
        ids = ids.append(f.index[~f.index.isin(ids)])
    split = pd.concat([f[["cohort", "y"]] for f in frames.values()])
    split = split[~split.index.duplicated()].loc[ids]
    oof = pd.DataFrame({n: f.oof_prob.reindex(ids) for n, f in frames.items()}, index=ids)
    full = pd.DataFrame({n: f.prob.reindex(ids) for n, f in frames.items()}, index=ids)
    return split, oof, full


def run_fusion_model(base_preds: dict[str, str], seed: int, out_model: str, out_pred: str, meta: str) -> None:
    """The `train_fusion` rule: a meta-classifier fitted on base models' OOF probabilities; a
    patient lacking some base models' scores gets the submodel of the bases it has
    (:class:`FusionModel`)."""
    split, oof, full = read_base_predictions(base_preds)
    is_train = (split.cohort == TRAIN).to_numpy()
    # Training rows are predicted from OOF inputs too, so training performance is not inflated
    # by base models that memorised their own training patients.
    inputs = full.where(~pd.Series(is_train, index=full.index), oof, axis=0)
    patterns = sorted(set(row_patterns(inputs)))
    model = FusionModel(meta=meta, random_state=seed, patterns=patterns).fit(oof[is_train], split.y[is_train])
    proba = model.predict_proba(inputs)[:, 1]
    meta_oof = oof_proba(FusionModel(meta=meta, random_state=seed, patterns=patterns), oof[is_train],
                         split.y[is_train].to_numpy(), seed)
    save_model(model, out_model)
    write_csv(predictions_frame(split.reset_index(), proba, meta_oof), out_pred)
    if len(model.submodels_) > 1:
        log.info("post-fusion submodels (missing-pattern rule), patients per pattern: %s", "; ".join(
            f"{'+'.join(p)} {n}" for p, n in pd.Series([p for p in row_patterns(inputs)]).value_counts().items()))
    log.info("post-fusion (%s) of %s on %d training patients", meta, ", ".join(model.columns_), is_train.sum())
