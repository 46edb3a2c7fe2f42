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
        D = self._design(X).to_numpy(float)
        y = np.asarray(y)
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
                return self.lasso_.score(Z).to_numpy()
            Z = step.transform(Z)

    @property
    def selected_(self) -> list[str]:
        return list(self.chain_.get_feature_names_out())


class FusionModel(BaseEstimator, ClassifierMixin):
    """Post-fusion: a meta-classifier (``lr`` or ``svm``, as seed 000) on the logits of base models'
    probabilities."""

    def __init__(self, meta: str = "lr", random_state: int = 0):
        self.meta = meta
        self.random_state = random_state

    def fit(self, P: pd.DataFrame, y):
        from .models import make_classifier

        if self.meta not in ("lr", "svm"):
            raise ValueError(f"post-fusion meta-classifier must be 'lr' or 'svm', got {self.meta!r}")
        self.columns_ = list(P.columns)
        self.classes_ = np.array([0, 1])
        est = logistic() if self.meta == "lr" else make_classifier("svm", self.random_state)
        self.clf_ = est.fit(_logit(P.to_numpy(float)), np.asarray(y))
        return self

    def predict_proba(self, P: pd.DataFrame) -> np.ndarray:
        return self.clf_.predict_proba(_logit(P[self.columns_].to_numpy(float)))


def _logit(p: np.ndarray) -> np.ndarray:
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


def save_model(model, path: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(model, fh, protocol=5)


def load_model(path: str):
    with open(path, "rb") as fh:
        return pickle.load(fh)


def coefficient_table(model: FeatureModel) -> pd.DataFrame:
    """term, coef, odds_ratio for a linear classifier (on the chain's output scale); otherwise the
    features with the classifier's importances where it has them."""
    from .models import final_estimator, linear_terms

    lin = linear_terms(model.clf_)
    if lin is not None:
        coef = pd.DataFrame({"term": ["(intercept)", *model.selected_], "coef": [lin[0], *lin[1]]})
        coef["odds_ratio"] = np.exp(coef.coef)
        return coef
    est = final_estimator(model.clf_)
    imp = getattr(est, "feature_importances_", None)
    return pd.DataFrame({"term": model.selected_, "coef": np.nan, "odds_ratio": np.nan,
                         "importance": np.nan if imp is None else np.asarray(imp, float)})


def model_summary(model: FeatureModel, name: str) -> dict:
    from .models import final_estimator

    lasso = model.lasso_
    out = {"classifier": type(final_estimator(model.clf_)).__name__, "spec": model.classifier or "lr",
           "tuned_params": {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
                            for k, v in model.tuned_params_.items()},
           "selected": model.selected_, "funnel": model.chain_.funnel_.to_dict("records"),
           "smote_samples": 0 if model.smote_samples_ is None else int(len(model.smote_samples_))}
    if lasso is not None:
        out["score"] = {"name": f"{name}_score", "lambda": lasso.lambda_, "rule": lasso.rule,
                        "intercept": lasso.intercept_,
                        "coefficients": {f: float(lasso.coef_[f]) for f in lasso.selected_},
                        "formula": lasso.formula(f"{name}_score")}
    return out


def run_feature_model(X: pd.DataFrame, split: pd.DataFrame, selection_pkl: str, seed: int,
                      out_model: str, out_pred: str, out_coef: str, out_summary: str | None = None,
                      name: str = "model", *, out_formula: str | None = None, out_importance: str | None = None,
                      out_odds: str | None = None, sources: set[str] | None = None) -> None:
    """The `train` rule for a feature model: fit the classifier on the training cohort's selected features.

    Also, from the fitted model and the training rows only, for the report: the score formula(s)
    (``out_formula``), feature importance (``out_importance``) and, for clinical models
    (``sources`` without imaging, :func:`axilla.interpret.is_clinical`) or chains with ulogit /
    stepwise steps, the univariable and multivariable odds ratios (``out_odds``).
    """
    import json

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
    write_csv(coefficient_table(model), out_coef)
    if out_summary:
        with atomic_path(out_summary) as tmp, open(tmp, "w") as fh:
            json.dump(model_summary(model, name), fh, indent=1, default=float)
    log.info("trained %s on %d patients with %d features: %s", type(model.estimator_).__name__, is_train.sum(),
             len(model.selected_), ", ".join(model.selected_))
    from .interpret import is_clinical

    write_interpretation(model, X[is_train], y[is_train], seed, name, out_formula, out_importance, out_odds,
                         clinical=is_clinical(sources))


def write_interpretation(model: FeatureModel, X_train: pd.DataFrame, y_train, seed: int, name: str,
                         out_formula: str | None, out_importance: str | None, out_odds: str | None,
                         clinical: bool) -> None:
    """formula.txt, importance.csv and odds_ratios.csv of a fitted feature model (training rows only)."""
    from . import interpret

    if out_formula:
        with atomic_path(out_formula) as tmp:
            tmp.write_text(interpret.formula_text(model, X_train, name), encoding="utf-8")
    if out_importance:
        D = model._design(X_train)
        write_csv(interpret.importance_table(model.clf_, D, y_train, seed), out_importance)
    if out_odds:
        write_csv(interpret.odds_ratio_tables(model, X_train, y_train, clinical), out_odds)


def run_fusion_model(base_preds: dict[str, str], seed: int, out_model: str, out_pred: str, out_coef: str,
                     meta: str = "lr", *, out_formula: str | None = None, out_importance: str | None = None) -> None:
    """The `train` rule for a post-fusion model: meta-classifier fitted on base models' OOF probabilities
    (and, for the report, its formula and the importance of each base model on the training rows)."""
    frames = {name: pd.read_csv(p, dtype={"patient_id": str}).set_index("patient_id") for name, p in base_preds.items()}
    first = next(iter(frames.values()))
    split = first[["cohort", "y"]]
    is_train = (split.cohort == TRAIN).to_numpy()
    oof = pd.DataFrame({n: f.oof_prob for n, f in frames.items()})
    full = pd.DataFrame({n: f.prob for n, f in frames.items()})
    model = FusionModel(meta=meta, random_state=seed).fit(oof[is_train], split.y[is_train])
    # Training rows are predicted from OOF inputs too, so training performance is not inflated
    # by base models that memorised their own training patients.
    inputs = full.where(~pd.Series(is_train, index=full.index), oof, axis=0)
    proba = model.predict_proba(inputs)[:, 1]
    meta_oof = oof_proba(FusionModel(meta=meta, random_state=seed), oof[is_train], split.y[is_train].to_numpy(), seed)
    save_model(model, out_model)
    write_csv(predictions_frame(split.reset_index(), proba, meta_oof), out_pred)
    terms = ["(intercept)", *[f"logit({c})" for c in model.columns_]]
    if meta == "lr":
        coef = pd.DataFrame({"term": terms, "coef": [model.clf_.intercept_[0], *model.clf_.coef_[0]]})
        coef["odds_ratio"] = np.exp(coef.coef)
    else:
        coef = pd.DataFrame({"term": terms[1:], "coef": np.nan, "odds_ratio": np.nan})
    write_csv(coef, out_coef)
    log.info("post-fusion (%s) of %s on %d training patients", meta, ", ".join(model.columns_), is_train.sum())
    from . import interpret

    if out_formula:
        with atomic_path(out_formula) as tmp:
            tmp.write_text(interpret.fusion_formula_text(model, int(is_train.sum())), encoding="utf-8")
    if out_importance:
        D = pd.DataFrame(_logit(oof[is_train].to_numpy(float)), columns=[f"logit(p_{c})" for c in model.columns_])
        write_csv(interpret.importance_table(model.clf_, D, split.y[is_train].to_numpy(), seed), out_importance)


def load_feature_tables(inputs, specs: list[str], variables: dict[str, str], blood: dict[str, str] | None = None):
    """Read the tables a model's feature sources need; return (X, clinical kinds, split).

    `inputs` maps names (clinical, split, radiomics, reproducible, deep) to CSV paths; `blood`
    (count → clinical column) names the counts of the derived blood indices.
    """
    from .features import assemble

    def read(name):
        return pd.read_csv(inputs[name], dtype={"patient_id": str}) if name in inputs.keys() else None

    clinical, split = read("clinical"), read("split")
    keep = read("reproducible")
    X, kinds = assemble(specs, clinical, variables, radiomics=read("radiomics"), deep=read("deep"),
                        reproducible=set(keep.feature) if keep is not None else None,
                        blood=blood) if specs else (None, {})
    ids = split.patient_id.astype(str).to_numpy()
    X = pd.DataFrame(index=pd.Index(ids, name="patient_id")) if X is None else X.loc[ids]
    for name in inputs.keys():
        if name.startswith("score_"):
            X[name[len("score_"):] + "_score"] = score_column(pd.read_csv(inputs[name], dtype={"patient_id": str}), ids)
    return X, kinds, split


def score_column(pred: pd.DataFrame, ids) -> np.ndarray:
    """A base model's score as a feature (score fusion, seeds 002-004): its out-of-fold score on
    training patients, so the fusion model does not learn from a score fitted to those very
    patients, and the full training fit's score for everyone else."""
    if "score" not in pred.columns:
        raise ValueError("score fusion needs a base model whose selection chain has a 'lasso' step")
    pred = pred.set_index("patient_id").loc[list(ids)]
    return np.where(pred.cohort == TRAIN, pred.oof_score, pred.score).astype(float)
