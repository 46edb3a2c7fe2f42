"""The scaling benchmark's arithmetic on benchmark files written here, as Snakemake writes them."""

import pytest

import subprocess
from pathlib import Path
import sys

from axilla.scaling import job_costs, logged_cpu, parallel_efficiency, report_size

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _tsv(path, wall, cpu):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:01\t10\t10\t10\t10\t0\t0\t50\t{cpu}\n")


def test_job_costs_by_rule_and_efficiency(tmp_path):
    b = tmp_path / "benchmarks"
    _tsv(b / "demo.tsv", 10.0, 16.0)
    _tsv(b / "preprocess" / "P1" / "US_tumor.tsv", 2.0, 1.5)
    _tsv(b / "preprocess" / "P2" / "US_tumor.tsv", 3.0, 2.5)
    logs = tmp_path / "logs"
    (logs / "preprocess" / "P2").mkdir(parents=True)
    # a job's own usage line wins over the benchmark's polled cpu_time; the last line counts
    (logs / "preprocess" / "P2" / "US_tumor.log").write_text(
        "x INFO axilla: job usage: cpu_s=9.000 max_rss_mb=1\nx INFO axilla: job usage: cpu_s=2.750 max_rss_mb=1\n")
    (logs / "demo.log").write_text("x INFO axilla: started\n")
    costs = job_costs(b, logs)
    assert costs == {"demo": [(10.0, 16.0, None)], "preprocess": [(2.0, 1.5, "US_tumor"), (3.0, 2.75, "US_tumor")]}
    # 20 CPU-seconds of jobs in 12.5 s on 2 cores: 20 / 25
    assert parallel_efficiency(20.0, 12.5, 2) == pytest.approx(0.8)
    lines = report_size(dict(n=2, wall=12.5, jobs=3, job_wall=15.0, job_cpu=20.0, costs=costs), 2,
                        dict(n=1, wall=5.0))
    assert "parallel_efficiency=0.800" in lines[0] and "s_per_patient=6.25" in lines[0] and "growth=1.25" in lines[0]
    assert "  rule=preprocess jobs=2 mean_cpu_s=2.12 mean_wall_s=2.50" in lines


def test_a_job_logs_its_exact_cpu_time(tmp_path):
    """A job spinning for about 1.2 s of CPU and exiting at once: its log's usage line has it (a
    benchmark polled every 0.5 s can miss up to 0.5 s), and not its children's sleep."""
    log = tmp_path / "job.log"
    code = ("import time, subprocess; from axilla.io import setup_logging; setup_logging(%r);"
            "subprocess.run(['sleep', '0.3']); t = time.process_time()\n"
            "while time.process_time() - t < 1.2: pass") % str(log)
    subprocess.run([sys.executable, "-c", code], check=True)
    cpu = logged_cpu(log)
    assert 1.2 <= cpu < 2.5


def test_rules_are_named_from_snakemakes_run_log(tmp_path):
    """Benchmark folders name stages (select/ holds select and select_scores jobs): the run log says which rule."""
    from axilla.scaling import benchmark_rules

    (tmp_path / "2026-12-01T000000.1.snakemake.log").write_text(
        "localrule select:\n    output: x\n    benchmark: results/s/benchmarks/select/radiomics.tsv\n\n"
        "rule select_scores:\n    jobid: 4\n    benchmark: results/s/benchmarks/select/scorefusion.tsv\n")
    rules = benchmark_rules(tmp_path)
    assert rules == {Path("select/radiomics.tsv"): "select", Path("select/scorefusion.tsv"): "select_scores"}
    b = tmp_path / "benchmarks"
    _tsv(b / "select" / "scorefusion.tsv", 2.0, 1.0)
    assert job_costs(b, tmp_path / "logs", rules) == {"select_scores": [(2.0, 1.0, None)]}
