"""End to end: the workflow runs on a small demo cohort, writes the promised files, and is complete after."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from smallstudy import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

SMALL = {
    "study": "e2e",
    "demo": {"n_patients": 32},
    "views": {"MG": ["CC"], "MRI": ["DCE2"], "US": ["node"]},
    "deep": {"weights": {"source": "finetune", "epochs": 1, "batch_size": 8, "patience": 1}},
    "select": {"lasso": {"folds": 3}},
    # the rules run; 2 resamples / permutations keep the suite fast
    "evaluate": {"optimism_bootstraps": 2, "permutations": 2},
    # the demo segments US_tumor and MG_CC (~9 CPU-min); tests/test_segment_*.py test segmentation
    "segment": {"enabled": False},
}


def _merge(base, over):
    for k, v in over.items():
        base[k] = _merge(base.get(k, {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return base


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A copy of the workflow (not the venv or results) with a small study config."""
    d = tmp_path_factory.mktemp("wf")
    copy_workflow(d)
    cfg = _merge(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), SMALL)
    (d / "config" / "e2e.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return d


def _snakemake(d, *args, check=True):
    return subprocess.run([*SNAKEMAKE, "--cores", "2", "--configfile", "config/e2e.yaml", *args], cwd=d,
                          capture_output=True, text=True, check=check, timeout=1500)


@pytest.mark.slow
def test_small_study_end_to_end(workdir):
    r = _snakemake(workdir, check=False)
    assert r.returncode == 0, r.stderr[-4000:]
    cfg = yaml.safe_load((workdir / "config" / "e2e.yaml").read_text())
    res = workdir / "results" / "e2e"
    for cohort in ["train", "internal", "external"]:
        pred = pd.read_csv(res / "predictions" / f"{cohort}.csv", dtype={"patient_id": str})
        assert list(pred.columns[:2]) == ["patient_id", "y"]
        assert set(pred.columns[2:]) == set(cfg["models"]) >= {"clinical", "radiomics", "deep", "prefusion", "postfusion"}
        assert pred.iloc[:, 2:].apply(lambda c: c.between(0, 1).all()).all()
        met = pd.read_csv(res / "metrics" / f"{cohort}.csv")
        assert list(met.columns[:4]) == ["model", "auc", "auc_ci_low", "auc_ci_high"]
        assert (met.auc_ci_low <= met.auc).all() and (met.auc <= met.auc_ci_high).all()
    # external = centre B patients only
    split = pd.read_csv(res / "split" / "split.csv", dtype={"patient_id": str})
    clin = pd.read_csv(workdir / "resources" / "demo" / f"n{cfg['demo']['n_patients']}_seed{cfg['seed']}" / "clinical.csv", dtype={"patient_id": str})
    ext = set(clin.patient_id[clin.center == "B"])
    assert set(split.patient_id[split.cohort == "external"]) == ext
    # optimism's apparent AUC is the train rule's fit on the same inputs (score-fusion models included)
    train = pd.read_csv(res / "metrics" / "train.csv").set_index("model").auc
    for p in (res / "models").glob("*/optimism.csv"):
        row = pd.read_csv(p).iloc[0]
        assert row.apparent == pytest.approx(train[row.model], abs=1e-9), row.model
    assert (res / "models" / "scorefusion" / "optimism.csv").exists()
    # permutation control of every model, score and post-fusion ones on their bases' permutations
    for m in cfg["models"]:
        perm = pd.read_csv(res / "models" / m / "permutation.csv")
        assert set(perm.cohort) == {"internal", "external"} and (perm.n_permutations == 2).all(), m
    spared = pd.read_csv(res / "metrics" / "spared.csv")
    assert set(spared.model) == set(cfg["models"]) and set(spared.cohort) == {"internal", "external"}
    assert set(pd.read_csv(res / "metrics" / "sample_size.csv").model) == set(cfg["models"])
    report = (res / "report.html").read_text()
    from axilla.report import SECTIONS

    for sid, heading in SECTIONS:
        assert f"<h2 id='{sid}'>{heading}</h2>" in report
    assert "fine-tuned" in report and "data:image/png;base64" in report
    # Complete: a dry run right after has nothing to do.
    dry = _snakemake(workdir, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr
