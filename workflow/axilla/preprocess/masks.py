"""Masks against their image: the geometry rule (compare grids, realign or refuse), ROI label and
border checks. Shared by validation (on grids, no pixels held) and preprocessing."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, Problem, RoiError
from ..io import RASTER_SUFFIXES, read_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Grid:
    """A voxel grid without pixels (size, spacing, origin, direction): what the geometry rule compares.

    Validation keeps grids rather than images so that checking a whole cohort holds no pixels.
    """

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image) -> "Grid":
        if isinstance(image, Grid):
            return image
        return cls(tuple(image.GetSize()), tuple(image.GetSpacing()), tuple(image.GetOrigin()),
                   tuple(image.GetDirection()))

    @property
    def dimension(self) -> int:
        return len(self.size)

    def leading(self, d: int) -> "Grid":
        """The grid of the first `d` axes: one phase of a 4D DCE series, as `dce_select` extracts it."""
        n = self.dimension
        direction = np.asarray(self.direction).reshape(n, n)[:d, :d]
        return Grid(self.size[:d], self.spacing[:d], self.origin[:d], tuple(direction.ravel()))

    def physical(self, index: np.ndarray) -> np.ndarray:
        """Physical points of continuous indices (n, d), as ITK: origin + D diag(spacing) index."""
        d = self.dimension
        direction = np.asarray(self.direction, float).reshape(d, d)
        return np.asarray(self.origin, float) + (np.asarray(index, float) * np.asarray(self.spacing)) @ direction.T


def geometry_mismatch(image, mask) -> float:
    """Largest displacement, in image voxels along the image axes, between corresponding corners
    of the two grids' physical extents (voxel-centre corners). 0 for identical grids; a one-voxel
    origin shift gives 1; a different size, spacing or direction gives the extent difference.

    `image` and `mask` are SimpleITK images or `Grid`s.
    """
    image, mask = Grid.of(image), Grid.of(mask)
    if image.dimension != mask.dimension:
        return float("inf")

    def corners(g: Grid):
        size = np.asarray(g.size) - 1
        idx = np.array(np.meshgrid(*[[0, s] for s in size], indexing="ij")).reshape(g.dimension, -1).T
        return g.physical(idx)

    delta = corners(mask) - corners(image)
    direction = np.asarray(image.direction).reshape(image.dimension, -1)
    in_voxels = (delta @ direction) / np.asarray(image.spacing)  # onto the image axes
    return float(np.abs(in_voxels).max())


@dataclass(frozen=True)
class Alignment:
    """Verdict of the image/mask geometry rule, shared by validation and preprocessing."""

    action: str  # "same" (grids identical), "resample" (within tolerance) or "refuse"
    offset: float  # geometry_mismatch in image voxels
    message: str | None = None  # the warning ("resample") or the error ("refuse")


def judge_alignment(image, mask, image_path: str, mask_path: str, tolerance_voxels: float) -> Alignment:
    """The one rule for an image and its mask: identical grids (to 1e-3 voxel) pass; corners up to
    `tolerance_voxels` image voxels apart are realigned (resampled, warned about); anything larger
    means the mask belongs to another image or export, and is refused naming both files."""
    image, mask = Grid.of(image), Grid.of(mask)
    if image.dimension != mask.dimension:
        return Alignment("refuse", float("inf"), f"mask {mask_path} is {mask.dimension}D and image {image_path} is "
                                                 f"{image.dimension}D: export the mask from the same series as "
                                                 "the image")
    off = geometry_mismatch(image, mask)
    if off <= 1e-3 and mask.size == image.size:
        return Alignment("same", off)
    describe = (f"mask {mask_path} (size {mask.size}, spacing {_fmt(mask.spacing)}, origin {_fmt(mask.origin)}) "
                f"and image {image_path} (size {image.size}, spacing {_fmt(image.spacing)}, origin "
                f"{_fmt(image.origin)})")
    if off > tolerance_voxels:
        return Alignment("refuse", off, f"{describe} cover different physical extents (corners up to {off:.3g} "
                                        f"voxels apart, tolerance {tolerance_voxels:g}): export the mask from "
                                        "the same series as the image")
    return Alignment("resample", off, f"{describe} differ by {off:.3g} voxels; mask resampled onto the image "
                                      "grid (nearest neighbour)")


def read_mask(path: str, image):
    """Read a mask for `image` (a SimpleITK image or `Grid`).

    A raster mask (PNG/JPEG/TIFF/BMP export) has no geometry of its own - a drawing tool's
    72 dpi is not a pixel spacing - so it takes the image's spacing, origin and direction and
    only its size is compared. A 2D DICOM mask without spacing tags falls back to the image's.
    """
    from pathlib import Path

    grid = Grid.of(image)
    if Path(path).suffix.lower() in RASTER_SUFFIXES:
        # (1, 1) only lets a 2D raster mask of a 3D image be read: judge_alignment refuses it.
        mask = read_image(path, pixel_spacing=grid.spacing if grid.dimension == 2 else (1.0, 1.0))
        if mask.GetDimension() == grid.dimension:
            mask.SetSpacing(grid.spacing)
            mask.SetOrigin(grid.origin)
            mask.SetDirection(grid.direction)
        return mask
    return read_image(path, fallback_spacing=grid.spacing if grid.dimension == 2 else None)


def align_mask(mask, image, mask_path: str, image_path: str, tolerance_voxels: float):
    """Put a mask on the image grid by `judge_alignment`. Returns (mask, warning or None); a refused
    mask raises InputError naming both files."""
    import SimpleITK as sitk

    verdict = judge_alignment(image, mask, image_path, mask_path, tolerance_voxels)
    if verdict.action == "refuse":
        raise InputError(Problem(mask_path, verdict.message))
    if verdict.action == "same":
        mask = sitk.Image(mask)
        mask.CopyInformation(image)
        return mask, None
    log.warning("%s", verdict.message)
    return (sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, mask.GetPixelID()),
            verdict.message)


def _fmt(v) -> str:
    return "(" + ", ".join(f"{x:.4g}" for x in v) + ")"


def roi_problem(arr: np.ndarray, label: int | str | None) -> str | None:
    """Why a mask array holds no ROI under the one ROI rule, or None when it does.

    The rule (validation and preprocessing apply it alike): a mask with a single nonzero value is
    the ROI whatever that value (0/1, 0/255 as annotation tools export); a multi-label mask needs
    the configured label (``preprocess.<MOD>.roi_label``), whose voxels are the ROI. A label that
    is a name chooses a segment of an annotation file (:mod:`axilla.annotations`); a label image
    carries no names, so it then has to hold one value.
    """
    values = [v for v in np.unique(arr).tolist() if v != 0]
    if not values:
        return "is empty (no nonzero voxel): segment the lesion or remove the row"
    shown = ", ".join(f"{v:g}" for v in values[:10])
    if isinstance(label, str) and len(values) > 1:
        return (f"holds several labels ({shown}) and no segment names (roi_label '{label}' names a segment of a "
                ".seg.nrrd, DICOM SEG or RTSTRUCT file): give the ROI's value in preprocess.<MOD>.roi_label")
    if label is None and len(values) > 1:
        return (f"holds several labels ({shown}): name the ROI's label in preprocess.<MOD>.roi_label "
                "(one label, or one per view)")
    if isinstance(label, int) and label not in values:
        return (f"has no voxel with the ROI label {label} (labels present: {shown}): relabel the mask or change "
                "preprocess.<MOD>.roi_label")
    return None


def select_label(mask, label: int | str | None, mask_path: str):
    """Binary uint8 ROI (0/1) of a mask under the one ROI rule (:func:`roi_problem`)."""
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(mask)
    problem = roi_problem(arr, label)
    if problem:
        raise RoiError(mask_path, problem)
    roi = arr == label if isinstance(label, int) else arr != 0
    out = sitk.GetImageFromArray(roi.astype(np.uint8))
    out.CopyInformation(mask)
    return out


def read_roi(path: str, image, label: int | str | None, image_path: str | None = None):
    """The ROI (0/1 uint8) a mask file gives for `image` (a SimpleITK image or `Grid`), validation's
    and preprocessing's one reader.

    A label image (NIfTI, NRRD, MHA, PNG..., DICOM) gives the voxels of its ROI label on its own
    grid (`judge_alignment` / `align_mask` then place it); an annotation file (3D Slicer .seg.nrrd,
    DICOM SEG, RTSTRUCT) gives the segment named or numbered by `label` already on the image grid.
    `image_path` lets DICOM annotations check that they reference this image. Raises RoiError
    (no ROI) or InputError (unreadable).
    """
    from .. import annotations

    if annotations.kind(path):
        grid = Grid.of(image)
        return annotations.read_roi(path, grid.leading(3) if grid.dimension == 4 else grid, label, image_path)
    return select_label(read_mask(path, image), label, path)


def touches_border(mask_arr: np.ndarray) -> list[str]:
    """Image axes (x, y, z) along which the ROI reaches the first or last voxel."""
    names = "xyz"[: mask_arr.ndim][::-1]  # numpy axis order is (z,) y, x
    out = []
    for ax, name in enumerate(names):
        if np.take(mask_arr, 0, axis=ax).any() or np.take(mask_arr, -1, axis=ax).any():
            out.append(name)
    return sorted(out)
