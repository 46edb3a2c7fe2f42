"""ROI crops for the deep models: largest slice, mask bounding box + margin, resize, min-max scale.

Pure numpy/scipy; arrays are in SimpleITK's axis order (z, y, x) for 3D and (y, x) for 2D.
Any nonzero mask voxel counts as ROI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _check_pair(image: np.ndarray, mask: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(image)
    mask = np.asarray(mask) != 0
    if image.shape != mask.shape:
        raise ValueError(f"{what}: image shape {image.shape} and mask shape {mask.shape} differ")
    if not mask.any():
        raise ValueError(
            f"{what}: the ROI mask is empty (no nonzero voxel in a {'x'.join(map(str, mask.shape))} "
            "mask); check the mask file and that it belongs to this image"
        )
    return image, mask


def largest_slice(
    image3d: np.ndarray, mask3d: np.ndarray, axis: int = 0
) -> tuple[np.ndarray, np.ndarray, int]:
    """The slice (along `axis`) where the mask has the largest area; ties go to the lowest index."""
    image3d, mask3d = _check_pair(image3d, mask3d, "largest_slice")
    if image3d.ndim != 3:
        raise ValueError(f"largest_slice: expected a 3D image, got {image3d.ndim}D {image3d.shape}")
    other = tuple(a for a in range(3) if a != axis % 3)
    areas = mask3d.sum(axis=other)
    index = int(np.argmax(areas))
    return (
        np.take(image3d, index, axis=axis),
        np.take(mask3d, index, axis=axis).astype(np.uint8),
        index,
    )


def mask_bbox(mask: np.ndarray) -> list[tuple[int, int]]:
    """Per-axis [start, stop) of the nonzero voxels."""
    mask = np.asarray(mask) != 0
    if not mask.any():
        raise ValueError("mask_bbox: the ROI mask is empty")
    out = []
    for ax in range(mask.ndim):
        hit = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != ax)))
        out.append((int(hit[0]), int(hit[-1]) + 1))
    return out


def _per_axis(value, ndim: int, name: str) -> list[float]:
    if np.isscalar(value):
        return [float(value)] * ndim
    value = [float(v) for v in value]
    if len(value) != ndim:
        raise ValueError(f"{name} has {len(value)} entries for a {ndim}D image")
    return value


def crop_roi(
    image: np.ndarray,
    mask: np.ndarray,
    margin: int | float | Sequence[float] = 0,
    out_size: Sequence[int] | None = None,
    *,
    keep_aspect: bool = False,
    antialias: bool = True,
    interpolation: str = "linear",
) -> tuple[np.ndarray, dict]:
    """Crop the mask's bounding box plus `margin` voxels, resize to `out_size`, scale to [0, 1].

    Returns (crop float32, info). The box is clipped to the image and the part of it outside the
    image is padded with the image minimum, so the ROI keeps its place in the crop. A fractional
    margin is rounded up so the crop always holds at least the requested context.
    keep_aspect widens the shorter box sides (symmetrically) to the aspect of out_size so the
    resize does not stretch the lesion. antialias smooths before a downsampling resize (Gaussian,
    sigma = (factor - 1) / 2 as in scikit-image) to avoid aliasing from linear interpolation.
    interpolation="nearest" resizes by nearest neighbour without smoothing (seed 003: keeps the
    discrete grey values).
    """
    if interpolation not in ("linear", "nearest"):
        raise ValueError(f"interpolation must be 'linear' or 'nearest', got {interpolation!r}")
    image, mask, margins, out_size = _check_crop(image, mask, margin, out_size)
    bbox = mask_bbox(mask)
    box = _expanded_box(bbox, margins, out_size if keep_aspect else None)
    crop, pad, fill = _cut_padded(image, box)
    constant = bool(crop.min() == crop.max())  # judged before resampling adds rounding noise
    nearest = interpolation == "nearest"
    crop, zoom, sigma = _resize(crop, out_size, antialias and not nearest, order=0 if nearest else 1)
    crop, lo, hi = _min_max_scale(crop, constant)
    info = {
        "image_shape": list(image.shape),
        "bbox": [list(b) for b in bbox],  # mask bounding box, [start, stop) per axis
        "margin": margins,
        "box": [list(b) for b in box],  # expanded box actually cropped, may exceed the image
        "pad": [list(p) for p in pad],
        "pad_value": fill,
        "zoom": zoom,
        "antialias_sigma": sigma,
        "out_size": list(crop.shape),
        "scale": {"min": lo, "max": hi},
    }
    return crop.astype(np.float32), info


def _check_crop(image, mask, margin, out_size) -> tuple[np.ndarray, np.ndarray, list[int], tuple | None]:
    """crop_roi's arguments checked: (image, boolean mask, whole-voxel margins, out_size tuple)."""
    image, mask = _check_pair(image, mask, "crop_to_mask")
    ndim = image.ndim
    if ndim not in (2, 3):
        raise ValueError(f"crop_to_mask: expected a 2D or 3D image, got shape {image.shape}")
    margins = [int(math.ceil(m)) for m in _per_axis(margin, ndim, "margin")]
    if any(m < 0 for m in margins):
        raise ValueError(f"crop_to_mask: margin must be >= 0, got {margin}")
    if out_size is not None:
        out_size = tuple(int(s) for s in out_size)
        if len(out_size) != ndim or any(s < 1 for s in out_size):
            raise ValueError(f"crop_to_mask: out_size {out_size} does not fit a {ndim}D image")
    return image, mask, margins, out_size


def _expanded_box(bbox, margins: list[int], aspect_of: tuple | None) -> list[list[int]]:
    """The bounding box grown by the margins, then (aspect_of given) to that size's aspect."""
    box = [[lo - m, hi + m] for (lo, hi), m in zip(bbox, margins)]
    if aspect_of is not None:
        # Box edge per output voxel must be equal on every axis; grow the others to the largest.
        step = max((hi - lo) / s for (lo, hi), s in zip(box, aspect_of))
        for b, s in zip(box, aspect_of):
            extra = int(math.ceil(step * s)) - (b[1] - b[0])
            b[0] -= extra // 2
            b[1] += extra - extra // 2
    return box


def _cut_padded(image: np.ndarray, box) -> tuple[np.ndarray, list[tuple[int, int]], float]:
    """The box's voxels as float64, the part outside the image filled with the image minimum;
    also the padding per axis and that fill value."""
    # Part of the box that lies inside the image, and the padding needed around it.
    inner = tuple(slice(max(lo, 0), min(hi, n)) for (lo, hi), n in zip(box, image.shape))
    pad = [(max(0, -lo), max(0, hi - n)) for (lo, hi), n in zip(box, image.shape)]
    fill = float(image.min())
    crop = image[inner].astype(np.float64)
    if any(p != (0, 0) for p in pad):
        crop = np.pad(crop, pad, mode="constant", constant_values=fill)
    return crop, pad, fill


def _resize(crop: np.ndarray, out_size: tuple | None, antialias: bool, order: int = 1) -> tuple[np.ndarray, list, list]:
    """Linear (order 1) or nearest (0) resize to out_size (Gaussian pre-smoothing where it shrinks,
    if antialias); (crop, zoom, sigma)."""
    from scipy import ndimage  # 1 s of import on a busy node: only where needed, not per preprocess job

    zoom = [1.0] * crop.ndim
    sigma = [0.0] * crop.ndim
    if out_size is not None and crop.shape != out_size:
        zoom = [o / c for o, c in zip(out_size, crop.shape)]
        if antialias:
            sigma = [max(0.0, (1.0 / z - 1.0) / 2.0) for z in zoom]
            if any(s > 0 for s in sigma):
                crop = ndimage.gaussian_filter(crop, sigma, mode="nearest")
        # order=1: linear; grid_mode=False maps first/last voxel centres onto each other.
        crop = ndimage.zoom(crop, zoom, order=order, mode="nearest")
        if crop.shape != out_size:  # zoom rounds the shape; guard against an off-by-one
            raise RuntimeError(f"resize gave {crop.shape}, expected {out_size}")
    return crop, zoom, sigma


def _min_max_scale(crop: np.ndarray, constant: bool) -> tuple[np.ndarray, float, float]:
    """(crop scaled to [0, 1], its min and max before scaling); a constant crop becomes zeros."""
    lo, hi = float(crop.min()), float(crop.max())
    if not constant and hi > lo:
        crop = (crop - lo) / (hi - lo)
    else:  # a constant crop carries no contrast; zeros rather than a division by zero
        crop = np.zeros_like(crop)
    return crop, lo, hi


def crop_to_mask(
    image: np.ndarray,
    mask: np.ndarray,
    margin: int | float | Sequence[float] = 0,
    out_size: Sequence[int] | None = None,
    **kwargs,
) -> np.ndarray:
    """crop_roi without the record; see crop_roi."""
    return crop_roi(image, mask, margin, out_size, **kwargs)[0]


def peritumoral_ring(mask: np.ndarray, spacing: Sequence[float], ring_mm: float) -> np.ndarray:
    """Voxels outside the ROI within `ring_mm` millimetres of it (Euclidean, physical spacing).

    `spacing` is in the array's axis order. The ring is cut at the image edge; as the
    peritumoral region of the seeds it excludes the tumour itself.
    """
    mask = np.asarray(mask) != 0
    if not mask.any():
        raise ValueError("peritumoral_ring: the ROI mask is empty")
    if ring_mm <= 0:
        raise ValueError(f"peritumoral_ring: ring width must be > 0 mm, got {ring_mm}")
    from scipy import ndimage

    dist = ndimage.distance_transform_edt(~mask, sampling=[float(s) for s in spacing])
    return (dist > 0) & (dist <= ring_mm)
