"""The filter steps of the published chain: near-zero variance, z-score (training statistics),
univariate two-sample tests and the correlation filter.

Each is a scikit-learn style transformer taking and returning pandas DataFrames and computing
everything it stores from the rows passed to ``fit``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .base import _as_frame, _binary_target, _fast_columns, _is_numeric, _Selector, _value_counts_top2
from .stats import (_categorical_test, _corr, _mwu_pvalues, _numeric_test, _numeric_tests_by_nan_pattern,
                    _table_test, _two_value_table)


class VarianceFilter(_Selector):
    """Drop constant, low-variance and (optionally) near-zero-variance features.

    A feature is dropped when it has at most one distinct non-missing value ("constant"), when it
    is numeric with population variance <= ``threshold`` ("variance"), or, with ``near_zero``,
    when caret::nearZeroVar would flag it ("near-zero"): the most common value is more than
    ``freq_cut`` (95/5) times as frequent as the second most common AND the distinct values are
    at most ``unique_cut`` (10) % of the rows. caret uses ``<=`` for the percentage and counts
    missing values in its denominator; both are followed here. The rule catches the sparse
    indicator-like radiomics features (e.g. a GLSZM count that is 0 in 97 % of patients) whose
    variance is not small but which carry almost no information.
    """

    def __init__(self, threshold: float = 0.0, near_zero: bool = True, freq_cut: float = 95 / 5,
                 unique_cut: float = 10.0):
        self.threshold = threshold
        self.near_zero = near_zero
        self.freq_cut = freq_cut
        self.unique_cut = unique_cut

    def fit(self, X, y=None) -> "VarianceFilter":
        X = self._start_fit(X)
        n = X.shape[0]
        # Plain NumPy numeric columns: all at once (same numbers as the per-column definition in
        # _variance_stats, which the other dtypes still go through).
        fast = _fast_columns(X)
        stats_of = {}
        if fast:
            n_unique, most, second = _value_counts_top2(X, fast)
            ratio = np.zeros(len(fast))  # caret returns 0 for fewer than two distinct values
            two = n_unique >= 2
            ratio[two] = most[two] / second[two]
            pct = 100.0 * n_unique / n
            var = np.full(len(fast), np.nan)
            some = n_unique > 0
            var[some] = _nanvar_rows(X[[fast[i] for i in np.flatnonzero(some)]].to_numpy(float).T)
            stats_of = {c: (v, r, q, k) for c, v, r, q, k in
                        zip(fast, var.tolist(), ratio.tolist(), pct.tolist(), n_unique.tolist())}
        var, ratio, pct, reasons = {}, {}, {}, {}
        for c in X.columns:
            if c in stats_of:
                var[c], ratio[c], pct[c], n_unique = stats_of[c]
                numeric = True
            else:
                s = X[c]
                var[c], ratio[c], pct[c], n_unique = _variance_stats(s, n)
                numeric = _is_numeric(s)
            if n_unique <= 1:
                reasons[c] = "constant"
            elif numeric and var[c] <= self.threshold:
                reasons[c] = "variance"
            elif self.near_zero and ratio[c] > self.freq_cut and pct[c] <= self.unique_cut:
                reasons[c] = "near-zero"
        self.variances_ = pd.Series(var, dtype=float)
        self.freq_ratio_ = pd.Series(ratio, dtype=float)
        self.percent_unique_ = pd.Series(pct, dtype=float)
        self.drop_reasons_ = pd.Series(reasons, dtype=object)
        self._set_support([c not in reasons for c in X.columns])
        return self


def _variance_stats(s: pd.Series, n: int) -> tuple[float, float, float, int]:
    """Per-column definition of VarianceFilter's numbers: (variance, freq ratio, % unique, n distinct)."""
    counts = s.dropna().value_counts(sort=True)
    n_unique = len(counts)
    # caret returns 0 for a column with fewer than two distinct values
    ratio = float(counts.iloc[0] / counts.iloc[1]) if n_unique >= 2 else 0.0
    pct = 100.0 * n_unique / n
    var = float(np.nanvar(s.to_numpy(float))) if _is_numeric(s) and n_unique else np.nan
    return var, ratio, pct, n_unique


def _nanvar_rows(A: np.ndarray) -> np.ndarray:
    """``np.nanvar`` of each row, bit-identical to calling it on each row alone.

    Rows are reduced along their contiguous axis (the same pairwise summation as a 1-D call), and
    rows with and without NaN are done separately because ``np.nanvar`` takes a different code
    path (``np.var``) when its input has no NaN.
    """
    A = np.ascontiguousarray(A)
    out = np.empty(A.shape[0])
    has_nan = np.isnan(A).any(axis=1)
    for rows in (~has_nan, has_nan):
        if rows.any():
            out[rows] = np.nanvar(A[rows], axis=1)
    return out


class ZScore(BaseEstimator, TransformerMixin):
    """Standardise numeric columns with the training mean and population SD (ddof=0, as glmnet).

    Constant columns map to 0 (their SD is 0); missing values stay missing; non-numeric columns
    pass through untouched.
    """

    def fit(self, X, y=None) -> "ZScore":
        X = _as_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        num = [c for c in X.columns if _is_numeric(X[c])]
        A = X[num].to_numpy(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns → NaN stats
            self.mean_ = pd.Series(np.nanmean(A, axis=0), index=num, dtype=float)
            self.scale_ = pd.Series(np.nanstd(A, axis=0), index=num, dtype=float)
        return self

    def transform(self, X) -> pd.DataFrame:
        check_is_fitted(self, "mean_")
        X = _as_frame(X)
        cols = list(self.mean_.index)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise ValueError(f"ZScore: columns seen in fit are missing: {missing[:10]}")
        A = X[cols].to_numpy(float)
        scale = self.scale_.to_numpy()
        safe = np.where(scale > 0, scale, 1.0)
        Z = (A - self.mean_.to_numpy()) / safe
        Z[:, scale == 0] = np.where(np.isnan(A[:, scale == 0]), np.nan, 0.0)
        # built whole: assigning thousands of radiomics columns one by one costs seconds per call
        Z = pd.DataFrame(Z, index=X.index, columns=cols)
        if len(cols) == len(self.feature_names_in_):
            return Z[list(self.feature_names_in_)]
        rest = [c for c in self.feature_names_in_ if c not in self.mean_.index]
        return pd.concat([Z, X[rest]], axis=1)[list(self.feature_names_in_)]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "mean_")
        return self.feature_names_in_.copy()


class UnivariateFilter(_Selector):
    """Keep features whose two-sample test between the outcome classes has p < ``p_threshold``.

    Numeric features: Shapiro–Wilk in each class (α = ``alpha``); if both look normal, Levene's
    test (``levene_center``, median = Brown–Forsythe as in scipy and car::leveneTest) chooses
    Student's t (equal variances) or Welch's t; otherwise the two-sided Mann–Whitney U test
    (scipy's default: exact for small samples without ties, else normal approximation with
    continuity correction). Categorical features (named in ``categorical``, non-numeric or bool
    dtype, or numeric with exactly two distinct values, which also catches 0/1 indicators after
    z-scoring): χ² test of independence, or Fisher's exact test for a 2×2 table with an expected
    count < 5. Missing values are left out per feature; a feature with a single value gets p = 1.

    If no feature reaches the threshold, the single lowest-p feature is kept (``fallback_`` is
    True) so the downstream steps always have something to model; the report states it.

    Fitted: ``pvalues_``, ``tests_`` ("t", "welch", "mwu", "chi2", "fisher", "constant"),
    ``details_`` (per feature: kind, test, p, Shapiro p per class, Levene p, min expected count),
    ``fallback_``.
    """

    def __init__(self, p_threshold: float = 0.05, categorical: Sequence[str] | None = None,
                 alpha: float = 0.05, levene_center: str = "median", yates: bool = True):
        self.p_threshold = p_threshold
        self.categorical = categorical
        self.alpha = alpha
        self.levene_center = levene_center
        self.yates = yates

    def _is_categorical(self, name, s: pd.Series) -> bool:
        if self.categorical is not None and name in set(self.categorical):
            return True
        return not _is_numeric(s) or s.dropna().nunique() == 2

    def _test_columns(self, X: pd.DataFrame, y01: np.ndarray, pos: np.ndarray) -> dict:
        """The test of every column (dicts as from _numeric_test / _categorical_test), in no set order."""
        # Plain NumPy numeric columns that are not categorical get the two-sample tests all at
        # once (_numeric_tests, equal to _numeric_test per column); the rest go column by column.
        named = set(self.categorical) if self.categorical is not None else set()
        fast = _fast_columns(X, exclude=named)
        numeric, two_valued = [], []
        if fast:
            for c, k in zip(fast, _value_counts_top2(X, fast)[0].tolist()):
                (two_valued if k == 2 else numeric).append(c)
        rows = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Shapiro on n > 5000, precision loss on near-ties
            if numeric:
                V = np.ascontiguousarray(X[numeric].to_numpy(float).T)  # one row per feature
                rows = dict(zip(numeric, _numeric_tests_by_nan_pattern(V, pos, self.alpha,
                                                                       self.levene_center)))
            for c in two_valued:  # categorical by the two-values rule: crosstab without pandas
                rows[c] = _table_test(_two_value_table(X[c].to_numpy(), y01), self.yates)
            for c in X.columns:
                if c in rows:
                    continue
                s = X[c]
                if self._is_categorical(c, s):
                    rows[c] = _categorical_test(s, y01, self.yates)
                else:
                    v = s.to_numpy(float)
                    ok = ~np.isnan(v)
                    rows[c] = _numeric_test(v[ok & ~pos], v[ok & pos], self.alpha, self.levene_center)
        return rows

    def fit(self, X, y) -> "UnivariateFilter":
        X = self._start_fit(X)
        y01, self.classes_ = _binary_target(y, X)
        pos = y01 == 1
        rows = self._test_columns(X, y01, pos)
        rows = {c: rows[c] for c in X.columns}  # column order
        details = pd.DataFrame.from_dict(rows, orient="index")
        details["p"] = details["p"].fillna(1.0)
        self.details_ = details[["kind", "test", "p", "shapiro_p_neg", "shapiro_p_pos", "levene_p",
                                 "min_expected"]]
        self.pvalues_ = details["p"].astype(float)
        self.tests_ = details["test"].astype(object)
        support = np.array(self.pvalues_ < self.p_threshold, dtype=bool)  # writable copy
        self.fallback_ = not support.any()
        if self.fallback_:
            support[int(np.argmin(self.pvalues_.to_numpy()))] = True
        self._set_support(support)
        return self


class CorrelationFilter(_Selector):
    """Collapse groups of highly correlated features (|r| > ``threshold``) to their most relevant member.

    Relevance is the two-sided Mann–Whitney p-value against the outcome on the fit rows (lower
    is more relevant; ties broken by column order). Features are visited from most to least
    relevant and a feature is dropped when it correlates above the threshold with one already
    kept, so of every such pair the less relevant one goes and the result does not depend on the
    column order. Without y, relevance is the column order. Only numeric columns take part;
    others are always kept.

    Fitted: ``relevance_`` (the p-values), ``dropped_pairs_`` (DataFrame: dropped, the kept
    feature it correlates with most, r with its sign).
    """

    def __init__(self, threshold: float = 0.9, method: str = "pearson"):
        self.threshold = threshold
        self.method = method

    def fit(self, X, y=None) -> "CorrelationFilter":
        if self.method not in ("pearson", "spearman"):
            raise ValueError(f"method must be 'pearson' or 'spearman', got {self.method!r}")
        X = self._start_fit(X)
        num = [c for c in X.columns if _is_numeric(X[c])]
        Xn = X[num]
        if y is not None:
            y01, self.classes_ = _binary_target(y, X)
            relevance = _mwu_pvalues(Xn, y01)
        else:
            relevance = pd.Series(np.arange(len(num), dtype=float), index=num)
        R = _corr(Xn, self.method) if num else np.zeros((0, 0))
        signed = R.copy()
        R = np.abs(R)
        order = sorted(range(len(num)), key=lambda i: (relevance.iloc[i], i))
        kept: list[int] = []
        dropped = []
        for i in order:
            r = R[i, kept]
            if kept and r.max() > self.threshold:
                k = kept[int(np.argmax(r))]  # the partner it is most correlated with
                dropped.append((num[i], num[k], float(signed[i, k])))
            else:
                kept.append(i)
        gone = {d for d, _, _ in dropped}
        self.relevance_ = relevance
        self.dropped_pairs_ = pd.DataFrame(dropped, columns=["dropped", "kept", "r"])
        self._set_support([c not in gone for c in X.columns])
        return self

