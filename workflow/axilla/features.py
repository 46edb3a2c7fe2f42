"""Feature sets: assembling clinical, radiomics, deep features and derived blood indices per
patient, and encoding clinical variables with statistics learned from the training cohort only."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .split import TRAIN

log = logging.getLogger(__name__)

SOURCES = ("clinical", "radiomics", "deep", "blood")

# Blood counts (10^9/L); each is read from the clinical column of its name unless `blood:` renames it.
BLOOD_COUNTS = ("neutrophils", "lymphocytes", "platelets", "monocytes", "wbc")
# Derived inflammatory indices (seed 004): the counts multiplied in the numerator, all over lymphocytes.
BLOOD_INDICES = {"SII": ("neutrophils", "platelets"), "NLR": ("neutrophils",), "PLR": ("platelets",),
                 "MLR": ("monocytes",), "WLR": ("wbc",)}


def parse_source(spec: str) -> tuple[str, str | None]:
    """'radiomics:MG' → ('radiomics', 'MG'); 'deep' → ('deep', None)."""
    source, _, prefix = spec.partition(":")
    if source not in SOURCES:
        raise ValueError(f"unknown feature source '{source}' (one of {', '.join(SOURCES)})")
    return source, prefix or None


def blood_columns(blood) -> dict[str, str]:
    """Count → clinical column: the config's ``blood`` section (:class:`axilla.settings.Blood`, or
    a mapping naming some counts; the others are read from the column of their own name)."""
    if dataclasses.is_dataclass(blood):
        blood = dataclasses.asdict(blood)
    cols = {c: c for c in BLOOD_COUNTS}
    unknown = sorted(set(blood or {}) - set(cols))
    if unknown:
        raise ValueError(f"blood: unknown count(s) {unknown}; known: {sorted(cols)}")
    cols.update(blood or {})
    return cols


def blood_counts_needed(indices) -> list[str]:
    """The counts (lymphocytes included) that the given indices are computed from."""
    needed = {"lymphocytes"} | {c for i in indices for c in BLOOD_INDICES[i]}
    return [c for c in BLOOD_COUNTS if c in needed]


def blood_config_problems(models: Mapping[str, Mapping], variables: Mapping[str, str],
                          blood: Mapping[str, str] | None, source: str = "config") -> list:
    """Config problems of the models' ``blood`` sources, found when the workflow is parsed.

    The validated clinical table keeps only the declared ``clinical_variables``, so every count
    an index needs must be declared there as numeric; otherwise selection would fail after the
    images were processed.
    """
    from .errors import Problem

    try:
        cols = blood_columns(blood)
    except ValueError as e:
        return [Problem(source, f"key 'blood': {e}")]
    problems = []
    for model, spec in models.items():
        for i, feat in enumerate(spec.get("features", [])):
            src, _, index = feat.partition(":")
            if src != "blood" or (index and index not in BLOOD_INDICES):  # the schema reports unknown ones
                continue
            for count in blood_counts_needed([index] if index else BLOOD_INDICES):
                col = cols[count]
                if variables.get(col) != "numeric":
                    problems.append(Problem(source, f"key 'models.{model}.features.{i}': '{feat}' needs the "
                                                    f"{count} count: declare '{col}: numeric' in 'clinical_variables'"
                                                    f" (or name your column in 'blood.{count}')"))
    return problems


def blood_indices(clinical: pd.DataFrame, blood: Mapping[str, str] | None = None,
                  indices=tuple(BLOOD_INDICES)) -> pd.DataFrame:
    """SII = N × P / L, NLR = N / L, PLR = P / L, MLR = M / L, WLR = WBC / L per patient
    (index patient_id, input order kept).

    A missing count gives NaN, imputed later like any missing clinical value (fitted on training
    rows only). A lymphocyte count <= 0 also gives NaN, with a warning: it cannot be a real
    absolute count, so it is a recording error, and treating it as missing lets the run finish
    instead of stopping at selection after the images are done (the log names the patients).
    """
    cols = blood_columns(blood)
    needed = blood_counts_needed(indices)
    absent = [cols[c] for c in needed if cols[c] not in clinical.columns]
    if absent:
        raise ValueError(f"blood indices need the clinical column(s) {absent}: declare them as numeric in "
                         "'clinical_variables' or map the counts to your columns in 'blood'")
    t = clinical.set_index("patient_id")
    count = {c: pd.to_numeric(t[cols[c]], errors="coerce").astype(float) for c in needed}
    lymph = count["lymphocytes"]
    bad = lymph <= 0
    if bad.any():
        log.warning("blood indices: lymphocyte count (column '%s') <= 0 for %d patient(s) (%s); their %s are "
                    "set missing and imputed", cols["lymphocytes"], int(bad.sum()),
                    ", ".join(map(str, lymph.index[bad])), "/".join(indices))
    lymph = lymph.where(~bad)
    out = pd.DataFrame(index=t.index)
    for name in indices:
        out[name] = math.prod(count[c] for c in BLOOD_INDICES[name]) / lymph
    return out


def assemble(specs: list[str], clinical: pd.DataFrame, variables: dict[str, str],
             radiomics: pd.DataFrame | None = None, deep: pd.DataFrame | None = None,
             reproducible: set[str] | None = None,
             blood: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per patient (index patient_id) with the columns of the requested sources.

    Radiomics columns are limited to the reproducible set when one is given. ``blood`` (or
    ``blood:SII``) adds the derived indices computed from the counts named by ``blood`` (count →
    column). Returns the table and the clinical variable kinds present in it (for the encoder).
    """
    parts, kinds = [], {}
    for spec in specs:
        source, prefix = parse_source(spec)
        if source == "clinical":
            cols = [v for v in variables if prefix is None or v == prefix]
            parts.append(clinical.set_index("patient_id")[cols])
            kinds.update({c: variables[c] for c in cols})
            continue
        if source == "blood":
            if prefix is not None and prefix not in BLOOD_INDICES:
                raise ValueError(f"unknown blood index '{prefix}' (one of {', '.join(BLOOD_INDICES)})")
            names = [prefix] if prefix else list(BLOOD_INDICES)
            clash = [n for n in names if n in variables]
            if clash:  # silently keeping one of two same-named columns would hide which is used
                raise ValueError(f"blood index {clash} has the name of a clinical variable; rename the variable")
            parts.append(blood_indices(clinical, blood, names))
            kinds.update({n: "numeric" for n in names})
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


def _as_float(X: pd.DataFrame, cols: list) -> pd.DataFrame:
    """``cols`` of X as floats, non-numbers as NaN; only non-numeric columns are parsed one by one."""
    sub = X[cols]
    text = [c for c, d in zip(cols, sub.dtypes) if not pd.api.types.is_numeric_dtype(d)]
    if text:
        sub = sub.copy()
        sub[text] = sub[text].apply(pd.to_numeric, errors="coerce")
    # one consolidated float block (a frame assembled column by column holds one block per column)
    return pd.DataFrame(sub.to_numpy(dtype=float), index=X.index, columns=cols)


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
        num = _as_float(X, self.numeric_)
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
        num = _as_float(X, self.numeric_)
        if self.imputer_ is not None:
            filled = self.imputer_.transform(num[self.iterative_].to_numpy(dtype=float, copy=True))
            num[self.iterative_] = pd.DataFrame(filled, index=X.index, columns=self.iterative_).where(
                num[self.iterative_].isna(), num[self.iterative_])
        # one array operation: a per-column fillna costs seconds on thousands of radiomics columns
        A = num.to_numpy(dtype=float, copy=True)
        rows, cols = np.nonzero(np.isnan(A))
        A[rows, cols] = self.medians_.to_numpy(dtype=float)[cols]
        out = pd.DataFrame(A, index=X.index, columns=num.columns)
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


def load_feature_tables(inputs, specs: list[str], variables: dict[str, str], blood: dict[str, str] | None = None):
    """Read the tables a model's feature sources need; return (X, clinical kinds, split).

    `inputs` maps names (clinical, split, radiomics, reproducible, deep, availability, score_<base>)
    to CSV paths; `blood` (count → clinical column) names the counts of the derived blood indices.
    With an `availability` table (validate.missing_view: allow) X and split keep the patients that
    have every view `specs` read and a score of every base model (those the model can use).
    """
    from .availability import usable

    def read(name):
        return pd.read_csv(inputs[name], dtype={"patient_id": str}) if name in inputs.keys() else None

    clinical, split = read("clinical"), read("split")
    keep = read("reproducible")
    X, kinds = assemble(specs, clinical, variables, radiomics=read("radiomics"), deep=read("deep"),
                        reproducible=set(keep.feature) if keep is not None else None,
                        blood=blood) if specs else (None, {})
    scores = {n[len("score_"):]: read(n) for n in inputs.keys() if n.startswith("score_")}
    ok = pd.Series(True, index=split.patient_id.astype(str).to_numpy())
    if "availability" in inputs.keys():
        ok &= usable(specs, read("availability")).reindex(ok.index, fill_value=False).to_numpy()
    for pred in scores.values():
        ok &= ok.index.isin(pred.patient_id.astype(str))
    if not ok.all():
        log.info("%d of %d patients lack a view or base score this model needs: left out", (~ok).sum(), len(ok))
        split = split[ok.to_numpy()].reset_index(drop=True)
    ids = ok.index[ok.to_numpy()].to_numpy()
    X = pd.DataFrame(index=pd.Index(ids, name="patient_id")) if X is None else X.loc[ids]
    for base, pred in scores.items():
        X[base + "_score"] = score_column(pred, ids)
    return X, kinds, split


def score_column(pred: pd.DataFrame, ids) -> np.ndarray:
    """A base model's score as a feature (score fusion, seeds 002-004): its out-of-fold score on
    training patients, so the fusion model does not learn from a score fitted to those very
    patients, and the full training fit's score for everyone else."""
    if "score" not in pred.columns:
        raise ValueError("score fusion needs a base model whose selection chain has a 'lasso' step")
    pred = pred.set_index("patient_id").loc[list(ids)]
    return np.where(pred.cohort == TRAIN, pred.oof_score, pred.score).astype(float)
