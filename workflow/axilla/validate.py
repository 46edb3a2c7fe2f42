"""Input validation: the manifest and clinical table are checked before any image is processed.

Every problem found is collected (not only the first) and reported as one `InputError`
naming the file, the row and the column.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, Problem
from .io import parse_pixel_spacing, read_table

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["patient_id", "modality", "view", "image", "mask", "rater"]
# Kept when present: per-row spacing of 2D files that state none ("x,y" mm; see io.read_image).
OPTIONAL_COLUMNS = ["pixel_spacing"]
MODALITY_VIEWS = {
    "MG": re.compile(r"^(CC|MLO)$"),
    "MRI": re.compile(r"^(T1|T2|DWI|ADC|DCE[0-9]+)$"),
    "US": re.compile(r"^(tumor|node)$"),
}
# Identifiers become file names and Snakemake wildcards, so they must be path-safe.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

def load_manifest(path: str | os.PathLike, views: dict[str, list[str]], primary_rater: str,
                  missing_view: str = "stop", confine_paths: bool = False) -> pd.DataFrame:
    """Read and structurally check the image manifest; return the rows the study uses.

    Paths are resolved relative to the manifest's folder. Raises InputError listing every
    structural problem (columns, values, identifiers, duplicates, missing required views,
    paths leaving the manifest's folder when `confine_paths`). With `missing_view="drop"`,
    patients lacking a required view are left out instead (counted in the log); their ids are in
    `result.attrs["dropped"]` so the clinical check can leave them out too.
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise InputError(Problem(name, "manifest file not found; set 'manifest' in the config"))
    df = read_table(path)
    problems: list[Problem] = []
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise InputError([Problem(name, f"required column missing (columns needed: {', '.join(MANIFEST_COLUMNS)})",
                                  column=c) for c in missing])
    optional = [c for c in OPTIONAL_COLUMNS if c in df.columns]
    df = df[MANIFEST_COLUMNS + optional].copy()
    for col in MANIFEST_COLUMNS + optional:
        df[col] = df[col].astype("string").str.strip()
    for i, r in enumerate(df.itertuples(index=False), start=1):
        for col in MANIFEST_COLUMNS:
            if pd.isna(getattr(r, col)) or getattr(r, col) == "":
                problems.append(Problem(name, "empty value", i, col))
        if not pd.isna(r.patient_id) and not SAFE_ID.match(r.patient_id):
            problems.append(Problem(name, f"patient_id '{r.patient_id}' must contain only letters, digits, "
                                          "'_', '.', '-' (it names output files)", i, "patient_id"))
        if not pd.isna(r.rater) and not SAFE_ID.match(r.rater):
            problems.append(Problem(name, f"rater '{r.rater}' must contain only letters, digits, '_', '.', '-'",
                                    i, "rater"))
        if not pd.isna(r.modality) and r.modality not in MODALITY_VIEWS:
            problems.append(Problem(name, f"modality '{r.modality}' is not one of MG, MRI, US", i, "modality"))
        elif not pd.isna(r.view) and not pd.isna(r.modality) and not MODALITY_VIEWS[r.modality].match(r.view):
            problems.append(Problem(name, f"view '{r.view}' is not a valid {r.modality} view", i, "view"))
    if "pixel_spacing" in df.columns:
        problems += _pixel_spacing(df, name)
    if problems:
        raise InputError(problems)

    df.insert(0, "row", np.arange(1, len(df) + 1))
    dup = df.duplicated(["patient_id", "modality", "view", "rater"], keep="first")
    for r in df[dup].itertuples(index=False):
        problems.append(Problem(name, f"duplicate entry for patient {r.patient_id}, {r.modality} {r.view}, "
                                      f"rater {r.rater}: keep one row per image × mask × rater", r.row, "patient_id"))
    # An image file holds one acquisition: two views pointing at one image is a copy-paste slip.
    first = df.drop_duplicates(["patient_id", "modality", "view"])
    shared = first.duplicated("image", keep="first")
    for r in first[shared].itertuples(index=False):
        problems.append(Problem(name, f"image '{r.image}' is listed for more than one view", r.row, "image"))

    wanted = {(m, v) for m, vs in views.items() for v in vs}
    used = df[[(m, v) in wanted for m, v in zip(df.modality, df.view)]].copy()
    first_row = df.drop_duplicates("patient_id").set_index("patient_id").row
    have = set(zip(used.patient_id, used.modality, used.view, used.rater))
    lacking: dict[str, list[str]] = {}
    for pid in sorted(first_row.index):
        gaps = [f"{m} {v}" for m, v in sorted(wanted) if (pid, m, v, primary_rater) not in have]
        if gaps:
            lacking[pid] = gaps
    if missing_view == "drop":
        if lacking:
            log.warning("manifest %s: %d patient(s) dropped for lacking a required view with a primary-rater "
                        "mask (validate.missing_view: drop): %s", name, len(lacking),
                        "; ".join(f"{p} ({', '.join(g)})" for p, g in lacking.items()))
        used = used[~used.patient_id.isin(list(lacking))]
        if used.empty:
            problems.append(Problem(name, "no patient has every view the config's 'views' requires", column="view"))
    else:
        for pid, gaps in lacking.items():
            problems.append(Problem(name, f"patient {pid} has no {' / '.join(gaps)} image with a mask by the primary "
                                          f"rater {primary_rater} (the config's 'views' requires it): add the rows, "
                                          "remove the view from 'views', or set validate.missing_view: drop",
                                    int(first_row[pid]), "view"))

    base = path.parent
    if confine_paths:
        root = os.path.realpath(base)
        for r in used.itertuples(index=False):
            for col in ("image", "mask"):
                p = getattr(r, col)
                real = os.path.realpath(os.path.join(base, p))
                if os.path.commonpath([root, real]) != root:
                    problems.append(Problem(name, f"path '{p}' leads outside the data folder {root}: move the file "
                                                  "into that folder or set validate.confine_paths: false",
                                            r.row, col))
    if problems:
        raise InputError(problems)

    for col in ("image", "mask"):
        used[col] = [p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p)) for p in used[col]]
    ignored = sum((m, v) not in wanted for m, v in zip(df.modality, df.view))
    if ignored:
        log.info("manifest %s: %d rows are for views this study does not use and are ignored", name, ignored)
    used = used.reset_index(drop=True)
    used.attrs["dropped"] = {p: g for p, g in lacking.items()} if missing_view == "drop" else {}
    return used


def _pixel_spacing(df: pd.DataFrame, name: str) -> list[Problem]:
    """Normalise the optional pixel_spacing column in place to "x,y" (empty where not given) and
    give every row of an image the value one of its rows states; raters' rows must not disagree."""
    problems = []
    values = []
    for i, v in enumerate(df.pixel_spacing, start=1):
        if pd.isna(v) or v == "":
            values.append("")
            continue
        try:
            values.append(",".join(repr(x) for x in parse_pixel_spacing(v)))
        except ValueError as e:
            values.append("")
            problems.append(Problem(name, f"{e}: write e.g. 0.1,0.1 or leave the cell empty", i, "pixel_spacing"))
    df["pixel_spacing"] = pd.array(values, dtype="string")
    stated = df[df.pixel_spacing != ""].groupby("image").pixel_spacing
    for image, group in stated:
        if group.nunique() > 1:
            differs = int(group.index[(group != group.iloc[0]).to_numpy().argmax()])
            problems.append(Problem(name, f"image '{image}' is given different pixel_spacing values "
                                          f"({', '.join(group.unique())}) in its rows: give one", differs + 1,
                                    "pixel_spacing"))
    first = stated.first().to_dict()
    df["pixel_spacing"] = pd.array([first.get(i, "") for i in df.image], dtype="string")
    return problems


@dataclass
class FileCheck:
    """What `check_files` found: problems (errors), warnings per image, and each image's grid as read."""

    problems: list[Problem] = field(default_factory=list)
    warnings: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)  # (patient, modality, view)
    grids: dict = field(default_factory=dict)  # image path -> preprocess.Grid (2D spacing resolved)


def check_files(manifest: pd.DataFrame, manifest_path: str, labels: dict[str, int] | None = None,
                preprocess: dict | None = None) -> FileCheck:
    """Every image and mask exists and reads completely, each mask lies on its image's grid by the
    rule preprocessing applies, and each mask holds voxels of its modality's ROI label (`labels`,
    default 1: pyradiomics' `label` setting).

    `preprocess` maps modality -> `PreprocessSettings` (default settings otherwise): its
    `pixel_spacing` is the fallback for 2D files, its `align_tolerance_voxels` the tolerance. A
    mask within tolerance of its image passes with a warning (logged and kept in the result);
    beyond it is an error naming image, mask and row.
    """
    import SimpleITK as sitk

    from .io import read_image
    from .preprocess import Grid, PreprocessSettings, judge_alignment, read_mask

    preprocess = preprocess or {}
    result = FileCheck()
    problems = result.problems
    images: dict[str, Grid | None] = {}

    def exists(p: str, row: int, col: str) -> bool:
        if not os.path.exists(p):
            problems.append(Problem(manifest_path, f"file not found: {p} (paths are relative to the manifest): "
                                                   "fix the path or add the file", row, col))
            return False
        return True

    def read(p: str, row: int, col: str, reader):
        if not exists(p, row, col):
            return None
        try:
            # Reading the pixels, not only the header, catches truncated and corrupt files here
            # rather than in the middle of the study.
            img = reader(p)
            if p.lower().endswith((".nii", ".nii.gz")):
                # ITK pads a truncated NIfTI with zeros without complaint; nibabel refuses it.
                import nibabel

                np.asanyarray(nibabel.load(p).dataobj)
        except InputError as e:  # the reader's own verdict (no pixel spacing, no DICOM series)
            problems.extend(Problem(manifest_path, f"{p}: {q.message}", row, col) for q in e.problems)
            return None
        except Exception as e:  # SimpleITK raises RuntimeError with a long ITK trace
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            first = first.replace(f" from {p}", "")
            problems.append(Problem(manifest_path, f"cannot read {p} ({first}): the file is damaged, truncated or "
                                                   "not an image; export it again", row, col))
            return None
        return img

    for r in manifest.itertuples(index=False):
        settings = preprocess.get(r.modality) or PreprocessSettings()
        row_spacing = getattr(r, "pixel_spacing", "")
        row_spacing = parse_pixel_spacing(row_spacing) if isinstance(row_spacing, str) and row_spacing else None
        if r.image not in images:
            img = read(r.image, r.row, "image",
                       lambda p: read_image(p, pixel_spacing=row_spacing, fallback_spacing=settings.pixel_spacing))
            images[r.image] = None if img is None else Grid.of(img)
            if img is not None:
                result.grids[r.image] = images[r.image]
                if row_spacing is not None and img.GetDimension() != 2:
                    problems.append(Problem(manifest_path, f"pixel_spacing is for 2D files; {r.image} is "
                                                           f"{img.GetDimension()}D and keeps its own spacing: leave "
                                                           "the cell empty", r.row, "pixel_spacing"))
        grid = images[r.image]
        if grid is None:  # a mask is read against its image; without one, only its presence is checked
            exists(r.mask, r.row, "mask")
            continue
        mask = read(r.mask, r.row, "mask", lambda p: read_mask(p, grid))
        if mask is None:
            continue
        # Preprocessing aligns masks with one phase of a 4D DCE series.
        target = grid.leading(3) if grid.dimension == 4 and mask.GetDimension() == 3 else grid
        verdict = judge_alignment(target, mask, r.image, r.mask, settings.align_tolerance_voxels)
        if verdict.action == "refuse":
            problems.append(Problem(manifest_path, verdict.message, r.row, "mask"))
            continue
        if verdict.action == "resample":
            warning = f"rater {r.rater}: {verdict.message}"
            result.warnings.setdefault((r.patient_id, r.modality, r.view), []).append(warning)
            log.warning("%s, row %d: %s", manifest_path, r.row, warning)
        arr = sitk.GetArrayViewFromImage(mask)
        label = (labels or {}).get(r.modality, 1)
        if not np.any(arr != 0):
            problems.append(Problem(manifest_path, f"mask {r.mask} is empty (no nonzero voxel): segment the lesion "
                                                   "or remove the row", r.row, "mask"))
        elif not np.any(arr == label):
            found = ", ".join(f"{v:g}" for v in np.unique(arr)[:10])
            problems.append(Problem(manifest_path, f"mask {r.mask} has no voxel with the ROI label {label} (values "
                                                   f"found: {found}): relabel the mask or set 'label' in the "
                                                   f"{r.modality} radiomics parameter file", r.row, "mask"))
    return result


def roi_label(params_file: str | os.PathLike) -> int:
    """The ROI label a pyradiomics parameter file selects (pyradiomics' default is 1)."""
    import yaml

    p = Path(params_file)
    if not p.exists():
        return 1
    settings = (yaml.safe_load(p.read_text()) or {}).get("setting") or {}
    return int(settings.get("label", 1))


def load_clinical(path: str | os.PathLike, outcome: str, variables: dict[str, str],
                  patients: list[str] | dict[str, int], manifest_path: str = "manifest",
                  dropped: dict | set | None = None) -> tuple[pd.DataFrame, list[Problem]]:
    """Read the clinical table, check types and the outcome, and match it against the manifest.

    `patients` are the manifest's patients, optionally mapped to their first manifest row (then
    a patient missing from the table is reported at that row of `manifest_path`). Patients in
    `dropped` (left out for a missing view) are removed from the table without complaint.
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        return pd.DataFrame(), [Problem(name, "clinical table not found; set 'clinical' in the config")]
    df = read_table(path)
    problems: list[Problem] = []
    for col in ["patient_id", outcome, *variables]:
        if col not in df.columns:
            what = "outcome column (config 'outcome')" if col == outcome else (
                "column" if col == "patient_id" else "clinical variable declared in config 'clinical_variables'")
            problems.append(Problem(name, f"{what} missing: add the column or correct the config", column=col))
    if problems:
        return df, problems
    df["patient_id"] = df["patient_id"].astype("string").str.strip()
    rows = pd.Series(np.arange(1, len(df) + 1), index=df.index)
    first = df.drop_duplicates("patient_id").set_index("patient_id").index
    first_row = dict(zip(first, rows[~df.patient_id.duplicated(keep="first")]))
    for i in np.flatnonzero(df.patient_id.duplicated(keep="first").to_numpy()):
        pid = df.patient_id.iloc[i]
        problems.append(Problem(name, f"duplicate patient_id {pid} (first at row {first_row[pid]}): keep one row "
                                      "per patient", i + 1, "patient_id"))
    dropped = set(dropped or ())
    keep = ~df.patient_id.isin(dropped).to_numpy()
    if not keep.all():
        log.info("clinical table %s: %d patient(s) left out with their images (validate.missing_view: drop)",
                 name, int((~keep).sum()))

    raw_y = df[outcome]
    y = pd.to_numeric(raw_y, errors="coerce")
    for i in np.flatnonzero(keep & raw_y.isna().to_numpy()):
        problems.append(Problem(name, "outcome missing: enter 0 (node-negative) or 1 (node-positive), or remove the "
                                      "patient from both tables", i + 1, outcome))
    for i in np.flatnonzero(keep & raw_y.notna().to_numpy() & ~y.isin([0, 1]).to_numpy()):
        problems.append(Problem(name, f"outcome must be 0 or 1, found '{raw_y.iloc[i]}': recode as 0 (node-negative) "
                                      "/ 1 (node-positive)", i + 1, outcome))
    yk = y[keep]
    if len(yk) and yk.isin([0, 1]).all() and yk.nunique() < 2:
        problems.append(Problem(name, f"outcome has one class only ({int(yk.iloc[0])}); both 0 and 1 are needed",
                                column=outcome))
    for var, kind in variables.items():
        if kind != "numeric":
            continue
        raw = df[var]
        num = pd.to_numeric(raw, errors="coerce")
        for i in np.flatnonzero(keep & (num.isna() & raw.notna()).to_numpy()):
            problems.append(Problem(name, f"non-numeric value '{raw.iloc[i]}' in a numeric variable: enter a number "
                                          "(decimal point '.', no units) or leave the cell empty", i + 1, var))

    manifest_row = patients if isinstance(patients, dict) else {p: None for p in patients}
    in_table = set(df.patient_id.dropna())
    for pid in sorted(set(manifest_row) - in_table - dropped):
        problems.append(Problem(manifest_path, f"patient {pid} is in the manifest but not in the clinical table "
                                               f"{name}: add the patient's clinical row or remove the images",
                                manifest_row[pid], "patient_id"))
    for i, pid in enumerate(df.patient_id):
        if pid not in manifest_row and pid not in dropped:
            problems.append(Problem(name, f"patient {pid} is in the clinical table but has no images in the "
                                          f"manifest {manifest_path}: add the images or remove the row", i + 1,
                                    "patient_id"))
    return df[keep].reset_index(drop=True), problems


def check_class_counts(clinical: pd.DataFrame, outcome: str, split_settings: dict, folds: int, seed: int,
                       name: str) -> list[Problem]:
    """Each class has enough patients for the planned split and the cross-validation folds.

    Uses the split the `split` rule will make (same function, same seed), so the counts are exact.
    """
    from .split import assign

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
    from .train import OOF_FOLDS

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
    from .train import OOF_FOLDS

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


def run(manifest_path: str, clinical_path: str, views: dict, primary_rater: str, outcome: str,
        variables: dict, out_manifest: str, out_clinical: str, out_qc: str, *, settings: dict | None = None,
        labels: dict[str, int] | None = None, split_settings: dict | None = None, folds: int = 2, seed: int = 0,
        out_missing: str | None = None, out_excluded: str | None = None, preprocess: dict | None = None) -> None:
    """The `validate` rule: check everything, then write the normalised tables and a QC table.

    `preprocess` is the config's `preprocess` section (per modality): 2D spacing fallback and the
    image/mask alignment tolerance, so validation applies the rule preprocessing will.
    Nothing is written unless every check passes, so later rules never see unchecked data.
    """
    from .io import write_csv
    from .preprocess import PreprocessSettings

    settings = settings or {}
    manifest = load_manifest(manifest_path, views, primary_rater, settings.get("missing_view", "stop"),
                             settings.get("confine_paths", False))
    dropped = manifest.attrs.get("dropped", {})
    checked = check_files(manifest, manifest_path, labels,
                          {m: PreprocessSettings.from_config(c or {}) for m, c in (preprocess or {}).items()})
    problems = checked.problems
    first_row = manifest.drop_duplicates("patient_id").set_index("patient_id").row.astype(int).to_dict()
    clinical, more = load_clinical(clinical_path, outcome, variables, first_row, manifest_path, dropped)
    problems += more
    if problems:
        raise InputError(problems)
    if split_settings is not None:
        problems = check_class_counts(clinical, outcome, split_settings, folds, seed, str(clinical_path))
        if problems:
            raise InputError(problems)
    keep = ["patient_id", outcome, *[c for c in ("center", "exam_date", "split") if c in clinical.columns],
            *variables]
    clinical = clinical[list(dict.fromkeys(keep))].copy()
    clinical[outcome] = clinical[outcome].astype(int)
    for var, kind in variables.items():
        if kind == "numeric":
            clinical[var] = pd.to_numeric(clinical[var])
    clinical = clinical.sort_values("patient_id")
    qc = manifest.groupby(["patient_id", "modality", "view"], sort=True).agg(
        image=("image", "first"), raters=("rater", lambda s: ";".join(sorted(s)))).reset_index()
    grids = [checked.grids[p] for p in qc.image]
    qc["size"] = ["x".join(map(str, g.size)) for g in grids]
    qc["spacing"] = ["x".join(f"{s:g}" for s in g.spacing) for g in grids]
    qc["warnings"] = ["; ".join(checked.warnings.get(k, [])) for k in zip(qc.patient_id, qc.modality, qc.view)]
    write_csv(manifest, out_manifest)
    write_csv(clinical, out_clinical)
    write_csv(qc, out_qc)
    if out_missing:
        write_csv(missing_summary(clinical, variables, str(clinical_path)), out_missing)
    if out_excluded:
        write_csv(pd.DataFrame([dict(patient_id=p, reason="no " + " / ".join(g) + " image with a primary-rater mask")
                                for p, g in sorted(dropped.items())], columns=["patient_id", "reason"]), out_excluded)
    log.info("validated %d images (%d masks) of %d patients; outcome prevalence %.1f %%",
             len(qc), len(manifest), manifest.patient_id.nunique(), 100 * clinical[outcome].mean())
