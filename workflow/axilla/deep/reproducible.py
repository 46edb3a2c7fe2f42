"""`deep.reproducible`: the same deep features on any x86-64 CPU (strict) or the fastest kernels (off).

Fine-tuning amplifies last-bit float differences: the kernels torch, MKL and oneDNN pick for the
CPU at hand (AVX-512, AVX2, baseline) sum in different orders, and a few epochs later the
features differ by a large fraction of their scale. Strict pins every such choice:

- ATen's CPU kernels to the baseline build (`ATEN_CPU_CAPABILITY=default`),
- MKL to its conditional-numerical-reproducibility code path (`MKL_CBWR=COMPATIBLE`),
- oneDNN off (`torch.backends.mkldnn.enabled = False`: convolutions go through im2col + MKL
  GEMM; oneDNN's blocking follows the CPU's cache sizes), its ISA capped as well,
- intra-op threads to `deep.threads` (a reduction's order depends on the thread count; Snakemake
  lowers a job's threads to `--cores`, strict does not follow it),
- deterministic algorithms, cuDNN deterministic without benchmarking, no TF32, a fixed cuBLAS
  workspace (on a GPU).

The environment variables take effect only when set before torch is imported:
`pin_environment` (the `deep` job's script calls it first); `strict_mode` (inside the job) sets
the torch flags, checks that the pins took effect and returns the record the provenance keeps.

What stays machine-dependent: a GPU run differs from a CPU run, and GPU runs differ between GPU
models and CUDA/cuDNN versions (strict makes a GPU repeat itself, not match a CPU); non-x86 CPUs
(ARM) compile the baseline kernels differently (untested); other torch / MKL versions.
This module imports torch only inside `strict_mode`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from typing import Iterator

MODES = ("strict", "off")

# Set before torch is imported (read once, when each library initialises).
STRICT_ENV = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "DNNL_MAX_CPU_ISA": "SSE41",
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
}
_MKL_CBWR_COMPATIBLE = 3  # MKL's code for MKL_CBWR_COMPATIBLE (mkl_cbwr_get's return value)

HOW = ("deep.reproducible: strict needs {vars} set before torch is imported; the workflow's deep job does "
       "this; in a Python session of your own call axilla.deep.reproducible.pin_environment('strict') "
       "before importing torch (or set deep.reproducible: off)")


def mode_of(value) -> str:
    """'strict' or 'off' from the config value (YAML reads a bare `off` as false)."""
    if value is False or value == "off":
        return "off"
    if value == "strict":
        return "strict"
    raise ValueError(f"deep.reproducible must be 'strict' or 'off', got {value!r}")


def pin_environment(mode) -> dict:
    """Strict: set STRICT_ENV in this process (before torch is imported); returns the values the
    variables had before (None: unset). Off: nothing is changed."""
    if mode_of(mode) == "off":
        return {}
    if "torch" in sys.modules:
        raise RuntimeError("pin_environment must run before torch is imported: " + HOW.format(vars="these variables"))
    before = {k: os.environ.get(k) for k in STRICT_ENV}
    os.environ.update(STRICT_ENV)
    return before


def _mkl_branch() -> int | None:
    """MKL's code path in effect (mkl_cbwr_get of the MKL linked into torch); None if unknown."""
    import ctypes

    import torch

    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
        get = lib.mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return None
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
    return int(get(1))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _check_pins() -> list[str]:
    """The strict pins not in effect in this process."""
    import torch

    bad = []
    if torch.backends.cpu.get_cpu_capability() != "DEFAULT":
        bad.append(f"ATEN_CPU_CAPABILITY=default (in effect: {torch.backends.cpu.get_cpu_capability()})")
    branch = _mkl_branch()
    if torch.backends.mkl.is_available() and branch is not None and branch != _MKL_CBWR_COMPATIBLE:
        bad.append(f"MKL_CBWR=COMPATIBLE (MKL branch in effect: {branch})")
    return bad


def _record(mode: str, device: str, threads: int) -> dict:
    import torch

    rec = {"mode": mode, "device": device, "cpu": _cpu_model(), "threads": threads,
           "cpu_capability": torch.backends.cpu.get_cpu_capability(), "mkldnn": torch.backends.mkldnn.enabled,
           "mkl_cbwr_branch": _mkl_branch(), "env": {k: os.environ.get(k) for k in STRICT_ENV},
           "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
           "cudnn_deterministic": torch.backends.cudnn.deterministic, "cudnn_benchmark": torch.backends.cudnn.benchmark,
           "tf32": bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32),
           "torch": torch.__version__}
    if mode == "strict":
        rec["note"] = ("identical deep features on any x86-64 CPU with these versions (baseline ATen kernels, "
                       "MKL CNR, no oneDNN, fixed threads)" if device == "cpu" else
                       "deterministic GPU flags: repeats on the same GPU model and CUDA/cuDNN versions; a GPU run "
                       "differs from a CPU run and between GPU models")
    else:
        rec["note"] = "the CPU's fastest kernels: deep features depend on the machine (CPU model, thread count)"
    return rec


@contextlib.contextmanager
def strict_mode(mode, threads: int, device: str = "cpu") -> Iterator[dict]:
    """Within: torch set for `mode` (strict: the flags above, `threads` intra-op threads; off:
    unchanged); yields the provenance record, filled in when the block ends. The torch flags are restored on exit.

    Raises RuntimeError in strict mode when the environment pins did not take effect
    (torch imported before `pin_environment`)."""
    import torch

    mode = mode_of(mode)
    rec: dict = {}
    if mode == "off":
        yield rec
        rec.update(_record(mode, device, torch.get_num_threads()))  # as the run left torch
        return
    bad = _check_pins()
    if bad:
        raise RuntimeError(HOW.format(vars=", ".join(bad)))
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.cuda.matmul.allow_tf32,
             torch.backends.mkldnn.enabled)
    torch.set_num_threads(max(1, int(threads)))
    # warn_only: ResNet's adaptive average pooling has no deterministic CUDA backward (an error otherwise)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.mkldnn.enabled = False  # (mkldnn.flags() would warn about TF32 on Intel GPUs)
    try:
        with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True, allow_tf32=False):
            yield rec
            rec.update(_record(mode, device, torch.get_num_threads()))
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1], warn_only=saved[2])
        torch.backends.cuda.matmul.allow_tf32, torch.backends.mkldnn.enabled = saved[3], saved[4]

