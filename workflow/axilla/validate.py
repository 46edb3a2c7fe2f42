"""Input validation: the manifest and clinical table are checked before any image is processed.

Every problem found is collected (not only the first) and reported as one `InputError`
naming the file, the row and the column.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, Problem
from .io import image_info, read_table

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["patient_id", "modality", "view", "image", "mask", "rater"]
MODALITY_VIEWS = {
    "MG": re.compile(r"^(CC|MLO)$"),
    "MRI": re.compile(r"^(T1|T2|DWI|ADC|DCE[0-9]+)$"),
    "US": re.compile(r"^(tumor|node)$"),
}
# Identifiers become file names and Snakemake wildcards, so they must be path-safe.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Geometry agreement between an image and its mask (relative to spacing).
GEOMETRY_TOLERANCE = 1e-3


def load_manifest(path: str | os.PathLike, views: dict[str, list[str]], primary_rater: str) -> pd.DataFrame:
    """Read and structurally check the image manifest; return the rows the study uses.

    Paths are resolved relative to the manifest's folder. Raises InputError listing every
    structural problem (columns, values, identifiers, duplicates, missing required views).
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
    df = df[MANIFEST_COLUMNS].copy()
    for col in MANIFEST_COLUMNS:
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
    patients = sorted(df.patient_id.unique())
    have = set(zip(used.patient_id, used.modality, used.view, used.rater))
    for pid in patients:
        for m, v in sorted(wanted):
            if (pid, m, v, primary_rater) not in have:
                problems.append(Problem(name, f"patient {pid} has no {m} {v} image with a mask by the primary "
                                              f"rater {primary_rater} (the config's 'views' requires it)",
                                        column="view"))
    if problems:
        raise InputError(problems)

    base = path.parent
    for col in ("image", "mask"):
        used[col] = [p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p)) for p in used[col]]
    ignored = len(df) - len(used)
    if ignored:
        log.info("manifest %s: %d rows are for views this study does not use and are ignored", name, ignored)
    return used.reset_index(drop=True)


def check_files(manifest: pd.DataFrame, manifest_path: str) -> list[Problem]:
    """Every image and mask file exists, can be read, and image and mask share a grid."""
    import SimpleITK as sitk

    problems: list[Problem] = []
    infos: dict[str, dict] = {}

    def info(p: str, row: int, col: str):
        if p in infos:
            return infos[p]
        if not os.path.exists(p):
            problems.append(Problem(manifest_path, f"file not found: {p} (paths are relative to the manifest)", row, col))
            infos[p] = None
            return None
        try:
            infos[p] = image_info(p)
        except Exception as e:  # SimpleITK raises RuntimeError with a long ITK trace
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            problems.append(Problem(manifest_path, f"cannot read {p}: {first}", row, col))
            infos[p] = None
        return infos[p]

    for r in manifest.itertuples(index=False):
        im = info(r.image, r.row, "image")
        mk = info(r.mask, r.row, "mask")
        if im is None or mk is None:
            continue
        if im["dimension"] != mk["dimension"] or tuple(im["size"]) != tuple(mk["size"]):
            problems.append(Problem(manifest_path, f"mask {r.mask} (size {tuple(mk['size'])}) does not match image "
                                                   f"{r.image} (size {tuple(im['size'])})", r.row, "mask"))
            continue
        sp = np.asarray(im["spacing"])
        bad = (np.abs(np.subtract(im["spacing"], mk["spacing"])) > GEOMETRY_TOLERANCE * sp).any()
        bad |= (np.abs(np.subtract(im["origin"], mk["origin"])) > 0.5 * sp).any()
        bad |= (np.abs(np.subtract(im["direction"], mk["direction"])) > GEOMETRY_TOLERANCE).any()
        if bad:
            problems.append(Problem(manifest_path, f"mask {r.mask} and image {r.image} differ in spacing, origin or "
                                                   "direction beyond tolerance: export both from the same series",
                                    r.row, "mask"))
            continue
        arr = sitk.GetArrayFromImage(sitk.ReadImage(r.mask))  # a view of a temporary would dangle
        if not np.any(arr > 0):
            problems.append(Problem(manifest_path, f"mask {r.mask} is empty (no voxel > 0)", r.row, "mask"))
    return problems


def load_clinical(path: str | os.PathLike, outcome: str, variables: dict[str, str],
                  patients: list[str]) -> tuple[pd.DataFrame, list[Problem]]:
    """Read the clinical table, check types and the outcome, and match it against the manifest."""
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
            problems.append(Problem(name, f"{what} missing", column=col))
    if problems:
        return df, problems
    df["patient_id"] = df["patient_id"].astype("string").str.strip()
    for r in df[df.patient_id.duplicated(keep="first")].itertuples():
        problems.append(Problem(name, f"duplicate patient_id {r.patient_id}", r.Index + 1, "patient_id"))

    y = pd.to_numeric(df[outcome], errors="coerce")
    for i in np.flatnonzero(~y.isin([0, 1]).to_numpy()):
        problems.append(Problem(name, f"outcome must be 0 or 1, found '{df[outcome].iloc[i]}'", i + 1, outcome))
    if y.isin([0, 1]).all() and y.nunique() < 2:
        problems.append(Problem(name, f"outcome has one class only ({int(y.iloc[0])}); both 0 and 1 are needed",
                                column=outcome))
    for var, kind in variables.items():
        if kind != "numeric":
            continue
        raw = df[var]
        num = pd.to_numeric(raw, errors="coerce")
        for i in np.flatnonzero((num.isna() & raw.notna()).to_numpy()):
            problems.append(Problem(name, f"non-numeric value '{raw.iloc[i]}' in a numeric variable", i + 1, var))

    in_table = set(df.patient_id.dropna())
    for pid in sorted(set(patients) - in_table):
        problems.append(Problem(name, f"patient {pid} is in the manifest but not in the clinical table",
                                column="patient_id"))
    for i, pid in enumerate(df.patient_id):
        if pid not in set(patients):
            problems.append(Problem(name, f"patient {pid} is in the clinical table but has no images in the "
                                          "manifest", i + 1, "patient_id"))
    return df, problems


def run(manifest_path: str, clinical_path: str, views: dict, primary_rater: str, outcome: str,
        variables: dict, out_manifest: str, out_clinical: str, out_qc: str) -> None:
    """The `validate` rule: check everything, then write the normalised tables and a QC table."""
    from .io import write_csv

    manifest = load_manifest(manifest_path, views, primary_rater)
    problems = check_files(manifest, manifest_path)
    clinical, more = load_clinical(clinical_path, outcome, variables, sorted(manifest.patient_id.unique()))
    problems += more
    if problems:
        raise InputError(problems)
    keep = ["patient_id", outcome, *[c for c in ("center", "exam_date", "split") if c in clinical.columns],
            *variables]
    clinical = clinical[list(dict.fromkeys(keep))].copy()
    clinical[outcome] = clinical[outcome].astype(int)
    for var, kind in variables.items():
        if kind == "numeric":
            clinical[var] = pd.to_numeric(clinical[var])
    qc = manifest.groupby(["patient_id", "modality", "view"], sort=True).agg(
        image=("image", "first"), raters=("rater", lambda s: ";".join(sorted(s)))).reset_index()
    infos = [image_info(p) for p in qc.image]
    qc["size"] = ["x".join(map(str, i["size"])) for i in infos]
    qc["spacing"] = ["x".join(f"{s:g}" for s in i["spacing"]) for i in infos]
    write_csv(manifest, out_manifest)
    write_csv(clinical.sort_values("patient_id"), out_clinical)
    write_csv(qc, out_qc)
    log.info("validated %d images (%d masks) of %d patients; outcome prevalence %.1f %%",
             len(qc), len(manifest), manifest.patient_id.nunique(), 100 * clinical[outcome].mean())
