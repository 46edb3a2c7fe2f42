"""axilla.cluster: the rules' resources fitted to a SLURM site (profiles/slurm/site.yaml).

The sbatch flags are checked with the executor plugin's own translation (`set_gres_string`,
when the plugin is installed) and by hand; node sizes come from a fake `sinfo` on PATH."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from axilla import cluster

ROOT = Path(__file__).resolve().parents[1]


def _site(**kw) -> cluster.Site:
    return cluster.Site(active=True, **kw)


def _gres_flags(resources: dict) -> str:
    """What the SLURM plugin turns these resources into (its own code)."""
    utils = pytest.importorskip("snakemake_executor_plugin_slurm.utils")

    class Res(dict):
        __getattr__ = dict.get

    return utils.set_gres_string(SimpleNamespace(resources=Res(resources))).strip()


def test_local_runs_keep_every_rule_as_written():
    local = cluster.Site()
    assert local.fit(mem_mb=8000, runtime=120, gpu=1) == {"mem_mb": 8000, "runtime": 120, "gpu": 1}
    assert local.fit(mem_mb=2000, runtime=5, gpu=0) == {"mem_mb": 2000, "runtime": 5}
    assert local.threads(8) == 8


def test_no_gpu_request_and_cpu_partition_when_deep_gpu_is_off():
    s = _site(partition="short", gpu_partition="gpu", gpu_request="gres")
    r = s.fit(mem_mb=8000, runtime=120, gpu=0)
    assert r == {"mem_mb": 8000, "runtime": 120, "slurm_partition": "short"}


@pytest.mark.parametrize("style, model, flags", [
    ("gpu", None, "--gpus=1"),
    ("gpu_model", "a100", "--gpus=a100:1"),
    ("gres", None, "--gres=gpu:1"),
    ("gres", "v100", "--gres=gpu:v100:1"),
])
def test_gpu_request_styles_become_the_sbatch_flags(style, model, flags):
    r = _site(partition="short", gpu_partition="gpu", gpu_request=style, gpu_model=model).fit(mem_mb=8000, gpu=1)
    assert r["slurm_partition"] == "gpu"
    assert _gres_flags(r) == flags


def test_requests_capped_at_the_smallest_node():
    s = _site(max_threads=4, max_mem_mb=6000, account="lab1")
    assert s.threads(8) == 4 and s.threads(2) == 2
    assert s.fit(mem_mb=8000, runtime=120) == {"mem_mb": 6000, "runtime": 120, "slurm_account": "lab1"}
    assert s.fit(mem_mb=2000)["mem_mb"] == 2000


def test_node_limits_from_sinfo(tmp_path, monkeypatch):
    fake = tmp_path / "sinfo"
    # two nodes: 16 CPUs / 64000 MB and 8 CPUs / 30000 MB ("+" marks a range in sinfo's output)
    fake.write_text("#!/bin/sh\nprintf '16 64000\\n8+ 30000\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert cluster.smallest_node(None) == (8, 30000 - cluster.MEM_MARGIN_MB)
    site_file = tmp_path / "site.yaml"
    site_file.write_text("partition: short\nmax_mem_mb: 20000\n")
    monkeypatch.setenv(cluster.SITE_VAR, str(site_file))
    s = cluster.site("slurm", ROOT)
    assert (s.partition, s.max_threads, s.max_mem_mb) == ("short", 8, 20000)
    assert not cluster.site("local", ROOT).active


def test_site_file_problems_say_what_to_do(tmp_path):
    bad = tmp_path / "site.yaml"
    bad.write_text("partiton: short\n")
    with pytest.raises(ValueError, match="unknown keys.*partiton"):
        cluster.read(bad)
    bad.write_text("gpu_request: gpu_model\n")
    with pytest.raises(ValueError, match="needs gpu_model"):
        cluster.read(bad)


def test_shipped_site_file_reads_and_lists_every_key():
    path = ROOT / "profiles" / "slurm" / "site.yaml"
    assert set(yaml.safe_load(path.read_text())) == set(cluster.FIELDS)
    assert cluster.read(path) == cluster.Site(active=True)


def test_lazy_handle_reads_the_site_when_the_executor_is_known(tmp_path, monkeypatch):
    site_file = tmp_path / "site.yaml"
    site_file.write_text("partition: short\nmax_threads: 2\nmax_mem_mb: 4000\n")
    monkeypatch.setenv(cluster.SITE_VAR, str(site_file))
    executor = {"name": None}  # unknown while the Snakefile is parsed
    lazy = cluster.Lazy(lambda: executor["name"], ROOT)
    res, threads = lazy.fit(mem_mb=8000, runtime=60, gpu=0), lazy.threads(8)
    executor["name"] = "slurm"
    got = {k: f(None) for k, f in res.items()}
    assert got == {"mem_mb": 4000, "runtime": 60, "slurm_partition": "short", "slurm_account": None,
                   "gpu": None, "gpu_model": None, "gres": None}
    assert threads(None) == 2


def test_resampling_jobs_start_workers_only_when_each_gets_enough_resamples():
    from axilla.cluster import resample_threads

    # the demo's 3 bootstraps and 5 permutations, the small study's 2: one process, no worker start-up
    assert [resample_threads(n) for n in (0, 2, 3, 5, 15)] == [1] * 5
    assert [resample_threads(n) for n in (16, 31, 32, 200, 1000)] == [2, 3, 4, 4, 4]
