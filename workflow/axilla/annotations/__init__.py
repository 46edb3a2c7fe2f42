"""Annotation files as annotation tools export them, read to the ROI their NIfTI equivalent holds.

- 3D Slicer segmentations (`.seg.nrrd`; `slicer`): named segments, possibly cropped and layered.
- DICOM SEG (`dicomseg`): binary, fractional or label-map segments; 2D frames by SOP Instance UID,
  3D frames by plane position.
- DICOM RTSTRUCT (`rtstruct`): closed planar contours, rasterised onto the image grid.

The ROI is chosen by ``preprocess.<MOD>.roi_label``: a name (segment / ROI name) or an integer
(segment number, Slicer label value, ROI number); a file with one segment needs none. Every
reader returns a 0/1 uint8 image on the image's grid, or raises RoiError saying what the file
holds and what to change. `axilla.preprocess.read_roi` dispatches here by `kind`.
"""

from __future__ import annotations

from pathlib import Path

from . import dicomseg, rtstruct, slicer

# DICOM Modality of the annotation objects
_DICOM_KINDS = {"SEG": "dicom-seg", "RTSTRUCT": "rtstruct"}
_READERS = {"slicer": slicer.read_roi, "dicom-seg": dicomseg.read_roi, "rtstruct": rtstruct.read_roi}


def kind(path: str) -> str | None:
    """'slicer', 'dicom-seg' or 'rtstruct' for an annotation file, None for a label image."""
    from ..io import is_dicom_file

    p = Path(path)
    if p.name.lower().endswith(".seg.nrrd"):
        return "slicer"
    if p.is_file() and is_dicom_file(p):
        import pydicom  # only for DICOM masks: per-image jobs of other formats do without it

        return _DICOM_KINDS.get(str(pydicom.dcmread(str(p), stop_before_pixels=True).get("Modality", "")))
    return None


def read_roi(path: str, grid, label: int | str | None, image_path: str | None = None):
    """The ROI of annotation file `path` for the image on `grid`, as a 0/1 image on that grid."""
    return _READERS[kind(path)](str(path), grid, label, image_path)


__all__ = ["dicomseg", "kind", "read_roi", "rtstruct", "slicer"]
