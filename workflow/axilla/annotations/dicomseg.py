"""DICOM Segmentation objects (SEG), read with highdicom: binary, fractional or label-map segments.

The segment is chosen by its label (SegmentLabel) or number. A 2D image (one MG/US frame) takes
the SEG frame derived from it, found by its SOP Instance UID; a 3D image takes the SEG's frames as
a volume placed by their plane positions (`common.onto_grid`), which also serves images converted
from the DICOM series. Fractional segments count where their value is >= 0.5.
"""

from __future__ import annotations

import numpy as np

from ..errors import ForeignAnnotationError
from .common import choose, dicom_header, empty_check, image_from_affine, onto_grid

FRACTION_IN = 0.5  # a fractional SEG's voxel belongs to the ROI from this fraction on


def read_roi(path: str, grid, label: int | str | None, image_path: str | None = None):
    """The segment `label` chooses (a SegmentLabel, or a segment number; None: the only segment)
    as a 0/1 image on `grid`."""
    import highdicom as hd

    seg = hd.seg.segread(str(path))
    numbers = list(seg.segment_numbers)
    entries = [(n, str(seg.get_segment_description(n).segment_label)) for n in numbers]
    number, name = entries[choose(entries, label, "segment", path)]
    header = dicom_header(image_path)
    if grid.dimension == 2:
        roi = _frame_of(seg, number, header, grid, path, image_path)
    else:
        _check_series(seg, header, path, image_path)
        roi = onto_grid(_volume_of(seg, number, path), grid, path, image_path)
    return empty_check(roi, path, f"segment {number} '{name}'")


def _referenced(seg) -> tuple[set, set]:
    """(series UIDs, SOP instance UIDs) the SEG says it was derived from."""
    series, instances = set(), set()
    for s in seg.get("ReferencedSeriesSequence", []):
        series.add(str(s.SeriesInstanceUID))
        instances |= {str(i.ReferencedSOPInstanceUID) for i in s.get("ReferencedInstanceSequence", [])}
    return series, instances


def _check_series(seg, header, path: str, image_path: str | None) -> None:
    """A DICOM image's series must be one the SEG references (an image converted to NIfTI has no
    UIDs: its geometry alone decides)."""
    series, _ = _referenced(seg)
    if header is not None and series and str(header.get("SeriesInstanceUID")) not in series:
        raise ForeignAnnotationError(path, f"is a DICOM SEG of series {', '.join(sorted(series))}, not of image {image_path} "
                             f"(series {header.get('SeriesInstanceUID')}): export the SEG from this image's series")


def _frame_of(seg, number: int, header, grid, path: str, image_path: str | None):
    """The SEG frame derived from a 2D DICOM image, on its grid."""
    import SimpleITK as sitk

    if header is None:
        raise ForeignAnnotationError(path, f"is a DICOM SEG and image {image_path} is not DICOM: give the DICOM image the SEG "
                             "was made from as the manifest's image")
    uid = str(header.SOPInstanceUID)
    if uid not in _referenced(seg)[1]:
        raise ForeignAnnotationError(path, f"is a DICOM SEG that does not reference image {image_path} (SOP Instance UID {uid}): "
                             "export the SEG from this image")
    pixels = seg.get_pixels_by_source_instance([uid], segment_numbers=[number], assert_missing_frames_are_empty=True)
    plane = pixels[0, ..., 0] >= FRACTION_IN
    if plane.shape != tuple(grid.size[::-1]):
        raise ForeignAnnotationError(path, f"has {plane.shape[1]}x{plane.shape[0]} pixels and image {image_path} "
                             f"{grid.size[0]}x{grid.size[1]}: export the SEG from this image")
    roi = sitk.GetImageFromArray(plane.astype(np.uint8))
    roi.SetSpacing(tuple(grid.spacing))
    roi.SetOrigin(tuple(grid.origin))
    roi.SetDirection(tuple(grid.direction))
    return roi


def _volume_of(seg, number: int, path: str):
    """The segment's frames as a 3D image in patient coordinates (LPS)."""
    try:
        volume = seg.get_volume(segment_numbers=[number])
    except (ValueError, RuntimeError, KeyError) as e:
        raise ForeignAnnotationError(path, f"has frames that do not form a 3D volume ({e}): export the SEG of the whole "
                             "series") from None
    # highdicom's affine maps (slice, row, column) indices; SimpleITK's (x, y, z) are the reverse.
    affine = np.asarray(volume.affine)[:, [2, 1, 0, 3]]
    return image_from_affine(volume.array[..., 0] >= FRACTION_IN, affine)
