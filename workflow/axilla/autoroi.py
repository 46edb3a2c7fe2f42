"""Automatic ROIs (``roi.source: <MOD_view>: auto``): the segment stage's fused masks as the ROI of a
view's radiomics and deep features, for every patient of the view.

Training patients' masks are out-of-fold and held-out patients' come from networks trained on all
training patients (axilla.segment.folds), so no feature is computed on a mask drawn by a network
that saw that patient's manual mask. Manual masks then only evaluate the segmentation; the other
raters' masks still feed the ICC filter (the by-rater radiomics table keeps the manual masks only).

The segment stage writes each mask on the preprocessed image's grid (its origin, spacing and
direction copied from preprocess/<patient>/<MOD_view>/image.nii.gz); :func:`on_grid` checks that
and resamples by nearest neighbour where a mask does not lie on it. A mask pyradiomics cannot use
(empty, one voxel or line, fewer voxels than ``preprocess.<MOD>.min_roi_voxels``) gives no
features for that image: its values are missing, imputed from training rows like any missing
feature, and segmentation/review.csv lists it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# The rater name of automatic-mask rows in per-image radiomics tables. Raters are path-safe ids that
# start with a letter or digit (axilla.validate.manifest.SAFE_ID), so no rater can take this name.
AUTO = "_auto"


def mask_path(segmentation_dir: str | Path, patient: str) -> Path:
    """The fused automatic mask of `patient` in a view's segmentation folder."""
    return Path(segmentation_dir) / f"{patient}.nii.gz"


def same_grid(a, b, tolerance: float = 1e-5) -> bool:
    """Whether SimpleITK images `a` and `b` have one size, spacing, origin and direction."""
    if a.GetSize() != b.GetSize():
        return False
    return all(np.allclose(f(a), f(b), rtol=tolerance, atol=tolerance)
               for f in (lambda x: x.GetSpacing(), lambda x: x.GetOrigin(), lambda x: x.GetDirection()))


def on_grid(mask, image):
    """`mask` (0/1) as a uint8 image on `image`'s grid: itself when it lies on it, otherwise
    resampled by nearest neighbour (logged: the segment stage writes on the image's grid)."""
    import SimpleITK as sitk

    mask = sitk.Cast(mask > 0, sitk.sitkUInt8)
    if same_grid(mask, image):
        mask.CopyInformation(image)  # within tolerance: take the image's exact geometry
        return mask
    log.warning("automatic mask of size %s, spacing %s is not on the image's grid (size %s, spacing %s): resampled "
                "by nearest neighbour", mask.GetSize(), mask.GetSpacing(), image.GetSize(), image.GetSpacing())
    return sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def read_mask(path: str | Path, image):
    """The automatic mask file `path` on `image`'s grid; a missing file is an error that says why."""
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no automatic mask of this patient; the segment stage writes one per "
                                "patient of the view that validation kept")
    return on_grid(sitk.ReadImage(str(path)), image)


def ring_of(mask, image, ring_mm: float):
    """The peritumoral ring of an automatic mask, as preprocessing makes the manual masks' rings."""
    import SimpleITK as sitk

    from .roi import peritumoral_ring

    ring = sitk.GetImageFromArray(peritumoral_ring(sitk.GetArrayViewFromImage(mask), image.GetSpacing()[::-1],
                                                   ring_mm).astype(np.uint8))
    ring.CopyInformation(image)
    return ring


def radiomics_args(segmentation, patient: str, ring_mm: float | None) -> str:
    """The radiomics command's options for an image of an auto view (`segmentation`: [the view's
    segmentation folder]); '' for a manual view (an empty list)."""
    import shlex

    if not segmentation:
        return ""
    args = f"--auto-mask {shlex.quote(str(mask_path(segmentation[0], patient)))}"
    return args + (f" --ring-mm {ring_mm!r}" if ring_mm else "")
