"""The image manifest: columns, values, identifiers, duplicates, required views, confined paths."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, Problem
from ..io import parse_pixel_spacing, read_table

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
                  missing_view: str = "stop", confine_paths: bool = False, auto_views=()) -> pd.DataFrame:
    """Read and structurally check the image manifest; return the rows the study uses.

    Paths are resolved relative to the manifest's folder. Raises InputError listing every
    structural problem (columns, values, identifiers, duplicates, missing required views,
    paths leaving the manifest's folder when `confine_paths`). With `missing_view="drop"`,
    patients lacking a required view are left out instead (counted in the log); their ids are in
    `result.attrs["dropped"]` so the clinical check can leave them out too. With
    `missing_view="allow"` they are kept with the views they have (rows of a view without a
    primary-rater mask are left out, since no feature is computed from them); a patient with none
    of the views is still a problem.

    `auto_views` (``MOD_view`` keys with ``roi.source: auto``): there a row may leave `mask` (and
    `rater`) empty, an image without any manual mask, whose ROI is the segment stage's; such a row
    is kept with both cells "" (dropped when other rows list the image with masks), and the image
    counts as the patient's view.
    """
    path = Path(path)
    name = str(path)
    df = _read_manifest(path, name)
    auto_views = set(auto_views)
    problems = _value_problems(df, name, auto_views)
    if problems:
        raise InputError(problems)
    df.insert(0, "row", np.arange(1, len(df) + 1))
    df = _without_redundant_maskless(df, name)
    problems += _duplicate_problems(df, name)
    wanted = {(m, v) for m, vs in views.items() for v in vs}
    used = df[[(m, v) in wanted for m, v in zip(df.modality, df.view)]].copy()
    first_row = df.drop_duplicates("patient_id").set_index("patient_id").row
    lacking = _lacking_views(used, sorted(first_row.index), wanted, primary_rater, auto_views)
    if missing_view == "drop":
        used = _drop_lacking(used, lacking, name, problems)
    elif missing_view == "allow":
        used = _keep_lacking(used, lacking, wanted, primary_rater, name, problems)
    else:
        problems += [Problem(name, f"patient {pid} has no {' / '.join(gaps)} image with a mask by the primary "
                                   f"rater {primary_rater} (the config's 'views' requires it): add the rows, "
                                   "remove the view from 'views', or set validate.missing_view: drop",
                             int(first_row[pid]), "view") for pid, gaps in lacking.items()]
    base = path.parent
    if confine_paths:
        problems += _outside_paths(used, base, name)
    if problems:
        raise InputError(problems)

    for col in ("image", "mask"):
        used[col] = [p if not p or os.path.isabs(p) else os.path.normpath(os.path.join(base, p)) for p in used[col]]
    ignored = sum((m, v) not in wanted for m, v in zip(df.modality, df.view))
    if ignored:
        log.info("manifest %s: %d rows are for views this study does not use and are ignored", name, ignored)
    used = used.reset_index(drop=True)
    used.attrs["dropped"] = {p: g for p, g in lacking.items()} if missing_view == "drop" else {}
    return used


def _read_manifest(path: Path, name: str) -> pd.DataFrame:
    """The manifest's required and known optional columns, as stripped strings."""
    if not path.exists():
        raise InputError(Problem(name, "manifest file not found; set 'manifest' in the config"))
    df = read_table(path)
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise InputError([Problem(name, f"required column missing (columns needed: {', '.join(MANIFEST_COLUMNS)})",
                                  column=c) for c in missing])
    optional = [c for c in OPTIONAL_COLUMNS if c in df.columns]
    df = df[MANIFEST_COLUMNS + optional].copy()
    for col in MANIFEST_COLUMNS + optional:
        df[col] = df[col].astype("string").str.strip()
    return df


def _value_problems(df: pd.DataFrame, name: str, auto_views=frozenset()) -> list[Problem]:
    """Empty cells, unsafe identifiers, unknown modalities and views; normalises pixel_spacing in place.

    A row of an auto view with an empty `mask` is an image without a manual mask: its `rater` may be
    empty too, and both become "" (the rater of such a row means nothing)."""
    problems = []
    maskless = _maskless(df, auto_views)
    df.loc[maskless, ["mask", "rater"]] = ""
    for i, r in enumerate(df.itertuples(index=False), start=1):
        for col in MANIFEST_COLUMNS:
            if (pd.isna(getattr(r, col)) or getattr(r, col) == "") and not (maskless[i - 1] and col in ("mask", "rater")):
                problems.append(Problem(name, "empty value", i, col))
        if not pd.isna(r.patient_id) and not SAFE_ID.match(r.patient_id):
            problems.append(Problem(name, f"patient_id '{r.patient_id}' must contain only letters, digits, "
                                          "'_', '.', '-' (it names output files)", i, "patient_id"))
        if not pd.isna(r.rater) and r.rater != "" and not SAFE_ID.match(r.rater):
            problems.append(Problem(name, f"rater '{r.rater}' must contain only letters, digits, '_', '.', '-'",
                                    i, "rater"))
        if not pd.isna(r.modality) and r.modality not in MODALITY_VIEWS:
            problems.append(Problem(name, f"modality '{r.modality}' is not one of MG, MRI, US", i, "modality"))
        elif not pd.isna(r.view) and not pd.isna(r.modality) and not MODALITY_VIEWS[r.modality].match(r.view):
            problems.append(Problem(name, f"view '{r.view}' is not a valid {r.modality} view", i, "view"))
    if "pixel_spacing" in df.columns:
        problems += _pixel_spacing(df, name)
    return problems


def _maskless(df: pd.DataFrame, auto_views) -> np.ndarray:
    """Rows of an auto view whose mask cell is empty (images without a manual mask)."""
    empty = (df["mask"].isna() | (df["mask"] == "")).to_numpy(dtype=bool)
    auto = np.array([f"{m}_{v}" in auto_views for m, v in zip(df.modality, df.view)], dtype=bool)
    return empty & auto


def _without_redundant_maskless(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """A maskless row of an image that other rows list (with masks, or a first maskless row) adds
    nothing: left out (logged)."""
    maskless = (df["mask"] == "").to_numpy(dtype=bool)
    if not maskless.any():
        return df
    masked = set(zip(df.patient_id[~maskless], df.modality[~maskless], df.view[~maskless]))
    repeated = df.duplicated(["patient_id", "modality", "view"], keep="first").to_numpy(dtype=bool)
    listed = np.array([k in masked for k in zip(df.patient_id, df.modality, df.view)], dtype=bool)
    redundant = maskless & (listed | repeated)
    if redundant.any():
        log.info("manifest %s: rows %s without a mask are left out (other rows list their images with masks)", name,
                 ", ".join(map(str, df.row[redundant])))
    return df[~redundant]


def _duplicate_problems(df: pd.DataFrame, name: str) -> list[Problem]:
    """A second row for one image x mask x rater, or one image file listed for two views."""
    problems = []
    dup = df.duplicated(["patient_id", "modality", "view", "rater"], keep="first")
    for r in df[dup].itertuples(index=False):
        problems.append(Problem(name, f"duplicate entry for patient {r.patient_id}, {r.modality} {r.view}, "
                                      f"rater {r.rater}: keep one row per image × mask × rater", r.row, "patient_id"))
    # An image file holds one acquisition: two views pointing at one image is a copy-paste slip.
    first = df.drop_duplicates(["patient_id", "modality", "view"])
    shared = first.duplicated("image", keep="first")
    for r in first[shared].itertuples(index=False):
        problems.append(Problem(name, f"image '{r.image}' is listed for more than one view", r.row, "image"))
    return problems


def _lacking_views(used: pd.DataFrame, patients: list[str], wanted: set, primary_rater: str,
                   auto_views=frozenset()) -> dict[str, list[str]]:
    """Patient -> the required views ("MRI T2") it has no primary-rater row for; in an auto view,
    no image at all (a masked or maskless row: the segment stage gives every image its ROI)."""
    have = set(zip(used.patient_id, used.modality, used.view, used.rater))
    images = set(zip(used.patient_id, used.modality, used.view))

    def has(pid, m, v):
        return (pid, m, v) in images if f"{m}_{v}" in auto_views else (pid, m, v, primary_rater) in have

    lacking: dict[str, list[str]] = {}
    for pid in patients:
        gaps = [f"{m} {v}" for m, v in sorted(wanted) if not has(pid, m, v)]
        if gaps:
            lacking[pid] = gaps
    return lacking


def _drop_lacking(used: pd.DataFrame, lacking: dict[str, list[str]], name: str, problems: list) -> pd.DataFrame:
    """`validate.missing_view: drop`: leave out the patients lacking a view (logged); none left is a problem."""
    if lacking:
        log.warning("manifest %s: %d patient(s) dropped for lacking a required view with a primary-rater "
                    "mask (validate.missing_view: drop): %s", name, len(lacking),
                    "; ".join(f"{p} ({', '.join(g)})" for p, g in lacking.items()))
    used = used[~used.patient_id.isin(list(lacking))]
    if used.empty:
        problems.append(Problem(name, "no patient has every view the config's 'views' requires", column="view"))
    return used


def _keep_lacking(used: pd.DataFrame, lacking: dict[str, list[str]], wanted: set, primary_rater: str, name: str,
                  problems: list) -> pd.DataFrame:
    """`validate.missing_view: allow`: keep the patients lacking some views (logged) with the views
    they have; a patient with no view at all is a problem (no model of images could use them)."""
    if lacking:
        log.warning("manifest %s: %d patient(s) kept without some views (validate.missing_view: allow): %s", name,
                    len(lacking), "; ".join(f"{p} ({', '.join(g)})" for p, g in lacking.items()))
    absent = {(p, *g.split(" ", 1)) for p, gaps in lacking.items() for g in gaps}
    used = used[[(p, m, v) not in absent for p, m, v in zip(used.patient_id, used.modality, used.view)]]
    for pid, gaps in lacking.items():
        if len(gaps) == len(wanted):
            problems.append(Problem(name, f"patient {pid} has none of the views in 'views' with a mask by the "
                                          f"primary rater {primary_rater}: add their images or remove the patient "
                                          "from both tables", column="view"))
    return used


def _outside_paths(used: pd.DataFrame, base: Path, name: str) -> list[Problem]:
    """`validate.confine_paths`: image and mask paths that lead outside the manifest's folder."""
    problems = []
    root = os.path.realpath(base)
    for r in used.itertuples(index=False):
        for col in ("image", "mask"):
            p = getattr(r, col)
            if not p:  # an auto view's image without a mask
                continue
            real = os.path.realpath(os.path.join(base, p))
            if os.path.commonpath([root, real]) != root:
                problems.append(Problem(name, f"path '{p}' leads outside the data folder {root}: move the file "
                                              "into that folder or set validate.confine_paths: false",
                                        r.row, col))
    return problems


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
