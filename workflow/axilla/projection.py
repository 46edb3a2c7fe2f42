"""What a larger study would cost, projected from one measured run (`make bench-scaling PROJECT=...`).

Jobs per rule come from `snakemake -n` of the projected study itself (e.g. seed 002's preset with
866 demo patients: its real DAG). Per-job CPU comes from the measured run's jobs:
- per-image rules (a `{patient}` wildcard: preprocess, radiomics): the mean of the measured jobs of
  the projected study's views (an image costs what an image of its view cost);
- study-level rules (select, train, deep, ...): a straight line a + b x patients through the mean
  job cost of each measured size (least squares; with one size, proportional to patients), so a
  job's fixed start-up is not multiplied by the cohort; a line falling with size is read as flat.
Wall time on `nodes` x `cores`: per-image work spread over every core, each job paying `start_s`
on a cluster (SLURM: ~10 s of `srun` and re-parsing the workflow per job, measured in the README's
SLURM section; none locally), then the study-level jobs one after the other (an upper bound: they
depend on each other through selection, training and evaluation).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

PER_IMAGE_RULES = ("preprocess", "radiomics")
CLUSTER_START_S = 10.0


def dry_run_jobs(workdir: Path) -> dict[str, int]:
    """Jobs per rule of the study configured in `workdir` (`snakemake -n`'s job stats)."""
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules"], cwd=workdir,
                       check=True, capture_output=True, text=True)
    return parse_job_stats(r.stdout + r.stderr)


def parse_job_stats(text: str) -> dict[str, int]:
    """`rule count` rows of Snakemake's "Job stats:" table (the first one), without `all`/`total`."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "Job stats:") + 3
    jobs = {}
    for ln in lines[start:]:
        parts = ln.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] not in ("all", "total"):
            jobs[parts[0]] = int(parts[1])
    return jobs


def _mean(jobs: list, k: int) -> float:
    return sum(j[k] for j in jobs) / len(jobs)


def stage_cost(rule: str, runs: dict[int, dict], n: int) -> tuple[float, float]:
    """(CPU s, wall s) of one job of a study-level `rule` at `n` patients, from `runs` (size -> costs)."""
    sizes = sorted(m for m, costs in runs.items() if costs.get(rule))
    if not sizes:
        return 0.0, 0.0
    if len(sizes) == 1:
        m = sizes[0]
        return tuple(n / m * _mean(runs[m][rule], k) for k in (1, 0))
    out = []
    for k in (1, 0):
        y = np.array([_mean(runs[m][rule], k) for m in sizes])
        b, a = np.polyfit(sizes, y, 1)
        out.append(float(a + b * n) if b > 0 else float(y.mean()))
    return out[0], out[1]


def job_cost(rule: str, runs: dict[int, dict], views: list[str], n: int) -> tuple[float, float]:
    """(CPU s, wall s) of one job of `rule` in the projected study of `n` patients."""
    if rule not in PER_IMAGE_RULES:
        return stage_cost(rule, runs, n)
    measured = runs[max(runs)].get(rule, [])
    measured = [c for c in measured if c[2] in views] or measured
    return (_mean(measured, 1), _mean(measured, 0)) if measured else (0.0, 0.0)


def project(jobs: dict[str, int], runs: dict[int, dict], views: list[str], n: int, nodes: int, cores: int,
            start_s: float) -> dict:
    """Jobs, CPU-hours and projected wall hours of the study on `nodes` x `cores`."""
    image_cpu = stage_wall = cpu = 0.0
    image_jobs = 0
    for rule, count in jobs.items():
        c, w = job_cost(rule, runs, views, n)
        cpu += count * c
        if rule in PER_IMAGE_RULES:
            image_cpu += count * c
            image_jobs += count
        else:
            stage_wall += count * w
    wall = (image_cpu + image_jobs * start_s) / (nodes * cores) + stage_wall
    return dict(nodes=nodes, cores=cores, jobs=sum(jobs.values()), cpu_hours=cpu / 3600, wall_hours=wall / 3600)


def table(jobs: dict[str, int], runs: dict[int, dict], views: list[str], n: int, cores: int,
          nodes: tuple[int, ...] = (1, 10, 50)) -> list[str]:
    """The README's cost table: one node run locally (no job start cost), more through SLURM."""
    lines = ["| nodes x cores | jobs | CPU-hours | wall time (upper bound) |", "|---|---|---|---|"]
    for k in nodes:
        p = project(jobs, runs, views, n, k, cores, 0.0 if k == 1 else CLUSTER_START_S)
        lines.append(f"| {k} x {cores} | {p['jobs']:,} | {p['cpu_hours']:.1f} | {p['wall_hours'] * 60:.0f} min |")
    return lines
