"""The rules' entry points: prediction files in, result tables out. The only module here that
touches files; the statistics it calls take arrays and return numbers or DataFrames."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..availability import subgroups
from ..errors import InputError, Problem
from ..io import load_model, read_table, write_csv
from ..settings import Evaluate
from ..split import TRAIN
from .availability import availability_metrics
from .decision import decision_curve
from .optimism import refit_optimism_table
from .readers import reader_frame, reader_problems, reader_tables
from .tables import metrics_table, pairwise_table
from .thresholds import youden_threshold


def _write_table(table: pd.DataFrame, path: str) -> None:
    write_csv(table, path, float_format=None)  # evaluate tables keep full precision (repr floats)


# ---------------------------------------------------------------------------------------------
# per-cohort prediction tables -> metrics, pairwise and decision-curve tables
# ---------------------------------------------------------------------------------------------

def _read_predictions(path: str, problems: list[Problem]) -> pd.DataFrame | None:
    """Read one predictions CSV, appending every problem found (not only the first)."""
    try:
        df = pd.read_csv(path, dtype={"patient_id": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        problems.append(Problem(path, f"cannot read predictions table: {exc}"))
        return None
    cols = list(df.columns)
    if cols[:2] != ["patient_id", "y"]:
        problems.append(Problem(path, f"columns must start with 'patient_id, y', found {cols[:2]}"))
        return None
    if len(cols) < 3:
        problems.append(Problem(path, "no model probability columns after 'patient_id, y'"))
        return None
    n_before = len(problems)
    _check_prediction_values(df, path, problems)
    if len(problems) > n_before:
        return None
    return df


def _check_prediction_values(df: pd.DataFrame, path: str, problems: list[Problem]) -> None:
    """Duplicate patients, outcomes other than 0/1, probabilities outside [0, 1] (5 per column)."""
    cols = list(df.columns)
    dup = df["patient_id"].duplicated(keep="first")
    for row in np.flatnonzero(dup.to_numpy())[:5]:
        problems.append(Problem(path, f"duplicate patient_id {df['patient_id'].iloc[row]!r}", row + 1, "patient_id"))
    y = pd.to_numeric(df["y"], errors="coerce")
    for row in np.flatnonzero(~y.isin([0, 1]).to_numpy())[:5]:
        problems.append(Problem(path, f"outcome must be 0 or 1, found {df['y'].iloc[row]!r}", row + 1, "y"))
    for col in cols[2:]:
        p = pd.to_numeric(df[col], errors="coerce")
        bad = ~(p.between(0, 1) & np.isfinite(p))
        for row in np.flatnonzero(bad.to_numpy())[:5]:
            problems.append(Problem(path, f"probability must be a number in [0, 1], found {df[col].iloc[row]!r}",
                                    row + 1, col))


def _cohort_outputs(predictions: Mapping[str, str], out_dir: str) -> dict[str, list[str]]:
    """cohort -> its three table paths; a cohort name must be usable as a distinct file name."""
    outputs: dict[str, list[str]] = {}
    for cohort in predictions:
        if not cohort or os.sep in cohort or (os.altsep and os.altsep in cohort) or cohort.startswith("."):
            raise ValueError(f"cohort name {cohort!r} cannot be used as a file name")
        outputs[cohort] = [os.path.join(out_dir, f"{cohort}{suffix}.csv") for suffix in ("", "_pairwise", "_dca")]
    every = [p for paths in outputs.values() for p in paths]
    if len(set(every)) != len(every):
        raise ValueError(f"cohort names {sorted(predictions)} would write two tables to the same file")
    return outputs


def _check_cohort_tables(tables: Mapping[str, pd.DataFrame | None], predictions: Mapping[str, str],
                         train_cohort: str, problems: list[Problem]) -> list[str]:
    """The training cohort's model columns (every cohort must have the same ones, and the
    training cohort both outcome classes); [] when the training table could not be read."""
    train = tables[train_cohort]
    if train is None:
        return []
    models = list(train.columns[2:])
    for cohort, df in tables.items():
        if df is None or cohort == train_cohort:
            continue
        if sorted(df.columns[2:]) != sorted(models):
            problems.append(Problem(predictions[cohort],
                                    f"model columns {list(df.columns[2:])} differ from the training "
                                    f"cohort's {models}"))
    y_train = train["y"].to_numpy(dtype=np.int64)
    if y_train.size == 0 or y_train.min() == y_train.max():
        problems.append(Problem(predictions[train_cohort],
                                "training cohort has one outcome class only; no cut-off can be derived",
                                column="y"))
    return models


def _write_cohort_tables(df: pd.DataFrame, models: list[str], thresholds: Mapping[str, float],
                         paths: Sequence[str], label: str) -> None:
    y = df["y"].to_numpy(dtype=np.int64)
    preds = {m: df[m].to_numpy(dtype=float) for m in models}  # training order, every cohort
    try:
        results = (metrics_table(y, preds, thresholds), pairwise_table(y, preds), decision_curve(y, preds))
    except ValueError as exc:
        raise ValueError(f"{label}: {exc}") from exc
    for table, path in zip(results, paths, strict=True):
        _write_table(table, path)


def evaluate_cohorts(predictions: Mapping[str, str], train_cohort: str, out_dir: str) -> dict[str, list[str]]:
    """Evaluate every cohort's predictions with the TRAINING cohort's Youden cut-offs.

    predictions: cohort name -> CSV with columns `patient_id, y, <model>...` (probabilities).
    Writes, atomically, per cohort: <cohort>.csv (metrics_table), <cohort>_pairwise.csv,
    <cohort>_dca.csv. Returns cohort -> written paths. All input problems across all files
    are reported together as one InputError before anything is written.
    """
    if train_cohort not in predictions:
        raise ValueError(f"training cohort '{train_cohort}' is not among the cohorts {sorted(predictions)}")
    outputs = _cohort_outputs(predictions, out_dir)
    problems: list[Problem] = []
    tables = {cohort: _read_predictions(path, problems) for cohort, path in predictions.items()}
    models = _check_cohort_tables(tables, predictions, train_cohort, problems)
    if problems:
        raise InputError(problems)

    train = tables[train_cohort]
    y_train = train["y"].to_numpy(dtype=np.int64)
    thresholds = {m: youden_threshold(y_train, train[m].to_numpy(dtype=float)) for m in models}
    os.makedirs(out_dir, exist_ok=True)
    for cohort, df in tables.items():
        _write_cohort_tables(df, models, thresholds, outputs[cohort], f"cohort '{cohort}' ({predictions[cohort]})")
    return outputs


# ---------------------------------------------------------------------------------------------
# the evaluate rule: per-model prediction files -> per-cohort tables
# ---------------------------------------------------------------------------------------------

def _read_model_frames(model_predictions: Mapping[str, str], problems: list[Problem]) -> dict[str, pd.DataFrame]:
    """model -> its predictions indexed by patient_id (cohort, y, prob); unreadable files go to problems."""
    frames: dict[str, pd.DataFrame] = {}
    for model, path in model_predictions.items():
        try:
            df = pd.read_csv(path, dtype={"patient_id": str, "cohort": str})
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            problems.append(Problem(path, f"cannot read predictions of model '{model}': {exc}"))
            continue
        missing = [c for c in ("patient_id", "cohort", "y", "prob") if c not in df.columns]
        if missing:
            problems.append(Problem(path, f"missing column(s) {missing}"))
            continue
        if df["patient_id"].duplicated().any():
            problems.append(Problem(path, "duplicate patient_id", column="patient_id"))
            continue
        frames[model] = df.set_index("patient_id")[["cohort", "y", "prob"]]
    return frames


def _check_same_patients(frames: Mapping[str, pd.DataFrame], model_predictions: Mapping[str, str],
                         cohorts: Sequence[str], problems: list[Problem]) -> None:
    """Every model must score the same patients with the same outcome and cohort, and every
    cohort must have a patient."""
    first, ref = next(iter(frames.items()))
    for model, df in frames.items():
        if set(df.index) != set(ref.index):
            problems.append(Problem(model_predictions[model],
                                    f"patients differ from those of model '{first}'"))
        elif not df.loc[ref.index, ["cohort", "y"]].equals(ref[["cohort", "y"]]):
            problems.append(Problem(model_predictions[model],
                                    f"cohort or outcome of some patients differ from model '{first}'"))
    for cohort in cohorts:
        if not (ref["cohort"] == cohort).any():
            problems.append(Problem(model_predictions[first], f"no patient in cohort '{cohort}'",
                                    column="cohort"))


def _check_shared_patients(frames: Mapping[str, pd.DataFrame], model_predictions: Mapping[str, str],
                           cohorts: Sequence[str], problems: list[Problem]) -> pd.DataFrame:
    """validate.missing_view: allow: models may score different patients, but a patient's cohort and
    outcome must agree between models; returns the frame of the patients every model scores
    (complete cases), which must exist in every cohort."""
    first, ref = next(iter(frames.items()))
    common = ref.index
    for model, df in frames.items():
        shared = ref.index.intersection(df.index)
        if not df.loc[shared, ["cohort", "y"]].equals(ref.loc[shared, ["cohort", "y"]]):
            problems.append(Problem(model_predictions[model],
                                    f"cohort or outcome of some patients differ from model '{first}'"))
        common = common[common.isin(df.index)]
    for cohort in cohorts:
        if not (ref.loc[common, "cohort"] == cohort).any():
            problems.append(Problem(model_predictions[first], f"no patient in cohort '{cohort}' is scored by every "
                                                              "model (has every view)", column="cohort"))
    return ref.loc[common]


def _load_model_predictions(model_predictions: Mapping[str, str], cohorts: Sequence[str],
                            allow_missing: bool = False) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """(the first model's frame, every model's frame), all problems raised as one InputError.
    With ``allow_missing`` the first frame is restricted to the patients every model scores."""
    problems: list[Problem] = []
    frames = _read_model_frames(model_predictions, problems)
    if not problems and not frames:
        raise ValueError("evaluate: no model predictions given")
    ref = next(iter(frames.values()), None)
    if frames and allow_missing:
        ref = _check_shared_patients(frames, model_predictions, cohorts, problems)
    elif frames:
        _check_same_patients(frames, model_predictions, cohorts, problems)
    if problems:
        raise InputError(problems)
    return ref, frames


def _write_cohort_predictions(ref: pd.DataFrame, frames: Mapping[str, pd.DataFrame], cohorts: Sequence[str],
                              outdir: str) -> dict[str, str]:
    """<outdir>/predictions/<cohort>.csv (`patient_id, y, <model>...`) per cohort; cohort -> path."""
    paths: dict[str, str] = {}
    for cohort in cohorts:
        ids = ref.index[ref["cohort"] == cohort]
        wide = pd.DataFrame({"patient_id": ids, "y": ref.loc[ids, "y"].to_numpy()})
        for model, df in frames.items():
            wide[model] = df.loc[ids, "prob"].to_numpy()
        paths[cohort] = os.path.join(outdir, "predictions", f"{cohort}.csv")
        _write_table(wide, paths[cohort])
    return paths


def load_readers(clinical_path: str, readers: Mapping[str, str]) -> pd.DataFrame:
    """Reader columns of the clinical table, indexed by patient_id, renamed to reader names.

    Every problem (missing column, non-numeric or out-of-range reading) is reported at once.
    """
    table = read_table(clinical_path)
    problems = reader_problems(table, readers, clinical_path)
    if problems:
        raise InputError(problems)
    return reader_frame(table, readers)


def _write_reader_tables(ref: pd.DataFrame, frames: Mapping[str, pd.DataFrame], reads: pd.DataFrame,
                         cohorts: Sequence[str], metrics_dir: str, threshold: float) -> None:
    """<cohort>_readers.csv, _readers_vs_models.csv and _reader_pairs.csv per cohort."""
    for cohort in cohorts:
        ids = ref.index[ref["cohort"] == cohort]
        tables = reader_tables(ref.loc[ids, "y"].to_numpy(), {r: reads.loc[ids, r].to_numpy() for r in reads.columns},
                               {m: df.loc[ids, "prob"].to_numpy() for m, df in frames.items()}, threshold)
        for table, suffix in zip(tables, ("_readers", "_readers_vs_models", "_reader_pairs"), strict=True):
            _write_table(table, os.path.join(metrics_dir, f"{cohort}{suffix}.csv"))


def run(model_predictions: Mapping[str, str], cohorts: Sequence[str], outdir: str, settings: Evaluate,
        clinical: str | None = None, availability: str | None = None, allow_missing: bool = False) -> None:
    """The `evaluate` rule: per-model prediction files -> per-cohort tables.

    model_predictions: model name -> CSV written by training (`patient_id, cohort, y, prob, ...`;
    `prob` is the final model's probability, which is what is evaluated).
    Writes <outdir>/predictions/<cohort>.csv (`patient_id, y, <model>...`) and, through
    `evaluate_cohorts`, <outdir>/metrics/<cohort>.csv, _pairwise.csv and _dca.csv. With
    ``settings.readers`` (reader name -> column of the `clinical` table) also <cohort>_readers.csv,
    _readers_vs_models.csv and _reader_pairs.csv (`reader_tables`).
    ``allow_missing`` (validate.missing_view: allow): models may score different patients (those
    having their views); the per-cohort tables compare them on the patients every model scores, and
    <outdir>/metrics/availability.csv (written whenever ``availability``, validate's table, is
    given) has each model's AUC per availability subgroup (:func:`availability_metrics`).
    """
    ref, frames = _load_model_predictions(model_predictions, cohorts, allow_missing)
    paths = _write_cohort_predictions(ref, frames, cohorts, outdir)
    metrics_dir = os.path.join(outdir, "metrics")
    evaluate_cohorts(paths, TRAIN, metrics_dir)
    if settings.readers:
        reads = load_readers(clinical, settings.readers).reindex(ref.index)
        _write_reader_tables(ref, frames, reads, cohorts, metrics_dir, settings.reader_threshold)
    if availability:
        groups = subgroups(pd.read_csv(availability, dtype={"patient_id": str}))
        _write_table(availability_metrics(frames, groups, cohorts), os.path.join(metrics_dir, "availability.csv"))


# ---------------------------------------------------------------------------------------------
# the optimism rule
# ---------------------------------------------------------------------------------------------

def run_optimism(X: pd.DataFrame, split: pd.DataFrame, selection_pkl: str, model_name: str,
                 n_boot: int, seed: int, out_csv: str, n_jobs: int = 1) -> None:
    """Harrell's optimism-corrected training AUC of one feature model, refitting the whole
    procedure (clinical encoding, selection chain, logistic regression) in every resample."""
    from sklearn.base import clone

    template = clone(load_model(selection_pkl))  # settings only; refitted from scratch each time
    split = split.set_index("patient_id").loc[X.index]
    train = (split["cohort"] == TRAIN).to_numpy()
    table = refit_optimism_table(template, X[train], split["y"].to_numpy()[train], model_name, n_boot, seed, n_jobs)
    _write_table(table, out_csv)
