"""What a larger study would cost, projected from one measured run (`make bench-scaling PROJECT=...`).

Jobs per rule come from `snakemake -n` of the projected study itself (e.g. seed 002's preset with
866 demo patients: its real DAG). Per-job CPU comes from the measured run's jobs:
- per-image rules (a `{patient}` wildcard: preprocess, radiomics): the mean of the measured jobs of
  the projected study's views (an image costs what an image of its view cost);
- study-level rules (select, train, deep, ...): the measured mean scaled by cohort size (linear; a
  stated assumption: LASSO paths and fine-tuning grow about linearly with patients).
Wall time on `nodes` x `cores`: per-image work spread over every core, each job paying `start_s`
on a cluster (SLURM: ~10 s of `srun` and re-parsing the workflow per job, measured in the README's
SLURM section; none locally), then the study-level jobs one after the other (an upper bound: they
depend on each other through selection, training and evaluation).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def job_cost(rule: str, costs: dict, views: list[str], scale: float) -> tuple[float, float]:
    """(CPU s, wall s) of one job of `rule` in the projected study."""
    measured = costs.get(rule, [])
    if rule in PER_IMAGE_RULES:
        measured = [c for c in measured if c[2] in views] or measured
        scale = 1.0
    if not measured:
        return 0.0, 0.0
    return (scale * sum(c[1] for c in measured) / len(measured), scale * sum(c[0] for c in measured) / len(measured))


def project(jobs: dict[str, int], costs: dict, views: list[str], scale: float, nodes: int, cores: int,
            start_s: float) -> dict:
    """Jobs, CPU-hours and projected wall hours of the study on `nodes` x `cores`."""
    image_cpu = stage_wall = cpu = 0.0
    image_jobs = 0
    for rule, n in jobs.items():
        c, w = job_cost(rule, costs, views, scale)
        cpu += n * c
        if rule in PER_IMAGE_RULES:
            image_cpu += n * c
            image_jobs += n
        else:
            stage_wall += n * w
    wall = (image_cpu + image_jobs * start_s) / (nodes * cores) + stage_wall
    return dict(nodes=nodes, cores=cores, jobs=sum(jobs.values()), cpu_hours=cpu / 3600, wall_hours=wall / 3600)


def table(jobs: dict[str, int], costs: dict, views: list[str], scale: float, cores: int,
          nodes: tuple[int, ...] = (1, 10, 50)) -> list[str]:
    """The README's cost table: one node run locally (no job start cost), more through SLURM."""
    lines = ["| nodes x cores | jobs | CPU-hours | wall time |", "|---|---|---|---|"]
    for k in nodes:
        p = project(jobs, costs, views, scale, k, cores, 0.0 if k == 1 else CLUSTER_START_S)
        lines.append(f"| {k} x {cores} | {p['jobs']:,} | {p['cpu_hours']:.1f} | {p['wall_hours'] * 60:.0f} min |")
    return lines
