"""The files a manifest lists: each image and mask exists and reads completely, each mask lies on
its image's grid (the rule preprocessing applies), holds an ROI by the one ROI rule
(:func:`axilla.preprocess.roi_problem`) and keeps enough voxels after resampling."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, Problem, RoiError
from ..io import parse_pixel_spacing

log = logging.getLogger(__name__)


@dataclass
class FileCheck:
    """What `check_files` found: problems (errors), warnings per image, and each image's grid as read."""

    problems: list[Problem] = field(default_factory=list)
    warnings: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)  # (patient, modality, view)
    grids: dict = field(default_factory=dict)  # image path -> preprocess.Grid (2D spacing resolved)
    colour: dict = field(default_factory=dict)  # image path -> fraction of coloured pixels (RGB files)


def check_files(manifest: pd.DataFrame, manifest_path: str, preprocess: dict | None = None) -> FileCheck:
    """Every image and mask exists and reads completely, each mask lies on its image's grid by the
    rule preprocessing applies, holds an ROI (``preprocess.<MOD>.roi_label`` for multi-label
    masks) and keeps ``min_roi_voxels`` on the preprocessed grid (``spacing``).

    `preprocess` maps modality -> :class:`axilla.settings.Preprocess` (the schema's defaults otherwise): its
    `pixel_spacing` is the fallback for 2D files, its `align_tolerance_voxels` the tolerance. A
    mask within tolerance of its image passes with a warning (logged and kept in the result);
    beyond it is an error naming image, mask and row. Problems carry their patient and class
    (`unreadable`: a file missing, unreadable, without spacing, off its image's grid; `small_roi`),
    so that :mod:`axilla.validate.policy` can exclude the patient instead of stopping.
    """
    from ..settings import section

    preprocess = preprocess or {}
    result = FileCheck()
    files = _Files(manifest_path, result.problems)
    grids: dict = {}  # image path -> its Grid, None when it could not be read
    for r in manifest.itertuples(index=False):
        settings = preprocess.get(r.modality) or section(f"preprocess.{r.modality}")
        row_spacing = getattr(r, "pixel_spacing", "")
        row_spacing = parse_pixel_spacing(row_spacing) if isinstance(row_spacing, str) and row_spacing else None
        if r.image not in grids:
            grids[r.image] = _image_grid(r, row_spacing, settings, files, result)
        grid = grids[r.image]
        if not r.mask:  # an auto view's image without a manual mask (axilla.validate.manifest)
            continue
        if grid is None:  # a mask is read against its image; without one, only its presence is checked
            files.exists(r.mask, r, "mask")
            continue
        _check_mask(r, grid, settings, files, result)
    return result


@dataclass
class _Files:
    """Existence and complete reads of manifest files, problems reported at the manifest's row."""

    manifest_path: str
    problems: list[Problem]

    def unreadable(self, message: str, r, col: str) -> None:
        """A problem of class `unreadable` (validate.unreadable decides: stop, or exclude the patient)."""
        self.problems.append(Problem(self.manifest_path, message, r.row, col, r.patient_id, "unreadable"))

    def exists(self, p: str, r, col: str) -> bool:
        if not os.path.exists(p):
            self.unreadable(f"file not found: {p} (paths are relative to the manifest): fix the path or add the "
                            "file", r, col)
            return False
        return True

    def read(self, p: str, r, col: str, reader):
        """`reader(p)`, or None with the problem recorded when the file is missing or unreadable
        (or, a mask, gives no ROI); settings named in messages are the row's modality's."""
        if not self.exists(p, r, col):
            return None
        try:
            # Reading the pixels, not only the header, catches truncated and corrupt files here
            # rather than in the middle of the study.
            img = reader(p)
            if p.lower().endswith((".nii", ".nii.gz")):
                # ITK pads a truncated NIfTI with zeros without complaint; nibabel refuses it.
                import nibabel

                np.asanyarray(nibabel.load(p).dataobj)
        except RoiError as e:  # the ROI rule's verdict, or an annotation file's (segment absent)
            self.problems.append(Problem(self.manifest_path, f"mask {p} {e.verdict}".replace("<MOD>", r.modality),
                                         r.row, col, r.patient_id, e.category))
            return None
        except InputError as e:  # the reader's own verdict (no pixel spacing, no DICOM series)
            for q in e.problems:
                self.unreadable(f"{p}: {q.message}".replace("<MOD>", r.modality), r, col)
            return None
        except Exception as e:  # SimpleITK raises RuntimeError with a long ITK trace
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            first = first.replace(f" from {p}", "")
            self.unreadable(f"cannot read {p} ({first}): the file is damaged, truncated or not an image; export "
                            "it again", r, col)
            return None
        return img


def _image_grid(r, row_spacing, settings, files: _Files, result: FileCheck):
    """Read a manifest row's image completely; its Grid, or None when it could not be read."""
    from ..io import read_image
    from ..preprocess import Grid

    img = files.read(r.image, r, "image", lambda p: read_image(p, pixel_spacing=row_spacing, frame=settings.frame,
                                                               fallback_spacing=settings.pixel_spacing))
    if img is None:
        return None
    grid = result.grids[r.image] = Grid.of(img)
    if row_spacing is not None and img.GetDimension() != 2:
        result.problems.append(Problem(files.manifest_path, f"pixel_spacing is for 2D files; {r.image} is "
                                                            f"{img.GetDimension()}D and keeps its own spacing: "
                                                            "leave the cell empty", r.row, "pixel_spacing"))
    _colour_warning(r, img, result, files)
    return grid if _frame_chosen(r, img, settings, files) else None


def _frame_chosen(r, img, settings, files: _Files) -> bool:
    """False (the problem recorded) for a multi-frame DICOM file (a cine loop) of a 2D modality
    without its frame chosen."""
    from ..io import dicom_frames, is_dicom_file

    if r.modality != "MRI" and img.GetDimension() == 3 and settings.frame is None and is_dicom_file(r.image):
        n = dicom_frames(r.image)
        files.problems.append(Problem(files.manifest_path, f"{r.image} is a multi-frame DICOM ({n} frames, e.g. a cine "
                                                           f"loop) and {r.modality} images are 2D: choose the frame "
                                                           f"with preprocess.{r.modality}.frame (0 = first)",
                                      r.row, "image"))
        return False
    return True


def _colour_warning(r, img, result: FileCheck, files: _Files) -> None:
    """Colour overlays (callipers, Doppler boxes, text) on a grey image: a warning per image."""
    from ..io import colour_fraction, colour_warning

    fraction = result.colour[r.image] = colour_fraction(img)
    if fraction > 0:
        warning = colour_warning(fraction)
        result.warnings.setdefault((r.patient_id, r.modality, r.view), []).append(warning)
        log.warning("%s, row %d: %s: %s", files.manifest_path, r.row, r.image, warning)


def _check_mask(r, grid, settings, files: _Files, result: FileCheck) -> None:
    """A manifest row's mask: readable, holding an ROI (the configured label or segment), on its
    image's grid (by the preprocessing rule) and keeping enough voxels after resampling."""
    from ..preprocess import judge_alignment, read_roi

    roi = files.read(r.mask, r, "mask", lambda p: read_roi(p, grid, settings.label_for(r.view), r.image))
    if roi is None:
        return
    # Preprocessing aligns masks with one phase of a 4D DCE series.
    target = grid.leading(3) if grid.dimension == 4 and roi.GetDimension() == 3 else grid
    verdict = judge_alignment(target, roi, r.image, r.mask, settings.align_tolerance_voxels)
    if verdict.action == "refuse":
        files.unreadable(verdict.message, r, "mask")
        return
    if verdict.action == "resample":
        warning = f"rater {r.rater}: {verdict.message}"
        result.warnings.setdefault((r.patient_id, r.modality, r.view), []).append(warning)
        log.warning("%s, row %d: %s", files.manifest_path, r.row, warning)
    _colour_in_roi(r, roi, target, settings, files, result)
    problem = _size_problem(roi, r, settings, target)
    if problem:
        result.problems.append(Problem(files.manifest_path, f"mask {r.mask} {problem}", r.row, "mask", r.patient_id,
                                       "small_roi"))


def _colour_in_roi(r, roi, grid, settings, files: _Files, result: FileCheck) -> None:
    """The share of the ROI's pixels that are coloured, added to the image's colour warning.

    A warning, not a problem: callipers drawn on the lesion border are common in exported US and
    barely touch the ROI; a colour Doppler box over the lesion replaces its texture, which the
    warning's ROI fraction and the qc overlay show."""
    from ..io import colour_pixels, colour_roi_warning

    if not result.colour.get(r.image):
        return
    colour = colour_pixels(r.image, settings.frame)
    on_grid = _resampled(roi, grid)
    inside = float(colour[on_grid != 0].mean()) if colour is not None and on_grid.any() else 0.0
    if inside > 0:
        warning = colour_roi_warning(r.rater, inside)
        result.warnings.setdefault((r.patient_id, r.modality, r.view), []).append(warning)
        log.warning("%s, row %d: %s: %s", files.manifest_path, r.row, r.mask, warning)


def _resampled(roi, grid) -> np.ndarray:
    """A 0/1 ROI's array on `grid` (nearest neighbour), as preprocessing places it."""
    import SimpleITK as sitk

    out = sitk.Resample(roi, [int(v) for v in grid.size], sitk.Transform(), sitk.sitkNearestNeighbor,
                        grid.origin, grid.spacing, grid.direction, 0, sitk.sitkUInt8)
    return sitk.GetArrayFromImage(out)


def _size_problem(roi, r, settings, grid) -> str | None:
    """The ROI's voxel count on the grid preprocessing will resample to, against the limit."""
    n = predicted_roi_voxels(roi, grid, settings.spacing)
    if n < settings.min_roi_voxels:
        where = f"after resampling to {list(settings.spacing)} mm" if settings.spacing else "on the image grid"
        return (f"(rater {r.rater}): the ROI has {n} voxel(s) {where}, below preprocess.{r.modality}.min_roi_voxels "
                f"({settings.min_roi_voxels}, also pyradiomics' minimumROISize): too small for radiomics")
    return None


def predicted_roi_voxels(roi, grid, spacing) -> int:
    """ROI voxels on the preprocessed grid: the mask resampled (nearest neighbour) onto the image's
    grid at ``spacing`` (None: the image's own grid), as preprocessing resamples it."""
    from ..preprocess import Grid

    if spacing is not None:
        old = np.asarray(grid.spacing, float)
        size = np.maximum(1, np.round(np.asarray(grid.size) * old / np.asarray(spacing, float))).astype(int)
        grid = Grid(tuple(int(v) for v in size), tuple(float(v) for v in spacing), grid.origin, grid.direction)
    return int(_resampled(roi, grid).sum())


def params_problems(params: dict[str, str], preprocess: dict) -> list[Problem]:
    """A pyradiomics parameter file's ``label`` or ``minimumROISize`` that disagrees with what
    axilla sets itself (ROIs are written 0/1, so label 1; the size limit is ``min_roi_voxels``)."""
    import yaml

    problems = []
    for modality, path in sorted(params.items()):
        p = Path(path)
        setting = ((yaml.safe_load(p.read_text()) or {}).get("setting") or {}) if p.exists() else {}
        limit = preprocess[modality].min_roi_voxels
        if setting.get("label", 1) != 1:
            problems.append(Problem(path, f"setting 'label: {setting['label']}': axilla writes every ROI as 0/1 and "
                                          f"gives pyradiomics label 1; remove it (a multi-label mask's ROI is chosen "
                                          f"with preprocess.{modality}.roi_label)"))
        if setting.get("minimumROISize", limit) != limit:
            problems.append(Problem(path, f"setting 'minimumROISize: {setting['minimumROISize']}' disagrees with "
                                          f"preprocess.{modality}.min_roi_voxels ({limit}), the one ROI size limit "
                                          "axilla passes to pyradiomics: remove it or set the same value"))
    return problems
