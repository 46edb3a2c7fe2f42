"""Feature sets: assembling clinical, radiomics and deep features per patient, and encoding
clinical variables with statistics learned from the training cohort only."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

log = logging.getLogger(__name__)

SOURCES = ("clinical", "radiomics", "deep")


def parse_source(spec: str) -> tuple[str, str | None]:
    """'radiomics:MG' → ('radiomics', 'MG'); 'deep' → ('deep', None)."""
    source, _, prefix = spec.partition(":")
    if source not in SOURCES:
        raise ValueError(f"unknown feature source '{source}' (one of {', '.join(SOURCES)})")
    return source, prefix or None


def assemble(specs: list[str], clinical: pd.DataFrame, variables: dict[str, str],
             radiomics: pd.DataFrame | None = None, deep: pd.DataFrame | None = None,
             reproducible: set[str] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per patient (index patient_id) with the columns of the requested sources.

    Radiomics columns are limited to the reproducible set when one is given. Returns the table
    and the clinical variable kinds present in it (for the encoder).
    """
    parts, kinds = [], {}
    for spec in specs:
        source, prefix = parse_source(spec)
        if source == "clinical":
            cols = [v for v in variables if prefix is None or v == prefix]
            parts.append(clinical.set_index("patient_id")[cols])
            kinds.update({c: variables[c] for c in cols})
            continue
        table = radiomics if source == "radiomics" else deep
        if table is None:
            raise ValueError(f"feature source '{source}' requested but no {source} table given")
        cols = [c for c in table.columns if c != "patient_id" and (prefix is None or c.startswith(prefix + "_"))]
        if source == "radiomics" and reproducible is not None:
            cols = [c for c in cols if c in reproducible]
        if not cols:
            raise ValueError(f"feature source '{spec}' selects no column")
        parts.append(table.set_index("patient_id")[cols])
    X = pd.concat(parts, axis=1, join="outer")
    X = X.loc[:, ~X.columns.duplicated()]
    X.index = X.index.astype(str)
    return X.sort_index(), kinds


class ClinicalEncoder(BaseEstimator, TransformerMixin):
    """Impute missing values and one-hot encode categorical variables, fitted on training rows only.

    `strategy="simple"`: medians (numeric) and most frequent levels (categorical).
    `strategy="iterative"`: numeric clinical variables by scikit-learn's IterativeImputer (each
    variable regressed on the others, Bayesian ridge, seeded); categorical by mode; imaging
    features always by median (hundreds of columns would make chained regression unstable).
    Rows are never dropped. Levels unseen in training become all-zero indicator rows.
    `imputation_` holds the per-column counts and fill values for the report.
    """

    def __init__(self, kinds: dict[str, str] | None = None, strategy: str = "simple", random_state: int = 0):
        self.kinds = kinds
        self.strategy = strategy
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y=None):
        if self.strategy not in ("simple", "iterative"):
            raise ValueError(f"imputation strategy must be 'simple' or 'iterative', not '{self.strategy}'")
        kinds = self.kinds or {}
        self.categorical_ = [c for c in X.columns if kinds.get(c) == "categorical"]
        self.numeric_ = [c for c in X.columns if c not in self.categorical_]
        num = X[self.numeric_].apply(pd.to_numeric, errors="coerce")
        self.medians_ = num.median()
        self.levels_, self.modes_ = {}, {}
        for c in self.categorical_:
            s = X[c].dropna().astype(str)
            levels = sorted(s.unique())
            self.modes_[c] = s.mode().sort_values().iloc[0] if len(s) else ""
            # The first level is the reference category (dropped), as in a regression table.
            self.levels_[c] = levels[1:]
        # Iterative imputation needs another observed variable to regress on.
        self.iterative_ = [c for c in self.numeric_ if kinds.get(c) == "numeric" and num[c].notna().any()]
        self.imputer_ = None
        if self.strategy == "iterative" and len(self.iterative_) >= 2:
            from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers the class)
            from sklearn.impute import IterativeImputer

            self.imputer_ = IterativeImputer(max_iter=10, random_state=self.random_state)
            self.imputer_.fit(num[self.iterative_].to_numpy(dtype=float, copy=True))
        missing = pd.concat([num.isna().sum(), X[self.categorical_].isna().sum()])
        self.n_imputed_ = int(missing.sum())
        self.imputation_ = pd.DataFrame({
            "column": list(self.numeric_) + list(self.categorical_),
            "kind": [kinds.get(c, "imaging") for c in self.numeric_] + ["categorical"] * len(self.categorical_),
            "n_missing_train": [int(missing[c]) for c in self.numeric_ + self.categorical_],
            "n_train": len(X),
            "fill": ["iterative" if self.imputer_ is not None and c in self.iterative_ else f"median {self.medians_[c]:.6g}"
                     for c in self.numeric_] + [f"mode {self.modes_[c]}" for c in self.categorical_],
        })
        if self.n_imputed_:
            some = self.imputation_[self.imputation_.n_missing_train > 0]
            log.info("imputing %d missing value(s) in %d training rows (%s): %s", self.n_imputed_, len(X),
                     self.strategy, ", ".join(f"{r.column} {r.n_missing_train}" for r in some.itertuples()))
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        num = X[self.numeric_].apply(pd.to_numeric, errors="coerce").astype(float)
        if self.imputer_ is not None:
            filled = self.imputer_.transform(num[self.iterative_].to_numpy(dtype=float, copy=True))
            num[self.iterative_] = pd.DataFrame(filled, index=X.index, columns=self.iterative_).where(
                num[self.iterative_].isna(), num[self.iterative_])
        out = num.fillna(self.medians_).astype(float)
        dummies = {}
        for c in self.categorical_:
            s = X[c].astype("string").fillna(self.modes_[c]).astype(str)
            for level in self.levels_[c]:
                dummies[f"{c}={level}"] = (s == level).astype(float).to_numpy()
        if dummies:
            out = pd.concat([out, pd.DataFrame(dummies, index=X.index)], axis=1)
        return out

    def get_feature_names_out(self, input_features=None):
        return np.array(self.numeric_ + [f"{c}={lv}" for c in self.categorical_ for lv in self.levels_[c]])
