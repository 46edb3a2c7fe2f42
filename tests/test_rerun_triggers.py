"""A changed setting reruns the jobs it concerns. Snakemake reruns a job whose params changed, but
only params it can record (builtins); rules hand their jobs typed settings objects, which it
skips, so each such rule also passes `settings_text` (workflow/rules/common.smk). Checked with
Snakemake's own serializer on the DAG of a small demo study, before and after changing settings."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from axilla.scaling import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
BASE = {"demo": {"n_patients": 20}, "bundle": True, "segment": {"enabled": True, "views": ["US_tumor"]}}
# each change, and rules whose jobs must see it
CHANGES = {
    ("deep", "size_2d"): ([48, 48], {"deep", "validate"}),
    ("split", "test_fraction"): (0.25, {"split", "validate"}),
    ("evaluate", "spared", "sensitivity"): (0.95, {"spared"}),
    ("reproducibility", "threshold"): (0.8, {"reproducibility"}),
    ("reproducibility", "source"): ("perturbation", {"radiomics", "reproducibility"}),
    ("reproducibility", "perturbation", "kinds"): (["erode", "ensemble"], {"radiomics", "reproducibility"}),
    ("segment", "epochs"): (7, {"segment"}),
    ("blood", "neutrophils"): ("neut_count", {"select", "train", "interpret", "optimism", "permutation"}),
}


def _set(cfg: dict, keys: tuple, value) -> None:
    for k in keys[:-1]:
        cfg = cfg.setdefault(k, {})
    cfg[keys[-1]] = value


def _probe(tmp: Path, cfg: dict) -> dict:
    d = tmp / f"wf{len(list(tmp.iterdir()))}"
    d.mkdir()
    copy_workflow(d)
    (d / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "params_probe.py"), str(d)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(next(l for l in r.stdout.splitlines() if l.startswith("PARAMS "))[7:])


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rerun")
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for k, v in BASE.items():
        base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    changed = json.loads(json.dumps(base))
    for keys, (value, _) in CHANGES.items():
        _set(changed, keys, value)
    return _probe(tmp, base), _probe(tmp, changed)


def test_every_job_with_settings_objects_records_them_as_text(probes):
    before, _ = probes
    silent = {j: p["unrecorded"] for j, p in before.items()
              if p["unrecorded"] and not any(r.startswith("'[") for r in p["recorded"])}
    assert silent == {}, f"jobs whose settings Snakemake cannot record (add settings_text): {silent}"


def test_a_changed_setting_changes_what_snakemake_records_for_its_jobs(probes):
    before, after = probes
    changed_rules = {j.split("[")[0] for j in before if before[j]["recorded"] != after.get(j, {}).get("recorded")}
    for keys, (_, rules) in CHANGES.items():
        missing = rules - changed_rules
        assert not missing, f"changing {'.'.join(keys)} would not rerun {sorted(missing)}"
    assert "preprocess" not in changed_rules  # nothing here concerns preprocessing


def test_segmented_views_radiomics_jobs_read_the_networks_masks_as_raters(probes):
    """kinds with ensemble: the radiomics jobs of the segmented view (US_tumor) get its segmentation
    folder; the other views' jobs do not."""
    _, after = probes
    args = {j: " ".join(p["recorded"]) for j, p in after.items() if j.startswith("radiomics[")}
    us = [a for j, a in args.items() if "view=tumor" in j and "modality=US" in j]
    others = [a for j, a in args.items() if not ("view=tumor" in j and "modality=US" in j)]
    assert us and all("--ensemble" in a and "segmentation/US_tumor" in a for a in us)
    assert others and not any("--ensemble" in a for a in others)
