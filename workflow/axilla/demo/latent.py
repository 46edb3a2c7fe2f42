"""The documented latent model: five standard-normal phenotypes and the node status they drive."""

from __future__ import annotations

import numpy as np

from .base import sig

LATENTS = ("irregularity", "heterogeneity", "cortex", "size", "proliferation")
# Strong enough that a 30-patient evaluation cohort keeps a usable signal in almost any draw: over
# seeds 1-40 at n = 120 the external cohort's oracle AUC (true linear predictor) has a 5th
# percentile of 0.86 (median 0.94); with coefficients 2/3 of these it was 0.76 at seed 42 (which
# is itself a rare draw: 0.82 with these; config.yaml explains its seed).
INTERCEPT = -0.89
COEFFICIENTS = {
    "irregularity": 1.8,
    "heterogeneity": 1.5,
    "cortex": 2.25,
    "size": 0.9,
    "proliferation": 0.9,
}


def draw_outcome(rng: np.random.Generator) -> tuple[dict, float, float, int]:
    """A patient's latents z, linear predictor, P(ln_status = 1) and ln_status, from one stream."""
    zv = rng.standard_normal(len(LATENTS))
    z = dict(zip(LATENTS, (float(v) for v in zv)))
    lp = INTERCEPT + sum(COEFFICIENTS[k] * z[k] for k in LATENTS)
    prob = sig(lp)
    y = int(rng.random() < prob)
    return z, lp, prob, y
