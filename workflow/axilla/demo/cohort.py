"""The cohort: each patient's latents, outcome, clinical row, lesion and node (all cheap), and the
clinical and truth tables built from them without rendering images."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .base import K_PATIENT, S_CLINICAL, S_LATENT, S_READER, S_SHAPE, check_args, patient_ids, rng
from .clinical import CLINICAL_COLUMNS, clinical, readings
from .latent import LATENTS, draw_outcome
from .plan import rated
from .shapes import Lesion, Node, draw_shapes


@dataclass(frozen=True)
class Patient:
    index: int
    pid: str
    z: dict
    lp: float
    prob: float
    y: int
    clinical: dict
    lesion: Lesion
    node: Node
    density: float  # breast density offset (nuisance shared by MG and MRI)
    rated: bool

    @property
    def center(self) -> str:
        return self.clinical["center"]


def draw_patient(i: int, pid: str, seed: int, is_rated: bool) -> Patient:
    """Patient `i`, from its own keyed streams (latents, shapes, clinical values, readers)."""
    z, lp, prob, y = draw_outcome(rng(seed, K_PATIENT, i, S_LATENT))
    lesion, node, density = draw_shapes(rng(seed, K_PATIENT, i, S_SHAPE), z)
    row = clinical(rng(seed, K_PATIENT, i, S_CLINICAL), pid, z, y, lesion.r0)
    row.update(readings(rng(seed, K_PATIENT, i, S_READER), z, lp))
    return Patient(i, pid, z, lp, prob, y, row, lesion, node, density, is_rated)


def cohort(n_patients: int, seed: int, rater_fraction: float) -> list[Patient]:
    flags = rated(n_patients, seed, rater_fraction)
    return [draw_patient(i, pid, seed, bool(r)) for i, (pid, r) in enumerate(zip(patient_ids(n_patients), flags))]


def clinical_table(n_patients: int, seed: int) -> pd.DataFrame:
    """The clinical table ``generate`` writes, without rendering images (cheap)."""
    check_args(n_patients, seed, 0.0)
    return clinical_frame(cohort(int(n_patients), int(seed), 0.0))


def clinical_frame(patients: list[Patient]) -> pd.DataFrame:
    return pd.DataFrame([p.clinical for p in patients], columns=CLINICAL_COLUMNS)


def truth_table(n_patients: int, seed: int, rater_fraction: float) -> pd.DataFrame:
    """Latent variables and rendering parameters per patient (for checking; not a pipeline input)."""
    check_args(n_patients, seed, rater_fraction)
    return pd.DataFrame([_truth_row(p) for p in cohort(int(n_patients), int(seed), float(rater_fraction))])


def _truth_row(p: Patient) -> dict:
    return {
        "patient_id": p.pid,
        **{k: round(p.z[k], 6) for k in LATENTS},
        "linear_predictor": round(p.lp, 6),
        "probability": round(p.prob, 6),
        "ln_status": p.y,
        "center": p.center,
        "tumor_radius_mm": round(p.lesion.r0, 4),
        "roughness": round(p.lesion.rough, 4),
        "n_spicules": len(p.lesion.spikes),
        "node_long_axis_mm": round(2 * p.node.a, 4),
        "node_short_axis_mm": round(2 * p.node.b, 4),
        "cortex_thickness_mm": round(p.node.t0, 4),
        "multi_rater": int(p.rated),
    }
