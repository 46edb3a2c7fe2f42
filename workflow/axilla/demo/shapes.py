"""Lesion and node shapes: every ROI is star-shaped, described by its radius as a function of
direction, and drawn from the patient's latents."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .base import sig, softplus


def _fibonacci_sphere(n: int = 600) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = math.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


_SPHERE = _fibonacci_sphere()


@dataclass(frozen=True)
class Waves:
    """A smooth random function on the unit sphere, zero mean and unit sd over directions."""

    k: np.ndarray  # (K, 3) wave vectors
    phase: np.ndarray
    amp: np.ndarray
    offset: float

    def __call__(self, U: np.ndarray) -> np.ndarray:
        return np.cos(U @ self.k.T + self.phase) @ self.amp - self.offset


def random_waves(rng, bands: list[tuple[int, float, float, float]]) -> Waves:
    """bands: (count, lowest, highest angular frequency, relative weight)."""
    ks, weights = [], []
    for count, lo, hi, weight in bands:
        v = rng.standard_normal((count, 3))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        ks.append(v * rng.uniform(lo, hi, size=(count, 1)))
        weights.append(np.full(count, weight))
    k = np.concatenate(ks)
    phase = rng.uniform(0, 2 * math.pi, size=len(k))
    amp = rng.standard_normal(len(k)) * np.concatenate(weights)
    # Normalise on a fixed sphere sampling so the roughness parameter means the same for everyone.
    raw = np.cos(_SPHERE @ k.T + phase) @ amp
    sd = float(raw.std()) or 1.0
    return Waves(k, phase, amp / sd, float(raw.mean()) / sd)


@dataclass(frozen=True)
class Lesion:
    r0: float  # mean radius, mm
    rough: float  # sd of the relative radius modulation
    waves: Waves
    spikes: np.ndarray  # (S, 3) unit directions of spicules
    spike_len: np.ndarray  # (S,) mm
    edge: float  # margin blur width, mm (indistinct margins are blurrier)

    @property
    def rbar(self) -> float:
        return self.r0

    @property
    def reach(self) -> float:
        """Bounds the radius (overlapping spicules aside, whose tips are then cut: harmless)."""
        return self.r0 * (1 + 2.5 * self.rough) + float(self.spike_len.max(initial=0.0))

    def radius(self, U: np.ndarray) -> np.ndarray:
        r = self.r0 * (1 + self.rough * np.clip(self.waves(U), -2.5, 2.5))
        if len(self.spikes):
            c = np.clip(U @ self.spikes.T, 0, None)
            c5 = c * c
            c5 = c5 * c5 * c  # c**80 as (c**5)**16: repeated squaring is much cheaper than pow
            for _ in range(4):
                c5 = c5 * c5
            r = r + c5 @ self.spike_len
        return r


@dataclass(frozen=True)
class Node:
    a: float  # long semi-axis, mm
    b: float  # short semi-axis, mm
    angle: float
    lobes: Waves
    lobe_amp: float
    t0: float  # mean cortex thickness, mm
    ecc: float  # cortex eccentricity: thickness varies t0 * (1 +- ecc) around the node
    theta0: float

    @property
    def rbar(self) -> float:
        return math.sqrt(self.a * self.b)

    @property
    def reach(self) -> float:
        return self.a * (1 + 3.0 * self.lobe_amp)

    def _theta(self, U):
        return np.arctan2(U[..., 1], U[..., 0]) - self.angle

    def radius(self, U: np.ndarray) -> np.ndarray:
        th = self._theta(U)
        r = self.a * self.b / np.sqrt((self.b * np.cos(th)) ** 2 + (self.a * np.sin(th)) ** 2)
        return r * (1 + self.lobe_amp * np.clip(self.lobes(U), -3.0, 3.0))

    def cortex(self, U: np.ndarray) -> np.ndarray:
        return self.t0 * (1 + self.ecc * np.cos(self._theta(U) - self.theta0))


def draw_shapes(rng, z) -> tuple[Lesion, Node, float]:
    """The patient's lesion, node and breast density offset, in this order from one stream."""
    lesion = _draw_lesion(rng, z["irregularity"], z["size"])
    node = _draw_node(rng, z["cortex"])
    density = float(rng.normal(-0.3, 0.8))  # a nuisance shared by MG and MRI
    return lesion, node, density


def _draw_lesion(rng, irr: float, size: float) -> Lesion:
    r0 = float(np.clip(6.5 * math.exp(0.25 * size), 3.0, 12.0))
    rough = 0.04 + 0.06 * softplus(irr + 0.3)
    # Irregular lesions put more of their roughness into high angular frequencies (lobulation).
    waves = random_waves(rng, [(8, 1.0, 3.0, 1.0), (10, 4.0, 8.0, 0.25 + 0.9 * sig(1.5 * irr))])
    n_spikes = min(int(rng.poisson(5.0 * max(irr - 0.4, 0.0))), 10)
    spikes = rng.standard_normal((n_spikes, 3))
    spikes /= np.linalg.norm(spikes, axis=1, keepdims=True) if n_spikes else 1.0
    spike_len = np.minimum(r0 * rng.uniform(0.25, 0.5, n_spikes), 4.0)
    return Lesion(r0, rough, waves, spikes, spike_len, edge=0.3 + 0.5 * sig(1.5 * irr))


def _draw_node(rng, cortex: float) -> Node:
    a = 7.0 * math.exp(0.12 * rng.standard_normal() + 0.08 * cortex)
    ratio = float(np.clip(0.42 + 0.09 * cortex + 0.05 * rng.standard_normal(), 0.3, 0.9))
    # Keyword arguments are evaluated in order: the draws below keep the stream's order.
    return Node(
        a=a,
        b=a * ratio,
        angle=float(rng.uniform(-0.35, 0.35)),
        lobes=random_waves(rng, [(6, 2.0, 5.0, 1.0)]),
        lobe_amp=0.02 + 0.05 * softplus(cortex - 1.0),
        t0=1.2 * math.exp(0.45 * cortex + 0.1 * rng.standard_normal()),
        ecc=0.7 * sig(2.0 * (cortex - 0.8)),
        theta0=float(rng.uniform(0, 2 * math.pi)),
    )
