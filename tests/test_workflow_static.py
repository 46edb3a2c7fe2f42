"""The workflow as a whole: lint-clean, and the rule graph shows every stage of the method."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["demo", "validate", "preprocess", "radiomics", "radiomics_table", "deep", "deep_table",
          "reproducibility", "split", "select", "selection_funnel", "train", "train_fusion", "nomogram",
          "evaluate", "optimism", "qc_table", "rulegraph", "report", "all"]


def _snakemake(*args):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_lint_clean():
    r = _snakemake("--lint")
    out = r.stdout + r.stderr
    assert "Congratulations, your workflow is in a good condition!" in out, out[-3000:]


def test_rulegraph_has_every_stage():
    r = _snakemake("--rulegraph")
    assert r.returncode == 0, r.stderr[-2000:]
    labels = {line.split('label = "')[1].split('"')[0] for line in r.stdout.splitlines() if 'label = "' in line}
    assert labels == set(STAGES)
    # rule modules match: every rule file is named after a stage and has a package module
    for smk in (ROOT / "workflow" / "rules").glob("*.smk"):
        if smk.stem != "common":
            assert (ROOT / "workflow" / "axilla" / f"{smk.stem}.py").exists(), smk.stem


def test_bad_config_stops_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: demo\nviews: {US: [tumour]}\nmodels: {r: {features: [radiomics]}}\n")
    r = _snakemake("-n", "--configfile", str(bad))
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "key 'views.US.0': 'tumour' is not one of ['tumor', 'node']" in out
