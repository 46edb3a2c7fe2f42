"""How the study scales with the cohort: `python -m axilla.bench scaling` (`make bench-scaling`).

For each demo cohort size the whole study runs in a fresh copy of the workflow with all cores:
its wall time, the sum of the jobs' own times from their `benchmark:` files (wall and CPU),
`parallel_efficiency` = job CPU-seconds / (wall x cores), and seconds per patient with their
growth from the previous size. Then the dry-run DAG build time for large cohorts
(`dag_seconds_<n>`; the demo plans its jobs without any file existing). Per-rule mean CPU seconds
are printed too: they are what the README's cluster cost table is projected from.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from .io import USAGE_PREFIX, atomic_path

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_ITEMS = ("Snakefile", "workflow", "config", "envs", "resources", "profiles")


def copy_workflow(dst: Path) -> None:
    """The workflow without results, generated demo cohorts or caches."""
    for item in WORKFLOW_ITEMS:
        src = ROOT / item
        if src.is_dir():
            skip = ("demo", "__pycache__") if item == "resources" else ("__pycache__",)
            shutil.copytree(src, dst / item, ignore=shutil.ignore_patterns(*skip))
        else:
            shutil.copy(src, dst / item)


def write_study(dst: Path, base_config: Path, n_patients: int) -> str:
    """`base_config` with a demo cohort of `n_patients`, as the copy's config/config.yaml (a
    --configfile would be merged into the demo config). Returns the study name."""
    cfg = yaml.safe_load(base_config.read_text())
    cfg.update(manifest=None, clinical=None, study=f"scale{n_patients}")
    cfg["demo"] = {**(cfg.get("demo") or {}), "n_patients": n_patients}
    with atomic_path(dst / "config" / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg["study"]


def benchmark_rules(snakemake_logs: Path) -> dict[Path, str]:
    """Benchmark file (relative to `benchmarks`) -> the rule that wrote it, from Snakemake's own run
    logs (`rule X:` / `localrule X:` ... `benchmark: <path>`): folders name stages, not rules
    (benchmarks/select/ holds select and select_scores jobs)."""
    out, rule = {}, None
    for log in sorted(snakemake_logs.glob("*.snakemake.log")):
        for ln in log.read_text(errors="replace").splitlines():
            if ln.startswith(("rule ", "localrule ")) and ln.rstrip().endswith(":"):
                rule = ln.split()[1].rstrip(":")
            elif ln.strip().startswith("benchmark:") and rule:
                path = Path(ln.split("benchmark:", 1)[1].strip())
                parts = path.parts
                if "benchmarks" in parts:
                    out[Path(*parts[parts.index("benchmarks") + 1:])] = rule
    return out


def job_costs(benchmarks: Path, logs: Path, rules: dict[Path, str] | None = None
              ) -> dict[str, list[tuple[float, float, str | None]]]:
    """(wall s, CPU s, view) of every job by rule (view: `<MOD>_<view>` of a per-image job,
    benchmarks/<rule>/<patient>/<view>.tsv; None otherwise): wall from Snakemake's benchmark TSVs under `benchmarks`
    (by `rules`, from :func:`benchmark_rules`, else the first folder), CPU from the job's own last log line at the same relative path
    under `logs` (axilla.io writes it from getrusage). Snakemake's `cpu_time` polls the process
    (every 0.5 s, then 30 s) and misses each job's end; it is used only for a job without that line."""
    out: dict[str, list[tuple[float, float]]] = {}
    for tsv in sorted(benchmarks.rglob("*.tsv")):
        rel = tsv.relative_to(benchmarks)
        with open(tsv, newline="") as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        cpu = logged_cpu(logs / rel.with_suffix(".log"))
        cpu = float(row["cpu_time"]) if cpu is None else cpu
        view = rel.stem if len(rel.parts) == 3 else None
        rule = (rules or {}).get(rel, rel.parts[0].removesuffix(".tsv"))
        out.setdefault(rule, []).append((float(row["s"]), cpu, view))
    return out


def logged_cpu(log: Path) -> float | None:
    """`cpu_s` of the job's usage line (the last one: a rerun job's log is rewritten), if any."""
    if not log.exists():
        return None
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if USAGE_PREFIX in ln]
    if not lines:
        return None
    return float(lines[-1].split("cpu_s=")[1].split()[0])


def parallel_efficiency(cpu_seconds: float, wall_seconds: float, cores: int) -> float:
    return cpu_seconds / (wall_seconds * cores)


def run_size(work: Path, base_config: Path, n: int, cores: int) -> dict:
    """One whole study of `n` demo patients; its times and per-rule job costs."""
    d = work / f"n{n}"
    d.mkdir(parents=True)
    copy_workflow(d)
    study = write_study(d, base_config, n)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores)], cwd=d,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"the {n}-patient study failed:\n{r.stderr[-3000:]}")
    res = d / "results" / study
    costs = job_costs(res / "benchmarks", res / "logs", benchmark_rules(d / ".snakemake" / "log"))
    jobs = [c for cs in costs.values() for c in cs]
    return dict(n=n, wall=wall, jobs=len(jobs), job_wall=sum(c[0] for c in jobs),
                job_cpu=sum(c[1] for c in jobs), costs=costs)


def dag_seconds(work: Path, base_config: Path, n: int) -> float:
    """Wall seconds of `snakemake -n` for a demo cohort of `n` patients."""
    d = work / f"dag{n}"
    d.mkdir(parents=True)
    copy_workflow(d)
    write_study(d, base_config, n)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet"], cwd=d, check=True, capture_output=True)
    return time.perf_counter() - t0


def report_size(res: dict, cores: int, previous: dict | None) -> list[str]:
    per_patient = res["wall"] / res["n"]
    growth = "" if previous is None else f" growth={per_patient / (previous['wall'] / previous['n']):.2f}"
    eff = parallel_efficiency(res["job_cpu"], res["wall"], cores)
    lines = [f"scaling n={res['n']} jobs={res['jobs']} wall_s={res['wall']:.1f} job_wall_s={res['job_wall']:.1f} "
             f"job_cpu_s={res['job_cpu']:.1f} parallel_efficiency={eff:.3f} s_per_patient={per_patient:.2f}{growth}"]
    for rule, cs in sorted(res["costs"].items()):
        lines.append(f"  rule={rule} jobs={len(cs)} mean_cpu_s={sum(c[1] for c in cs) / len(cs):.2f} "
                     f"mean_wall_s={sum(c[0] for c in cs) / len(cs):.2f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    """`python -m axilla.bench scaling`: the whole demo study at several cohort sizes, then DAG build time."""
    ap = argparse.ArgumentParser(prog="python -m axilla.bench scaling", description=main.__doc__)
    ap.add_argument("--sizes", type=int, nargs="*", default=[60, 120], help="demo cohorts to run (at least 60: see the Makefile)")
    ap.add_argument("--dag", type=int, nargs="*", default=[1000, 5000], help="cohorts for the dry-run DAG time")
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"), help="study settings (demo cohort)")
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--workdir", help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--project", help="a study config (e.g. a preset) whose cost to project from the largest size")
    ap.add_argument("--project-n", type=int, default=866, help="its demo cohort size (seed 002: 866)")
    ap.add_argument("--node-cores", type=int, default=16, help="cores per node of the projection")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="axilla-scaling-") as tmp:
        work = Path(a.workdir or tmp)
        previous, runs = None, {}
        for n in a.sizes:
            res = run_size(work, Path(a.config), n, a.cores)
            print("\n".join(report_size(res, a.cores, previous)), flush=True)
            previous, runs[n] = res, res["costs"]
        for n in a.dag:
            print(f"dag_seconds_{n}={dag_seconds(work, Path(a.config), n):.1f}", flush=True)
        if a.project and runs:
            print("\n".join(projected(work, Path(a.project), a.project_n, runs, a.node_cores)), flush=True)


def projected(work: Path, config: Path, n: int, runs: dict[int, dict], cores: int) -> list[str]:
    """The cost table of `config` with `n` demo patients, from the measured runs' job costs (size -> costs)."""
    from .projection import dry_run_jobs, table

    d = work / f"project{n}"
    d.mkdir(parents=True)
    copy_workflow(d)
    write_study(d, config, n)
    views = [f"{m}_{v}" for m, vs in yaml.safe_load(config.read_text())["views"].items() for v in vs]
    head = f"projection {config.name} n={n} from the runs of n={', '.join(map(str, sorted(runs)))} (views {', '.join(views)})"
    return [head, *table(dry_run_jobs(d), runs, views, n, cores)]
