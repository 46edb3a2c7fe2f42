"""SMOTE as a selection-chain step (seed 001: SMOTE, k = 5, on the training partition, before
z-scoring): the steps after it are fitted on the oversampled training rows; held-out patients
are never resampled or synthesised, because ``transform`` is the identity.

The chain calls :meth:`SMOTEStep.fit_resample` while it is fitted and :meth:`SMOTEStep.resample`
when asked for its training output again (the classifier's training rows); SMOTE is seeded, so
on the same rows the second call draws the same synthetic patients as the first, and it refuses
any other rows.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .base import _as_frame, _binary_target, factor_groups


def _fingerprint(X: pd.DataFrame, y) -> str:
    """Hash of the rows, labels (as 0/1) and column names."""
    h = hashlib.sha256(np.ascontiguousarray(X.to_numpy(float)).tobytes())
    h.update(np.ascontiguousarray(_binary_target(y, X)[0]).tobytes())
    h.update("\0".join(map(str, X.columns)).encode())
    return h.hexdigest()


def _indicator_factors(X: pd.DataFrame) -> dict:
    """Factors whose ``<variable>=<level>`` columns are one-hot 0/1 indicators (at most one 1 a row)."""
    out = {}
    for name, cols in factor_groups(X.columns).items():
        if "=" not in str(cols[0]):
            continue
        A = X[cols].to_numpy(float)
        if np.isin(A, (0.0, 1.0)).all() and (A.sum(axis=1) <= 1).all():
            out[name] = cols
    return out


class SMOTEStep(BaseEstimator, TransformerMixin):
    """Oversample the minority class of the training rows with SMOTE (imbalanced-learn), seeded.

    Columns must be numeric (the chain's input is the encoded table); a non-numeric column is
    refused by name. The one-hot indicator columns of a categorical variable are oversampled as
    one categorical feature (SMOTE-NC: a synthetic patient takes the most frequent level of its
    nearest neighbours, never a fraction of a dummy), all other columns by interpolation. The
    features are kept as they are (``get_feature_names_out`` = input names).

    Fitted: ``n_rows_in_``, ``n_rows_out_``, ``class_counts_`` (after resampling), ``samples_``
    (the synthetic rows, feature values).
    """

    def __init__(self, k_neighbors: int = 5, random_state: int | None = 0):
        self.k_neighbors = k_neighbors
        self.random_state = random_state

    def fit(self, X, y) -> "SMOTEStep":
        self.fit_resample(X, y)
        return self

    def fit_resample(self, X, y):
        """Fit on (X, y) and return the training rows followed by the synthetic ones, and their labels."""
        X = _as_frame(X)
        self._check(X, y)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.fingerprint_ = _fingerprint(X, y)
        Xr, yr = self._smote(X, y)
        self.n_rows_in_, self.n_rows_out_ = X.shape[0], Xr.shape[0]
        self.class_counts_ = pd.Series(np.asarray(yr)).value_counts().sort_index()
        self.samples_ = Xr.iloc[X.shape[0]:].to_numpy(float)
        return Xr, yr

    def resample(self, X, y):
        """The rows and labels :meth:`fit_resample` returned, drawn again (only on the same rows)."""
        check_is_fitted(self, "fingerprint_")
        X = _as_frame(X)
        if _fingerprint(X, y) != self.fingerprint_:
            raise ValueError("smote: resample() is only defined on the training rows the step was fitted on")
        return self._smote(X, y)

    def transform(self, X) -> pd.DataFrame:
        check_is_fitted(self, "fingerprint_")
        return _as_frame(X)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "fingerprint_")
        return self.feature_names_in_.copy()

    def _check(self, X: pd.DataFrame, y) -> None:
        bad = [c for c, dt in X.dtypes.items() if not (pd.api.types.is_numeric_dtype(dt)
                                                       and not pd.api.types.is_bool_dtype(dt))]
        if bad:
            raise ValueError(f"smote: needs numeric columns; encode these first: {bad[:10]}")
        if X.isna().to_numpy().any():
            raise ValueError("smote: missing values (impute before the smote step)")
        y01, _ = _binary_target(y, X)
        minority = int(min(y01.sum(), len(y01) - y01.sum()))
        if minority <= self.k_neighbors:
            raise ValueError(f"smote: the minority class has {minority} training rows; k_neighbors "
                             f"{self.k_neighbors} needs at least {self.k_neighbors + 1}")

    def _smote(self, X: pd.DataFrame, y):
        """SMOTE (or SMOTE-NC over collapsed one-hot factors) of (X, y); new rows appended."""
        from imblearn.over_sampling import SMOTE, SMOTENC

        labels = y.to_numpy().ravel() if isinstance(y, (pd.Series, pd.DataFrame)) else np.asarray(y).ravel()
        factors = _indicator_factors(X)
        seed = None if self.random_state is None else int(self.random_state)
        if not factors:
            Xr, yr = SMOTE(k_neighbors=self.k_neighbors, random_state=seed).fit_resample(X.to_numpy(float), labels)
        else:
            C = _collapse(X, factors)
            if C.shape[1] == len(factors):
                raise ValueError("smote: every column is a categorical indicator; SMOTE needs a continuous one")
            cat = list(range(C.shape[1] - len(factors), C.shape[1]))
            Cr, yr = SMOTENC(categorical_features=cat, k_neighbors=self.k_neighbors,
                             random_state=seed).fit_resample(C, labels)
            Xr = _expand(Cr, X, factors)
        new = [f"smote_{i + 1}" for i in range(len(Xr) - len(X))]
        if set(new) & set(X.index):  # training rows may repeat (bootstrap resamples); synthetic ones must not clash
            raise ValueError("smote: a training row is already labelled like a synthetic one (smote_<n>)")
        index = list(X.index) + new
        out = pd.DataFrame(np.asarray(Xr, float), index=pd.Index(index, name=X.index.name), columns=X.columns)
        yr = pd.Series(yr, index=out.index, name=getattr(y, "name", None)) if isinstance(y, pd.Series) else yr
        return out, yr


def _collapse(X: pd.DataFrame, factors: dict) -> np.ndarray:
    """The other columns, then one integer level code per factor (0 = reference, j = its j-th column)."""
    dummies = {c for cols in factors.values() for c in cols}
    other = X[[c for c in X.columns if c not in dummies]].to_numpy(float)
    codes = [X[cols].to_numpy(float) @ np.arange(1, len(cols) + 1) for cols in factors.values()]
    return np.column_stack([other, *codes])


def _expand(C: np.ndarray, X: pd.DataFrame, factors: dict) -> np.ndarray:
    """Inverse of :func:`_collapse`: the level codes back to 0/1 indicator columns, in X's column order."""
    dummies = {c for cols in factors.values() for c in cols}
    other = [c for c in X.columns if c not in dummies]
    out = pd.DataFrame(C[:, :len(other)], columns=other)
    for j, cols in enumerate(factors.values()):
        code = np.rint(C[:, len(other) + j]).astype(int)
        for level, c in enumerate(cols, start=1):
            out[c] = (code == level).astype(float)
    return out[list(X.columns)].to_numpy(float)
