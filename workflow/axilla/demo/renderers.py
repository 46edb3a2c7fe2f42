"""MG, MRI and US image synthesis and the raters' masks; each renderer returns (array, grid, roi)."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.special import expit

from .base import K_PATIENT, S_RATER, S_RENDER, sig, softplus
from .base import rng as keyed_rng  # renderers take their own stream as `rng`
from .cohort import Patient
from .geometry import Grid, Roi, smooth_noise
from .kinetics import DCE_BACKGROUND, DCE_TUMOUR, MAX_DCE_PHASES
from .plan import BASE_DCE_PHASES, VIEWS

# Render stream of the extra DCE phases (streams 0-4: MG CC, MG MLO, MRI, US tumour, US node).
S_EXTRA_DCE = 5

# Image geometry: numpy shape (z, y, x) / (y, x) and SimpleITK spacing (x, y[, z]) in mm.
MG_SHAPE, MG_SPACING = (176, 224), (0.25, 0.25)
MRI_SHAPE, MRI_SPACING = (16, 48, 48), (1.0, 1.0, 3.0)
US_SHAPE, US_SPACING = (200, 200), (0.2, 0.2)

# Scanner effect: centre B has a different gain and a higher noise level than centre A.
GAIN = {"A": 1.0, "B": 1.12}
NOISE = {"A": 1.0, "B": 1.25}

# Rater disagreement is calibrated per mask: Dice against rater A is drawn from these ranges.
DICE_B = (0.865, 0.915)
DICE_A2 = (0.935, 0.960)

# Image planes expressed in the lesion's own frame.
_CC_BASIS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
_MLO_BASIS = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(math.pi / 4), math.sin(math.pi / 4)]])
_US_BASIS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
_NODE_BASIS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def render(p: Patient, seed: int, dce_phases: int = BASE_DCE_PHASES) -> list[tuple[str, str, np.ndarray, Grid, Roi]]:
    """All images of one patient, in VIEWS order, then the extra DCE phases (DCE3 ..), whose
    noise comes from a stream of their own: the other images do not depend on ``dce_phases``."""
    def stream(k):
        return keyed_rng(seed, K_PATIENT, p.index, S_RENDER, k)

    out = []
    for k, view in enumerate(VIEWS["MG"]):
        out.append(("MG", view, *_render_mg(p, view, stream(k))))
    mri = _render_mri(p, stream(2), stream(S_EXTRA_DCE), dce_phases)
    for view in VIEWS["MRI"]:
        out.append(("MRI", view, *mri.pop(view)))
    out.append(("US", "tumor", *_render_us_tumor(p, stream(3))))
    out.append(("US", "node", *_render_us_node(p, stream(4))))
    out.extend(("MRI", view, *images) for view, images in mri.items())  # DCE3 .. DCE<dce_phases>
    return out


def rater_masks(p: Patient, v: int, roi: Roi, seed: int) -> dict[str, np.ndarray]:
    """Every rater's mask of image `v` (its index in VIEWS order): A, and A2 and B when rated."""
    masks = {"A": roi.mask()}
    if p.rated:
        masks["A2"] = roi.rater_mask(keyed_rng(seed, K_PATIENT, p.index, S_RATER, v, 1), DICE_A2, 0.0)
        masks["B"] = roi.rater_mask(keyed_rng(seed, K_PATIENT, p.index, S_RATER, v, 2), DICE_B, 0.3)
    return masks


def _rician(rng, img: np.ndarray, sigma: float) -> np.ndarray:
    return np.hypot(img + sigma * rng.standard_normal(img.shape), sigma * rng.standard_normal(img.shape))


def _bias_field(rng, grid: Grid, amplitude: float) -> np.ndarray:
    coords = [c / h for c, h in zip(grid.coords(), grid.half_extent)]  # in [-1, 1]
    terms = list(coords) + [a * b for i, a in enumerate(coords) for b in coords[i:]]
    field = sum(rng.standard_normal() * t for t in terms)
    field = field / (np.abs(field).max() or 1.0)
    return 1.0 + amplitude * field


def _texture_amp(het: float) -> float:
    return 0.06 + 0.10 * softplus(het)


def _render_mg(p: Patient, view: str, rng) -> tuple[np.ndarray, Grid, Roi]:
    grid = Grid(MG_SHAPE, MG_SPACING)
    X, Y = grid.coords()
    roi = Roi(p.lesion, grid, rng.uniform(-3, 3, 2), _CC_BASIS if view == "CC" else _MLO_BASIS)
    gland = expit(1.4 * smooth_noise(rng, grid, 3.0) + 0.6 * smooth_noise(rng, grid, 0.8) + p.density)
    xmin, ymin = grid.origin
    if view == "CC":  # chest wall as a dense band along the posterior (left) edge
        wall = expit((xmin + 5.0 + 1.5 * smooth_noise(rng, grid, 6.0) - X) / 1.0)
    else:  # pectoral muscle as a triangle in the upper posterior corner
        wall = expit((xmin + 14.0 - (X - xmin) - 0.8 * (Y - ymin)) / 1.0)
    het = p.z["heterogeneity"]
    rel = np.clip(1 - (roi.d / roi.R) ** 2, 0, 1)
    profile = expit((roi.R - roi.d) / (0.7 * p.lesion.edge)) * (0.6 + 0.4 * np.sqrt(rel))
    lesion = profile * (1 + 0.8 * _texture_amp(het) * smooth_noise(rng, grid, 0.6))
    img = 700 + 1050 * gland + 900 * wall + 1000 * lesion
    img = img * GAIN[p.center]
    img = img + 18 * NOISE[p.center] * np.sqrt(img / 1000) * rng.standard_normal(img.shape)
    return np.clip(np.rint(img), 0, 4095).astype(np.uint16), grid, roi


_MRI_BACKGROUND = {"T2": (150, 330), "DWI": (60, 170), "ADC": (380, 1750), **DCE_BACKGROUND}
_MRI_NOISE = {"T2": 12.0, "DWI": 10.0, "ADC": 60.0, **{f"DCE{k}": 10.0 for k in range(1, MAX_DCE_PHASES + 1)}}


def _render_mri(p: Patient, rng, extra_rng, dce_phases: int = BASE_DCE_PHASES) -> dict:
    """The MRI views; the extra DCE phases share the tumour, gland and coil field and draw their
    noise from ``extra_rng`` (after every draw of ``rng``, which they leave untouched)."""
    grid = Grid(MRI_SHAPE, MRI_SPACING)
    roi = Roi(p.lesion, grid, rng.uniform(-1.5, 1.5, 3), np.eye(3))
    inside = expit((roi.R - roi.d) / p.lesion.edge)
    tumour = _mri_tumour(p, rng, grid, roi)
    gland = expit(1.5 * smooth_noise(rng, grid, 4.0) + p.density)
    bg_tex = 0.05 * smooth_noise(rng, grid, 1.0)
    coil = _bias_field(rng, grid, rng.uniform(0.2, 0.3))  # shared by T2 and DCE (same coil)
    epi = _bias_field(rng, grid, rng.uniform(0.2, 0.3))  # DWI is an EPI read-out: its own field
    extra = [f"DCE{k}" for k in range(BASE_DCE_PHASES + 1, dce_phases + 1)]
    out = {}
    for view in VIEWS["MRI"] + extra:
        fat, fgt = _MRI_BACKGROUND[view]
        bg = (fat + (fgt - fat) * gland) * (1 + bg_tex)
        img = bg * (1 - inside) + tumour[view] * inside
        sigma = _MRI_NOISE[view] * NOISE[p.center]
        noise = extra_rng if view in extra else rng
        if view == "ADC":  # a computed ratio map: no coil field, no gain, Gaussian error
            img = img + sigma * noise.standard_normal(img.shape)
        else:
            img = img * (epi if view == "DWI" else coil) * GAIN[p.center]
            img = _rician(noise, img, sigma)
        out[view] = (np.clip(np.rint(img), 0, 32767).astype(np.int16), grid, roi)
    return out


def _mri_tumour(p: Patient, rng, grid: Grid, roi: Roi) -> dict[str, np.ndarray]:
    """Tumour signal per sequence: texture, a necrotic core and DCE rim enhancement when H is high.
    Every DCE phase: ``amplitude * (1 + t tex + r rim (rel - 0.6) - n necrosis)`` (``DCE_TUMOUR``)."""
    het, prolif = p.z["heterogeneity"], p.z["proliferation"]
    rel = np.clip(roi.d / roi.R, 0, 1.5)
    tex = _texture_amp(het) * smooth_noise(rng, grid, 1.2)
    nec_size = 0.55 * sig(2.0 * (het - 1.0))
    necrosis = np.clip((nec_size - 0.1) / 0.3, 0, 1) * expit((nec_size - rel) / 0.07)
    rim = 0.5 * softplus(het - 0.5)
    out = {
        "T2": 480 * (1 + tex + 0.5 * necrosis),
        "DWI": 380 * (1 + tex - 0.4 * necrosis),
        "ADC": 1050 * math.exp(-0.10 * prolif) * (1 - 0.6 * tex + 0.6 * necrosis),
    }
    for view, (a, t, r, n) in DCE_TUMOUR.items():
        out[view] = a * (1 + t * tex + r * rim * (rel - 0.6) - n * necrosis)
    return out


def _speckle(rng, grid: Grid) -> np.ndarray:
    # Rayleigh speckle: the envelope of band-limited complex noise, longer laterally than axially.
    width = (0.6, 1.4)  # pixels (axial rows, lateral columns)
    re = ndimage.gaussian_filter(rng.standard_normal(grid.shape), width)
    im = ndimage.gaussian_filter(rng.standard_normal(grid.shape), width)
    env = np.hypot(re, im)
    return env / env.mean()


def _us_display(rng, tissue: np.ndarray, grid: Grid, centre: str) -> np.ndarray:
    env = tissue * _speckle(rng, grid) * GAIN[centre]
    env = env + 0.03 * NOISE[centre] * np.abs(rng.standard_normal(env.shape))  # electronic noise
    img = 55 * np.log(np.maximum(env, 1e-3)) + 170  # log compression to 8 bits
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _us_background(rng, grid: Grid, fat: float, gland_level: float, gland_share: float) -> np.ndarray:
    X, Y = grid.coords()
    depth = Y - grid.origin[1]
    skin = expit((1.5 - depth) / 0.2)
    fat_depth = 7.0 + 2.0 * smooth_noise(rng, grid, 6.0)
    below = expit((depth - fat_depth) / 0.8)
    gland = expit(1.5 * smooth_noise(rng, grid, 1.5) + gland_share)
    deep = fat + (gland_level - fat) * gland
    tissue = 1.6 * skin + (1 - skin) * (fat * (1 - below) + deep * below)
    return tissue * (1 + 0.08 * smooth_noise(rng, grid, 0.5)) * np.exp(-0.008 * depth)


def _render_us_tumor(p: Patient, rng) -> tuple[np.ndarray, Grid, Roi]:
    grid = Grid(US_SHAPE, US_SPACING)
    roi = Roi(p.lesion, grid, np.array([rng.uniform(-2, 2), rng.uniform(-1.5, 1.5)]), _US_BASIS)
    irr, het = p.z["irregularity"], p.z["heterogeneity"]
    tissue = _us_background(rng, grid, 0.55, 1.0, p.density)
    inside = expit((roi.R - roi.d) / (0.6 * p.lesion.edge))
    echo = np.clip(0.2 * (1 + 1.5 * _texture_amp(het) * smooth_noise(rng, grid, 0.5)), 0.03, None)
    # Posterior features: shadowing behind irregular masses, enhancement behind circumscribed ones.
    behind = np.clip(np.maximum.accumulate(inside, axis=0) - inside, 0, 1)
    behind = ndimage.gaussian_filter1d(behind, 3.0, axis=1)
    posterior = 1 + behind * (0.3 * sig(-2 * (irr + 0.3)) - 0.5 * sig(2 * (irr - 0.5)))
    tissue = (tissue * (1 - inside) + echo * inside) * posterior
    return _us_display(rng, tissue, grid, p.center), grid, roi


def _render_us_node(p: Patient, rng) -> tuple[np.ndarray, Grid, Roi]:
    grid = Grid(US_SHAPE, US_SPACING)
    roi = Roi(p.node, grid, rng.uniform(-1.5, 1.5, 2), _NODE_BASIS)
    tissue = _us_background(rng, grid, 0.75, 0.85, -1.0)  # axillary fat
    in_node = expit((roi.R - roi.d) / 0.12)
    hilum_r = roi.R - roi.directional(p.node.cortex, roi.dirs)
    in_hilum = np.where(hilum_r > 0.3, expit((hilum_r - roi.d) / 0.15), 0.0)
    cortex = 0.18 * (1 + 0.1 * smooth_noise(rng, grid, 0.4))
    node = cortex * (1 - in_hilum) + 1.15 * in_hilum
    behind = ndimage.gaussian_filter1d(np.clip(np.maximum.accumulate(in_node, axis=0) - in_node, 0, 1), 3.0, axis=1)
    tissue = (tissue * (1 - in_node) + node * in_node) * (1 + 0.15 * behind)
    return _us_display(rng, tissue, grid, p.center), grid, roi

