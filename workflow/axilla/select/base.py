"""Plumbing shared by the selection steps: pandas in / out, the binary target, dtype checks and
the vectorised distinct-value counts that several filters need."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted


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


def factor_groups(columns) -> dict:
    """The terms of a design: the ``<variable>=<level>`` indicator columns of one categorical
    variable (``ClinicalEncoder``'s naming) grouped under the variable's name, every other column
    a term of its own; terms in order of first appearance, columns in input order."""
    groups: dict = {}
    for c in columns:
        var, eq, _ = str(c).partition("=")
        groups.setdefault(var if eq else c, []).append(c)
    return groups
