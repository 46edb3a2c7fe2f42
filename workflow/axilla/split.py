"""Patient-level assignment to the training cohort and the evaluation cohorts.

Cohorts: `train`, `internal` (stratified random hold-out), and `external` (patients selected by
a column such as the centre), or a fixed assignment from a column of the clinical table.
"""

from __future__ import annotations

import logging

import pandas as pd

from .errors import InputError, Problem
from .io import write_csv

log = logging.getLogger(__name__)

TRAIN = "train"


def assign(clinical: pd.DataFrame, outcome: str, settings: dict, seed: int) -> pd.DataFrame:
    """Return `patient_id, cohort, y` sorted by patient; deterministic for a given seed."""
    from sklearn.model_selection import train_test_split

    df = clinical[["patient_id", outcome]].rename(columns={outcome: "y"}).copy()
    method = settings.get("method", "random")
    if method == "column":
        col = settings.get("column", "split")
        if col not in clinical.columns:
            raise InputError(Problem("clinical table", "split method 'column' needs this column", column=col))
        df["cohort"] = clinical[col].astype(str).str.strip().to_numpy()
    else:
        df["cohort"] = ""
        ext = settings.get("external")
        if ext:
            col = ext["column"]
            if col not in clinical.columns:
                raise InputError(Problem("clinical table", "external split needs this column", column=col))
            is_ext = clinical[col].astype(str).isin([str(v) for v in ext["values"]]).to_numpy()
            df.loc[is_ext, "cohort"] = "external"
        rest = df[df.cohort == ""]
        if rest.y.value_counts().min() < 2:
            raise InputError(Problem("clinical table", "too few patients of one class to split train/internal",
                                     column=outcome))
        train_ids, test_ids = train_test_split(rest.patient_id.to_numpy(), test_size=settings.get("test_fraction", 0.3),
                                               stratify=rest.y.to_numpy(), random_state=seed)
        df.loc[df.patient_id.isin(train_ids), "cohort"] = TRAIN
        df.loc[df.patient_id.isin(test_ids), "cohort"] = "internal"
    train = df[df.cohort == TRAIN]
    if train.empty or train.y.nunique() < 2:
        raise InputError(Problem("clinical table", "the training cohort needs patients of both classes",
                                 column=outcome))
    return df[["patient_id", "cohort", "y"]].sort_values("patient_id").reset_index(drop=True)


def run(clinical_csv: str, outcome: str, settings: dict, seed: int, out_csv: str) -> None:
    clinical = pd.read_csv(clinical_csv, dtype={"patient_id": str})
    split = assign(clinical, outcome, settings, seed)
    write_csv(split, out_csv)
    for cohort, g in split.groupby("cohort"):
        log.info("cohort %s: %d patients, %d positive (%.0f %%)", cohort, len(g), g.y.sum(), 100 * g.y.mean())


def cohorts(split: pd.DataFrame) -> list[str]:
    """Cohort names with `train` first, then the evaluation cohorts in alphabetical order."""
    names = sorted(set(split.cohort) - {TRAIN})
    return [TRAIN, *names]
