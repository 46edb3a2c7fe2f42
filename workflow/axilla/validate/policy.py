"""Exclusions decided up front: for each class of problem a patient can have, the config says
whether it stops the run or excludes the patient (``validate.<class>: stop | drop``).

Classes (the `problem` column of ``validate/excluded.csv``): `missing_view` (decided by the
manifest's structure), `unreadable` (an image or mask missing, damaged, unreadable, without
pixel spacing, or a mask off its image's grid beyond tolerance), `small_roi` (a mask without an
ROI by the one ROI rule, or with fewer than ``min_roi_voxels`` after resampling) and
`missing_outcome` (a clinical row without the outcome, or a manifest patient without a clinical
row). Every other problem (config, column types, identifiers, duplicates) always stops.
"""

from __future__ import annotations

import dataclasses
import logging

import pandas as pd

from ..errors import Problem

log = logging.getLogger(__name__)

CLASSES = ("missing_view", "unreadable", "small_roi", "missing_outcome")
EXCLUDED_COLUMNS = ["patient_id", "problem", "reason"]


@dataclasses.dataclass
class Exclusions:
    """The excluded patients: patient -> problem class -> reasons (file, row, column: message)."""

    reasons: dict[str, dict[str, list[str]]] = dataclasses.field(default_factory=dict)

    @property
    def patients(self) -> set[str]:
        return set(self.reasons)

    def add(self, patient: str, problem: str, reason: str) -> None:
        self.reasons.setdefault(patient, {}).setdefault(problem, []).append(reason)

    def table(self) -> pd.DataFrame:
        """One row per patient and problem class (reasons of one class joined by ' | ')."""
        rows = [dict(patient_id=p, problem=c, reason=" | ".join(self.reasons[p][c]))
                for p in sorted(self.reasons) for c in CLASSES if c in self.reasons[p]]
        return pd.DataFrame(rows, columns=EXCLUDED_COLUMNS)

    def counts(self) -> dict[str, int]:
        """Patients excluded per problem class (a patient may count under several)."""
        return {c: n for c in CLASSES if (n := sum(c in by for by in self.reasons.values()))}


def sort_out(problems: list[Problem], settings, exclusions: Exclusions) -> list[Problem]:
    """The problems that stop the run. A problem of a class the settings drop excludes its
    patient (added to `exclusions`); a patient excluded for one problem is not stopped for
    another of an excludable class (it has left the study). Stopping problems of an excludable
    class say how to exclude instead."""
    dropped = exclusions.patients | {p.patient for p in problems
                                     if p.category and getattr(settings, p.category) == "drop"}
    stop = []
    for p in problems:
        if p.category is None:
            stop.append(p)
        elif p.patient in dropped:
            if getattr(settings, p.category) == "drop":
                exclusions.add(p.patient, p.category, str(p))
        else:
            stop.append(dataclasses.replace(
                p, message=f"{p.message} (or set validate.{p.category}: drop to exclude such patients)"))
    return stop


def log_counts(exclusions: Exclusions, n_checked: int, n_analysed: int) -> None:
    """The counts of the cohort flow: patients checked, excluded per class, analysed."""
    if exclusions.reasons:
        by = ", ".join(f"{c} {n}" for c, n in exclusions.counts().items())
        log.warning("%d of %d patient(s) excluded (%s; listed in validate/excluded.csv); %d analysed",
                    len(exclusions.reasons), n_checked, by, n_analysed)
