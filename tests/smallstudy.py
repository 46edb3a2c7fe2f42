"""A small whole study (24 demo patients, one US view, one fine-tuning epoch, an external centre,
every model kind, permutation control, a nomogram and a bundle) for the end-to-end, fault, determinism
and apply tests. Two runs are made once per test session and shared: the uninterrupted
reference, and a run killed twice and resumed (:func:`resumed`). Every job of the second is
computed afresh in its own working copy, so comparing the two is also the determinism check."""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = "small"
# Written as the copy's config/config.yaml: a --configfile would be merged into the demo config's
# nine views, not replace them.
CONFIG = """\
study: small
seed: 3
manifest: null
clinical: null
demo: {n_patients: 24, rater_fraction: 0.3}
validate: {missing_view: stop, confine_paths: true}
views: {US: [tumor]}
clinical_variables: {age: numeric, ki67: numeric, shape: categorical, imaging_node: categorical}
preprocess:
  US: {spacing: [0.25, 0.25], normalize: zscore}
deep:
  backbone: {US: resnet18}
  size_2d: [32, 32]
  weights: {source: finetune, epochs: 1, batch_size: 8, patience: 1}
reproducibility: {pairs: [[A, B]]}
split: {method: random, test_fraction: 0.3, external: {column: center, values: [B]}}
select: {lasso: {folds: 2, n_lambda: 20}}
models:
  clinical: {features: [clinical]}
  radiomics: {features: [radiomics]}
  deep: {features: [deep]}
  combined: {features: [clinical], scores: [radiomics, deep], nomogram: true}
  postfusion: {fuse: [clinical, radiomics, deep]}
# the rules run; 2 resamples / permutations keep the suite fast
evaluate: {optimism_bootstraps: 2, permutations: 2}
# the frozen study that tests/test_apply.py applies to a cohort
bundle: true
"""
# Per-job records that legitimately differ between runs: timings and timestamped log lines.
VOLATILE = ("logs", "benchmarks")

_reference: Path | None = None
_resumed: "Resumed | None" = None


def copy_workflow(d: Path) -> None:
    """The workflow's files into ``d``: no results, no venv, no generated demo cohort."""
    from axilla.scaling import copy_workflow as copy

    copy(Path(d))


def workdir(parent: Path) -> Path:
    """A copy of the workflow (no results, no demo cohort) with the small study as its config."""
    d = Path(parent)
    copy_workflow(d)
    (d / "config" / "config.yaml").write_text(CONFIG)
    return d


def command() -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", "2"]


def run(d: Path, timeout: int = 1200) -> subprocess.CompletedProcess:
    r = subprocess.run(command(), cwd=d, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-4000:]
    return r


def results(d: Path) -> Path:
    return Path(d) / "results" / STUDY


def digest(d: Path) -> dict[str, str]:
    """Content hash of every results file, by path, leaving out logs and benchmarks."""
    base = results(d)
    out = {}
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base)
        if p.is_file() and rel.parts[0] not in VOLATILE:
            data = p.read_bytes()
            if p.name == "report.html":  # its run time (from the benchmarks) is compared by content
                data = re.sub(rb'<p class="runtime">.*?</p>', b"", data, flags=re.S)
            out[str(rel)] = hashlib.sha256(data).hexdigest()
    return out


def _session_dir(prefix: str) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=prefix))  # lives until the interpreter exits
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    return workdir(tmp)


def reference() -> Path:
    """The uninterrupted run, made on first use."""
    global _reference
    if _reference is None:
        d = _session_dir("axilla-ref-")
        run(d)
        _reference = d
    return _reference


@dataclass(frozen=True)
class Resumed:
    """A run stopped by SIGTERM mid-way through the per-image jobs, resumed, stopped by SIGKILL
    once modelling had begun, unlocked and resumed to the end. ``done_*``: finished jobs
    (benchmark file -> mtime) after each stop and at the end; ``tmp_after_term``: temporaries
    left by the SIGTERM."""

    dir: Path
    done_term: dict
    done_kill: dict
    done_end: dict
    tmp_after_term: list


def resumed() -> Resumed:
    """The killed-and-resumed run, made on first use."""
    global _resumed
    if _resumed is None:
        d = _session_dir("axilla-resumed-")
        proc = _start(d)
        _wait_for(d, "radiomics/*/US_tumor.csv", 4, proc)
        _kill(proc, signal.SIGTERM)
        _complete_preprocess_dirs(d)
        tmp_after_term = temporaries(d)
        done_term = finished_jobs(d)
        proc = _start(d)
        _wait_for(d, "selection/*/selection.pkl", 1, proc)
        _kill(proc, signal.SIGKILL)
        _complete_preprocess_dirs(d)
        done_kill = finished_jobs(d)
        # after a SIGKILL Snakemake's lock is stale: the documented `--unlock`, then the plain rerun
        subprocess.run([*command(), "--unlock"], cwd=d, check=True, capture_output=True, timeout=300)
        run(d)
        _resumed = Resumed(d, done_term, done_kill, finished_jobs(d), tmp_after_term)
    return _resumed


def _start(d: Path) -> subprocess.Popen:
    # Snakemake's log goes to a file: an undrained pipe fills up and blocks Snakemake mid-run
    log = open(Path(d) / "snakemake-console.log", "a")
    return subprocess.Popen(command(), cwd=d, stdout=log, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def _wait_for(d: Path, pattern: str, n: int, proc: subprocess.Popen, timeout: int = 900) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if len(list(results(d).glob(pattern))) >= n:
            return
        assert proc.poll() is None, f"the run ended before {n} × {pattern} existed"
        time.sleep(0.2)
    raise TimeoutError(pattern)


def _kill(proc: subprocess.Popen, sig: int) -> None:
    os.killpg(proc.pid, sig)  # the whole process group: Snakemake and its running jobs
    proc.wait(timeout=120)
    assert proc.returncode != 0


def finished_jobs(d: Path) -> dict[str, int]:
    """Jobs that had finished, by their benchmark file (written when a job ends) and its mtime."""
    base = results(d) / "benchmarks"
    return {str(p.relative_to(base)): p.stat().st_mtime_ns for p in base.rglob("*.tsv")} if base.exists() else {}


def temporaries(d: Path) -> list[str]:
    """What atomic_path stages: `.name.XXXX.tmp` files and `.name.XXXX` directories."""
    return sorted(str(p) for p in results(d).rglob(".*") if p.name.endswith(".tmp") or p.is_dir())


def _complete_preprocess_dirs(d: Path) -> None:
    # staged `.US_tumor.XXXX` directories are expected after a SIGKILL: their rerun removes them
    for job in (p for p in results(d).glob("preprocess/*/*") if not p.name.startswith(".")):
        names = {p.name for p in job.iterdir()}
        assert {"image.nii.gz", "mask-A.nii.gz", "qc.json"} <= names, f"{job} looks finished but is not"
