"""One free GPU per job on a multi-GPU machine: a lock file per device index.

Snakemake's `resources: gpu=1` is only a counter (`--resources gpu=N` caps how many `deep` jobs
run at once); it does not say which device a job should use, so without this every job lands on
GPU 0. `claim_gpu()` takes the first device whose lock it can get (a non-blocking `flock` on each
index in turn, polling while all are busy), points `CUDA_VISIBLE_DEVICES` at it and holds the
lock until the job ends; the kernel drops the lock when the process dies, so a killed job frees
its device. It must run before torch initialises CUDA (before torch is imported, to be safe).

Under SLURM (`SLURM_JOB_ID` and `CUDA_VISIBLE_DEVICES` both set) the scheduler has already given
the job its devices: nothing is changed. On a machine without GPUs nothing is claimed and the job
runs on the CPU (`axilla.deep.stage` logs the device either way).

Environment: `AXILLA_GPU_COUNT` overrides the device count (tests; `nvidia-smi -L` otherwise);
`AXILLA_GPU_LOCK_DIR` the lock folder (default `.snakemake/gpu-locks/<host>` under the working
directory; point several projects at one folder to share a workstation's GPUs between them).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

log = logging.getLogger("axilla")

COUNT_VAR = "AXILLA_GPU_COUNT"
LOCK_DIR_VAR = "AXILLA_GPU_LOCK_DIR"


def device_count() -> int:
    """GPUs on this machine: `AXILLA_GPU_COUNT`, else the lines of `nvidia-smi -L`, else 0.
    (Not torch.cuda: asking it would initialise CUDA before the job's device is chosen.)"""
    if os.environ.get(COUNT_VAR, "").strip():
        return int(os.environ[COUNT_VAR])
    try:
        res = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in res.stdout.splitlines()) if res.returncode == 0 else 0


def candidates() -> list[str]:
    """Device ids a job may take: those CUDA_VISIBLE_DEVICES already allows (a user's own
    restriction on a workstation), else every index."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip():
        return [d.strip() for d in visible.split(",") if d.strip()]
    return [str(i) for i in range(device_count())]


def scheduler_allocated() -> bool:
    """SLURM gave this job its GPUs (and set CUDA_VISIBLE_DEVICES to them)."""
    return bool(os.environ.get("SLURM_JOB_ID")) and os.environ.get("CUDA_VISIBLE_DEVICES") is not None


def lock_dir() -> Path:
    default = Path(".snakemake") / "gpu-locks" / socket.gethostname()  # per host: the folder may be shared
    return Path(os.environ.get(LOCK_DIR_VAR) or default)


def _try_lock(path: Path):
    """An open file holding an exclusive lock on `path`, or None when another process holds it."""
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def _acquire(devices: list[str], folder: Path, poll: float):
    """(device, locked file) of the first free device, waiting while every one is busy."""
    folder.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for device in devices:
            if (fh := _try_lock(folder / f"gpu{device}.lock")) is not None:
                if waited:
                    log.info("GPU %s became free", device)
                return device, fh
        if not waited:
            log.info("all %d GPUs are taken by other jobs (locks in %s); waiting for one", len(devices), folder)
            waited = True
        time.sleep(poll)


@contextlib.contextmanager
def claim_gpu(wanted: bool = True, poll: float = 2.0) -> Iterator[str | None]:
    """Hold one free GPU for the block, visible to this process as its only CUDA device.

    Yields the device id claimed, or None when nothing was claimed: `wanted` false (`deep.gpu`
    off), the scheduler's allocation in place (SLURM), or no GPU on this machine."""
    if not wanted:
        yield None
        return
    if scheduler_allocated():
        log.info("GPU(s) %s allocated by SLURM; left as they are", os.environ["CUDA_VISIBLE_DEVICES"])
        yield None
        return
    devices = candidates()
    if not devices:
        log.info("deep.gpu is set but this machine has no GPU; the job runs on the CPU")
        yield None
        return
    device, fh = _acquire(devices, lock_dir(), poll)
    previous = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = device
    log.info("GPU %s claimed (one of %d; lock %s)", device, len(devices), fh.name)
    try:
        yield device
    finally:
        if previous is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = previous
        fh.close()  # releases the lock
