"""Feature selection fitted on the training partition only.

The published radiomics studies select features with a chain like

    near-zero variance → z-score (training statistics) → univariate test (p < 0.05)
    → correlation filter (|r| > 0.9) → LASSO logistic regression (k-fold CV, λ_min or λ_1se)

Each step here is a scikit-learn style transformer (``fit`` / ``transform`` /
``get_feature_names_out``) that takes and returns pandas DataFrames, keeps column names, and
computes everything it stores from the rows passed to ``fit`` and nothing else, so the chain
composes and leakage can be tested uniformly. :class:`SelectionChain` runs the steps in order
and records the feature-count funnel for the report; :func:`build_chain` builds it from the
``select`` section of the config.

Determinism: the only randomness (LASSO fold assignment, liblinear's coordinate order) is
seeded from ``random_state``; the global NumPy RNG is never used.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.utils.validation import check_is_fitted

log = logging.getLogger(__name__)

__all__ = [
    "VarianceFilter",
    "ZScore",
    "UnivariateFilter",
    "CorrelationFilter",
    "LassoSelector",
    "SelectionChain",
    "build_chain",
    "STEP_BUILDERS",
    "DEFAULT_STEPS",
]

DEFAULT_STEPS = ("variance", "zscore", "univariate", "correlation", "lasso")

# cv.glmnet clamps held-out probabilities to [1e-5, 1 - 1e-5] before taking logs (cv.lognet).
_PROB_MIN = 1e-5

# liblinear penalises the intercept like a weight on a constant column of this value, so the
# intercept's own penalty is λ·|b| / 1e4: negligible, which makes the fit match glmnet's
# unpenalised intercept (checked by the KKT test). Much larger values slow liblinear down.
_INTERCEPT_SCALING = 1e4


# ---------------------------------------------------------------------------------------------
# shared plumbing
# ---------------------------------------------------------------------------------------------

def _as_frame(X) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got shape {arr.shape}")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def _binary_target(y, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """y as a float 0/1 vector aligned with X's rows, and the two class labels (negative, positive)."""
    if isinstance(y, (pd.Series, pd.DataFrame)):
        if isinstance(y, pd.DataFrame):
            if y.shape[1] != 1:
                raise ValueError("y must be one column")
            y = y.iloc[:, 0]
        if not y.index.equals(X.index):
            # Align by patient label when that is unambiguous; never silently by position.
            same = y.index.is_unique and X.index.is_unique and set(y.index) == set(X.index)
            if not same:
                raise ValueError("y's index does not match X's rows; pass aligned data or a plain array")
            y = y.reindex(X.index)
        y = y.to_numpy()
    y = np.asarray(y).ravel()
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]} values")
    if pd.isna(y).any():
        raise ValueError("y has missing values")
    classes = np.unique(y)
    if classes.size != 2:
        raise ValueError(f"y must have exactly two classes, found {classes.size}: {classes.tolist()}")
    return (y == classes[1]).astype(float), classes


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _fast_columns(X: pd.DataFrame, exclude=()) -> list:
    """Columns with a plain NumPy int/uint/float dtype: the ones the vectorised paths handle.

    Everything else (bool, complex, nullable extension dtypes, strings, categoricals) takes the
    per-column path, which defines the results.
    """
    return [c for c, dt in X.dtypes.items()
            if isinstance(dt, np.dtype) and dt.kind in "iuf" and c not in exclude]


def _value_counts_top2(X: pd.DataFrame, cols: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of ``X[cols]`` (NumPy numeric dtypes): the number of distinct non-missing values
    and the counts of the most and second most common value (0 where there is none).

    Equal to ``s.dropna().value_counts()`` per column (0.0 and -0.0 count as one value, as there);
    values are compared in their own dtype, so large integers are not merged by a float cast.
    """
    n = X.shape[0]
    k = np.empty(len(cols), dtype=np.int64)
    top = np.zeros((len(cols), 2), dtype=np.int64)
    pos = {c: i for i, c in enumerate(cols)}
    dtypes = dict(X.dtypes.items())
    by_dtype: dict[np.dtype, list] = {}
    for c in cols:
        by_dtype.setdefault(dtypes[c], []).append(c)
    for dt, group in by_dtype.items():
        idx = np.fromiter((pos[c] for c in group), dtype=np.intp, count=len(group))
        S = np.sort(X[group].to_numpy(dt).T, axis=1)  # one row per column; NaN sorts last
        m = S.shape[0]
        valid = ~np.isnan(S) if dt.kind == "f" else np.ones(S.shape, dtype=bool)
        new = np.ones(S.shape, dtype=bool)
        new[:, 1:] = S[:, 1:] != S[:, :-1]
        k[idx] = (new & valid).sum(axis=1)
        # run lengths: every run of equal values (and every NaN) starts at a boundary
        bounds = np.flatnonzero(new.ravel())
        lengths = np.diff(np.append(bounds, m * n))
        runs = np.zeros(m * n, dtype=np.int64)
        runs[bounds] = np.where(valid.ravel()[bounds], lengths, 0)
        runs = runs.reshape(m, n)
        if n >= 2:
            part = np.partition(runs, n - 2, axis=1)
            top[idx, 0], top[idx, 1] = part[:, n - 1], part[:, n - 2]
        else:
            top[idx, 0] = runs[:, 0]
    return k, top[:, 0], top[:, 1]


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


class _Selector(BaseEstimator, TransformerMixin):
    """Base for steps that keep a subset of the columns (SelectorMixin-like, but pandas in/out)."""

    def _start_fit(self, X) -> pd.DataFrame:
        X = _as_frame(X)
        if X.shape[1] == 0:
            raise ValueError(f"{type(self).__name__}: no features left to select from")
        if not X.columns.is_unique:
            raise ValueError(f"{type(self).__name__}: duplicate column names")
        if X.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}: no rows to fit on")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return X

    def _set_support(self, support) -> None:
        self.support_ = np.asarray(support, dtype=bool)
        self.selected_ = [c for c, keep in zip(self.feature_names_in_, self.support_) if keep]

    def get_support(self, indices: bool = False):
        check_is_fitted(self, "support_")
        return np.flatnonzero(self.support_) if indices else self.support_.copy()

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "support_")
        return np.asarray(self.selected_, dtype=object)

    def transform(self, X) -> pd.DataFrame:
        check_is_fitted(self, "support_")
        X = _as_frame(X)
        missing = [c for c in self.selected_ if c not in X.columns]
        if missing:
            raise ValueError(f"{type(self).__name__}: columns seen in fit are missing: {missing[:10]}")
        return X.loc[:, self.selected_].copy()


# ---------------------------------------------------------------------------------------------
# near-zero variance
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# z-score
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# univariate tests
# ---------------------------------------------------------------------------------------------

def _numeric_test(neg: np.ndarray, pos: np.ndarray, alpha: float, levene_center: str) -> dict:
    """Two-sample test chosen by the data (the usual SPSS-era decision tree of the papers)."""
    out = {"kind": "numeric", "shapiro_p_neg": np.nan, "shapiro_p_pos": np.nan, "levene_p": np.nan,
           "min_expected": np.nan}
    both = np.concatenate([neg, pos])
    if neg.size == 0 or pos.size == 0 or np.ptp(both) == 0:
        return {**out, "test": "constant", "p": 1.0}
    normal = True
    for key, g in (("shapiro_p_neg", neg), ("shapiro_p_pos", pos)):
        # Shapiro–Wilk needs 3 values and some spread; otherwise normality cannot be shown.
        if g.size >= 3 and np.ptp(g) > 0:
            out[key] = float(stats.shapiro(g).pvalue)
            normal &= out[key] > alpha
        else:
            normal = False
    if normal:
        out["levene_p"] = float(stats.levene(neg, pos, center=levene_center).pvalue)
        equal = out["levene_p"] > alpha
        p = stats.ttest_ind(neg, pos, equal_var=equal).pvalue
        test = "t" if equal else "welch"
    else:
        p = stats.mannwhitneyu(neg, pos, alternative="two-sided").pvalue
        test = "mwu"
    return {**out, "test": test, "p": float(p)}


def _levene_p(a: np.ndarray, b: np.ndarray, center: str) -> np.ndarray:
    """``stats.levene(a[i], b[i], center=center).pvalue`` for every row i, vectorised.

    scipy's levene takes ``axis`` but loops over the slices in Python; this is its formula for two
    samples, operation for operation, along each row's contiguous axis, so the p-values are the
    same bit for bit. ``center="trimmed"`` is left to scipy.
    """
    if center not in ("median", "mean"):
        return np.asarray(stats.levene(a, b, center=center, axis=1).pvalue, dtype=float)
    func = np.median if center == "median" else np.mean
    n_a, n_b = float(a.shape[1]), float(b.shape[1])
    n_tot = n_a + n_b
    z_a = np.abs(a - func(a, axis=1)[:, None])
    z_b = np.abs(b - func(b, axis=1)[:, None])
    zbar_a, zbar_b = np.mean(z_a, axis=1), np.mean(z_b, axis=1)
    zbar = (zbar_a * n_a + zbar_b * n_b) / n_tot
    numer = (n_tot - 2) * (n_a * (zbar_a - zbar) ** 2 + n_b * (zbar_b - zbar) ** 2)
    dvar = np.sum((z_a - zbar_a[:, None]) ** 2, axis=1) + np.sum((z_b - zbar_b[:, None]) ** 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = numer / (1.0 * dvar)
    return np.asarray(stats.f.sf(w, 1, n_tot - 2), dtype=float)


def _mwu_methods(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The method ``mannwhitneyu(method="auto")`` picks for each row on its own.

    "auto" decides once per call (exact only when a sample has <= 8 values and there are no ties
    anywhere in the call), so a vectorised call could differ from the per-feature one; the rows
    are grouped by this and each group is run with its method named.
    """
    m = a.shape[0]
    if a.shape[1] > 8 and b.shape[1] > 8:
        return np.full(m, "asymptotic", dtype=object)
    s = np.sort(np.concatenate([a, b], axis=1), axis=1)
    ties = (s[:, 1:] == s[:, :-1]).any(axis=1)
    return np.where(ties, "asymptotic", "exact").astype(object)


def _numeric_tests(neg: np.ndarray, pos: np.ndarray, alpha: float, levene_center: str) -> list[dict]:
    """:func:`_numeric_test` for many features at once: row i of ``neg``/``pos`` holds feature i's
    values in each class (no missing values). Returns one dict per row, equal to
    ``_numeric_test(neg[i], pos[i], ...)``.

    Samples lie along the rows' contiguous last axis, so scipy's reductions sum in the same order
    as on a 1-D sample and the p-values equal the per-feature calls bit for bit (Student's t,
    Shapiro, Levene, Mann–Whitney), except that Welch's p can differ in the last bit or two
    (relative ~4e-16, about 1 feature in 1000): scipy squares the variances with a scalar
    ``pow`` on 1-D input and with an array square here, which rounds the Welch df differently.
    Mann–Whitney uses, per feature, the method that ``method="auto"`` picks for it alone.
    """
    m, n_neg, n_pos = neg.shape[0], neg.shape[1], pos.shape[1]
    if m == 0:
        return []
    nan = np.full(m, np.nan)
    sw = {"neg": nan.copy(), "pos": nan.copy()}
    lev, p = nan.copy(), np.ones(m)
    test = np.full(m, "constant", dtype=object)
    if n_neg and n_pos:
        spread = np.ptp(np.concatenate([neg, pos], axis=1), axis=1) != 0
        normal = spread.copy()
        for key, g in (("neg", neg), ("pos", pos)):
            # Shapiro–Wilk needs 3 values and some spread; otherwise normality cannot be shown.
            ok = spread & (np.ptp(g, axis=1) > 0) if g.shape[1] >= 3 else np.zeros(m, dtype=bool)
            if ok.any():
                sw[key][ok] = stats.shapiro(g[ok], axis=1).pvalue
            normal &= ok & (sw[key] > alpha)
        if normal.any():
            lev[normal] = _levene_p(neg[normal], pos[normal], levene_center)
        equal = normal & (lev > alpha)
        welch = normal & ~equal
        for rows, kind, equal_var in ((equal, "t", True), (welch, "welch", False)):
            if rows.any():
                p[rows] = stats.ttest_ind(neg[rows], pos[rows], equal_var=equal_var, axis=1).pvalue
                test[rows] = kind
        mwu = spread & ~normal
        if mwu.any():
            idx = np.flatnonzero(mwu)
            methods = _mwu_methods(neg[idx], pos[idx])
            for method in ("asymptotic", "exact"):
                sub = idx[methods == method]
                if sub.size:
                    p[sub] = stats.mannwhitneyu(neg[sub], pos[sub], alternative="two-sided",
                                                method=method, axis=1).pvalue
            test[idx] = "mwu"
    return [{"kind": "numeric", "shapiro_p_neg": a, "shapiro_p_pos": b, "levene_p": c,
             "min_expected": np.nan, "test": t, "p": q}
            for a, b, c, t, q in zip(sw["neg"].tolist(), sw["pos"].tolist(), lev.tolist(), test.tolist(),
                                     p.tolist())]


def _numeric_tests_by_nan_pattern(V: np.ndarray, pos: np.ndarray, alpha: float,
                                  levene_center: str) -> list[dict]:
    """:func:`_numeric_tests` on the rows of V (one per feature, samples along the row), missing
    values left out per feature: features sharing a pattern of missing values form one block."""
    out: list[dict | None] = [None] * V.shape[0]
    missing = np.isnan(V)
    has = missing.any(axis=1)
    blocks = [(np.flatnonzero(~has), np.ones(V.shape[1], dtype=bool))]
    if has.any():
        with_nan = np.flatnonzero(has)
        patterns, which = np.unique(missing[with_nan], axis=0, return_inverse=True)
        blocks += [(with_nan[which.ravel() == i], ~pat) for i, pat in enumerate(patterns)]
    for idx, ok in blocks:
        if idx.size:
            sub = V[idx]
            res = _numeric_tests(np.ascontiguousarray(sub[:, ok & ~pos]),
                                 np.ascontiguousarray(sub[:, ok & pos]), alpha, levene_center)
            for i, r in zip(idx.tolist(), res):
                out[i] = r
    return out


def _categorical_test(x: pd.Series, y: np.ndarray, yates: bool) -> dict:
    """χ² test of independence; Fisher's exact test for a 2×2 table with an expected count < 5."""
    keep = x.notna().to_numpy()
    return _table_test(pd.crosstab(x.to_numpy()[keep], y[keep]).to_numpy(), yates)


def _two_value_table(v: np.ndarray, y01: np.ndarray) -> np.ndarray:
    """``pd.crosstab(v, y01).to_numpy()`` (missing values dropped) for a NumPy numeric column with
    exactly two distinct values: rows low/high value, columns the classes present (0, 1)."""
    if v.dtype.kind == "f":
        keep = ~np.isnan(v)
        v, y01 = v[keep], y01[keep]
    high = v == v.max()
    present = [c for c in (0.0, 1.0) if (y01 == c).any()]
    return np.array([[np.count_nonzero(~high & (y01 == c)) for c in present],
                     [np.count_nonzero(high & (y01 == c)) for c in present]], dtype=np.int64)


def _table_test(table: np.ndarray, yates: bool) -> dict:
    """The test of :func:`_categorical_test` on a contingency table (feature levels × classes)."""
    out = {"kind": "categorical", "shapiro_p_neg": np.nan, "shapiro_p_pos": np.nan,
           "levene_p": np.nan, "min_expected": np.nan}
    if table.shape[0] < 2 or table.shape[1] < 2:
        return {**out, "test": "constant", "p": 1.0}
    expected = stats.contingency.expected_freq(table)
    out["min_expected"] = float(expected.min())
    if table.shape == (2, 2) and expected.min() < 5:
        return {**out, "test": "fisher", "p": float(stats.fisher_exact(table).pvalue)}
    # scipy (like R's chisq.test) applies Yates' correction to 2×2 tables unless told not to;
    # larger tables with small expected counts stay χ² (no exact r×c test is attempted).
    p = stats.chi2_contingency(table, correction=yates).pvalue
    return {**out, "test": "chi2", "p": float(p)}


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

    def fit(self, X, y) -> "UnivariateFilter":
        X = self._start_fit(X)
        y01, self.classes_ = _binary_target(y, X)
        pos = y01 == 1
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


# ---------------------------------------------------------------------------------------------
# correlation filter
# ---------------------------------------------------------------------------------------------

def _mwu_pvalues(X: pd.DataFrame, y01: np.ndarray | None) -> pd.Series:
    A = X.to_numpy(float)
    full = ~np.isnan(A).any(axis=0) & (np.ptp(np.nan_to_num(A), axis=0) > 0)
    p = {}
    if full.any() and 0 < (y01 == 1).sum() < len(y01):  # complete, non-constant columns at once
        neg, pos = A[y01 == 0][:, full].T, A[y01 == 1][:, full].T
        methods, pv = _mwu_methods(neg, pos), np.empty(neg.shape[0])
        for method in ("asymptotic", "exact"):  # what "auto" picks per column, as the univariate filter
            sub = methods == method
            if sub.any():
                pv[sub] = stats.mannwhitneyu(neg[sub], pos[sub], alternative="two-sided", method=method, axis=1).pvalue
        p.update(zip(X.columns[full], pv))
    for c in X.columns[~full]:
        v = X[c].to_numpy(float)
        ok = ~np.isnan(v)
        a, b = v[ok & (y01 == 0)], v[ok & (y01 == 1)]
        if a.size == 0 or b.size == 0 or np.ptp(v[ok]) == 0:
            p[c] = 1.0
        else:
            p[c] = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return pd.Series(p, dtype=float)[list(X.columns)]


def _corr(X: pd.DataFrame, method: str) -> np.ndarray:
    A = X.to_numpy(float)
    if np.isnan(A).any():
        R = X.astype(float).corr(method=method).to_numpy()  # pairwise-complete, like R's use=
    else:
        if method == "spearman":
            A = stats.rankdata(A, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            R = np.atleast_2d(np.corrcoef(A, rowvar=False))
    return np.nan_to_num(R, nan=0.0)  # a constant column correlates with nothing


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


# ---------------------------------------------------------------------------------------------
# LASSO logistic regression with glmnet's definitions
# ---------------------------------------------------------------------------------------------

def _standardise(A: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    # glmnet leaves constant columns out; a zero column does the same (its coefficient stays 0)
    safe = np.where(sd > 0, sd, 1.0)
    Z = (A - mean) / safe
    Z[:, sd == 0] = 0.0
    return Z


def _kkt_violation(Z: np.ndarray, y01: np.ndarray, beta: np.ndarray, b0: float, lam: float) -> float:
    """How far (β, b0) is from optimal for −loglik/n + λ‖β‖₁: 0 at glmnet's solution.

    Optimality: x_jᵀ(y − p)/n = λ·sign(β_j) where β_j ≠ 0, |x_jᵀ(y − p)/n| <= λ where β_j = 0,
    and mean(y − p) = 0 for the unpenalised intercept.
    """
    resid = y01 - expit(Z @ beta + b0)
    grad = Z.T @ resid / y01.size
    nz = beta != 0
    active = np.abs(grad[nz] - lam * np.sign(beta[nz])).max(initial=0.0)
    inactive = (np.abs(grad[~nz]) - lam).max(initial=0.0)
    return float(max(active, inactive, abs(resid.mean())))


def _cv_stats(dev: np.ndarray, foldid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cv.glmnet's cvm and cvsd from per-observation held-out deviances (n × n_lambda).

    grouped (glmnet's default, used when there are >= 3 observations per fold): per-fold mean
    deviance m_k with weight w_k = fold size; cvm = Σ w_k m_k / Σ w_k (= the mean over all
    observations); cvsd = sqrt(Σ w_k (m_k − cvm)² / Σ w_k / (K − 1)). Otherwise, as cv.glmnet
    does, the observations themselves are the units: cvsd = sqrt(mean((d_i − cvm)²) / (n − 1)).
    Returns cvm, cvsd and the per-fold means (K × n_lambda).
    """
    folds = np.unique(foldid)
    K, n = folds.size, dev.shape[0]
    means = np.vstack([dev[foldid == f].mean(axis=0) for f in folds])
    if n / K >= 3:
        w = np.array([(foldid == f).sum() for f in folds], dtype=float)
        cvm = w @ means / w.sum()
        cvsd = np.sqrt((w @ (means - cvm) ** 2) / w.sum() / (K - 1))
    else:
        cvm = dev.mean(axis=0)
        cvsd = np.sqrt(((dev - cvm) ** 2).mean(axis=0) / (n - 1))
    return cvm, cvsd, means


class LassoSelector(_Selector):
    """L1-penalised logistic regression with cv.glmnet's λ path, CV deviance and λ rules.

    Definitions (glmnet, family="binomial", alpha=1, standardize=TRUE):

    * features standardised with the fit rows' mean and population SD (ddof=0); coefficients are
      also reported back on the input scale (``coef_``, ``intercept_``);
    * objective −loglik/n + λ‖β‖₁ with an unpenalised intercept. scikit-learn minimises
      ‖β‖₁ + C·Σ logloss, which is the same problem scaled by C·n, so C = 1/(n·λ). The solver is
      liblinear (newGLMNET coordinate descent: ~2 s for a 100 × 200 table with 5 folds, where
      saga needs ~10× longer for the same accuracy) with a large intercept scaling so the
      intercept is in effect unpenalised. Every fit is checked against the KKT conditions of
      glmnet's objective; the worst residual per λ is kept in ``kkt_violation_`` (typically
      ~1e-5; tests/test_lasso_vs_glmnet.py checks them independently);
    * λ_max = max_j |x_jᵀ(y − ȳ)| / n on the standardised x, the smallest λ with all β = 0; the
      path is ``n_lambda`` log-spaced values from λ_max down to λ_max·``lambda_min_ratio``
      (default as glmnet: 0.01 when n < p, else 1e-4);
    * CV: every fold refits the whole path on its training rows (standardised with those rows'
      statistics, as glmnet does inside each fit) and predicts the held-out rows; binomial
      deviance −2[y log p + (1−y) log(1−p)] with p clamped to [1e-5, 1−1e-5]; cvm and cvsd as
      in cv.glmnet (see :func:`_cv_stats`); λ_min = the largest λ with cvm = min(cvm),
      λ_1se = the largest λ with cvm <= cvm(λ_min) + cvsd(λ_min) (getOptcv.glmnet);
    * repeated CV (``n_repeats`` > 1): cvm and cvsd are averaged over the repeats before the
      rules are applied (with one repeat this is exactly cv.glmnet);
    * folds: stratified (cv.glmnet's own are unstratified; stratification keeps both classes in
      every fold of a small cohort), seeded from ``random_state`` (None means 0: the global RNG is
      never used), or given as ``foldid``
      (one fold label per fit row; a 2-D array gives one row per repeat);
    * the final model is the full-data path at the chosen λ (as coef(cv.fit, s=...)), selected =
      its nonzero coefficients.

    Unlike glmnet, the path is never truncated early (glmnet stops when the deviance explained
    passes 99.9 %), so every fold has every λ.

    Fallback: if nothing is selected at λ_1se, λ_min is used; if still nothing, the feature with
    the largest |standardised coefficient| anywhere on the path is kept with an unpenalised
    single-feature logistic fit (``lambda_`` = 0). ``fallback_`` records which ("lambda_min",
    "max_abs_path", or None).

    Fitted: ``lambdas_``, ``lambda_max_``, ``cv_mean_``, ``cv_se_`` (and per repeat / per fold),
    ``foldid_``, ``lambda_min_``, ``lambda_1se_``, ``lambda_`` (used), ``coef_path_`` (n_lambda ×
    p, standardised scale, for the path figure), ``intercept_path_``, ``coef_`` / ``intercept_``
    (input scale), ``coef_std_`` / ``intercept_std_`` (standardised), ``mean_`` / ``scale_``,
    ``solver_params_``, ``kkt_violation_``. ``score(X)`` gives the linear predictor (RadScore)
    and ``formula()`` its text.
    """

    def __init__(self, n_folds: int = 5, n_repeats: int = 1, rule: str = "1se", n_lambda: int = 100,
                 lambda_min_ratio: float | None = None, foldid=None, random_state: int | None = 0,
                 tol: float = 1e-6, max_iter: int = 100):
        self.n_folds = n_folds
        self.n_repeats = n_repeats
        self.rule = rule
        self.n_lambda = n_lambda
        self.lambda_min_ratio = lambda_min_ratio
        self.foldid = foldid
        self.random_state = random_state
        self.tol = tol
        self.max_iter = max_iter

    # -- pieces -----------------------------------------------------------------------------

    def _fold_matrix(self, y01: np.ndarray, seed: int) -> np.ndarray:
        n = y01.size
        if self.foldid is not None:
            f = np.atleast_2d(np.asarray(self.foldid))
            if f.shape[1] != n:
                raise ValueError(f"foldid has {f.shape[1]} entries per repeat but there are {n} rows")
            return f
        cv = RepeatedStratifiedKFold(n_splits=self.n_folds, n_repeats=self.n_repeats, random_state=seed)
        f = np.empty((self.n_repeats, n), dtype=int)
        for i, (_, test) in enumerate(cv.split(np.zeros((n, 1)), y01)):
            f[i // self.n_folds, test] = i % self.n_folds
        return f

    def _path(self, Z: np.ndarray, y01: np.ndarray, lambdas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised coefficients (n_lambda × p) and intercepts along the path."""
        n = Z.shape[0]
        if np.unique(y01).size < 2:
            raise ValueError("a CV training fold holds a single class; use fewer folds or other foldid")
        model = LogisticRegression(**self.solver_params_)
        B = np.zeros((lambdas.size, Z.shape[1]))
        b0 = np.zeros(lambdas.size)
        for k, lam in enumerate(lambdas):
            model.set_params(C=1.0 / (n * lam))
            with warnings.catch_warnings():
                # liblinear's stopping rule is dominated by the scaled intercept column and often
                # reports non-convergence for fits that are accurate; the KKT residual below is
                # the real measure and is kept instead
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(Z, y01)
            B[k], b0[k] = model.coef_.ravel(), model.intercept_[0]
            self.kkt_violation_[k] = max(self.kkt_violation_[k], _kkt_violation(Z, y01, B[k], b0[k], lam))
        return B, b0

    # -- fit --------------------------------------------------------------------------------

    def fit(self, X, y) -> "LassoSelector":
        if self.rule not in ("1se", "min"):
            raise ValueError(f"rule must be '1se' or 'min', got {self.rule!r}")
        if self.n_lambda < 2:
            raise ValueError("n_lambda must be at least 2")
        X = self._start_fit(X)
        bad = [c for c in X.columns if not _is_numeric(X[c])]
        if bad:
            raise ValueError(f"LassoSelector needs numeric features; encode these first: {bad[:10]}")
        A = X.to_numpy(float)
        if not np.isfinite(A).all():
            raise ValueError("LassoSelector: X has missing or infinite values; impute before selection")
        y01, self.classes_ = _binary_target(y, X)
        n, p = A.shape
        seed = 0 if self.random_state is None else int(self.random_state)
        self.solver_params_ = dict(l1_ratio=1.0, solver="liblinear", tol=self.tol, max_iter=self.max_iter,
                                   intercept_scaling=_INTERCEPT_SCALING, fit_intercept=True,
                                   random_state=seed)

        mean, sd = A.mean(axis=0), A.std(axis=0)
        self.mean_ = pd.Series(mean, index=list(self.feature_names_in_), name="mean")
        self.scale_ = pd.Series(sd, index=list(self.feature_names_in_), name="sd")
        Z = _standardise(A, mean, sd)
        self.lambda_max_ = float(np.max(np.abs(Z.T @ (y01 - y01.mean()))) / n)
        if self.lambda_max_ <= 0:
            raise ValueError("LassoSelector: no feature varies with the outcome (λ_max = 0)")
        ratio = self.lambda_min_ratio
        if ratio is None:
            ratio = 0.01 if n < p else 1e-4
        self.lambdas_ = self.lambda_max_ * ratio ** (np.arange(self.n_lambda) / (self.n_lambda - 1))

        # worst KKT residual of glmnet's objective per λ over the full fit and every fold fit
        self.kkt_violation_ = np.zeros(self.n_lambda)
        B, b0 = self._path(Z, y01, self.lambdas_)

        folds = self._fold_matrix(y01, seed)
        cvm, cvsd, fold_means = [], [], []
        for f in folds:
            dev = np.empty((n, self.n_lambda))
            for k in np.unique(f):
                tr, te = f != k, f == k
                m, s = A[tr].mean(axis=0), A[tr].std(axis=0)
                Bk, bk = self._path(_standardise(A[tr], m, s), y01[tr], self.lambdas_)
                prob = expit(_standardise(A[te], m, s) @ Bk.T + bk)
                prob = np.clip(prob, _PROB_MIN, 1 - _PROB_MIN)
                yt = y01[te][:, None]
                dev[te] = -2 * (yt * np.log(prob) + (1 - yt) * np.log(1 - prob))
            c_m, c_sd, means = _cv_stats(dev, f)
            cvm.append(c_m)
            cvsd.append(c_sd)
            fold_means.append(means)
        self.foldid_ = folds
        self.cv_mean_repeats_ = np.vstack(cvm)
        self.cv_se_repeats_ = np.vstack(cvsd)
        self.cv_fold_means_ = fold_means
        self.cv_mean_ = self.cv_mean_repeats_.mean(axis=0)
        self.cv_se_ = self.cv_se_repeats_.mean(axis=0)

        # path is decreasing, so "largest λ such that ..." is the first index that qualifies
        i_min = int(np.flatnonzero(self.cv_mean_ <= self.cv_mean_.min())[0])
        i_1se = int(np.flatnonzero(self.cv_mean_ <= self.cv_mean_[i_min] + self.cv_se_[i_min])[0])
        self.lambda_min_ = float(self.lambdas_[i_min])
        self.lambda_1se_ = float(self.lambdas_[i_1se])
        names = list(self.feature_names_in_)
        self.coef_path_ = pd.DataFrame(B, index=pd.Index(self.lambdas_, name="lambda"), columns=names)
        self.intercept_path_ = pd.Series(b0, index=self.coef_path_.index, name="intercept")

        self.fallback_ = None
        idx = i_1se if self.rule == "1se" else i_min
        if not B[idx].any() and idx != i_min:
            idx, self.fallback_ = i_min, "lambda_min"
        if B[idx].any():
            beta, b_std = B[idx].copy(), float(b0[idx])
            self.lambda_, self.lambda_index_ = float(self.lambdas_[idx]), idx
        else:
            beta, b_std = self._single_feature_fit(B, Z, y01)
            self.fallback_, self.lambda_, self.lambda_index_ = "max_abs_path", 0.0, None

        self.coef_std_ = pd.Series(beta, index=names, name="coef_std")
        self.intercept_std_ = b_std
        orig = np.where(sd > 0, beta / np.where(sd > 0, sd, 1.0), 0.0)
        self.coef_ = pd.Series(orig, index=names, name="coef")
        self.intercept_ = float(b_std - orig @ mean)
        self._set_support(beta != 0)
        return self

    def _single_feature_fit(self, B: np.ndarray, Z: np.ndarray, y01: np.ndarray) -> tuple[np.ndarray, float]:
        peak = np.abs(B).max(axis=0)
        if not peak.any():
            raise ValueError("LassoSelector: no coefficient is nonzero anywhere on the path")
        j = int(np.argmax(peak))
        lr = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(Z[:, [j]], y01)
        beta = np.zeros(Z.shape[1])
        beta[j] = lr.coef_[0, 0]
        return beta, float(lr.intercept_[0])

    # -- outputs ----------------------------------------------------------------------------

    def score(self, X) -> pd.Series:
        """The linear predictor b0 + Σ b_j·x_j on the input scale (the papers' RadScore / DLScore).

        X needs only the selected columns (so ``score(transform(X))`` works).
        """
        check_is_fitted(self, "coef_")
        X = _as_frame(X)
        missing = [c for c in self.selected_ if c not in X.columns]
        if missing:
            raise ValueError(f"LassoSelector.score: selected columns missing: {missing[:10]}")
        eta = self.intercept_ + X[self.selected_].to_numpy(float) @ self.coef_[self.selected_].to_numpy()
        return pd.Series(eta, index=X.index, name="score")

    decision_function = score

    def formula(self, name: str = "score", digits: int = 4) -> str:
        """The fitted score as text, e.g. ``score = -0.4120 + 1.0310·glcm_contrast - 0.2207·age``."""
        check_is_fitted(self, "coef_")
        text = f"{name} = {self.intercept_:.{digits}f}"
        for feat in self.selected_:
            b = float(self.coef_[feat])
            text += f" {'-' if b < 0 else '+'} {abs(b):.{digits}f}·{feat}"
        return text


# ---------------------------------------------------------------------------------------------
# mRMR and LightGBM importance with incremental CV
# ---------------------------------------------------------------------------------------------

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

    Fitted: ``importances_`` (split gain), ``ranking_``, ``cv_auc_`` (mean AUC per prefix length).
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
        order = sorted(range(X.shape[1]), key=lambda j: (-imp[j], j))
        self.ranking_ = [X.columns[j] for j in order[: max(1, min(self.max_features, X.shape[1]))]]
        cv = RepeatedStratifiedKFold(n_splits=self.folds, n_repeats=self.repeats,
                                     random_state=0 if self.random_state is None else int(self.random_state))
        aucs = []
        for k in range(1, len(self.ranking_) + 1):
            aucs.append(float(np.mean(cross_val_score(self._model(), A[self.ranking_[:k]], y01, cv=cv,
                                                      scoring="roc_auc"))))
        self.cv_auc_ = pd.Series(aucs, index=range(1, len(aucs) + 1), name="cv_auc")
        best = int(np.argmax(aucs)) + 1
        self._set_support([c in set(self.ranking_[:best]) for c in X.columns])
        return self


# ---------------------------------------------------------------------------------------------
# chain
# ---------------------------------------------------------------------------------------------

class SelectionChain(BaseEstimator, TransformerMixin):
    """Steps fitted in order on the training rows, each on the previous step's output.

    Like sklearn's Pipeline (steps are fitted in place, ``named_steps`` gives them back), plus
    ``funnel_``: a DataFrame with ``step, n_in, n_out`` per step for the report. ``transform``
    runs every step, so after a ``zscore`` step the kept columns come out standardised with the
    training statistics; ``X[chain.get_feature_names_out()]`` gives the raw values instead.
    """

    def __init__(self, steps: list[tuple[str, Any]]):
        self.steps = steps

    @property
    def named_steps(self) -> dict[str, Any]:
        return dict(self.steps)

    def __getitem__(self, name: str):
        return self.named_steps[name]

    def fit(self, X, y) -> "SelectionChain":
        names = [name for name, _ in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"step names must be unique, got {names}")
        X = _as_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        y = np.asarray(y) if not isinstance(y, (pd.Series, pd.DataFrame)) else y
        funnel = []
        for name, step in self.steps:
            n_in = X.shape[1]
            X = step.fit(X, y).transform(X)
            funnel.append((name, n_in, X.shape[1]))
        self.funnel_ = pd.DataFrame(funnel, columns=["step", "n_in", "n_out"])
        return self

    def transform(self, X) -> pd.DataFrame:
        check_is_fitted(self, "funnel_")
        X = _as_frame(X)
        for _, step in self.steps:
            X = step.transform(X)
        return X

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "funnel_")
        if not self.steps:
            return self.feature_names_in_.copy()
        return np.asarray(self.steps[-1][1].get_feature_names_out(), dtype=object)

    def score(self, X) -> pd.Series:
        """The last step's score (e.g. the LASSO RadScore) on X passed through the earlier steps."""
        check_is_fitted(self, "funnel_")
        last = self.steps[-1][1] if self.steps else None
        if not hasattr(last, "score"):
            raise AttributeError("the chain's last step has no score(); end the chain with 'lasso'")
        X = _as_frame(X)
        for _, step in self.steps[:-1]:
            X = step.transform(X)
        return last.score(X)


def _options(step: str, opts: Mapping, mapping: Mapping[str, str]) -> dict:
    unknown = sorted(set(opts) - set(mapping))
    if unknown:
        raise ValueError(f"select.{step}: unknown option(s) {unknown}; known: {sorted(mapping)}")
    return {mapping[k]: v for k, v in opts.items()}


def _variance(opts: Mapping, random_state) -> VarianceFilter:
    return VarianceFilter(**_options("variance", opts, {
        "threshold": "threshold", "near_zero": "near_zero", "freq_cut": "freq_cut", "unique_cut": "unique_cut"}))


def _zscore(opts: Mapping, random_state) -> ZScore:
    _options("zscore", opts, {})
    return ZScore()


def _univariate(opts: Mapping, random_state) -> UnivariateFilter:
    return UnivariateFilter(**_options("univariate", opts, {
        "p": "p_threshold", "categorical": "categorical", "alpha": "alpha",
        "levene_center": "levene_center", "yates": "yates"}))


def _correlation(opts: Mapping, random_state) -> CorrelationFilter:
    return CorrelationFilter(**_options("correlation", opts, {"threshold": "threshold", "method": "method"}))


def _lasso(opts: Mapping, random_state) -> LassoSelector:
    kw = _options("lasso", opts, {
        "folds": "n_folds", "repeats": "n_repeats", "rule": "rule", "n_lambda": "n_lambda",
        "lambda_min_ratio": "lambda_min_ratio"})
    return LassoSelector(random_state=random_state, **kw)


def _mrmr(opts: Mapping, random_state) -> MRMRSelector:
    return MRMRSelector(**_options("mrmr", opts, {"k": "k"}))


def _lgbm(opts: Mapping, random_state) -> LGBMIncremental:
    return LGBMIncremental(random_state=random_state, **_options("lgbm", opts, {
        "folds": "folds", "repeats": "repeats", "max_features": "max_features", "n_estimators": "n_estimators"}))


def _ulogit(opts: Mapping, random_state):
    from .clinical_model import UnivariateLogitFilter

    return UnivariateLogitFilter(**_options("ulogit", opts, {"p": "p_threshold"}))


def _stepwise(opts: Mapping, random_state):
    from .clinical_model import StepwiseSelector

    return StepwiseSelector(**_options("stepwise", opts, {"criterion": "criterion", "p": "p_remove",
                                                           "max_vif": "max_vif"}))


# Config step name → builder(options, random_state). Other modules may register steps here.
STEP_BUILDERS: dict[str, Callable[[Mapping, int | None], Any]] = {
    "variance": _variance,
    "zscore": _zscore,
    "univariate": _univariate,
    "correlation": _correlation,
    "mrmr": _mrmr,
    "lasso": _lasso,
    "lgbm": _lgbm,
    "ulogit": _ulogit,
    "stepwise": _stepwise,
}


def build_chain(settings: Mapping | None, random_state: int | None = 0) -> SelectionChain:
    """The chain described by the config's ``select`` section.

    ``{"steps": [...], "<step>": {options}}``; option names as in the config schema (univariate
    ``p``; correlation ``threshold``, ``method``; lasso ``folds``, ``repeats``, ``rule``, ...).
    Missing ``steps`` means :data:`DEFAULT_STEPS`.
    """
    settings = dict(settings or {})
    steps = list(settings.get("steps", DEFAULT_STEPS))
    unknown = sorted(set(settings) - {"steps"} - set(STEP_BUILDERS))
    if unknown:
        raise ValueError(f"select: unknown section(s) {unknown}")
    chain = []
    for name in steps:
        if name not in STEP_BUILDERS:
            raise ValueError(f"select.steps: unknown step {name!r}; known: {sorted(STEP_BUILDERS)}")
        chain.append((name, STEP_BUILDERS[name](dict(settings.get(name) or {}), random_state)))
    return SelectionChain(chain)


def model_settings(select_settings: Mapping, model_spec: Mapping | None) -> tuple[dict, dict]:
    """(selection settings, FeatureModel options) for one model: ``models.<name>.select`` replaces
    the study-wide ``select`` section; ``classifier`` and ``smote`` come from the model entry."""
    spec = dict(model_spec or {})
    return dict(spec.get("select") or select_settings), {"classifier": spec.get("classifier"),
                                                         "smote": spec.get("smote")}


def run(X: pd.DataFrame, kinds: dict, split: pd.DataFrame, settings: dict, seed: int, out_selection: str,
        out_selected: str, out_funnel: str, model_spec: Mapping | None = None,
        out_odds: str | None = None, impute: str = "simple", out_lasso_path: str | None = None,
        out_lasso_cv: str | None = None) -> None:
    """The `select` rule: encode clinical variables and fit the chain on the training cohort only."""
    from .io import write_csv
    from .split import TRAIN
    from .train import FeatureModel, save_model

    settings, opts = model_settings(settings, model_spec)
    is_train = (split.set_index("patient_id").loc[X.index, "cohort"] == TRAIN).to_numpy()
    y = split.set_index("patient_id").loc[X.index, "y"].to_numpy()
    model = FeatureModel(kinds=kinds, select=settings, random_state=seed, impute=impute, **opts).fit_selection(X[is_train],
                                                                                              y[is_train])
    chain = model.chain_
    funnel = chain.funnel_.copy()
    funnel = pd.concat([pd.DataFrame([{"step": "input", "n_in": X.shape[1], "n_out": model.encoder_.transform(
        X.iloc[:1]).shape[1]}]), funnel], ignore_index=True)
    selected = pd.DataFrame({"feature": model.selected_})
    if "lasso" in chain.named_steps:
        lasso = chain.named_steps["lasso"]
        selected["lasso_coef_standardised"] = lasso.coef_std_.reindex(selected.feature).to_numpy()
        log.info("LASSO: λ=%.4g (%s rule); score formula: %s", lasso.lambda_, lasso.rule, lasso.formula())
    save_model(model, out_selection)
    write_csv(selected, out_selected)
    write_csv(funnel, out_funnel)
    if out_odds:
        write_csv(odds_ratio_tables(chain), out_odds)
    if out_lasso_path and out_lasso_cv:
        path, cv = lasso_tables(chain)
        write_csv(path, out_lasso_path)
        write_csv(cv, out_lasso_cv)
    log.info("selection on %d training patients: %s", is_train.sum(),
             " → ".join(f"{r.step} {r.n_out}" for r in funnel.itertuples()))


def lasso_tables(chain: SelectionChain) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The LASSO step's coefficient path (long: ``log_lambda, feature, coef``; only features that
    enter anywhere on the path) and CV curve (``log_lambda, cv_mean, cv_se, chosen``) for the
    report's figures; header-only tables without a ``lasso`` step."""
    path_cols, cv_cols = ["log_lambda", "feature", "coef"], ["log_lambda", "cv_mean", "cv_se", "chosen"]
    lasso = chain.named_steps.get("lasso")
    if lasso is None or not hasattr(lasso, "coef_path_"):
        return pd.DataFrame(columns=path_cols), pd.DataFrame(columns=cv_cols)
    B = lasso.coef_path_.loc[:, (lasso.coef_path_ != 0).any(axis=0)]
    path = B.set_axis(np.log(B.index.to_numpy(float)), axis=0).rename_axis("log_lambda").reset_index()
    path = path.melt(id_vars="log_lambda", var_name="feature", value_name="coef")
    chosen = np.where(np.isclose(lasso.lambdas_, lasso.lambda_min_), "min",
                      np.where(np.isclose(lasso.lambdas_, lasso.lambda_1se_), "1se", ""))
    cv = pd.DataFrame({"log_lambda": np.log(lasso.lambdas_), "cv_mean": lasso.cv_mean_, "cv_se": lasso.cv_se_,
                       "chosen": chosen})
    return path[path_cols], cv[cv_cols]


def odds_ratio_tables(chain: SelectionChain) -> pd.DataFrame:
    """The clinical-model tables of a chain (univariate ORs, multivariable ORs after stepwise, VIF),
    one block per ``analysis``; empty (header only) without ``ulogit`` / ``stepwise`` steps."""
    cols = ["analysis", "term", "coef", "se", "odds_ratio", "or_ci_low", "or_ci_high", "p", "vif"]
    parts = []
    for name, step in chain.steps:
        if name == "ulogit":
            parts.append(step.table_.assign(analysis="univariate"))
        elif name == "stepwise":
            parts.append(step.table_.assign(analysis="multivariable", vif=step.table_.term.map(step.vif_)))
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True).reindex(columns=cols)


def combine_funnels(funnels: Mapping[str, str]) -> pd.DataFrame:
    """One table `model, step, n_in, n_out` from the per-model funnel files (the report's funnel)."""
    frames = [pd.read_csv(path).assign(model=name) for name, path in funnels.items()]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model", "step", "n_in", "n_out"])
    return df[["model", "step", "n_in", "n_out"]]
