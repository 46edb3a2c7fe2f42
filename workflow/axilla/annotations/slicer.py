"""3D Slicer segmentations (.seg.nrrd): named segments, read with slicerio.

Slicer stores a segmentation on its own grid (ijkToLPS), often cropped to the segments' extent, and
overlapping segments in separate layers (a 4D voxel array); slicerio's `segment_mask` gives one
segment's voxels whatever the layer, and `common.onto_grid` puts them on the image grid.
"""

from __future__ import annotations

from ..errors import ForeignAnnotationError
from .common import choose, empty_check, image_from_affine, onto_grid


def read_roi(path: str, grid, label: int | str | None, image_path: str | None = None):
    """The segment `label` names (a segment name, or its label value; None: the only segment) as a
    0/1 image on `grid`."""
    import slicerio

    try:
        segmentation = slicerio.read_segmentation(str(path))
    except (OSError, ValueError) as e:
        raise ForeignAnnotationError(path, f"is not a readable 3D Slicer segmentation ({e}): save it again from Slicer") from None
    segments = segmentation.get("segments", [])
    entries = [(int(s.get("labelValue", 1)), str(s.get("name", s.get("id", "")))) for s in segments]
    segment = segments[choose(entries, label, "segment", path)]
    voxels = slicerio.segment_mask(segmentation, segment)  # (i, j, k)
    roi = image_from_affine(voxels.transpose(2, 1, 0), segmentation["ijkToLPS"])
    return empty_check(onto_grid(roi, grid, path, image_path), path, f"segment '{segment.get('name')}'")
