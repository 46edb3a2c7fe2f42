"""Perturbed copies of one ROI mask, for feature robustness when a view has one rater only.

After Zwanenburg et al. 2019 ("Assessing robustness of radiomic features by image perturbation",
Sci Rep 9:614): the primary rater's mask is perturbed in ways a second delineation might differ,
each perturbed mask's features are extracted as a pseudo-rater (`~erode`, `~dilate`, `~contour1`,
...; `~` never occurs in a real rater name, which validate restricts to letters, digits, `_.-`) and
the ICC across the original and its perturbations judges each feature (axilla.reproducibility).

Kinds (`reproducibility.perturbation.kinds`):
- `erode` / `dilate`: volume adaptation by one voxel, binary erosion / dilation with the
  face-connected cross (4-neighbourhood in-plane for 2D images, 6-neighbourhood for 3D volumes).
  An erosion that would leave the ROI below the study's size limit (a 1-voxel-thick ROI would
  vanish) is skipped and logged.
- `contour`: contour randomisation, `reproducibility.perturbation.contours` times (see
  :func:`randomise_contour`).

Arrays are in SimpleITK's axis order; `axes` names the spatial axes to perturb along (a
one-slice volume, or a volume pyradiomics extracts slice-wise with force2D, is perturbed in-plane).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

log = logging.getLogger(__name__)

KINDS = ("erode", "dilate", "contour", "ensemble")
GEOMETRIC = ("erode", "dilate", "contour")  # drawn here; `ensemble`: the segment stage's networks' masks
PREFIX = "~"
# Contour randomisation: boundary displacement SD and the noise field's correlation length, voxels.
AMPLITUDE = 1.0
CORRELATION = 2.0


def rater_names(kinds: Sequence[str], contours: int) -> list[str]:
    """Pseudo-rater names of the configured perturbations, in the order they are extracted."""
    names = []
    for kind in KINDS:  # ensemble members are named by their networks (radiomics.perturbed_rois)
        if kind in kinds and kind in GEOMETRIC:
            names += [f"{PREFIX}contour{i + 1}" for i in range(contours)] if kind == "contour" else [PREFIX + kind]
    return names


def is_perturbation(rater: str) -> bool:
    return str(rater).startswith(PREFIX)


def spatial_axes(shape: Sequence[int], flat_axis: int | None = None) -> tuple[int, ...]:
    """Axes to perturb along: those longer than one voxel, less `flat_axis` (force2D's axis)."""
    return tuple(a for a, n in enumerate(shape) if n > 1 and a != flat_axis)


def structure(ndim: int, axes: Sequence[int]) -> np.ndarray:
    """The face-connected cross over `axes` only (no neighbour along the other axes)."""
    s = np.zeros((3,) * ndim, dtype=bool)
    centre = (1,) * ndim
    s[centre] = True
    for a in axes:
        for step in (0, 2):
            idx = list(centre)
            idx[a] = step
            s[tuple(idx)] = True
    return s


def erode(mask: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    mask = np.asarray(mask) != 0
    return ndimage.binary_erosion(mask, structure(mask.ndim, axes))


def dilate(mask: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    mask = np.asarray(mask) != 0
    return ndimage.binary_dilation(mask, structure(mask.ndim, axes))


def contour_seed(study_seed: int, image_id: str, index: int) -> np.random.SeedSequence:
    """The seed of one image's `index`-th contour randomisation: study seed, image id, index
    (crc32 of the id: stable across Python processes, unlike hash())."""
    return np.random.SeedSequence([int(study_seed), zlib.crc32(image_id.encode()), int(index)])


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Distance to the boundary in voxels, positive inside, negative outside; the boundary
    between an ROI voxel and a background voxel lies at 0 (each is 0.5 from it)."""
    inside = ndimage.distance_transform_edt(mask)
    outside = ndimage.distance_transform_edt(~mask)
    return np.where(mask, inside - 0.5, 0.5 - outside)


def _crop(mask: np.ndarray, axes: Sequence[int], margin: int) -> tuple[slice, ...]:
    """The mask's bounding box plus `margin` voxels along `axes`, clipped to the array."""
    box = []
    for a in range(mask.ndim):
        hit = np.flatnonzero(mask.any(axis=tuple(b for b in range(mask.ndim) if b != a)))
        lo, hi = int(hit[0]), int(hit[-1]) + 1
        pad = margin if a in axes else 0
        box.append(slice(max(0, lo - pad), min(mask.shape[a], hi + pad)))
    return tuple(box)


def randomise_contour(mask: np.ndarray, seed, axes: Sequence[int], amplitude: float = AMPLITUDE,
                      correlation: float = CORRELATION) -> np.ndarray:
    """A randomised contour of `mask`: its boundary moved by smooth noise of about `amplitude` voxels.

    Method: the signed distance to the boundary plus a Gaussian random field (white noise smoothed
    by a Gaussian of `correlation` voxels along `axes`, scaled to SD `amplitude`), thresholded at
    the level that keeps the original voxel count; then as many connected components as the
    original has (the largest), holes filled. Why this, not Zwanenburg's supervoxels: it perturbs
    only the boundary (where raters disagree), by a displacement whose size and smoothness are
    two explicit numbers in voxels, for 2D and 3D alike, without a supervoxel library; keeping the
    voxel count leaves volume change to erosion/dilation, so the two kinds probe different things.
    Deterministic for a seed (numpy's PCG64, scipy filters). Noise is drawn on the mask's
    bounding box plus a margin that a boundary move of 4 SD cannot leave.
    """
    mask = np.asarray(mask) != 0
    if not mask.any():
        raise ValueError("randomise_contour: the ROI mask is empty")
    box = _crop(mask, axes, int(np.ceil(4 * amplitude)) + 2)
    m = mask[box]
    rng = np.random.default_rng(seed)
    sigma = [correlation if a in axes else 0.0 for a in range(m.ndim)]
    field = ndimage.gaussian_filter(rng.standard_normal(m.shape), sigma, mode="reflect")
    field *= amplitude / max(field.std(), 1e-12)
    level = _signed_distance(m) + field
    n = int(m.sum())
    # the n highest voxels (ties broken by a stable order): the original voxel count
    order = np.argsort(-level, axis=None, kind="stable")
    new = np.zeros(m.size, dtype=bool)
    new[order[:n]] = True
    new = _as_components(new.reshape(m.shape), m, axes)
    out = np.zeros_like(mask)
    out[box] = new
    return out


def _as_components(new: np.ndarray, original: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """The largest components of `new`, as many as `original` has, with holes filled."""
    s = structure(new.ndim, axes)
    _, n_orig = ndimage.label(original, s)
    labels, n = ndimage.label(new, s)
    if n > n_orig:
        sizes = ndimage.sum(new, labels, index=np.arange(1, n + 1))
        keep = 1 + np.argsort(-sizes, kind="stable")[:n_orig]
        new = np.isin(labels, keep)
    return ndimage.binary_fill_holes(new, s)


def perturbed_masks(mask: np.ndarray, kinds: Sequence[str], contours: int, study_seed: int, image_id: str,
                    axes: Sequence[int], min_voxels: int = 1) -> dict[str, np.ndarray]:
    """Pseudo-rater name -> perturbed mask (bool) of one image's primary-rater mask.

    A perturbation leaving fewer than `min_voxels` (at least 1) is skipped with a log line:
    pyradiomics would refuse it, and an ICC over the image's other masks still stands."""
    mask = np.asarray(mask) != 0
    floor = max(1, int(min_voxels or 1))
    out = {}
    for name in rater_names(kinds, contours):
        kind = name[len(PREFIX):]
        if kind == "erode":
            m = erode(mask, axes)
        elif kind == "dilate":
            m = dilate(mask, axes)
        else:
            index = int(kind[len("contour"):])
            m = randomise_contour(mask, contour_seed(study_seed, image_id, index), axes)
        if int(m.sum()) < floor:
            log.warning("%s: perturbation %s leaves %d voxels (fewer than %d of %d): skipped", image_id, name,
                        int(m.sum()), floor, int(mask.sum()))
            continue
        out[name] = m
    return out
