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


# Temporal cohort of an earlier period (`split.temporal.before`, seed 000's test set): patients
# examined before the date; exactly one of `from` / `before`.

def test_before_takes_the_earlier_period_and_the_rest_is_split():
    c = _clinical()
    settings = section("split", test_fraction=0.2, external={"column": "center", "values": ["B"]},
                       temporal={"column": "exam_date", "before": "2020-07-01", "name": "earlier"})
    s = assign(c, "ln", settings, seed=3).set_index("patient_id")
    c = c.set_index("patient_id")
    dates = pd.to_datetime(c.exam_date)
    # the date itself is not "before": strictly earlier exams only (hand-counted via pandas)
    early = (c.center == "A") & (dates < pd.Timestamp("2020-07-01"))
    assert early.sum() > 20
    assert (s.cohort[early] == "earlier").all()
    assert (s.cohort[c.center == "B"] == "external").all()  # external wins over the date
    assert not (s.cohort[~early] == "earlier").any()
    pool = ~early & (c.center == "A")
    assert s.cohort[pool].value_counts()["internal"] == int(np.ceil(0.2 * pool.sum()))
    assert planned_cohorts(settings) == ["train", "earlier", "external", "internal"] == ["train", *sorted(set(s.cohort) - {"train"})]


def test_before_on_the_boundary_date():
    c = pd.DataFrame({"patient_id": [f"P{i}" for i in range(8)], "ln": [0, 1] * 4,
                      "exam_date": ["2020-12-31", "2021-01-01", "2020-06-01", "2021-03-01",
                                    "2022-01-01", "2019-01-01", "2021-05-05", "2021-06-06"]})
    s = assign(c, "ln", section("split", test_fraction=0, temporal={"before": "2021-01-01"}), seed=0)
    assert list(s.loc[s.cohort != "train", "patient_id"]) == ["P0", "P2", "P5"]


def test_from_and_before_split_the_dates_complementarily():
    c = _clinical()
    late = assign(c, "ln", section("split", test_fraction=0, temporal={"from": "2021-01-01"}), seed=0)
    early = assign(c, "ln", section("split", test_fraction=0, temporal={"before": "2021-01-01"}), seed=0)
    assert ((late.cohort == "prospective") ^ (early.cohort == "prospective")).all()


@pytest.mark.parametrize("temporal", [{"column": "exam_date"}, {"from": "2021-01-01", "before": "2022-01-01"}])
def test_exactly_one_of_from_and_before(temporal):
    with pytest.raises(InputError, match="key 'split.temporal': needs exactly one of 'from'.*or 'before'"):
        section("split", temporal=temporal)


def test_direct_callers_get_the_same_check():
    # settings built without the schema check (a job's section) still refuse an ambiguous period
    settings = section("split", check=False, test_fraction=0, temporal={"from": "2021-01-01", "before": "2022-01-01"})
    with pytest.raises(InputError, match="exactly one of 'from'"):
        assign(_clinical(), "ln", settings, seed=0)
