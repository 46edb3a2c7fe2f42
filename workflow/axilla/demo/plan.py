"""The cohort's layout, known at parse time: views, raters, and the manifest ``generate`` writes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..errors import InputError, Problem
from .base import K_COHORT, check_args, patient_ids, rng
from .kinetics import MAX_DCE_PHASES

VIEWS = {"MG": ["CC", "MLO"], "MRI": ["T2", "DWI", "ADC", "DCE1", "DCE2"], "US": ["tumor", "node"]}
# DCE phases the demo can render: DCE1, DCE2 always; DCE3 .. DCE4 only for a study that lists them
# (their own random stream, so the default cohort's files stay byte-identical).
BASE_DCE_PHASES = 2
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


def views(dce_phases: int = BASE_DCE_PHASES) -> dict[str, list[str]]:
    """The cohort's views with DCE phases 1 .. ``dce_phases`` (the extra ones after DCE2)."""
    check_dce_phases(dce_phases)
    extra = [f"DCE{k}" for k in range(BASE_DCE_PHASES + 1, dce_phases + 1)]
    return {m: list(v) + (extra if m == "MRI" else []) for m, v in VIEWS.items()}


def check_dce_phases(dce_phases) -> None:
    ok = isinstance(dce_phases, (int, np.integer)) and not isinstance(dce_phases, bool)
    if not ok or not BASE_DCE_PHASES <= dce_phases <= MAX_DCE_PHASES:
        raise InputError(Problem("config", f"the demo cohort renders {BASE_DCE_PHASES} to {MAX_DCE_PHASES} DCE "
                                           f"phases; got {dce_phases!r}"))


def dce_phases_for(study_views: dict) -> int:
    """The DCE phases a study's ``views`` need from the demo: its highest ``MRI`` DCE<k> (at least 2)."""
    wanted = [int(m.group(1)) for v in study_views.get("MRI", []) if (m := re.fullmatch(r"DCE(\d+)", str(v)))]
    k = max([BASE_DCE_PHASES, *wanted])
    if k > MAX_DCE_PHASES:
        raise InputError(Problem("config", f"key 'views.MRI': the demo cohort has DCE1 .. DCE{MAX_DCE_PHASES}; "
                                           f"DCE{k} asked for (give a manifest of your own)"))
    return k


def folder(n_patients: int, seed: int, dce_phases: int = BASE_DCE_PHASES, missing: dict | None = None) -> str:
    """The demo cohort's folder name under resources/demo/ (extra DCE phases, absent modalities: a
    cohort of its own, e.g. ``n40_seed3_noMRI0.2``)."""
    name = f"n{n_patients}_seed{seed}" + (f"_dce{dce_phases}" if dce_phases > BASE_DCE_PHASES else "")
    return name + "".join(f"_no{m}{f:g}" for m, f in sorted((missing or {}).items()) if f > 0)


def absent(n_patients: int, seed: int, missing: dict | None = None) -> dict[str, set[str]]:
    """``demo.missing``: modality -> the patients without its images, exactly round(fraction * n)
    drawn completely at random from a stream of the modality's own (the other files stay as they are)."""
    out = {}
    ids = patient_ids(int(n_patients))
    for modality, fraction in sorted((missing or {}).items()):
        if modality not in VIEWS or not 0 <= fraction < 1:
            raise InputError(Problem("config", f"demo.missing: {modality}: {fraction!r}; give a modality "
                                               "(MG, MRI, US) and a fraction in [0, 1)"))
        k = int(round(fraction * len(ids)))
        pick = rng(int(seed), K_COHORT, 1, list(VIEWS).index(modality)).choice(len(ids), size=k, replace=False)
        out[modality] = {ids[i] for i in pick}
    return out


def plan(n_patients: int, seed: int, rater_fraction: float, dce_phases: int = BASE_DCE_PHASES,
         missing: dict | None = None) -> pd.DataFrame:
    """The manifest ``generate`` will write, computed without rendering anything (``missing``: see
    :func:`absent`)."""
    check_args(n_patients, seed, rater_fraction)
    flags = rated(int(n_patients), int(seed), float(rater_fraction))
    gone = absent(n_patients, seed, missing)
    rows = []
    for pid, has_more in zip(patient_ids(int(n_patients)), flags):
        raters = RATERS if has_more else RATERS[:1]
        for modality, names in views(dce_phases).items():
            if pid in gone.get(modality, ()):
                continue
            for view in names:
                stem = f"{modality}_{view}"
                image = f"images/{pid}/{stem}.nii.gz"
                for rater in raters:
                    rows.append((pid, modality, view, image, f"masks/{pid}/{stem}_{rater}.nii.gz", rater))
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
