"""The `validate` rule: every check, then the normalised tables and a QC table."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..availability import availability_table
from ..errors import InputError, Problem
from ..settings import Deep, Preprocess, Split, Validate
from ..weights import weights_problems
from .clinical import check_class_counts, load_clinical, missing_summary
from .files import FileCheck, check_files, params_problems
from .manifest import load_manifest
from .policy import Exclusions, log_counts, sort_out

log = logging.getLogger(__name__)


def run(manifest_path: str, clinical_path: str, views: dict, primary_rater: str, outcome: str,
        variables: dict, out_manifest: str, out_clinical: str, out_qc: str, *, settings: Validate,
        radiomics_params: dict[str, str] | None = None, split_settings: Split | None = None, folds: int = 2,
        seed: int = 0, out_missing: str | None = None, out_excluded: str | None = None,
        preprocess: dict[str, Preprocess] | None = None, out_problems: str | None = None,
        out_availability: str | None = None, deep: Deep | None = None, auto_views=()) -> None:
    """The `validate` rule: check everything, then write the normalised tables and a QC table.

    `settings` is the config's `validate` section; `preprocess` its `preprocess` section (modality
    -> :class:`axilla.settings.Preprocess`): 2D spacing fallback and the image/mask alignment
    tolerance, ROI label and size limit, so validation applies the rules preprocessing will;
    `radiomics_params` (modality -> pyradiomics parameter file) must not set another ROI label or
    size limit than axilla gives pyradiomics.
    Nothing is written unless every check passes, so later rules never see unchecked data; on
    failure `out_problems` (when given) receives every problem as a table, the message a summary.
    Patients with a problem of a class the settings drop (:mod:`axilla.validate.policy`) leave the
    study: the written tables lack them and `out_excluded` lists them (patient_id, problem, reason).
    `out_availability`: the views each kept patient has (:func:`axilla.availability.availability_table`).
    `deep` (the config's `deep` section): each modality's network and its pretrained weights, whose
    cache file must be there and be the pinned one (:func:`axilla.weights.weights_problems`).
    `auto_views` (``roi.source: auto``): views whose images may come without a manual mask.
    """
    from ..io import write_csv

    try:
        manifest, clinical, checked, excluded = _check(
            manifest_path, clinical_path, views, primary_rater, outcome, variables, settings, radiomics_params,
            preprocess, split_settings, folds, seed, deep, auto_views)
    except InputError as e:
        if out_problems is None:
            raise
        write_csv(e.table(), out_problems)
        raise InputError(e.problems, full_list=out_problems) from None
    if out_problems is not None:
        Path(out_problems).unlink(missing_ok=True)  # a failed run's list, now out of date
    clinical = _normalised_clinical(clinical, outcome, variables)
    qc = _image_table(manifest, checked)
    write_csv(manifest, out_manifest)
    write_csv(clinical, out_clinical)
    write_csv(qc, out_qc)
    if out_missing:
        write_csv(missing_summary(clinical, variables, str(clinical_path)), out_missing)
    if out_excluded:
        write_csv(excluded.table(), out_excluded)
    if out_availability:
        write_csv(availability_table(manifest, views, primary_rater, auto_views), out_availability)
    log.info("validated %d images (%d masks) of %d patients; outcome prevalence %.1f %%",
             len(qc), int((manifest["mask"] != "").sum()), manifest.patient_id.nunique(), 100 * clinical[outcome].mean())


def _check(manifest_path, clinical_path, views, primary_rater, outcome, variables, settings, radiomics_params,
           preprocess, split_settings, folds, seed, deep=None, auto_views=()):
    """Every check, all problems of a kind at once: (manifest, clinical table, file check, exclusions).

    Exclusions come first (missing views, then files, then the clinical table); the cohort left
    must still have both classes and enough patients for the split and folds."""
    manifest = load_manifest(manifest_path, views, primary_rater, settings.missing_view, settings.confine_paths,
                             auto_views)
    excluded = Exclusions()
    for pid, gaps in manifest.attrs.get("dropped", {}).items():
        excluded.add(pid, "missing_view", "no " + " / ".join(gaps) + " image with a primary-rater mask")
    checked = check_files(manifest, manifest_path, preprocess)
    problems = sort_out(checked.problems, settings, excluded) + params_problems(radiomics_params or {},
                                                                               preprocess or {})
    if deep is not None:
        problems += weights_problems(deep, views)
    first_row = manifest.drop_duplicates("patient_id").set_index("patient_id").row.astype(int).to_dict()
    clinical, more = load_clinical(clinical_path, outcome, variables, first_row, manifest_path, excluded.patients)
    problems += sort_out(more, settings, excluded)
    if problems:
        raise InputError(problems)
    n_checked = len(set(first_row) | set(clinical.patient_id) | excluded.patients)
    manifest = manifest[~manifest.patient_id.isin(excluded.patients)].reset_index(drop=True)
    clinical = clinical[~clinical.patient_id.isin(excluded.patients)].reset_index(drop=True)
    log_counts(excluded, n_checked, len(clinical))
    problems = _left_problems(clinical, outcome, str(clinical_path), excluded)
    if not problems and split_settings is not None:
        problems = check_class_counts(clinical, outcome, split_settings, folds, seed, str(clinical_path))
    if problems:
        raise InputError(problems)
    return manifest, clinical, checked, excluded


def _left_problems(clinical: pd.DataFrame, outcome: str, name: str, excluded: Exclusions) -> list[Problem]:
    """After exclusions: patients of both classes left (without exclusions load_clinical has judged)."""
    if not excluded.reasons:
        return []
    counts = ", ".join(f"{c}: {n}" for c, n in excluded.counts().items())
    if clinical.empty:
        return [Problem(name, f"every patient was excluded ({counts}): fix the inputs, or set the classes to "
                              "stop to see each problem")]
    y = pd.to_numeric(clinical[outcome], errors="coerce")
    if y.nunique() < 2:
        return [Problem(name, f"outcome has one class only ({int(y.iloc[0])}) after excluding "
                              f"{len(excluded.reasons)} patient(s) ({counts}); both 0 and 1 are needed",
                        column=outcome)]
    return []


def _normalised_clinical(clinical: pd.DataFrame, outcome: str, variables: dict) -> pd.DataFrame:
    """The columns later stages use, the outcome as int, numeric variables as numbers, sorted by patient."""
    keep = ["patient_id", outcome, *[c for c in ("center", "exam_date", "split") if c in clinical.columns],
            *variables]
    clinical = clinical[list(dict.fromkeys(keep))].copy()
    clinical[outcome] = clinical[outcome].astype(int)
    for var, kind in variables.items():
        if kind == "numeric":
            clinical[var] = pd.to_numeric(clinical[var])
    return clinical.sort_values("patient_id")


def _image_table(manifest: pd.DataFrame, checked: FileCheck) -> pd.DataFrame:
    """One row per image: its raters, size and spacing as read, and the alignment warnings."""
    qc = manifest.groupby(["patient_id", "modality", "view"], sort=True).agg(
        image=("image", "first"), raters=("rater", lambda s: ";".join(sorted(s)))).reset_index()
    grids = [checked.grids[p] for p in qc.image]
    qc["size"] = ["x".join(map(str, g.size)) for g in grids]
    qc["spacing"] = ["x".join(f"{s:g}" for s in g.spacing) for g in grids]
    qc["warnings"] = ["; ".join(checked.warnings.get(k, [])) for k in zip(qc.patient_id, qc.modality, qc.view)]
    return qc
