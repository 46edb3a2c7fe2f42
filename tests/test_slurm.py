"""The small study (tests/smallstudy.py) through `profiles/slurm` on a real one-node SLURM.

The cluster (tests/slurmcluster.py) is built here: Debian's slurm-wlm and munge, installed when
missing, one node on 127.0.0.1, no accounting. The study is submitted with the README's commands
("Running on SLURM": the plugin installed from profiles/slurm/requirements.txt, then
`snakemake --profile profiles/slurm` with the two flags for clusters without accounting). Checked:
the jobs went to SLURM (the plugin's job ids are jobs slurmctld allocated, each cluster rule was
submitted and none ran as a local job, the per-image jobs went as group jobs; a fall-back to local
execution has none of this) and every result equals the local run's.
Run by `make test-slurm` (.ci/run), not `make test`: minutes, and it installs system packages.
"""

from __future__ import annotations

import os
import re
import sys
import time

import pytest

import slurmcluster
import smallstudy

# Rules the profile sends to SLURM for the small study (the others are `localrules`).
CLUSTER_RULES = {"demo", "validate", "preprocess", "radiomics", "deep", "reproducibility", "select",
                 "train", "optimism", "interpret", "train_fusion", "permutation", "evaluate"}

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.xdist_group(name="smallstudy")]


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        pytest.skip("builds a SLURM with apt-get and root daemons: run as root (CI)")
    slurmcluster.install()
    slurmcluster.install_plugin()
    c = slurmcluster.Cluster().start()
    try:
        yield c
    finally:
        c.stop()


def test_study_through_the_slurm_profile_equals_local_run(cluster, tmp_path):
    start = time.time()
    ref = smallstudy.reference()
    local_wall = time.time() - start
    d = smallstudy.workdir(tmp_path)
    out, slurm_wall = slurmcluster.submit(d, cluster)

    single = dict(re.findall(r"SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/", out))
    # an image's preprocess + radiomics, two images a job (the profile's groups / group-components)
    groups = re.findall(r"SLURM jobid (\d+) \(log: \S*/slurm_logs/group_per_image_preprocess_radiomics/", out)
    submitted = set(single) | set(groups)
    allocated = set(re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", cluster.log()))
    assert submitted, "no job was submitted to SLURM (executed locally?):\n" + out[-3000:]
    assert submitted <= allocated, f"job ids {sorted(submitted - allocated)} unknown to slurmctld"
    n_images = len(list((smallstudy.results(d) / "radiomics").glob("*/*.csv")))
    assert len(groups) == n_images // 2, f"{len(groups)} group jobs for {n_images} images"
    # every rule the profile leaves to SLURM went there, none ran on the submitting machine
    assert CLUSTER_RULES - {"preprocess", "radiomics"} <= set(single.values()), sorted(set(single.values()))
    ran_here = {r for r in CLUSTER_RULES if re.search(rf"^localrule {r}:", out, re.M)}
    assert not ran_here, f"ran locally instead of on SLURM: {sorted(ran_here)}"
    assert re.search(r"^localrule report:", out, re.M)  # localrules stay local

    assert smallstudy.digest(d) == smallstudy.digest(ref)
    print(f"\nslurm_wall={slurm_wall:.0f}s local_wall={local_wall:.0f}s (0 when cached) "
          f"slurm_jobs={len(submitted)}", file=sys.stderr)
