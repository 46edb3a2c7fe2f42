"""Wrapper-style selectors of the seed studies: mRMR ranking and LightGBM importance with an
incremental cross-validated cut-off."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold

from .base import _binary_target, _Selector


class MRMRSelector(_Selector):
    """Minimum-redundancy maximum-relevance: the first ``k`` features of mrmr-selection's ranking.

    Relevance is the F statistic against the outcome, redundancy the mean absolute Pearson
    correlation with the features already chosen (``mrmr_classif`` defaults; deterministic).
    Fitted: ``ranking_`` (chosen order) and ``scores_`` (relevance).
    """

    def __init__(self, k: int = 20):
        self.k = k

    def fit(self, X, y) -> "MRMRSelector":
        from mrmr import mrmr_classif

        X = self._start_fit(X)
        y01, self.classes_ = _binary_target(y, X)
        num = X.astype(float).fillna(X.astype(float).median())
        k = min(int(self.k), X.shape[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # F statistic of a constant column
            ranking, scores, _ = mrmr_classif(num.reset_index(drop=True), pd.Series(y01), K=k, return_scores=True,
                                              n_jobs=1, show_progress=False)
        self.ranking_ = list(ranking)
        self.scores_ = pd.Series(scores, dtype=float)
        self._set_support([c in set(self.ranking_) for c in X.columns])
        return self


class LGBMIncremental(_Selector):
    """Seed 004's variable selection: rank features by LightGBM importance on the training rows,
    then add them one at a time in that order and keep the prefix with the best mean AUC of
    repeated stratified k-fold CV (ties: the shorter prefix).

    Fitted: ``importances_`` (split gain), ``ranking_`` (the first ``max_features`` by importance),
    ``cv_auc_`` (mean AUC per prefix length), ``cv_auc_sd_`` (SD of the fold AUCs), ``n_best_``;
    :meth:`importance_table` and :meth:`curve_table` are the report's tables (seed 004, Fig. 4).
    """

    def __init__(self, folds: int = 5, repeats: int = 1, max_features: int = 15, n_estimators: int = 100,
                 random_state: int | None = 0):
        self.folds = folds
        self.repeats = repeats
        self.max_features = max_features
        self.n_estimators = n_estimators
        self.random_state = random_state

    def _model(self):
        from lightgbm import LGBMClassifier

        # small trees, one thread: training cohorts are tens to hundreds of patients
        return LGBMClassifier(n_estimators=self.n_estimators, num_leaves=7, min_child_samples=5,
                              learning_rate=0.05, importance_type="gain", n_jobs=1, verbose=-1,
                              random_state=0 if self.random_state is None else int(self.random_state))

    def fit(self, X, y) -> "LGBMIncremental":
        from sklearn.model_selection import cross_val_score

        X = self._start_fit(X)
        y01, self.classes_ = _binary_target(y, X)
        A = X.astype(float)
        imp = self._model().fit(A, y01).feature_importances_
        self.importances_ = pd.Series(imp, index=list(X.columns), dtype=float)
        self.order_ = [X.columns[j] for j in sorted(range(X.shape[1]), key=lambda j: (-imp[j], j))]
        self.ranking_ = self.order_[: max(1, min(self.max_features, X.shape[1]))]
        cv = RepeatedStratifiedKFold(n_splits=self.folds, n_repeats=self.repeats,
                                     random_state=0 if self.random_state is None else int(self.random_state))
        fold_aucs = [cross_val_score(self._model(), A[self.ranking_[:k]], y01, cv=cv, scoring="roc_auc")
                     for k in range(1, len(self.ranking_) + 1)]
        index = range(1, len(fold_aucs) + 1)
        self.cv_auc_ = pd.Series([float(np.mean(a)) for a in fold_aucs], index=index, name="cv_auc")
        self.cv_auc_sd_ = pd.Series([float(np.std(a, ddof=1)) if len(a) > 1 else np.nan for a in fold_aucs],
                                    index=index, name="cv_auc_sd")
        self.n_splits_ = len(fold_aucs[0])
        self.n_best_ = int(np.argmax(self.cv_auc_.to_numpy())) + 1
        self._set_support([c in set(self.ranking_[: self.n_best_]) for c in X.columns])
        return self

    def importance_table(self) -> pd.DataFrame:
        """``feature, importance, rank, selected``: every input feature by gain importance on the
        training rows (rank 1 = most important; ties in column order, as the ranking)."""
        order = self.order_
        return pd.DataFrame({"feature": order, "importance": self.importances_.reindex(order).to_numpy(),
                             "rank": np.arange(1, len(order) + 1),
                             "selected": [f in set(self.ranking_[: self.n_best_]) for f in order]})

    def curve_table(self) -> pd.DataFrame:
        """``n_features, feature_added, cv_auc_mean, cv_auc_sd, ci_low, ci_high, n_splits, chosen``:
        the incremental CV-AUC curve. The 95 % CI is the t interval of the mean over the
        ``folds × repeats`` fold AUCs (seed 004 reports mean AUC and 95 % CI per subset)."""
        from scipy.stats import t

        n = self.n_splits_
        half = t.ppf(0.975, n - 1) * self.cv_auc_sd_.to_numpy() / np.sqrt(n) if n > 1 else np.nan
        mean = self.cv_auc_.to_numpy()
        return pd.DataFrame({"n_features": self.cv_auc_.index.to_numpy(), "feature_added": self.ranking_,
                             "cv_auc_mean": mean, "cv_auc_sd": self.cv_auc_sd_.to_numpy(),
                             "ci_low": mean - half, "ci_high": mean + half, "n_splits": n,
                             "chosen": self.cv_auc_.index.to_numpy() == self.n_best_})
