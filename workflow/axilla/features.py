"""Feature sets: assembling clinical, radiomics and deep features per patient, and encoding
clinical variables with statistics learned from the training cohort only."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

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
    """Impute (median / most frequent) and one-hot encode categorical variables, fitted on training rows.

    Levels unseen in training become all-zero indicator rows; imaging features pass through
    with median imputation.
    """

    def __init__(self, kinds: dict[str, str] | None = None):
        self.kinds = kinds

    def fit(self, X: pd.DataFrame, y=None):
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
        self.n_imputed_ = int(num.isna().sum().sum() + X[self.categorical_].isna().sum().sum())
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = X[self.numeric_].apply(pd.to_numeric, errors="coerce").fillna(self.medians_).astype(float)
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
