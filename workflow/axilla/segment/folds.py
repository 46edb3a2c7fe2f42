"""Which network segments which patient, so that no mask comes from a network that saw it.

Training patients get out-of-fold masks: k folds over the training patients, each fold's patients
segmented by networks trained on the other folds only. Patients of every held-out cohort are
segmented by networks trained on all training patients, and never enter any training set; so are
images without a primary-rater mask (``roi.source: auto`` views may list them), training patients' too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Plan:
    """One training run: the patients it trains on and the patients it segments."""

    name: str  # "fold1".."foldk" or "final"
    train: tuple
    predict: tuple


def plans(patients, cohorts, folds: int, seed: int, train_cohort: str = "train", unmasked=()) -> list[Plan]:
    """The k out-of-fold runs over training patients, then the final run for held-out patients.

    `patients` and `cohorts` align (one cohort name per patient). With fewer training patients
    than `folds`, k drops to their number (leave-one-out); at least 2 are needed. `unmasked`:
    patients without a primary-rater mask (an auto view's images without one), of any cohort: never
    trained on, segmented by the final run (networks of every masked training patient)."""
    patients, cohorts = np.asarray(patients, dtype=object), np.asarray(cohorts, dtype=object)
    unmasked = set(unmasked)
    without = np.array([p in unmasked for p in patients], dtype=bool)
    train = sorted(patients[(cohorts == train_cohort) & ~without])
    held = tuple(sorted(patients[(cohorts != train_cohort) | without]))
    if len(train) < 2:
        raise ValueError(f"segment needs at least 2 training patients with primary-rater masks of the view, got "
                         f"{len(train)}")
    k = min(folds, len(train))
    order = np.random.default_rng(seed).permutation(len(train))
    fold_of = {train[i]: j % k for j, i in enumerate(order)}
    out = [Plan(f"fold{f + 1}", tuple(p for p in train if fold_of[p] != f), tuple(p for p in train if fold_of[p] == f))
           for f in range(k)]
    return out + ([Plan("final", tuple(train), held)] if held else [])
