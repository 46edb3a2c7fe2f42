"""What a job asks a SLURM cluster for: the rules' own `resources:` fitted to the site.

A Snakemake profile cannot read the study config, so whether `deep` asks for a GPU
(`deep.gpu`), which partition that needs and how this cluster wants GPUs requested is decided here,
in the rules, from one small file the user adapts (`profiles/slurm/site.yaml`, or the file named
by `AXILLA_SLURM_SITE`): partition, GPU partition, account, GPU request style (`gpu` ->
`--gpus=1`, `gpu_model` -> `--gpus=<model>:1`, `gres` -> `--gres=gpu[:<model>]:1`), and the
largest job a node takes. A job asking for more CPUs or memory than any node has pends forever
with no word from SLURM or Snakemake, so threads and `mem_mb` are capped at the smallest node
(`max_threads` / `max_mem_mb`, or `sinfo`'s answer when null).

Outside the SLURM executors (local runs) nothing is read and every rule keeps its own numbers.
The executor is only known once Snakemake executes (not while it parses the Snakefile), so the
rules get :class:`Lazy` callables, which Snakemake evaluates per job.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import yaml

log = logging.getLogger("axilla")

SITE_VAR = "AXILLA_SLURM_SITE"
SLURM_EXECUTORS = ("slurm", "slurm-jobstep")
GPU_STYLES = ("gpu", "gpu_model", "gres")
SITE_RESOURCES = ("slurm_partition", "slurm_account", "gpu", "gpu_model", "gres")
FIELDS = ("partition", "gpu_partition", "account", "gpu_request", "gpu_model", "max_threads", "max_mem_mb")
# A resampling job (optimism bootstraps, label permutations) starts a worker process per thread
# beyond the first, each importing the stack (~2-3 s of CPU); measured on the former e2e study (2
# resamples per model), its 11 jobs took 194 s with 2 threads each and 104 s with 1. A worker
# earns its start-up with this many resamples or more.
RESAMPLES_PER_WORKER = 8
MAX_RESAMPLE_THREADS = 4
# Head-room under the node's memory: the plugin adds a little to array tasks' --mem (their payload).
MEM_MARGIN_MB = 64


@dataclass(frozen=True)
class Site:
    """A cluster's settings; ``active`` False (local runs) leaves every request as the rule has it."""

    active: bool = False
    partition: str | None = None
    gpu_partition: str | None = None
    account: str | None = None
    gpu_request: str = "gpu"
    gpu_model: str | None = None
    max_threads: int | None = None
    max_mem_mb: int | None = None

    def threads(self, n: int) -> int:
        """A rule's threads, no more than the smallest node's CPUs."""
        return min(n, self.max_threads) if self.active and self.max_threads else n

    def fit(self, gpu: int = 0, **resources) -> dict:
        """A rule's resources for this site: memory capped, partition, account, the GPU asked for
        in the site's style (and in a GPU partition) only when ``gpu`` > 0. Locally: unchanged."""
        if not self.active:
            return {**resources, "gpu": gpu} if gpu else dict(resources)
        out = dict(resources)
        if self.max_mem_mb and out.get("mem_mb", 0) > self.max_mem_mb:
            out["mem_mb"] = self.max_mem_mb
        partition = (self.gpu_partition or self.partition) if gpu else self.partition
        if partition:
            out["slurm_partition"] = partition
        if self.account:
            out["slurm_account"] = self.account
        if gpu:
            out.update(self._gpu(gpu))
        return out

    def _gpu(self, n: int) -> dict:
        if self.gpu_request == "gres":
            return {"gres": f"gpu:{self.gpu_model}:{n}" if self.gpu_model else f"gpu:{n}"}
        if self.gpu_request == "gpu_model":
            return {"gpu": n, "gpu_model": self.gpu_model}
        return {"gpu": n}


def read(path: str | Path) -> Site:
    """The site file (YAML mapping of :data:`FIELDS`), checked."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; the keys are {list(FIELDS)}")
    site = Site(active=True, **{k: v for k, v in data.items() if v is not None})
    if site.gpu_request not in GPU_STYLES:
        raise ValueError(f"{path}: gpu_request is {site.gpu_request!r}; use one of {list(GPU_STYLES)}")
    if site.gpu_request == "gpu_model" and not site.gpu_model:
        raise ValueError(f"{path}: gpu_request: gpu_model needs gpu_model (e.g. a100)")
    return site


def smallest_node(partition: str | None) -> tuple[int | None, int | None]:
    """CPUs and memory (MB) of the partition's smallest node by `sinfo` (None when it can't say)."""
    cmd = ["sinfo", "--noheader", "--format=%c %m"] + (["--partition", partition] if partition else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    rows = [line.split() for line in out.splitlines() if line.strip()]
    cpus = [int(c.rstrip("+")) for c, _ in rows if c.rstrip("+").isdigit()]
    mems = [int(m.rstrip("+")) for _, m in rows if m.rstrip("+").isdigit()]
    return (min(cpus) if cpus else None), (min(mems) - MEM_MARGIN_MB if mems else None)


def site(executor: str, basedir: str | Path) -> Site:
    """The site for this run: inactive unless ``executor`` is a SLURM one; node limits from
    `sinfo` where the file leaves them null."""
    if executor not in SLURM_EXECUTORS:
        return Site()
    s = read(os.environ.get(SITE_VAR) or Path(basedir) / "profiles" / "slurm" / "site.yaml")
    if s.max_threads is None or s.max_mem_mb is None:
        cpus, mem = smallest_node(s.partition)
        s = replace(s, max_threads=s.max_threads or cpus, max_mem_mb=s.max_mem_mb or mem)
    return s


def resample_threads(n_resamples: int) -> int:
    """Threads (= worker processes) for a job refitting `n_resamples` times: 1 below
    2 x RESAMPLES_PER_WORKER, then one per RESAMPLES_PER_WORKER, at most MAX_RESAMPLE_THREADS.
    The results do not depend on it (the resamples are drawn before they are shared out)."""
    return max(1, min(MAX_RESAMPLE_THREADS, n_resamples // RESAMPLES_PER_WORKER))


class Lazy:
    """The rules' handle on the site: ``fit`` and ``threads`` return per-job callables, so the
    site is read (once) when the first job is planned, by which time the executor is known.
    A resource whose value is None is dropped by Snakemake, so local jobs ask for nothing new."""

    def __init__(self, executor: Callable[[], str | None], basedir: str | Path):
        self._executor, self._basedir = executor, basedir

    @cached_property
    def site(self) -> Site:
        return site(self._executor() or "", self._basedir)

    def fit(self, **resources) -> dict:
        keys = dict.fromkeys([*resources, *SITE_RESOURCES])
        return {k: (lambda wildcards, k=k: self.site.fit(**resources).get(k)) for k in keys}

    def threads(self, n: int | Callable) -> Callable:
        return lambda wildcards: self.site.threads(n(wildcards) if callable(n) else n)
