"""Patient-level assignment to the training cohort and the evaluation cohorts.

Cohorts, all at once when configured (as seed 002: internal, external and prospective):

* ``external``: patients whose column (e.g. the centre) takes one of the listed values;
* ``prospective`` (temporal): patients examined on or after a date (``temporal.from``), or
  before a date (``temporal.before``: an earlier period, as seed 000's test set);
* of the rest, stratified random hold-outs: ``internal`` (``test_fraction``, the 7:3 / 8:2 split)
  and optionally ``validation`` (``validation_fraction``: 70/30 train/validation + separate test);
* or, with ``method: column``, the values of a fixed column of the clinical table.

Names of the external and temporal cohorts can be changed (``name``). ``settings`` is the
config's ``split`` section, :class:`axilla.settings.Split` (not imported: settings depends on
this module through the feature assembly).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .errors import InputError, Problem
from .io import write_csv

log = logging.getLogger(__name__)

TRAIN = "train"
# Out-of-fold parts of the training cohort for stacking (train.oof_proba); validation checks that
# each class fills them. Here, not in train.py, so validation needs no scikit-learn import.
OOF_FOLDS = 5


def _date_column(clinical: pd.DataFrame, col: str) -> pd.Series:
    if col not in clinical.columns:
        raise InputError(Problem("clinical table", "temporal split needs this column", column=col))
    dates = pd.to_datetime(clinical[col], errors="coerce")
    bad = dates.isna() & clinical[col].notna()
    if bad.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad.to_numpy())[:10])
        raise InputError(Problem("clinical table", f"unreadable dates (rows {rows})", column=col))
    if dates.isna().any():
        raise InputError(Problem("clinical table", "temporal split needs a date for every patient", column=col))
    return dates


def _temporal_members(dates: pd.Series, temporal: dict) -> np.ndarray:
    """Who forms the temporal cohort: examined on or after ``from`` (a later, prospective period)
    or before ``before`` (an earlier period, as seed 000's test set); exactly one of the two."""
    bounds = [k for k in ("from", "before") if temporal.get(k) is not None]
    if len(bounds) != 1:
        raise InputError(Problem("config", "key 'split.temporal': needs exactly one of 'from' (on or after a "
                                           f"date) or 'before' (before a date); given: {', '.join(bounds) or 'neither'}"))
    cut = pd.Timestamp(str(temporal[bounds[0]]))
    return (dates >= cut).to_numpy() if bounds[0] == "from" else (dates < cut).to_numpy()


def _stratified_holdout(ids: np.ndarray, y: np.ndarray, fraction: float, seed: int, what: str, outcome: str):
    from sklearn.model_selection import train_test_split

    if pd.Series(y).value_counts().min() < 2 or np.unique(y).size < 2:
        raise InputError(Problem("clinical table", f"too few patients of one class to split off the {what} cohort",
                                 column=outcome))
    return train_test_split(ids, test_size=fraction, stratify=y, random_state=seed)


def assign(clinical: pd.DataFrame, outcome: str, settings: "Split", seed: int) -> pd.DataFrame:
    """Return `patient_id, cohort, y` sorted by patient; deterministic for a given seed."""
    df = clinical[["patient_id", outcome]].rename(columns={outcome: "y"}).copy()
    df["patient_id"] = df.patient_id.astype(str)
    if settings.method == "column":
        col = settings.column
        if col not in clinical.columns:
            raise InputError(Problem("clinical table", "split method 'column' needs this column", column=col))
        df["cohort"] = clinical[col].astype(str).str.strip().to_numpy()
    else:
        df["cohort"] = ""
        ext = settings.external
        if ext:
            col = ext["column"]
            if col not in clinical.columns:
                raise InputError(Problem("clinical table", "external split needs this column", column=col))
            is_ext = clinical[col].astype(str).isin([str(v) for v in ext["values"]]).to_numpy()
            df.loc[is_ext, "cohort"] = ext["name"]
        tmp = settings.temporal
        if tmp:
            in_period = _temporal_members(_date_column(clinical, tmp["column"]), tmp)
            # external patients stay external whatever their date
            df.loc[in_period & (df.cohort == "").to_numpy(), "cohort"] = tmp["name"]
        rest = df[df.cohort == ""]
        ids, y = rest.patient_id.to_numpy(), rest.y.to_numpy()
        test_f, val_f = settings.test_fraction, settings.validation_fraction
        if test_f + val_f >= 1:
            raise InputError(Problem("config", "split.test_fraction + split.validation_fraction must be < 1",
                                     column="split"))
        if test_f > 0:
            ids_tr, ids_te = _stratified_holdout(ids, y, test_f, seed, "internal", outcome)
            df.loc[df.patient_id.isin(ids_te), "cohort"] = "internal"
            keep = np.isin(ids, ids_tr)
            ids, y = ids[keep], y[keep]
        if val_f > 0:
            # a share of the whole pool, so 0.2 / 0.2 gives 60:20:20
            ids_tr, ids_va = _stratified_holdout(ids, y, val_f / (1 - test_f), seed + 1, "validation", outcome)
            df.loc[df.patient_id.isin(ids_va), "cohort"] = "validation"
            ids = ids_tr
        df.loc[df.patient_id.isin(ids), "cohort"] = TRAIN
    train = df[df.cohort == TRAIN]
    if train.empty or train.y.nunique() < 2:
        raise InputError(Problem("clinical table", "the training cohort needs patients of both classes",
                                 column=outcome))
    return df[["patient_id", "cohort", "y"]].sort_values("patient_id").reset_index(drop=True)


def planned_cohorts(settings: "Split", clinical: pd.DataFrame | None = None) -> list[str]:
    """The cohort names a split will produce, `train` first (for the rule graph at parse time).

    With ``method: column`` the clinical table is needed; otherwise it is not read.
    """
    if settings.method == "column":
        col = settings.column
        if clinical is None or col not in clinical.columns:
            raise ValueError(f"split method 'column' needs column '{col}' in the clinical table")
        return [TRAIN, *sorted(set(clinical[col].astype(str).str.strip()) - {TRAIN})]
    names = []
    if settings.test_fraction > 0:
        names.append("internal")
    if settings.validation_fraction:
        names.append("validation")
    if settings.external:
        names.append(settings.external["name"])
    if settings.temporal:
        names.append(settings.temporal["name"])
    return [TRAIN, *sorted(names)]


def run(clinical_csv: str, outcome: str, settings: "Split", seed: int, out_csv: str) -> None:
    clinical = pd.read_csv(clinical_csv, dtype={"patient_id": str})
    split = assign(clinical, outcome, settings, seed)
    write_csv(split, out_csv)
    for cohort, g in split.groupby("cohort"):
        log.info("cohort %s: %d patients, %d positive (%.0f %%)", cohort, len(g), g.y.sum(), 100 * g.y.mean())
