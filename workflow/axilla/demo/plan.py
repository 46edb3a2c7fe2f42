"""The cohort's layout, known at parse time: views, raters, and the manifest ``generate`` writes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import K_COHORT, check_args, patient_ids, rng

VIEWS = {"MG": ["CC", "MLO"], "MRI": ["T2", "DWI", "ADC", "DCE1", "DCE2"], "US": ["tumor", "node"]}
RATERS = ("A", "A2", "B")  # A primary, A2 = A's repeat, B second rater
MANIFEST_COLUMNS = ["patient_id", "modality", "view", "image", "mask", "rater"]


def rated(n: int, seed: int, rater_fraction: float) -> np.ndarray:
    """Boolean per patient: has B and A2 masks. Exactly round(fraction * n), at least one."""
    k = int(round(rater_fraction * n))
    if rater_fraction > 0:
        k = max(k, 1)
    flags = np.zeros(n, dtype=bool)
    if k:
        flags[rng(seed, K_COHORT).choice(n, size=min(k, n), replace=False)] = True
    return flags


def plan(n_patients: int, seed: int, rater_fraction: float) -> pd.DataFrame:
    """The manifest ``generate`` will write, computed without rendering anything."""
    check_args(n_patients, seed, rater_fraction)
    flags = rated(int(n_patients), int(seed), float(rater_fraction))
    rows = []
    for pid, has_more in zip(patient_ids(int(n_patients)), flags):
        raters = RATERS if has_more else RATERS[:1]
        for modality, views in VIEWS.items():
            for view in views:
                stem = f"{modality}_{view}"
                image = f"images/{pid}/{stem}.nii.gz"
                for rater in raters:
                    rows.append((pid, modality, view, image, f"masks/{pid}/{stem}_{rater}.nii.gz", rater))
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
