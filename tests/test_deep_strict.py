"""deep.reproducible: strict gives byte-identical deep features whatever kernels the CPU would
pick: the `deep` job's own script (workflow/scripts/deep.py, run as Snakemake runs it, in a fresh
process) under two ATEN_CPU_CAPABILITY / MKL / oneDNN settings; off keeps the machine's kernels."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from axilla.deep import reproducible
from axilla.settings import section

ROOT = Path(__file__).resolve().parents[1]

# Runs workflow/scripts/deep.py with a stand-in for the `snakemake` object Snakemake injects.
JOB = r"""
import json, runpy, sys
from types import SimpleNamespace as NS
from axilla.settings import section
a = json.loads(sys.argv[1])
S = section("deep", **a["settings"])
sm = NS(wildcards=NS(modality="US", view="node"), params=NS(settings=S, primary_rater="A", seed=5),
        output=NS(features=a["out"] + ".csv", provenance=a["out"] + ".json", gradcam=None,
                  network=[]),
        input=NS(preps=a["dirs"], split=a["split"], segmentation=[]), log=[a["out"] + ".log"], threads=a["threads"])
runpy.run_path(a["script"], init_globals={"snakemake": sm})
"""

# A machine whose torch would use AVX2 kernels, and MKL / oneDNN told to use AVX2 code paths.
AVX2_MACHINE = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
BASELINE_MACHINE = {"ATEN_CPU_CAPABILITY": "default"}


def _job(tmp, name, dirs, split, mode, machine, threads=1):
    from test_deep_pipeline import SETTINGS

    settings = {**SETTINGS, "reproducible": mode}
    env = {k: v for k, v in os.environ.items() if k not in reproducible.STRICT_ENV}
    env.update(machine, PYTHONPATH=str(ROOT / "workflow"))
    out = str(tmp / name)
    arg = {"settings": settings, "out": out, "dirs": dirs, "split": split, "threads": threads,
           "script": str(ROOT / "workflow" / "scripts" / "deep.py")}
    subprocess.run([sys.executable, "-c", JOB, json.dumps(arg)], env=env, check=True, cwd=tmp, timeout=600)
    return Path(out + ".csv").read_bytes(), json.loads(Path(out + ".json").read_text())


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or "avx2" not in Path("/proc/cpuinfo").read_text(),
                    reason="needs an x86-64 CPU with AVX2 to run two different kernel sets")
def test_strict_features_are_byte_identical_across_cpu_capabilities(tmp_path):
    from test_deep_pipeline import _cohort

    dirs, split = _cohort(tmp_path / "study")
    # off: each process keeps the kernels it was given, and they change the features
    off_a, prov_off_a = _job(tmp_path, "off_avx2", dirs, split, "off", AVX2_MACHINE)
    off_b, prov_off_b = _job(tmp_path, "off_base", dirs, split, "off", BASELINE_MACHINE)
    assert prov_off_a["reproducible"]["cpu_capability"] == "AVX2"
    assert prov_off_b["reproducible"]["cpu_capability"] == "DEFAULT"
    assert off_a != off_b  # the comparison below can fail
    # strict: the same bytes, whatever the environment asked for (and Snakemake's threads)
    strict_a, prov_a = _job(tmp_path, "strict_avx2", dirs, split, "strict", AVX2_MACHINE, threads=2)
    strict_b, prov_b = _job(tmp_path, "strict_base", dirs, split, "strict", BASELINE_MACHINE)
    assert strict_a == strict_b
    rec = prov_a["reproducible"]
    assert rec["mode"] == "strict" and rec["cpu_capability"] == "DEFAULT" and rec["mkldnn"] is False
    assert rec["threads"] == 1 and rec["deterministic_algorithms"] is True  # deep.threads, not Snakemake's 2
    assert rec["env"]["MKL_CBWR"] == "COMPATIBLE" and rec["mkl_cbwr_branch"] in (3, None)
    assert prov_a["model_sha256"] == prov_b["model_sha256"]


def test_the_pinning_module_imports_no_torch_and_the_script_pins_first():
    code = "import sys, axilla.deep.reproducible; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "workflow")})
    assert out.stdout.strip() == "False"
    script = (ROOT / "workflow" / "scripts" / "deep.py").read_text()
    assert script.index("pin_environment(p.settings.reproducible)") < script.index("with claim_gpu(")


def test_strict_refuses_a_process_whose_torch_was_not_pinned(tmp_path):
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("this process already runs the baseline kernels")
    with pytest.raises(RuntimeError, match="ATEN_CPU_CAPABILITY=default.*pin_environment"):
        with reproducible.strict_mode("strict", 1):
            pass
    with pytest.raises(RuntimeError, match="before torch is imported"):
        reproducible.pin_environment("strict")
    assert reproducible.pin_environment("off") == {}


def test_off_leaves_torch_as_it_is_and_yaml_off_reads_as_off():
    threads, mkldnn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    with reproducible.strict_mode(False, 1) as rec:
        assert torch.backends.mkldnn.enabled == mkldnn
    assert rec["mode"] == "off" and rec["threads"] == threads and "depend on the machine" in rec["note"]
    assert section("deep", reproducible=False).reproducible is False  # YAML reads a bare `off` as false
    assert section("deep").reproducible == "strict"
    with pytest.raises(ValueError, match="strict' or 'off'"):
        reproducible.mode_of("on")


def test_report_states_the_mode_and_what_remains(tmp_path):
    from axilla.report.provenance import reproducibility_table

    rec = {"mode": "strict", "device": "cpu", "cpu": "Some CPU", "cpu_capability": "DEFAULT", "mkldnn": False,
           "threads": 1, "env": {"MKL_CBWR": "COMPATIBLE"}}
    path = tmp_path / "deep_weights.json"
    path.write_text(json.dumps({"US_node": {"details": {"reproducible": rec}}}))
    table, words = reproducibility_table(str(path))
    assert table.iloc[0].to_dict() == {"view": "US_node", "mode": "strict", "device": "cpu", "CPU": "Some CPU",
                                       "ATen kernels": "DEFAULT", "MKL": "COMPATIBLE", "oneDNN": "off", "threads": 1}
    assert "any x86-64 CPU" in words and "GPU run gives other features" in words
    path.write_text(json.dumps({"US_node": {"details": {"reproducible": {**rec, "mode": "off"}}}, "MG_CC": {}}))
    table, words = reproducibility_table(str(path))
    assert list(table["mode"]) == ["off", "not recorded"] and "depend on the machine" in words
