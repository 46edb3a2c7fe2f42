"""The model zoo of the seed studies (001: eight learners; 004: ten logistic-regression models) and hyperparameter tuning.

``make_classifier(spec, seed)`` turns a config entry ``{name, params, tune}`` into an unfitted
estimator. With ``tune`` the estimator is a grid search scored by AUC over repeated stratified
k-fold CV of the rows it is fitted on, i.e. of the training cohort only (and of the training
folds only when it is itself refitted inside out-of-fold CV). With ``smote`` SMOTE
oversampling runs inside the same pipeline, so it touches training folds only and never the
rows a fold is scored on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

log = logging.getLogger(__name__)

# name → (factory(seed, **params), default grid for tuning)
def _lr(seed, **kw):
    from sklearn.linear_model import LogisticRegression

    # L2, C = 1 on z-scored predictors (scikit-learn's default); C: .inf = unpenalised
    return LogisticRegression(**{"C": 1.0, "max_iter": 5000, "tol": 1e-8, **kw})


def _sgd(seed, **kw):
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(**{"loss": "log_loss", "penalty": "l2", "alpha": 1e-3, "max_iter": 2000, "tol": 1e-6,
                            "random_state": seed, **kw})


class PlattSVC(ClassifierMixin, BaseEstimator):
    """An SVC with Platt-scaled probabilities: the sigmoid is fitted on 5-fold out-of-fold
    decision values (seeded, stratified), the SVC itself on all rows it is given. This is what
    ``SVC(probability=True)`` did, written the way scikit-learn >= 1.9 asks for
    (``CalibratedClassifierCV(SVC(), ensemble=False)``) while keeping SVC's parameter names, so
    configs and tuning grids say ``C`` and ``gamma``."""

    def __init__(self, C=1.0, kernel="rbf", gamma="scale", degree=3, coef0=0.0, class_weight=None,
                 random_state=None):
        self.C, self.kernel, self.gamma, self.degree, self.coef0 = C, kernel, gamma, degree, coef0
        self.class_weight, self.random_state = class_weight, random_state

    def fit(self, X, y):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import SVC

        svc = SVC(C=self.C, kernel=self.kernel, gamma=self.gamma, degree=self.degree, coef0=self.coef0,
                  class_weight=self.class_weight)
        cv = StratifiedKFold(5, shuffle=True, random_state=self.random_state)
        self.calibrated_ = CalibratedClassifierCV(svc, method="sigmoid", cv=cv, ensemble=False).fit(X, y)
        self.svc_ = self.calibrated_.calibrated_classifiers_[0].estimator  # fitted on all rows
        self.classes_ = self.calibrated_.classes_
        self._refuse_an_inverted_sigmoid(y)
        self.n_features_in_ = self.calibrated_.n_features_in_
        return self

    def _refuse_an_inverted_sigmoid(self, y) -> None:
        """Out-of-fold decision values that rank the outcome backwards (an SVC that memorises small
        folds) give Platt's sigmoid the wrong sign, and the probabilities would rank patients
        opposite to the SVC's own decisions. That sigmoid is replaced by the constant training
        prevalence: the out-of-fold evidence says the SVC does not generalise."""
        sigmoid = self.calibrated_.calibrated_classifiers_[0].calibrators[0]
        self.inverted_sigmoid_ = bool(sigmoid.a_ > 0)  # sklearn's sigmoid: 1 / (1 + exp(a·f + b))
        if self.inverted_sigmoid_:
            prevalence = float(np.mean(np.asarray(y) == self.classes_[1]))
            log.warning("svm: Platt's sigmoid fitted on out-of-fold decision values decreases with the "
                        "decision value (slope %.3g); the probability is the training prevalence %.3f",
                        -sigmoid.a_, prevalence)
            sigmoid.a_, sigmoid.b_ = 0.0, -float(np.log(prevalence / (1 - prevalence)))

    def predict_proba(self, X):
        check_is_fitted(self, "calibrated_")
        return self.calibrated_.predict_proba(X)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def decision_function(self, X):
        check_is_fitted(self, "svc_")
        return self.svc_.decision_function(X)


def _svm(seed, **kw):
    return PlattSVC(**{"random_state": seed, **kw})


def _nb(seed, **kw):
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB(**kw)


def _knn(seed, **kw):
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(**{"n_neighbors": 7, **kw})


def _rf(seed, **kw):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**{"n_estimators": 200, "min_samples_leaf": 2, "n_jobs": 1, "random_state": seed,
                                     **kw})


def _xgboost(seed, **kw):
    from xgboost import XGBClassifier

    return XGBClassifier(**{"n_estimators": 100, "max_depth": 3, "learning_rate": 0.1, "n_jobs": 1,
                            "random_state": seed, "verbosity": 0, **kw})


def _lightgbm(seed, **kw):
    from lightgbm import LGBMClassifier

    return LGBMClassifier(**{"n_estimators": 100, "num_leaves": 7, "min_child_samples": 5, "learning_rate": 0.05,
                             "n_jobs": 1, "verbose": -1, "random_state": seed, **kw})


def _adaboost(seed, **kw):
    from sklearn.ensemble import AdaBoostClassifier

    return AdaBoostClassifier(**{"n_estimators": 100, "random_state": seed, **kw})


def _mlp(seed, **kw):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(**{"hidden_layer_sizes": (32,), "alpha": 1e-2, "max_iter": 2000, "random_state": seed, **kw})


ZOO = {
    "lr": (_lr, {"C": [0.01, 0.1, 1.0, 10.0]}),
    "sgd": (_sgd, {"alpha": [1e-4, 1e-3, 1e-2, 1e-1]}),
    "svm": (_svm, {"C": [0.1, 1.0, 10.0], "gamma": ["scale", 0.01]}),
    "nb": (_nb, {"var_smoothing": [1e-9, 1e-6, 1e-3]}),
    "knn": (_knn, {"n_neighbors": [3, 5, 7, 11]}),
    "rf": (_rf, {"max_depth": [2, 4, None]}),
    "xgboost": (_xgboost, {"max_depth": [2, 3], "n_estimators": [50, 100]}),
    "lightgbm": (_lightgbm, {"num_leaves": [3, 7], "n_estimators": [50, 100]}),
    "adaboost": (_adaboost, {"n_estimators": [50, 100], "learning_rate": [0.5, 1.0]}),
    "mlp": (_mlp, {"alpha": [1e-3, 1e-2, 1e-1]}),
}


def _grid(grid: Mapping) -> dict:
    # YAML has no tuples; MLP layer sizes come as lists
    return {k: [tuple(v) if isinstance(v, list) else v for v in vals] for k, vals in grid.items()}


def make_classifier(spec: Mapping | str | None, seed: int, smote: Mapping | None = None):
    """An unfitted estimator for ``spec`` = ``{name, params, tune: {folds, repeats, grid}}`` (a config
    entry; missing keys take the schema's defaults, see :func:`axilla.settings.classifier_spec`),
    a learner's name, or None (the default learner)."""
    from .settings import classifier_spec

    spec = classifier_spec(spec)
    name = spec["name"]
    if name not in ZOO:
        raise ValueError(f"unknown classifier {name!r}; known: {', '.join(ZOO)}")
    factory, default_grid = ZOO[name]
    est = factory(seed, **dict(spec.get("params") or {}))
    grid_prefix = ""
    if smote is not None:
        from imblearn.over_sampling import SMOTE
        from imblearn.pipeline import Pipeline

        est = Pipeline([("smote", SMOTE(random_state=seed, **dict(smote))), ("clf", est)])
        grid_prefix = "clf__"
    tune = spec.get("tune")
    if not tune:
        return est
    from sklearn.model_selection import GridSearchCV, RepeatedStratifiedKFold

    grid = _grid(tune.get("grid") or default_grid)
    cv = RepeatedStratifiedKFold(n_splits=tune["folds"], n_repeats=tune["repeats"], random_state=seed)
    return GridSearchCV(est, {grid_prefix + k: v for k, v in grid.items()}, scoring="roc_auc", cv=cv, n_jobs=1,
                        refit=True, error_score="raise")


def final_estimator(fitted):
    """The fitted classifier inside a grid search and/or SMOTE pipeline."""
    est = getattr(fitted, "best_estimator_", fitted)
    return est.named_steps["clf"] if hasattr(est, "named_steps") else est


def tuned_params(fitted) -> dict:
    return dict(getattr(fitted, "best_params_", {}))


def smote_samples(X: np.ndarray, y: np.ndarray, smote: Mapping | None, seed: int) -> np.ndarray | None:
    """The synthetic rows SMOTE adds when fitted on (X, y): the same call the pipeline makes."""
    if smote is None:
        return None
    from imblearn.over_sampling import SMOTE

    Xr, _ = SMOTE(random_state=seed, **dict(smote)).fit_resample(X, y)
    return np.asarray(Xr)[len(X):]


def linear_terms(fitted) -> tuple[float, np.ndarray] | None:
    """(intercept, coefficients) of a linear classifier with a logistic link, else None."""
    est = final_estimator(fitted)
    if hasattr(est, "coef_") and hasattr(est, "intercept_") and getattr(est, "loss", "log_loss") == "log_loss":
        return float(np.ravel(est.intercept_)[0]), np.ravel(est.coef_).astype(float)
    return None
