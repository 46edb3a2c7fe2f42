"""The cluster cost projection's arithmetic, and its reading of Snakemake's dry-run job table."""

import pytest

from axilla.projection import parse_job_stats, project, stage_cost, table

DRY_RUN = """Building DAG of jobs...
Job stats:
job                 count
----------------  -------
preprocess           1732
radiomics            1732
select                  3
all                     1
total                3468

Reasons:
"""

COSTS = {  # (wall s, CPU s, view) as axilla.scaling.job_costs gives them
    "preprocess": [(1.0, 0.5, "US_tumor"), (1.0, 1.5, "US_node"), (9.0, 30.0, "MRI_T2")],
    "radiomics": [(2.0, 2.0, "US_tumor"), (2.0, 2.0, "US_node")],
    "select": [(10.0, 8.0, None), (30.0, 28.0, None)],
}


def test_job_table_is_read_from_a_dry_run():
    assert parse_job_stats(DRY_RUN) == {"preprocess": 1732, "radiomics": 1732, "select": 3}


def test_projection_by_hand():
    jobs = {"preprocess": 100, "radiomics": 100, "select": 3}
    # per image: US means only (1.0 and 2.0 CPU s), MRI's job ignored; select (one size measured,
    # at 10 patients): mean 18 CPU s and 20 s wall, x 2 at 20 patients
    p = project(jobs, {10: COSTS}, ["US_tumor", "US_node"], 20, nodes=2, cores=4, start_s=10.0)
    assert p["jobs"] == 203
    assert p["cpu_hours"] == pytest.approx((100 * 1.0 + 100 * 2.0 + 3 * 36.0) / 3600)
    # (300 CPU s + 200 jobs x 10 s) over 8 cores, then 3 select jobs of 2 x 20 s one after another
    assert p["wall_hours"] == pytest.approx((2300 / 8 + 3 * 40.0) / 3600)


def test_one_node_pays_no_cluster_job_start():
    lines = table({"radiomics": 3600}, {10: COSTS}, ["US_tumor"], 10, cores=2, nodes=(1, 10))
    assert lines[2] == "| 1 x 2 | 3,600 | 2.0 | 60 min |"
    assert lines[3] == "| 10 x 2 | 3,600 | 2.0 | 36 min |"  # (7200 + 36000) s / 20 cores


def test_study_level_cost_is_a_line_through_the_sizes():
    """A job of 5 s start-up + 0.1 s per patient, measured at 30 and 120 patients: 91.6 s at 866,
    not 866/120 x 17 s; a cost falling with size reads as flat (the mean)."""
    runs = {30: {"train": [(8.0, 8.0, None)]}, 120: {"train": [(17.0, 17.0, None)]}}
    assert stage_cost("train", runs, 866) == pytest.approx((91.6, 91.6))
    falling = {30: {"train": [(9.0, 9.0, None)]}, 120: {"train": [(7.0, 7.0, None)]}}
    assert stage_cost("train", falling, 866) == pytest.approx((8.0, 8.0))
    assert stage_cost("report", runs, 866) == (0.0, 0.0)
