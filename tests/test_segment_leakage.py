"""No leakage in segmentation: held-out patients never enter a training set, and every training
patient is segmented by the fold networks that did not see it (axilla.segment.folds and the
stage's wiring, with the networks replaced by recorders)."""

import numpy as np
import pytest

from axilla.segment import folds, stage, training
from axilla.segment.data import Case
from axilla.settings import section

COHORTS = {**{f"P{i:02d}": "train" for i in range(11)}, **{f"P{i:02d}": "internal" for i in range(11, 15)},
           **{f"P{i:02d}": "external" for i in range(15, 18)}}


def test_plans_hold_held_out_patients_out_and_predict_each_training_patient_once():
    patients = list(COHORTS)
    plans = folds.plans(patients, [COHORTS[p] for p in patients], folds=4, seed=3)
    train = {p for p, c in COHORTS.items() if c == "train"}
    held = set(COHORTS) - train
    assert all(not held & set(pl.train) for pl in plans)
    oof = [pl for pl in plans if pl.name != "final"]
    assert len(oof) == 4
    predicted = [p for pl in oof for p in pl.predict]
    assert sorted(predicted) == sorted(train)  # each training patient exactly once
    assert all(not set(pl.predict) & set(pl.train) for pl in plans)
    final = plans[-1]
    assert final.name == "final" and set(final.train) == train and set(final.predict) == held


def _cases():
    """Patient i's image is the constant i and its mask marks pixel (0, i): a training set's
    arrays say which patients it holds."""
    out = {}
    for i, p in enumerate(COHORTS):
        mask = np.zeros((20, 20), np.uint8)
        mask[0, i] = 1
        out[p] = Case(p, np.full((20, 20), float(i), np.float32), {"A": mask, "B": mask}, (1.0, 1.0))
    return out


def test_the_stage_trains_only_on_training_patients_and_predicts_out_of_fold(monkeypatch):
    index = {p: i for i, p in enumerate(COHORTS)}
    seen = []

    def fake_fit(name, x, y, settings, seed, device="cpu", encoder_weights=None):
        ids = sorted({int(round(v)) for v in x[:, 0].mean(axis=(1, 2))})
        seen.append((name, set(ids)))
        return ids, {"best_epoch": 1, "epochs_run": 1, "seconds": 0.0}

    def fake_predict(model, x, batch_size=32, device="cpu"):
        # the probability map of patient i holds 1 where i is one of the network's training patients
        ids = x[:, 0].mean(axis=(1, 2)).round().astype(int)
        return np.stack([np.full(x.shape[2:], float(i in model)) for i in ids])

    monkeypatch.setattr(training, "fit", fake_fit)
    monkeypatch.setattr(training, "predict", fake_predict)
    settings = section("segment", models=["unet", "deeplabv3"], folds=3, size=32)
    probs, records = stage.segment_probabilities(_cases(), COHORTS, settings, "A", seed=1)
    train_ids = {index[p] for p, c in COHORTS.items() if c == "train"}
    assert len(seen) == 2 * 4 and all(ids <= train_ids for _, ids in seen)
    for name in ("unet", "deeplabv3"):
        assert set(probs[name]) == set(COHORTS)
        assert all(not probs[name][p].any() for p in COHORTS)  # nobody segmented by a network that saw it
    for rec in records:
        assert not set(rec["trained_on"]) & set(rec["segmented"])
        if rec["run"] == "final":
            assert {COHORTS[p] for p in rec["segmented"]} == {"internal", "external"}


def test_too_few_training_patients_is_refused():
    with pytest.raises(ValueError, match="at least 2 training patients"):
        folds.plans(["a", "b"], ["train", "internal"], folds=5, seed=0)
