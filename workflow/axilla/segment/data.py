"""Preprocessed 2D images to network inputs, and network outputs back to the image's own grid.

The whole image goes in (an automatic ROI must be found, not cropped around a known mask), resized
to `size` × `size`; probabilities come back resized to the image's shape, so masks are written and
evaluated on the preprocessed image's grid, pixel for pixel against the manual masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F


@dataclass
class Case:
    """One patient's preprocessed view: image and manual masks by rater (numpy, SimpleITK order)."""

    patient: str
    image: np.ndarray
    masks: dict  # rater -> uint8 array; the primary rater's trains and evaluates
    spacing: tuple  # mm per pixel, numpy axis order
    reference: object = None  # the SimpleITK image whose grid output masks take


def read_case(prep_dir: str | Path) -> Case:
    """A preprocess/<patient>/<MOD>_<view> folder: image.nii.gz and every mask-<rater>.nii.gz."""
    import SimpleITK as sitk

    prep_dir = Path(prep_dir)
    ref = sitk.ReadImage(str(prep_dir / "image.nii.gz"))
    image = sitk.GetArrayFromImage(ref).astype(np.float32)
    if image.ndim != 2:
        raise ValueError(f"{prep_dir}: segment handles 2D views; this image has shape {image.shape}")
    masks = {p.name[len("mask-"):-len(".nii.gz")]: (sitk.GetArrayFromImage(sitk.ReadImage(str(p))) > 0).astype(np.uint8)
             for p in sorted(prep_dir.glob("mask-*.nii.gz"))}
    return Case(prep_dir.parent.name, image, masks, tuple(ref.GetSpacing()[::-1]), ref)


def write_mask(mask: np.ndarray, reference, path: str | Path) -> None:
    """`mask` as uint8 NIfTI on `reference`'s grid (origin, spacing, direction); the stage writes
    into a temporary folder moved into place whole (axilla.io.atomic_path)."""
    import SimpleITK as sitk

    from ..io import write_image

    out = sitk.GetImageFromArray(mask.astype(np.uint8))
    out.CopyInformation(reference)
    write_image(out, path)


def to_input(image: np.ndarray, size: int) -> np.ndarray:
    """(1, size, size) float32: the image resized (bilinear, anti-aliased)."""
    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]
    return F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0].numpy()


def to_target(mask: np.ndarray, size: int) -> np.ndarray:
    """(1, size, size) float32 in {0, 1}: the mask's area fraction per input pixel, thresholded at 0.5."""
    t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    return (F.interpolate(t, size=(size, size), mode="area")[0] >= 0.5).float().numpy()


def to_grid(prob: np.ndarray, shape: tuple) -> np.ndarray:
    """A (size, size) probability map resized (bilinear) to the image's `shape`."""
    t = torch.from_numpy(np.ascontiguousarray(prob, dtype=np.float32))[None, None]
    return F.interpolate(t, size=tuple(shape), mode="bilinear", align_corners=False)[0, 0].numpy()
