"""Splits: stratified hold-outs by ratio, external by centre, temporal by exam date, fixed column."""

import numpy as np
import pandas as pd
import pytest

from axilla.errors import InputError
from axilla.settings import section
from axilla.split import assign, planned_cohorts


def _clinical(n=200, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 5 * 365, n), unit="D")
    return pd.DataFrame({"patient_id": [f"P{i:03d}" for i in range(n)], "ln": (rng.random(n) < 0.4).astype(int),
                         "center": np.where(rng.random(n) < 0.2, "B", "A"),
                         "exam_date": dates.strftime("%Y-%m-%d")})


def test_random_7_3_is_stratified_and_seeded():
    c = _clinical()
    s = assign(c, "ln", section("split", method="random", test_fraction=0.3), seed=5)
    counts = s.cohort.value_counts()
    assert counts["internal"] == 60 and counts["train"] == 140
    rates = s.groupby("cohort").y.mean()
    assert abs(rates["train"] - rates["internal"]) < 0.02  # stratified: same prevalence
    assert s.equals(assign(c, "ln", section("split", method="random", test_fraction=0.3), seed=5))
    assert not s.equals(assign(c, "ln", section("split", method="random", test_fraction=0.3), seed=6))


def test_external_temporal_and_validation_at_once():
    c = _clinical()
    settings = section("split", test_fraction=0.2, validation_fraction=0.2,
                       external={"column": "center", "values": ["B"]},
                       temporal={"column": "exam_date", "from": "2023-01-01", "name": "prospective"})
    s = assign(c, "ln", settings, seed=1).set_index("patient_id")
    c = c.set_index("patient_id")
    assert (s.cohort[c.center == "B"] == "external").all()
    late = (c.center == "A") & (pd.to_datetime(c.exam_date) >= "2023-01-01")
    assert (s.cohort[late] == "prospective").all()
    pool = ~late & (c.center == "A")
    n_pool = int(pool.sum())
    counts = s.cohort[pool].value_counts()
    # 60:20:20 of the pool (train_test_split rounds the test share up)
    assert counts["internal"] == int(np.ceil(0.2 * n_pool))
    assert abs(counts["validation"] - 0.2 * n_pool) <= 1
    assert set(s.cohort) == set(planned_cohorts(settings))
    assert planned_cohorts(settings) == ["train", "external", "internal", "prospective", "validation"]


def test_no_internal_hold_out_when_fraction_zero():
    c = _clinical()
    settings = section("split", test_fraction=0, external={"column": "center", "values": ["B"], "name": "test"})
    s = assign(c, "ln", settings, seed=1)
    assert set(s.cohort) == {"train", "test"} == set(planned_cohorts(settings))


def test_fixed_column():
    c = _clinical()
    c["split"] = np.where(np.arange(len(c)) % 4 == 0, " validation", "train")
    s = assign(c, "ln", section("split", method="column", column="split"), seed=0)
    assert (s.cohort == np.where(np.arange(len(c)) % 4 == 0, "validation", "train")).all()
    assert planned_cohorts(section("split", method="column", column="split"), c) == ["train", "validation"]


def test_bad_dates_are_reported_with_rows():
    c = _clinical(20)
    c.loc[3, "exam_date"] = "not a date"
    with pytest.raises(InputError, match="unreadable dates"):
        assign(c, "ln", section("split", temporal={"column": "exam_date", "from": "2022-01-01"}), seed=0)
