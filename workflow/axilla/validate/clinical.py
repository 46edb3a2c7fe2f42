"""The clinical table: columns, outcome, numeric variables, agreement with the manifest; class
counts against the planned split; missing values."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, Problem
from ..io import read_table
from ..split import OOF_FOLDS, assign

log = logging.getLogger(__name__)


def load_clinical(path: str | os.PathLike, outcome: str, variables: dict[str, str],
                  patients: list[str] | dict[str, int], manifest_path: str = "manifest",
                  dropped: dict | set | None = None) -> tuple[pd.DataFrame, list[Problem]]:
    """Read the clinical table, check types and the outcome, and match it against the manifest.

    `patients` are the manifest's patients, optionally mapped to their first manifest row (then
    a patient missing from the table is reported at that row of `manifest_path`). Patients in
    `dropped` (already excluded by validate: a missing view, an unreadable file, a small ROI) are
    removed from the table without complaint. A missing outcome and a manifest patient without a
    row are problems of category `missing_outcome` (validate.missing_outcome: stop | drop).
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        return pd.DataFrame(), [Problem(name, "clinical table not found; set 'clinical' in the config")]
    df = read_table(path)
    problems = _missing_clinical_columns(df, outcome, variables, name)
    if problems:
        return df, problems
    df["patient_id"] = df["patient_id"].astype("string").str.strip()
    problems += _duplicate_patients(df, name)
    dropped = set(dropped or ())
    keep = ~df.patient_id.isin(dropped).to_numpy()
    if not keep.all():
        log.info("clinical table %s: %d patient(s) left out with their images (excluded by validate)",
                 name, int((~keep).sum()))
    problems += _outcome_problems(df[outcome], df.patient_id, keep, outcome, name)
    problems += _numeric_problems(df, variables, keep, name)
    problems += _unmatched_patients(df, patients, dropped, manifest_path, name)
    return df[keep].reset_index(drop=True), problems


def _missing_clinical_columns(df: pd.DataFrame, outcome: str, variables: dict[str, str], name: str) -> list[Problem]:
    problems = []
    for col in ["patient_id", outcome, *variables]:
        if col not in df.columns:
            what = "outcome column (config 'outcome')" if col == outcome else (
                "column" if col == "patient_id" else "clinical variable declared in config 'clinical_variables'")
            problems.append(Problem(name, f"{what} missing: add the column or correct the config", column=col))
    return problems


def _duplicate_patients(df: pd.DataFrame, name: str) -> list[Problem]:
    """A second row for a patient, reported with the row of the first."""
    problems = []
    rows = pd.Series(np.arange(1, len(df) + 1), index=df.index)
    first = df.drop_duplicates("patient_id").set_index("patient_id").index
    first_row = dict(zip(first, rows[~df.patient_id.duplicated(keep="first")]))
    for i in np.flatnonzero(df.patient_id.duplicated(keep="first").to_numpy()):
        pid = df.patient_id.iloc[i]
        problems.append(Problem(name, f"duplicate patient_id {pid} (first at row {first_row[pid]}): keep one row "
                                      "per patient", i + 1, "patient_id"))
    return problems


def _outcome_problems(raw_y: pd.Series, patients: pd.Series, keep: np.ndarray, outcome: str,
                      name: str) -> list[Problem]:
    """The kept patients' outcome: present, 0 or 1, and both classes."""
    problems = []
    y = pd.to_numeric(raw_y, errors="coerce")
    for i in np.flatnonzero(keep & raw_y.isna().to_numpy()):
        problems.append(Problem(name, "outcome missing: enter 0 (node-negative) or 1 (node-positive), or remove the "
                                      "patient from both tables", i + 1, outcome, patients.iloc[i], "missing_outcome"))
    for i in np.flatnonzero(keep & raw_y.notna().to_numpy() & ~y.isin([0, 1]).to_numpy()):
        problems.append(Problem(name, f"outcome must be 0 or 1, found '{raw_y.iloc[i]}': recode as 0 (node-negative) "
                                      "/ 1 (node-positive)", i + 1, outcome))
    yk = y[keep]
    if len(yk) and yk.isin([0, 1]).all() and yk.nunique() < 2:
        after = f" after excluding {int((~keep).sum())} patient(s) (validate/excluded.csv)" if not keep.all() else ""
        problems.append(Problem(name, f"outcome has one class only ({int(yk.iloc[0])}){after}; both 0 and 1 are "
                                      "needed", column=outcome))
    return problems


def _numeric_problems(df: pd.DataFrame, variables: dict[str, str], keep: np.ndarray, name: str) -> list[Problem]:
    """Kept patients' values of numeric variables that are not numbers (empty cells are allowed)."""
    problems = []
    for var, kind in variables.items():
        if kind != "numeric":
            continue
        raw = df[var]
        num = pd.to_numeric(raw, errors="coerce")
        for i in np.flatnonzero(keep & (num.isna() & raw.notna()).to_numpy()):
            problems.append(Problem(name, f"non-numeric value '{raw.iloc[i]}' in a numeric variable: enter a number "
                                          "(decimal point '.', no units) or leave the cell empty", i + 1, var))
    return problems


def _unmatched_patients(df: pd.DataFrame, patients: list[str] | dict[str, int], dropped: set, manifest_path: str,
                        name: str) -> list[Problem]:
    """Patients in one of manifest and clinical table but not the other (dropped patients aside)."""
    problems = []
    manifest_row = patients if isinstance(patients, dict) else {p: None for p in patients}
    in_table = set(df.patient_id.dropna())
    for pid in sorted(set(manifest_row) - in_table - dropped):
        problems.append(Problem(manifest_path, f"patient {pid} is in the manifest but not in the clinical table "
                                               f"{name}: add the patient's clinical row or remove the images",
                                manifest_row[pid], "patient_id", pid, "missing_outcome"))
    for i, pid in enumerate(df.patient_id):
        if pid not in manifest_row and pid not in dropped:
            problems.append(Problem(name, f"patient {pid} is in the clinical table but has no images in the "
                                          f"manifest {manifest_path}: add the images or remove the row", i + 1,
                                    "patient_id"))
    return problems


def check_class_counts(clinical: pd.DataFrame, outcome: str, split_settings: dict, folds: int, seed: int,
                       name: str) -> list[Problem]:
    """Each class has enough patients for the planned split and the cross-validation folds.

    Uses the split the `split` rule will make (same function, same seed), so the counts are exact.
    """
    y = pd.to_numeric(clinical[outcome], errors="coerce")
    if not y.isin([0, 1]).all() or y.nunique() < 2:
        return []  # reported by load_clinical
    try:
        split = assign(clinical.assign(**{outcome: y.astype(int)}), outcome, split_settings, seed)
    except InputError as e:
        return [Problem(name, f"{p.message}: add patients or change 'split'", column=p.column or outcome)
                for p in e.problems]
    except ValueError as e:  # scikit-learn's train_test_split on too small a cohort
        return [Problem(name, f"cannot split the cohort ({e}): add patients or change 'split'", column=outcome)]
    # LASSO's CV runs inside each out-of-fold training part (stacking), which lacks ceil(n / K) of
    # each class: that remainder, not the whole training cohort, must fill the LASSO folds.
    def usable(n: int) -> int:
        return n - -(-n // OOF_FOLDS)

    problems = []
    counts = split.groupby(["cohort", "y"]).size().unstack(fill_value=0).reindex(columns=[0, 1], fill_value=0)
    for cohort, row in counts.iterrows():
        for cls in (0, 1):
            n = int(row[cls])
            if cohort == "train" and (n < OOF_FOLDS or usable(n) < folds):
                problems.append(Problem(name, f"the training cohort would hold {n} patient(s) with {outcome} = {cls}, "
                                              f"too few for {OOF_FOLDS} out-of-fold parts each holding at least "
                                              f"{folds} per class for the cross-validation folds (select.lasso.folds; "
                                              f"needs ≥ {min_per_class(folds)}): add patients or lower the folds",
                                        column=outcome))
            elif cohort != "train" and n == 0:
                problems.append(Problem(name, f"the {cohort} cohort would hold no patient with {outcome} = {cls}, so "
                                              "its AUC is undefined: add patients or change 'split'", column=outcome))
    return problems


def min_per_class(folds: int) -> int:
    """Fewest training patients of a class that stacking's out-of-fold parts and LASSO's folds need."""
    n = OOF_FOLDS
    while n - -(-n // OOF_FOLDS) < folds:
        n += 1
    return n


def missing_summary(clinical: pd.DataFrame, variables: dict[str, str], name: str) -> pd.DataFrame:
    """Per clinical variable: how many patients lack a value (imputed later from the training cohort)."""
    rows = []
    for var, kind in variables.items():
        miss = clinical[var].isna().to_numpy()
        rows.append(dict(variable=var, kind=kind, n_missing=int(miss.sum()), n=len(clinical),
                         percent=round(100 * float(miss.mean()), 2) if len(clinical) else 0.0,
                         patients=";".join(clinical.patient_id[miss].astype(str))))
        if miss.any():
            log.info("clinical table %s: %d missing value(s) in '%s' (imputed from the training cohort)",
                     name, int(miss.sum()), var)
    return pd.DataFrame(rows, columns=["variable", "kind", "n_missing", "n", "percent", "patients"])
