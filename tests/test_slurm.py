"""The small study (tests/smallstudy.py) through `profiles/slurm` on a real one-node SLURM.

The cluster (tests/slurmcluster.py) is built here: Debian's slurm-wlm and munge, installed when
missing, one node on 127.0.0.1, no accounting. The study is submitted with the README's commands
("Running on SLURM": the plugin installed from profiles/slurm/requirements.txt, then
`snakemake --profile profiles/slurm` with the two flags for clusters without accounting). Checked:
the jobs went to SLURM (the plugin's job ids are jobs slurmctld allocated, each cluster rule was
submitted and none ran as a local job, the per-image jobs went as arrays; a fall-back to local
execution has none of this) and every result equals the local run's.
Run by `make test-slurm` (.ci/run), not `make test`: minutes, and it installs system packages.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import slurmcluster
import smallstudy

ROOT = Path(__file__).resolve().parents[1]
# The README's command on a cluster without accounting (python -m: this test's interpreter).
SLURM_FLAGS = ["--profile", "profiles/slurm", "--slurm-no-account", "--slurm-status-command", "squeue"]
# Rules the profile sends to SLURM for the small study (the others are `localrules`).
CLUSTER_RULES = {"demo", "validate", "preprocess", "radiomics", "deep", "reproducibility", "select",
                 "train", "optimism", "interpret", "train_fusion", "evaluate"}

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.xdist_group(name="smallstudy")]


def _install_plugin() -> None:
    """The README's plugin install, into this interpreter's environment, when missing."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-r",
                        str(ROOT / "profiles" / "slurm" / "requirements.txt")], check=True, timeout=600)


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        pytest.skip("builds a SLURM with apt-get and root daemons: run as root (CI)")
    slurmcluster.install()
    _install_plugin()
    c = slurmcluster.Cluster().start()
    try:
        yield c
    finally:
        c.stop()


def _slurm_run(d: Path, c: slurmcluster.Cluster) -> tuple[subprocess.CompletedProcess, float]:
    start = time.time()
    r = subprocess.run([sys.executable, "-m", "snakemake", *SLURM_FLAGS], cwd=d, env=c.env(),
                       capture_output=True, text=True, timeout=1500)
    wall = time.time() - start
    (d / "snakemake-console.log").write_text(r.stdout + r.stderr)
    assert r.returncode == 0, (r.stdout + r.stderr)[-6000:]
    return r, wall


def test_study_through_the_slurm_profile_equals_local_run(cluster, tmp_path):
    start = time.time()
    ref = smallstudy.reference()
    local_wall = time.time() - start
    d = smallstudy.workdir(tmp_path)
    r, slurm_wall = _slurm_run(d, cluster)
    out = r.stdout + r.stderr

    single = dict(re.findall(r"SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/", out))
    arrays = re.findall(r"Submitted array job with Snakemake IDs [\d,]+ and SLURM job ID (\d+)", out)
    submitted = set(single) | set(arrays)
    allocated = set(re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", cluster.log()))
    assert submitted, "no job was submitted to SLURM (executed locally?):\n" + out[-3000:]
    assert submitted <= allocated, f"job ids {sorted(submitted - allocated)} unknown to slurmctld"
    assert arrays, "the per-image jobs were not submitted as job arrays"
    # every rule the profile leaves to SLURM went there, none ran on the submitting machine
    assert CLUSTER_RULES - {"preprocess", "radiomics"} <= set(single.values()), sorted(set(single.values()))
    ran_here = {r for r in CLUSTER_RULES if re.search(rf"^localrule {r}:", out, re.M)}
    assert not ran_here, f"ran locally instead of on SLURM: {sorted(ran_here)}"
    assert re.search(r"^localrule report:", out, re.M)  # localrules stay local

    assert smallstudy.digest(d) == smallstudy.digest(ref)
    print(f"\nslurm_wall={slurm_wall:.0f}s local_wall={local_wall:.0f}s (0 when cached) "
          f"slurm_jobs={len(submitted)}", file=sys.stderr)
