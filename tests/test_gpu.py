"""The GPU allocator: concurrent jobs on one machine take different devices; SLURM's allocation wins."""

import ast
import fcntl
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from axilla import gpu

ROOT = Path(__file__).resolve().parents[1]

# One `deep` job: claims a device, says which, holds it until told to release.
WORKER = """
import os, sys, time
from pathlib import Path
from axilla.gpu import claim_gpu
said, release = Path(sys.argv[1]), Path(sys.argv[2])
with claim_gpu(True, poll=0.05) as device:
    said.write_text(f"{device} {os.environ.get('CUDA_VISIBLE_DEVICES')}")
    while not release.exists():
        time.sleep(0.02)
"""


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    return {**env, "PYTHONPATH": str(ROOT / "workflow"), gpu.COUNT_VAR: "2",
            gpu.LOCK_DIR_VAR: str(tmp_path / "locks"), **extra}


def _start(tmp_path, name):
    said, release = tmp_path / f"{name}.said", tmp_path / f"{name}.release"
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(said), str(release)], env=_env(tmp_path))
    return proc, said, release


def _wait_for(path: Path, timeout: float = 60) -> str:
    end = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < end, f"{path.name} never claimed a device"
        time.sleep(0.02)
    return path.read_text()


def _device(said_text: str) -> str:
    device, visible = said_text.split()
    assert visible == device  # the job sees exactly the device it holds
    return device


def test_concurrent_jobs_take_different_devices_and_a_third_waits(tmp_path):
    (a, a_said, a_release), (b, b_said, b_release) = _start(tmp_path, "a"), _start(tmp_path, "b")
    c = None
    try:
        devices = {_device(_wait_for(a_said)), _device(_wait_for(b_said))}
        assert devices == {"0", "1"}
        c, c_said, c_release = _start(tmp_path, "c")
        time.sleep(1.5)  # both devices are held: the third job waits
        assert c.poll() is None and not c_said.exists()
        a_release.touch()
        assert a.wait(30) == 0
        assert _device(_wait_for(c_said)) == _device(a_said.read_text())  # it takes the freed device
        b_release.touch()
        c_release.touch()
        assert b.wait(30) == 0 and c.wait(30) == 0
    finally:
        for p in (a, b, c):
            if p is not None and p.poll() is None:
                p.kill()


def test_a_killed_job_frees_its_device(tmp_path):
    a, a_said, _ = _start(tmp_path, "a")
    first = _device(_wait_for(a_said))
    a.kill()
    a.wait(30)
    b, b_said, b_release = _start(tmp_path, "b")
    try:
        assert _device(_wait_for(b_said)) == first  # the lowest free index again: the lock went with the process
    finally:
        b_release.touch()
        b.wait(30)


def test_slurm_allocation_is_left_alone(tmp_path, monkeypatch):
    for k, v in _env(tmp_path, SLURM_JOB_ID="4242", CUDA_VISIBLE_DEVICES="3").items():
        monkeypatch.setenv(k, v)
    with gpu.claim_gpu(True) as device:
        assert device is None and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3" and not (tmp_path / "locks").exists()


def test_a_users_own_restriction_is_kept(tmp_path, monkeypatch):
    """Outside SLURM, CUDA_VISIBLE_DEVICES=2,3 means: choose among devices 2 and 3."""
    for k, v in _env(tmp_path, CUDA_VISIBLE_DEVICES="2,3").items():
        monkeypatch.setenv(k, v)
    (tmp_path / "locks").mkdir()
    with open(tmp_path / "locks" / "gpu2.lock", "a+") as held:  # another job holds device 2
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with gpu.claim_gpu(True, poll=0.05) as device:
            assert device == "3" and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,3"  # restored after the block


@pytest.mark.parametrize("count, wanted", [("0", True), ("2", False)])
def test_nothing_claimed_without_a_gpu_or_when_not_asked(tmp_path, monkeypatch, caplog, count, wanted):
    for k, v in _env(tmp_path, **{gpu.COUNT_VAR: count}).items():
        monkeypatch.setenv(k, v)
    with caplog.at_level(logging.INFO, logger="axilla"), gpu.claim_gpu(wanted) as device:
        assert device is None and "CUDA_VISIBLE_DEVICES" not in os.environ
    assert not (tmp_path / "locks").exists()
    assert ("runs on the CPU" in caplog.text) == wanted


def test_device_count_from_nvidia_smi(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-a)'\necho 'GPU 1: NVIDIA H100 (UUID: GPU-b)'\n"
                    "echo '  MIG 1g.10gb Device 0: (UUID: MIG-c)'\n")
    fake.chmod(0o755)
    monkeypatch.delenv(gpu.COUNT_VAR, raising=False)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert gpu.device_count() == 2
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert gpu.device_count() == 0


def test_deep_script_claims_before_torch_is_imported():
    tree = ast.parse((ROOT / "workflow" / "scripts" / "deep.py").read_text())
    top_imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    # axilla.deep.reproducible imports no torch (tests/test_deep_strict.py) and must come first too
    assert all("deep" not in (n.module or "").replace("axilla.deep.reproducible", "")
               and all(a.name != "deep" for a in n.names) for n in top_imports)
    with_ = next(n for n in tree.body if isinstance(n, ast.With))
    assert with_.items[0].context_expr.func.id == "claim_gpu"
    inner = [n for n in with_.body if isinstance(n, ast.ImportFrom)]
    assert inner and inner[0].names[0].name == "deep"


def test_gpu_asked_on_a_cpu_machine_runs_on_cpu_and_says_so(caplog):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    from axilla.deep.stage import _run_device
    from axilla.settings import section

    with caplog.at_level(logging.INFO, logger="axilla"):
        assert _run_device(section("deep", gpu=True), "US", "tumor") == "cpu"
    assert "deep.gpu is set but no CUDA device is visible" in caplog.text
