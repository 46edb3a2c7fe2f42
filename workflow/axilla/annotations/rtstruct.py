"""DICOM RT Structure Sets (RTSTRUCT): closed planar contours in patient coordinates, rasterised onto
the image grid.

Each contour's points (LPS mm) become continuous indices of the image; a contour lies on one slice
(within `SLICE_TOLERANCE`), and the pixels whose centres are inside or on it are filled
(scikit-image's `polygon`). Contours of one ROI on the same slice combine by exclusive or, so a
contour inside another is a hole (the even-odd rule of the RTSTRUCT exporters). The ROI is chosen
by its name (ROIName) or number (ROINumber).
"""

from __future__ import annotations

import numpy as np

from ..errors import ForeignAnnotationError
from .common import beyond_extent, choose, continuous_index, dicom_header, empty_check

SLICE_TOLERANCE = 0.1  # voxels off an image slice that a contour's points may lie


def read_roi(path: str, grid, label: int | str | None, image_path: str | None = None):
    """The ROI `label` chooses (an ROIName, or an ROINumber; None: the only ROI) as a 0/1 image on
    the 3D `grid`."""
    import pydicom
    import SimpleITK as sitk

    ds = pydicom.dcmread(str(path))
    rois = list(ds.get("StructureSetROISequence", []))
    roi = rois[choose([(int(r.ROINumber), str(r.ROIName)) for r in rois], label, "ROI", path)]
    if grid.dimension != 3:
        raise ForeignAnnotationError(path, f"is an RTSTRUCT (contours in patient coordinates) and image {image_path} is 2D: "
                             "give the 3D series the contours were drawn on")
    _check_frame_of_reference(roi, dicom_header(image_path), path, image_path)
    mask = np.zeros(tuple(grid.size[::-1]), bool)
    for contour in _contours(ds, int(roi.ROINumber)):
        _fill(mask, contour, grid, path, image_path)
    out = sitk.GetImageFromArray(mask.astype(np.uint8))
    out.SetSpacing(tuple(grid.spacing))
    out.SetOrigin(tuple(grid.origin))
    out.SetDirection(tuple(grid.direction))
    return empty_check(out, path, f"ROI '{roi.ROIName}'")


def _check_frame_of_reference(roi, header, path: str, image_path: str | None) -> None:
    """Contours and a DICOM image must share the frame of reference (the same patient space)."""
    theirs = str(roi.get("ReferencedFrameOfReferenceUID", ""))
    ours = str(header.get("FrameOfReferenceUID", "")) if header is not None else ""
    if theirs and ours and theirs != ours:
        raise ForeignAnnotationError(path, f"has ROI '{roi.ROIName}' in frame of reference {theirs}, not that of image {image_path} "
                             f"({ours}): export the RTSTRUCT drawn on this image's series")


def _contours(ds, number: int) -> list:
    """The closed planar contours of ROI `number` (points and open contours outline nothing)."""
    out = []
    for item in ds.get("ROIContourSequence", []):
        if int(item.ReferencedROINumber) == number:
            out += [c for c in item.get("ContourSequence", []) if c.get("ContourGeometricType") == "CLOSED_PLANAR"]
    return out


def _fill(mask: np.ndarray, contour, grid, path: str, image_path: str | None) -> None:
    """XOR one contour's filled polygon into its slice of the (z, y, x) mask."""
    from skimage.draw import polygon

    index = continuous_index(np.asarray(contour.ContourData, float).reshape(-1, 3), grid)
    k = int(round(float(index[:, 2].mean())))
    if np.abs(index[:, 2] - k).max() > SLICE_TOLERANCE:
        raise ForeignAnnotationError(path, f"has a contour between or across the slices of image {image_path} (slice indices "
                             f"{index[:, 2].min():.3g} to {index[:, 2].max():.3g}): export the RTSTRUCT drawn on "
                             "this image's series")
    off = beyond_extent(index, grid)
    if off > 0.5:  # a contour may run along the outer edge of the border voxels
        raise ForeignAnnotationError(path, f"has a contour {off:.3g} voxels outside image {image_path}: it belongs to another "
                             "image; export the RTSTRUCT drawn on this image's series")
    rows, cols = polygon(index[:, 1], index[:, 0], shape=mask.shape[1:])
    mask[k, rows, cols] ^= True
