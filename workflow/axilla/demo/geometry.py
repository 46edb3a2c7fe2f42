"""Image grids and ROIs placed in them: the true mask and other raters' readings of it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .shapes import random_waves


@dataclass(frozen=True)
class Grid:
    shape: tuple  # numpy order
    spacing: tuple  # SimpleITK order

    @property
    def half_extent(self) -> np.ndarray:
        n = np.array(self.shape[::-1], dtype=float)
        return (n - 1) / 2 * np.array(self.spacing)

    @property
    def origin(self) -> tuple:
        # Centred on the physical origin so ROI centres are small offsets.
        return tuple(float(v) for v in -self.half_extent)

    def coords(self) -> list[np.ndarray]:
        """Physical coordinate arrays in SimpleITK axis order, each of numpy shape."""
        axes = [o + np.arange(n) * s for o, n, s in zip(self.origin, self.shape[::-1], self.spacing)]
        grids = np.meshgrid(*axes[::-1], indexing="ij")  # numpy order
        return grids[::-1]

    def sigma(self, mm) -> tuple:
        """Gaussian sigma in voxels (numpy order) for an isotropic physical width in mm."""
        return tuple(mm / s for s in self.spacing[::-1])


def smooth_noise(rng, grid: Grid, mm: float) -> np.ndarray:
    """Gaussian-correlated noise with unit sd. Smoothed in Fourier space: wide kernels cost the
    same as narrow ones, and the periodic boundary is harmless for a texture."""
    axes = tuple(range(len(grid.shape)))
    spectrum = np.fft.rfftn(rng.standard_normal(grid.shape), axes=axes)
    spectrum = ndimage.fourier_gaussian(spectrum, grid.sigma(mm), n=grid.shape[-1])
    field = np.fft.irfftn(spectrum, s=grid.shape, axes=axes)
    return field / (field.std() or 1.0)


_LUT_SIZE = 4096  # directions sampled for 2D ROIs; spicules (~9 degrees) span ~100 of them
_LUT_THETA = np.arange(_LUT_SIZE) * (2 * math.pi / _LUT_SIZE)


class Roi:
    """One ROI placed in one image: each voxel's distance from the ROI centre, and the ROI radius
    in that voxel's direction (``d <= R`` is the true mask)."""

    def __init__(self, shape_fn, grid: Grid, centre, basis: np.ndarray):
        self.shape_fn = shape_fn  # Lesion or Node
        self.grid = grid
        self.centre = np.asarray(centre, dtype=float)  # mm, SimpleITK order
        self.basis = basis  # (ndim, 3): image axes expressed in the lesion's own frame
        margin = np.maximum(2.0, 1.5 * np.array(grid.spacing))
        self.cap = float(np.min(grid.half_extent - np.abs(self.centre) - margin))
        self._coords = grid.coords()
        self.d, self.dirs = self._polar(np.zeros(len(self.centre)))
        # Evaluate the radius only near the ROI: outside, R = its upper bound, which is exact for
        # the mask and, with the pad, within 0.3 % of a blurred edge (expit(-6)) for rendering.
        far = min(self.cap, shape_fn.reach)
        near = np.nonzero(self.d <= far + 6 * getattr(shape_fn, "edge", 0.2) + 1.0)
        self.R = np.full(self.d.shape, far)
        self.R[near] = self.radius(shape_fn.radius, self.dirs[near])

    def _polar(self, shift):
        """Distances and direction keys: an angle in the image plane (2D) or unit vectors (3D)."""
        q = [c - (self.centre[i] + shift[i]) for i, c in enumerate(self._coords)]
        if len(q) == 2:
            return np.hypot(q[0], q[1]), np.arctan2(q[1], q[0])
        P = np.stack(q, axis=-1) @ self.basis
        d = np.linalg.norm(P, axis=-1)
        U = P / np.where(d > 0, d, 1.0)[..., None]
        return d, U

    def directional(self, fn, key) -> np.ndarray:
        """fn (a function of unit directions in the lesion frame) at the given direction keys."""
        if len(self.centre) == 2:
            # In a plane the radius depends on one angle only, so a lookup table is exact enough
            # and avoids evaluating the harmonics at every pixel.
            U = np.cos(_LUT_THETA)[:, None] * self.basis[0] + np.sin(_LUT_THETA)[:, None] * self.basis[1]
            return np.interp(key, _LUT_THETA, fn(U), period=2 * math.pi)
        return fn(key)

    def radius(self, fn, key) -> np.ndarray:
        return self._clip(self.directional(fn, key))

    def _clip(self, r):
        rmin = max(0.5 * self.shape_fn.rbar, 2.0)
        return np.clip(r, min(rmin, self.cap), self.cap)

    def mask(self) -> np.ndarray:
        return self.d <= self.R

    def rater_mask(self, rng, dice_range, shift_prob: float) -> np.ndarray:
        """Another reading of the same ROI: a smooth boundary displacement (and sometimes a small
        shift), its amplitude calibrated so Dice against the primary mask hits a drawn target."""
        target = rng.uniform(*dice_range)
        waves = random_waves(rng, [(8, 1.5, 4.0, 1.0)])
        shift = np.zeros(len(self.centre))
        if rng.random() < shift_prob:
            v = rng.standard_normal(len(self.centre))
            shift = v / np.linalg.norm(v) * 0.04 * self.shape_fn.rbar
        base = self.mask()
        # Readings within the Dice range stay well inside 1.5x the ROI, so only test voxels there.
        region = np.nonzero(self.d <= min(self.cap, 1.5 * float(self.R[base].max()) + 1.0))
        if shift.any():
            d, key = self._polar(shift)
            d, key = d[region], key[region]
            R = self.radius(self.shape_fn.radius, key)
        else:
            d, key, R = self.d[region], self.dirs[region], self.R[region]
        delta = self.directional(waves, key) * self.shape_fn.rbar
        a = base[region]
        na = int(a.sum())

        def dice_at(t):
            m = d <= self._clip(R + t * delta)
            return 2.0 * np.count_nonzero(m & a) / (na + np.count_nonzero(m)), m

        out = np.zeros_like(base)
        out[region] = dice_at(_bisect(dice_at, target))[1]
        return out


def _bisect(dice_at, target: float) -> float:
    """The displacement amplitude whose Dice is closest to `target`, among 16 bisection steps."""
    lo, hi = 0.0, 0.6
    best = (abs(dice_at(0.0)[0] - target), 0.0)
    for _ in range(16):  # Dice falls with the displacement amplitude
        t = 0.5 * (lo + hi)
        dc, _m = dice_at(t)
        best = min(best, (abs(dc - target), t))
        if dc > target:
            lo = t
        else:
            hi = t
    return best[1]
