"""What the annotation readers share: choosing the ROI's segment by name or number, and putting an
annotation's voxels on the image grid (given as a `Grid`-like object: size, spacing, origin and
direction in SimpleITK's (x, y, z) order, LPS millimetres)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ForeignAnnotationError, RoiError

OUTSIDE_TOLERANCE = 1e-3  # voxels: ROI voxel centres this far beyond the image's extent are refused


@dataclass(frozen=True)
class Plane:
    """A grid (same fields as axilla.preprocess.Grid), for the 3D view of a 2D image's grid."""

    size: tuple
    spacing: tuple
    origin: tuple
    direction: tuple

    @property
    def dimension(self) -> int:
        return len(self.size)


def choose(entries: list[tuple[int, str]], label: int | str | None, what: str, path: str) -> int:
    """Index of the entry (number, name) that `label` chooses: None the only one, an integer by
    number, a string by name; otherwise RoiError listing what the file holds."""
    listing = ", ".join(f"{num} '{name}'" for num, name in entries)
    if not entries:
        raise RoiError(path, f"holds no {what}: export the segmentation again with the lesion in it")
    if label is None:
        if len(entries) == 1:
            return 0
        raise RoiError(path, f"holds {len(entries)} {what}s ({listing}): name the ROI's {what} in "
                             "preprocess.<MOD>.roi_label (its name, or its number)")
    hits = [i for i, (num, name) in enumerate(entries) if (name == label if isinstance(label, str) else num == label)]
    chosen = f"named '{label}'" if isinstance(label, str) else f"numbered {label}"
    if len(hits) > 1:
        raise RoiError(path, f"holds {len(hits)} {what}s {chosen} ({listing}): rename them so that one names the ROI, "
                             "or choose it by number in preprocess.<MOD>.roi_label")
    if not hits:
        raise RoiError(path, f"has no {what} {chosen} ({what}s present: {listing}): change "
                             "preprocess.<MOD>.roi_label to one of them")
    return hits[0]


def image_from_affine(arr_zyx: np.ndarray, affine):
    """A uint8 SimpleITK image of a (z, y, x) array whose (x, y, z) index the 4x4 `affine` maps to
    LPS millimetres (as 3D Slicer's ijkToLPS)."""
    import SimpleITK as sitk

    a = np.asarray(affine, float)[:3]
    spacing = np.linalg.norm(a[:, :3], axis=0)
    image = sitk.GetImageFromArray(np.ascontiguousarray(arr_zyx, dtype=np.uint8))
    image.SetSpacing(tuple(float(v) for v in spacing))
    image.SetDirection(tuple(float(v) for v in (a[:, :3] / spacing).ravel()))
    image.SetOrigin(tuple(float(v) for v in a[:, 3]))
    return image


def continuous_index(points: np.ndarray, grid) -> np.ndarray:
    """(n, d) physical points -> continuous (x, y, z) indices of `grid` (the inverse of ITK's
    origin + direction diag(spacing) index)."""
    d = grid.dimension
    m = np.asarray(grid.direction, float).reshape(d, d) * np.asarray(grid.spacing, float)
    return np.linalg.solve(m, (np.asarray(points, float) - np.asarray(grid.origin, float)).T).T


def beyond_extent(index: np.ndarray, grid) -> float:
    """How far (voxels) continuous indices lie outside the grid's voxels (0 when inside)."""
    size = np.asarray(grid.size, float)
    return float(np.max(np.maximum(0.0, np.maximum(-0.5 - index, index - (size - 0.5))), initial=0.0))


def onto_grid(roi, grid, path: str, image_path: str | None):
    """An annotation's ROI (SimpleITK image with its own geometry) on the image grid, nearest
    neighbour: exact where its voxel centres are the image's, as when it was drawn on that image,
    also when it is stored in a cropped extent. ROI voxels outside the image mean another image's
    annotation: RoiError. A 2D grid takes a single-slice annotation by pixel (`_onto_plane`)."""
    import SimpleITK as sitk

    if grid.dimension == 2:
        return _onto_plane(roi, grid, path, image_path)
    arr = sitk.GetArrayViewFromImage(roi)
    hit = np.argwhere(arr)
    if hit.size:
        corners = np.array([[c[2], c[1], c[0]] for c in (hit.min(axis=0), hit.max(axis=0))], float)
        box = np.array(np.meshgrid(*corners.T, indexing="ij")).reshape(3, -1).T
        points = np.array([roi.TransformContinuousIndexToPhysicalPoint(tuple(p)) for p in box])
        off = beyond_extent(continuous_index(points, grid), grid)
        if off > OUTSIDE_TOLERANCE:
            raise ForeignAnnotationError(path, f"has ROI voxels {off:.3g} voxels outside image {image_path or ''} (size "
                                 f"{tuple(grid.size)}): it belongs to another image; export it from this one")
    return sitk.Resample(roi, [int(v) for v in grid.size], sitk.Transform(), sitk.sitkNearestNeighbor,
                         tuple(grid.origin), tuple(grid.spacing), tuple(grid.direction), 0, sitk.sitkUInt8)


def _onto_plane(roi, grid, path: str, image_path: str | None):
    """A single-slice annotation of a 2D image, placed by pixel: 3D Slicer may have given the image
    another pixel spacing than axilla (1 mm for a PNG; axilla's may come from the config), so only
    the annotation's origin, in its own pixels, says where a cropped extent starts."""
    import SimpleITK as sitk

    if roi.GetDimension() != 3 or roi.GetSize()[2] != 1:
        raise ForeignAnnotationError(path, f"is {roi.GetDimension()}D with {roi.GetSize()[-1]} slices and image {image_path or ''} "
                             "is 2D: segment the 2D image itself (one slice)")
    direction = np.eye(3)
    direction[:2, :2] = np.asarray(grid.direction, float).reshape(2, 2)
    plane = Plane((*grid.size, 1), (*roi.GetSpacing()[:2], roi.GetSpacing()[2]),
                  (*grid.origin, roi.GetOrigin()[2]), tuple(direction.ravel()))
    on_plane = onto_grid(roi, plane, path, image_path)[:, :, 0]
    out = sitk.GetImageFromArray(sitk.GetArrayViewFromImage(on_plane))
    out.SetSpacing(tuple(grid.spacing))
    out.SetOrigin(tuple(grid.origin))
    out.SetDirection(tuple(grid.direction))
    return out


def empty_check(roi, path: str, what: str):
    """RoiError when the chosen segment has no voxel on the image grid."""
    import SimpleITK as sitk

    if not sitk.GetArrayViewFromImage(roi).any():
        raise RoiError(path, f"{what} is empty on the image grid: segment the lesion or remove the row")
    return roi


def dicom_header(image_path: str | None):
    """The image's DICOM header (first file of a series folder), None for other formats."""
    import pydicom

    from ..io import is_dicom_file

    if image_path is None:
        return None
    p = Path(image_path)
    files = sorted(f for f in p.iterdir() if is_dicom_file(f)) if p.is_dir() else ([p] if is_dicom_file(p) else [])
    return pydicom.dcmread(str(files[0]), stop_before_pixels=True) if files else None
