"""Models: a selection chain + logistic regression per feature set, and post-fusion stacking.

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
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from .features import ClinicalEncoder
from .io import atomic_path, write_csv
from .split import TRAIN

log = logging.getLogger(__name__)

OOF_FOLDS = 5


def logistic() -> LogisticRegression:
    # L2 with C = 1 on z-scored predictors (scikit-learn's default, used by most seed studies).
    # Unpenalised, a training cohort of ~60 patients is separated whenever the chain keeps a
    # handful of features: coefficients diverge and out-of-fold probabilities collapse to 0/1.
    return LogisticRegression(C=1.0, max_iter=5000, tol=1e-8)


class FeatureModel(BaseEstimator, ClassifierMixin):
    """Clinical encoder → selection chain → logistic regression, as one estimator."""

    def __init__(self, kinds: dict | None = None, select: dict | None = None, random_state: int = 0):
        self.kinds = kinds
        self.select = select
        self.random_state = random_state

    def fit_selection(self, X: pd.DataFrame, y) -> "FeatureModel":
        from .select import build_chain

        self.encoder_ = ClinicalEncoder(self.kinds).fit(X)
        Xe = self.encoder_.transform(X)
        self.chain_ = build_chain(self.select or {}, random_state=self.random_state).fit(Xe, np.asarray(y))
        return self

    def _design(self, X: pd.DataFrame) -> pd.DataFrame:
        return self.chain_.transform(self.encoder_.transform(X))

    def fit(self, X: pd.DataFrame, y):
        if not hasattr(self, "chain_"):
            self.fit_selection(X, y)
        self.classes_ = np.array([0, 1])
        self.lr_ = logistic().fit(self._design(X).to_numpy(float), np.asarray(y))
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.lr_.predict_proba(self._design(X).to_numpy(float))

    @property
    def selected_(self) -> list[str]:
        return list(self.chain_.get_feature_names_out())


class FusionModel(BaseEstimator, ClassifierMixin):
    """Post-fusion: logistic regression on the logits of base models' probabilities."""

    def fit(self, P: pd.DataFrame, y):
        self.columns_ = list(P.columns)
        self.classes_ = np.array([0, 1])
        self.lr_ = logistic().fit(_logit(P.to_numpy(float)), np.asarray(y))
        return self

    def predict_proba(self, P: pd.DataFrame) -> np.ndarray:
        return self.lr_.predict_proba(_logit(P[self.columns_].to_numpy(float)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def oof_proba(model: BaseEstimator, X: pd.DataFrame, y: np.ndarray, seed: int, folds: int = OOF_FOLDS) -> np.ndarray:
    """Out-of-fold probabilities on the training rows; every fold refits the whole estimator."""
    out = np.full(len(y), np.nan)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for tr, va in cv.split(X, y):
        m = clone(model).fit(X.iloc[tr], y[tr])
        out[va] = m.predict_proba(X.iloc[va])[:, 1]
    return out


def predictions_frame(split: pd.DataFrame, proba: np.ndarray, oof: np.ndarray) -> pd.DataFrame:
    df = split[["patient_id", "cohort", "y"]].copy()
    df["prob"] = proba
    df["oof_prob"] = np.nan
    df.loc[df.cohort == TRAIN, "oof_prob"] = oof
    return df


def save_model(model, path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(model, fh, protocol=5)


def load_model(path: str):
    with open(path, "rb") as fh:
        return pickle.load(fh)


def run_feature_model(X: pd.DataFrame, split: pd.DataFrame, selection_pkl: str, seed: int,
                      out_model: str, out_pred: str, out_coef: str) -> None:
    """The `train` rule for a feature model: fit LR on the training cohort's selected features."""
    model: FeatureModel = load_model(selection_pkl)
    split = split.set_index("patient_id").loc[X.index].reset_index()
    is_train = (split.cohort == TRAIN).to_numpy()
    y = split.y.to_numpy()
    model.fit(X[is_train], y[is_train])
    proba = model.predict_proba(X)[:, 1]
    fresh = clone(model)  # unfitted: the OOF folds refit the selection chain too
    oof = oof_proba(fresh, X[is_train], y[is_train], seed)
    save_model(model, out_model)
    write_csv(predictions_frame(split, proba, oof), out_pred)
    coef = pd.DataFrame({"term": ["(intercept)", *model.selected_],
                         "coef": [model.lr_.intercept_[0], *model.lr_.coef_[0]]})
    coef["odds_ratio"] = np.exp(coef.coef)
    write_csv(coef, out_coef)
    log.info("trained on %d patients with %d features: %s", is_train.sum(), len(model.selected_),
             ", ".join(model.selected_))


def run_fusion_model(base_preds: dict[str, str], seed: int, out_model: str, out_pred: str, out_coef: str) -> None:
    """The `train` rule for a post-fusion model: meta-LR fitted on base models' OOF probabilities."""
    frames = {name: pd.read_csv(p, dtype={"patient_id": str}).set_index("patient_id") for name, p in base_preds.items()}
    first = next(iter(frames.values()))
    split = first[["cohort", "y"]]
    is_train = (split.cohort == TRAIN).to_numpy()
    oof = pd.DataFrame({n: f.oof_prob for n, f in frames.items()})
    full = pd.DataFrame({n: f.prob for n, f in frames.items()})
    model = FusionModel().fit(oof[is_train], split.y[is_train])
    # Training rows are predicted from OOF inputs too, so training performance is not inflated
    # by base models that memorised their own training patients.
    inputs = full.where(~pd.Series(is_train, index=full.index), oof, axis=0)
    proba = model.predict_proba(inputs)[:, 1]
    meta_oof = oof_proba(FusionModel(), oof[is_train], split.y[is_train].to_numpy(), seed)
    save_model(model, out_model)
    write_csv(predictions_frame(split.reset_index(), proba, meta_oof), out_pred)
    coef = pd.DataFrame({"term": ["(intercept)", *[f"logit({c})" for c in model.columns_]],
                         "coef": [model.lr_.intercept_[0], *model.lr_.coef_[0]]})
    coef["odds_ratio"] = np.exp(coef.coef)
    write_csv(coef, out_coef)
    log.info("post-fusion of %s on %d training patients", ", ".join(model.columns_), is_train.sum())


def load_feature_tables(inputs, specs: list[str], variables: dict[str, str]):
    """Read the tables a model's feature sources need; return (X, clinical kinds, split).

    `inputs` maps names (clinical, split, radiomics, reproducible, deep) to CSV paths.
    """
    from .features import assemble

    def read(name):
        return pd.read_csv(inputs[name], dtype={"patient_id": str}) if name in inputs.keys() else None

    clinical, split = read("clinical"), read("split")
    keep = read("reproducible")
    X, kinds = assemble(specs, clinical, variables, radiomics=read("radiomics"), deep=read("deep"),
                        reproducible=set(keep.feature) if keep is not None else None)
    X = X.loc[split.patient_id]
    return X, kinds, split
