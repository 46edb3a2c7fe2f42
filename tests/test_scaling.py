"""The scaling benchmark's arithmetic on benchmark files written here, as Snakemake writes them."""

import pytest

from axilla.scaling import job_costs, parallel_efficiency, report_size

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _tsv(path, wall, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:01\t10\t10\t10\t10\t0\t0\t50\t{cpu}\n")


def test_job_costs_by_rule_and_efficiency(tmp_path):
    b = tmp_path / "benchmarks"
    _tsv(b / "demo.tsv", 10.0, 16.0)
    _tsv(b / "preprocess" / "P1" / "US_tumor.tsv", 2.0, 1.5)
    _tsv(b / "preprocess" / "P2" / "US_tumor.tsv", 3.0, 2.5)
    costs = job_costs(b)
    assert costs == {"demo": [(10.0, 16.0)], "preprocess": [(2.0, 1.5), (3.0, 2.5)]}
    # 20 CPU-seconds of jobs in 12.5 s on 2 cores: 20 / 25
    assert parallel_efficiency(20.0, 12.5, 2) == pytest.approx(0.8)
    lines = report_size(dict(n=2, wall=12.5, jobs=3, job_wall=15.0, job_cpu=20.0, costs=costs), 2,
                        dict(n=1, wall=5.0))
    assert "parallel_efficiency=0.800" in lines[0] and "s_per_patient=6.25" in lines[0] and "growth=1.25" in lines[0]
    assert "  rule=preprocess jobs=2 mean_cpu_s=2.00 mean_wall_s=2.50" in lines
