"""A small whole study (24 demo patients, one US view, one fine-tuning epoch) for the fault and
determinism tests. The uninterrupted reference run is made once per test session and shared."""

from __future__ import annotations

import atexit
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
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
split: {method: random, test_fraction: 0.3, external: null}
select: {lasso: {folds: 2}}
models:
  clinical: {features: [clinical]}
  radiomics: {features: [radiomics]}
  deep: {features: [deep]}
  postfusion: {fuse: [clinical, radiomics, deep]}
evaluate: {optimism_bootstraps: 2}
"""
# Per-job records that legitimately differ between runs: timings and timestamped log lines.
VOLATILE = ("logs", "benchmarks")

_reference: Path | None = None


def copy_workflow(d: Path) -> None:
    """The workflow's files into ``d``: no results, no venv, no generated demo cohort."""
    for item in ["Snakefile", "workflow", "config", "envs", "resources", "profiles"]:
        src = ROOT / item
        if src.is_dir():
            # resources/demo holds generated cohorts; workflow/axilla/demo is the package
            skip = ("demo", "__pycache__") if item == "resources" else ("__pycache__",)
            shutil.copytree(src, d / item, ignore=shutil.ignore_patterns(*skip))
        else:
            shutil.copy(src, d / item)


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


def reference() -> Path:
    """The uninterrupted run, made on first use (the directory lives until the interpreter exits)."""
    global _reference
    if _reference is None:
        tmp = Path(tempfile.mkdtemp(prefix="axilla-ref-"))
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        d = workdir(tmp)
        run(d)
        _reference = d
    return _reference
