"""A frozen study applied to a cohort (config `apply`): a small demo study writes its bundle
(`bundle: true`), then an apply run scores the same patients from their raw images with the bundle
alone. The bundle's files must be byte-identical afterwards, no fitting rule may run, and every
prediction must equal the study's own for the same patients; the cohort's AUCs are checked
against scikit-learn and its cut-offs against the study's evaluate tables."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score

import smallstudy

STUDY = "frozen"
CONFIG = """\
study: frozen
seed: 5
bundle: true
demo: {n_patients: 30, rater_fraction: 0.3}
views: {US: [tumor]}
clinical_variables: {age: numeric, ki67: numeric, shape: categorical, imaging_node: categorical}
preprocess:
  US: {spacing: [0.25, 0.25], normalize: zscore}
deep:
  backbone: {US: resnet18}
  size_2d: [32, 32]
  weights: {source: finetune, epochs: 1, batch_size: 8, patience: 1}
reproducibility: {pairs: [[A, B]]}
split: {method: random, test_fraction: 0.3, external: null}
select: {lasso: {folds: 2}}
models:
  clinical: {features: [clinical]}
  radiomics: {features: [radiomics]}
  deep: {features: [deep]}
  combined: {features: [clinical], scores: [radiomics]}
  postfusion: {fuse: [clinical, radiomics, deep]}
evaluate: {optimism_bootstraps: 0, spared: {bootstraps: 20}}
"""
# rules an apply run may use: none of them fits anything
APPLY_RULES = {"validate", "preprocess", "radiomics", "radiomics_table", "deep", "deep_table", "apply", "split",
               "evaluate", "report", "qc_table"}

_runs: dict | None = None


def _snakemake(d: Path, *args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=d, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def runs(tmp_path_factory) -> dict:
    """The study, then the apply run on the study's own demo cohort; made once."""
    global _runs
    if _runs is None:
        d = tmp_path_factory.mktemp("apply")
        smallstudy.copy_workflow(d)
        (d / "config" / "config.yaml").write_text(CONFIG)
        _snakemake(d)
        bundle = d / "results" / STUDY / "bundle"
        before = _hashes(bundle)
        demo = next((d / "resources" / "demo").glob("*/manifest.csv")).parent
        apply_cfg = {"study": "newcohort", "apply": {"bundle": f"results/{STUDY}/bundle",
                                                     "manifest": str((demo / "manifest.csv").relative_to(d)),
                                                     "clinical": str((demo / "clinical.csv").relative_to(d))}}
        (d / "apply.yaml").write_text(yaml.safe_dump(apply_cfg))
        _snakemake(d, "--configfile", "apply.yaml")
        _runs = {"dir": d, "bundle": bundle, "before": before, "after": _hashes(bundle),
                 "study": d / "results" / STUDY, "applied": d / "results" / "newcohort"}
    return _runs


pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="apply")]


def test_bundle_manifest_hashes_every_file_and_the_run_leaves_them_byte_identical(tmp_path_factory):
    r = runs(tmp_path_factory)
    manifest = json.loads((r["bundle"] / "manifest.json").read_text())
    assert manifest["files"] == {k: v for k, v in r["before"].items() if k != "manifest.json"}
    assert r["after"] == r["before"]
    assert {"deep/US_tumor.pt", "config.json", "cutoffs.csv", "reproducible_features.csv",
            "radiomics/US.yaml"} <= set(manifest["files"])
    assert {f"models/{m}/model.pkl" for m in ("clinical", "radiomics", "deep", "combined", "postfusion")} <= set(
        manifest["files"])
    assert manifest["software"]["scikit-learn"] and manifest["inputs"]["clinical"]["sha256"]


def test_apply_refits_nothing(tmp_path_factory):
    r = runs(tmp_path_factory)
    ran = {p.relative_to(r["applied"] / "benchmarks").parts[0].removesuffix(".tsv")
           for p in (r["applied"] / "benchmarks").rglob("*.tsv")}
    assert ran <= APPLY_RULES and "apply" in ran
    prov = json.loads((r["applied"] / "deep" / "US_tumor.json").read_text())
    study_prov = json.loads((r["study"] / "deep" / "US_tumor.json").read_text())
    assert prov["source"] == "bundle" and prov["model_sha256"] == study_prov["model_sha256"]


def test_predictions_equal_the_studys_for_the_same_patients(tmp_path_factory):
    r = runs(tmp_path_factory)
    for model in ("clinical", "radiomics", "deep", "combined", "postfusion"):
        study = pd.read_csv(r["study"] / "models" / model / "predictions.csv", dtype={"patient_id": str})
        applied = pd.read_csv(r["applied"] / "models" / model / "predictions.csv", dtype={"patient_id": str})
        study, applied = study.set_index("patient_id"), applied.set_index("patient_id").loc[study.index]
        assert (applied.y == study.y).all()
        # a score-fusion or post-fusion model's training patients were scored from out-of-fold inputs
        # in the study; everyone else, and every patient of a plain feature model, from the full fit
        same = study.index if model in ("clinical", "radiomics", "deep") else study.index[study.cohort != "train"]
        assert len(same) >= 8
        np.testing.assert_array_equal(applied.loc[same, "prob"].to_numpy(), study.loc[same, "prob"].to_numpy(),
                                      err_msg=model)


def test_metrics_of_the_applied_cohort_use_the_studys_cutoffs(tmp_path_factory):
    r = runs(tmp_path_factory)
    preds = pd.read_csv(r["applied"] / "predictions" / "apply.csv")
    metrics = pd.read_csv(r["applied"] / "metrics" / "apply.csv").set_index("model")
    study_train = pd.read_csv(r["study"] / "metrics" / "train.csv").set_index("model")
    for model in metrics.index:
        assert metrics.loc[model, "auc"] == pytest.approx(roc_auc_score(preds.y, preds[model]), abs=1e-12)
        assert metrics.loc[model, "threshold"] == pytest.approx(study_train.loc[model, "threshold"], abs=1e-12)
    assert (r["applied"] / "metrics" / "apply_dca.csv").exists()
    html = (r["applied"] / "report.html").read_text()
    assert "frozen study frozen" in html and "auc" in html


def test_a_changed_bundle_file_is_refused(tmp_path_factory):
    from axilla.bundle import verify
    from axilla.errors import InputError

    r = runs(tmp_path_factory)
    copy = tmp_path_factory.mktemp("tampered") / "bundle"
    shutil.copytree(r["bundle"], copy)
    pkl = copy / "models" / "clinical" / "model.pkl"
    pkl.write_bytes(pkl.read_bytes() + b"\0")
    with pytest.raises(InputError, match="models/clinical/model.pkl"):
        verify(str(copy))
