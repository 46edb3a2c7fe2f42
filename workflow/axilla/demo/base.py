"""Shared basics of the demo generator: keyed random streams, argument checks, patient ids."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit

from ..errors import InputError, Problem

# Stream keys: SeedSequence(seed, spawn_key=(K_COHORT,)) for cohort-level draws,
# (K_PATIENT, i, S_...) for patient i's latents, clinical values, shapes, images, raters, readers.
K_COHORT = 0
K_PATIENT = 1
S_LATENT, S_CLINICAL, S_SHAPE, S_RENDER, S_RATER, S_READER = range(6)


def rng(seed: int, *key: int) -> np.random.Generator:
    # Keyed streams (not sequential draws) keep each patient's data independent of cohort size.
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def check_args(n_patients, seed, rater_fraction) -> None:
    problems = []
    if isinstance(n_patients, bool) or not isinstance(n_patients, (int, np.integer)) or n_patients < 1:
        problems.append(Problem("config", f"demo.n_patients must be a positive integer, got {n_patients!r}"))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        problems.append(Problem("config", f"seed must be a non-negative integer, got {seed!r}"))
    ok = isinstance(rater_fraction, (int, float, np.floating)) and not isinstance(rater_fraction, bool)
    if not ok or not 0.0 <= float(rater_fraction) <= 1.0 or math.isnan(float(rater_fraction)):
        problems.append(Problem("config", f"demo.rater_fraction must be in [0, 1], got {rater_fraction!r}"))
    if problems:
        raise InputError(problems)


def patient_ids(n: int) -> list[str]:
    width = max(3, len(str(n)))
    return [f"P{i + 1:0{width}d}" for i in range(n)]


def softplus(x: float) -> float:
    return float(np.logaddexp(0.0, x))


def sig(x: float) -> float:
    return float(expit(x))
