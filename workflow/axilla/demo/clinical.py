"""Clinical variables as noisy readouts of the latents, and the simulated reader study."""

from __future__ import annotations

import datetime as _dt
import math

import numpy as np

from .base import sig

# Simulated reader study (seed 002, prospective test set: AUC 0.71 -> 0.82 junior, 0.75 -> 0.85 senior
# with the model).
# A reader sees the imaging-visible part of the predictor, V = 1.8 I + 2.25 C + 0.9 S, through
# their own noise (sd per reader, the same impression with and without AI); the AI is the true
# linear predictor plus noise (sd 2.5, AUC ~0.85), shared by both readers, weighted 1/2 when
# assisting. Readings are probabilities sigmoid(0.4 s - 0.4). Population AUCs (n = 200,000):
# junior 0.72 -> 0.83, senior 0.76 -> 0.85.
READER_NOISE = {"junior": 4.0, "senior": 3.0}
AI_NOISE, AI_WEIGHT = 2.5, 0.5
# Outcome effect on log blood counts (inflammatory response); drives SII, NLR, PLR weakly.
BLOOD_EFFECT = {"neutrophils": 0.15, "lymphocytes": -0.10, "platelets": 0.08}

CLINICAL_COLUMNS = [
    "patient_id", "ln_status", "center", "exam_date", "age", "bmi", "tumor_diameter_mm", "shape",
    "margin", "birads", "er", "pr", "her2", "ki67", "grade", "histology", "imaging_node",
    "laterality", "neutrophils", "lymphocytes", "platelets", "monocytes", "wbc",
    *(f"reader_{r}{a}" for r in ("junior", "senior") for a in ("", "_ai")),
]

CENTRE_B_FRACTION = 0.3

_FIRST_DATE = _dt.date(2019, 1, 1)
_LAST_DATE = _dt.date(2023, 12, 31)


def _cut(score: float, edges: list[float], labels: list):
    return labels[int(np.searchsorted(edges, score))]


def clinical(rng, pid: str, z: dict, y: int, r0: float) -> dict:
    """One patient's clinical row (readers aside); `r0` is the lesion's mean radius in mm.

    Every draw comes from `rng` in a fixed order (the dict literal is evaluated top to bottom).
    """
    irr, het, size, prolif, cortex = (z[k] for k in ("irregularity", "heterogeneity", "size", "proliferation", "cortex"))
    date = _FIRST_DATE + _dt.timedelta(days=int(rng.integers(0, (_LAST_DATE - _FIRST_DATE).days + 1)))
    er = int(rng.random() < sig(1.6 - 0.8 * prolif))
    pr = int(rng.random() < (0.8 if er else 0.1))
    hist = _cut(rng.random(), [0.80, 0.92], ["IDC", "ILC", "other"])
    lymph = 1.9 * math.exp(0.28 * rng.standard_normal() + BLOOD_EFFECT["lymphocytes"] * y)
    neut = 3.6 * math.exp(0.30 * rng.standard_normal() + BLOOD_EFFECT["neutrophils"] * y)
    plt = 250 * math.exp(0.20 * rng.standard_normal() + BLOOD_EFFECT["platelets"] * y)
    mono = 0.45 * math.exp(0.25 * rng.standard_normal())
    other = 0.15 + 0.10 * rng.random()  # eosinophils + basophils, so WBC exceeds the listed parts
    neut, lymph, mono = round(neut, 2), round(lymph, 2), round(mono, 2)
    return {
        "patient_id": pid,
        "ln_status": y,
        "center": "B" if rng.random() < CENTRE_B_FRACTION else "A",
        "exam_date": date.isoformat(),
        "age": int(np.clip(round(rng.normal(54, 11) - 1.5 * prolif), 26, 88)),
        "bmi": round(float(np.clip(rng.normal(24.8, 3.8), 16.5, 42.0)), 1),
        "tumor_diameter_mm": round(2 * r0 * math.exp(0.08 * rng.standard_normal()), 1),
        "shape": _cut(irr + 0.7 * rng.standard_normal(), [-0.6, 0.4], ["round", "oval", "irregular"]),
        "margin": _cut(irr + 0.5 * rng.standard_normal(), [-0.3, 0.6], ["circumscribed", "indistinct", "spiculated"]),
        "birads": _cut(0.6 * irr + 0.3 * size + 0.3 * het + 0.6 * rng.standard_normal(), [-0.9, -0.3, 0.3], ["4a", "4b", "4c", "5"]),
        "er": er,
        "pr": pr,
        "her2": int(rng.random() < sig(-1.4 + 0.3 * prolif)),
        "ki67": int(np.clip(round(20 * math.exp(0.55 * prolif + 0.3 * rng.standard_normal())), 1, 90)),
        "grade": _cut(prolif + 0.7 * rng.standard_normal(), [-0.8, 0.6], [1, 2, 3]),
        "histology": hist,
        "imaging_node": int(cortex + 0.8 * rng.standard_normal() > 0.7),
        "laterality": "L" if rng.random() < 0.52 else "R",
        "neutrophils": neut,
        "lymphocytes": lymph,
        "platelets": int(round(plt)),
        "monocytes": mono,
        "wbc": round(neut + lymph + mono + other, 2),
    }


def readings(rng, z: dict, lp: float) -> dict:
    """Each reader's probability of metastasis without and with the (simulated) AI score."""
    visible = 1.8 * z["irregularity"] + 2.25 * z["cortex"] + 0.9 * z["size"]
    ai = lp + AI_NOISE * rng.standard_normal()
    out = {}
    for reader, sd in READER_NOISE.items():
        own = visible + sd * rng.standard_normal()
        for suffix, s in (("", own), ("_ai", (1 - AI_WEIGHT) * own + AI_WEIGHT * ai)):
            out[f"reader_{reader}{suffix}"] = round(sig(0.4 * s - 0.4), 2)
    return out
