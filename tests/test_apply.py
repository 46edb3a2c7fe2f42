"""A frozen study applied to a cohort (config `apply`): the small study (tests/smallstudy.py) writes
its bundle (`bundle: true`), then an apply run, in another folder holding only that bundle and the
raw demo cohort, scores the same patients from their images with the bundle alone. The bundle's
files must be byte-identical afterwards, no fitting rule may run, and every prediction must equal
the study's own for the same patients; the cohort's AUCs are checked against scikit-learn and its
cut-offs against the study's evaluate tables."""

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

MODELS = ("clinical", "radiomics", "deep", "combined", "postfusion")  # smallstudy's models, all kinds
# rules an apply run may use: none of them fits anything
APPLY_RULES = {"validate", "preprocess", "radiomics", "radiomics_table", "deep", "deep_table", "apply", "split",
               "evaluate", "report", "qc_table"}

_runs: dict | None = None


def _snakemake(d: Path, *args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=d, capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]


def _hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file, by path; Snakemake's marker of a directory output left out."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".snakemake_timestamp"}


def runs(tmp_path_factory) -> dict:
    """The small study (tests/smallstudy.py, bundle: true), then an apply run elsewhere: a fresh copy
    of the workflow holding only the study's bundle and its raw demo cohort; made once."""
    global _runs
    if _runs is None:
        ref = smallstudy.reference()
        d = tmp_path_factory.mktemp("apply")
        smallstudy.copy_workflow(d)
        demo = next((ref / "resources" / "demo").glob("*/manifest.csv")).parent
        shutil.copytree(demo, d / "cohort")
        shutil.copytree(smallstudy.results(ref) / "bundle", d / "frozen")
        before = _hashes(d / "frozen")
        config = {"study": "newcohort", "apply": {"bundle": "frozen", "manifest": "cohort/manifest.csv",
                                                  "clinical": "cohort/clinical.csv"}}
        (d / "apply.yaml").write_text(yaml.safe_dump(config))
        _snakemake(d, "--configfile", "apply.yaml")
        _runs = {"bundle": d / "frozen", "before": before, "after": _hashes(d / "frozen"),
                 "study": smallstudy.results(ref), "applied": d / "results" / "newcohort"}
    return _runs


pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="smallstudy")]


def test_bundle_manifest_hashes_every_file_and_the_run_leaves_them_byte_identical(tmp_path_factory):
    r = runs(tmp_path_factory)
    manifest = json.loads((r["bundle"] / "manifest.json").read_text())
    assert manifest["files"] == {k: v for k, v in r["before"].items() if k != "manifest.json"}
    assert r["after"] == r["before"]
    assert {"deep/US_tumor.pt", "config.json", "cutoffs.csv", "reproducible_features.csv",
            "radiomics/US.yaml"} <= set(manifest["files"])
    assert {f"models/{m}/model.pkl" for m in MODELS} <= set(manifest["files"])
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
    for model in MODELS:
        study = pd.read_csv(r["study"] / "models" / model / "predictions.csv", dtype={"patient_id": str})
        applied = pd.read_csv(r["applied"] / "models" / model / "predictions.csv", dtype={"patient_id": str})
        study = study.set_index("patient_id")
        applied = applied.set_index("patient_id").loc[study.index]
        assert (applied.y == study.y).all()
        # a score-fusion or post-fusion model's training patients were scored from out-of-fold inputs
        # in the study; everyone else, and every patient of a plain feature model, from the full fit
        same = study.index if model in ("clinical", "radiomics", "deep") else study.index[study.cohort != "train"]
        assert len(same) >= 5
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
    assert "frozen study small" in html and "auc" in html


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


def test_an_apply_config_takes_no_settings_of_its_own_and_a_new_study_name(tmp_path_factory):
    from axilla.bundle import frozen_config
    from axilla.errors import InputError

    r = runs(tmp_path_factory)
    own = {"bundle": str(r["bundle"]), "manifest": "m.csv", "clinical": "c.csv"}
    with pytest.raises(InputError, match="key 'models'"):
        frozen_config({"study": "x", "apply": own, "models": {}})
    with pytest.raises(InputError, match="key 'study'"):
        frozen_config({"study": "small", "apply": own})
    cfg = frozen_config({"study": "x", "apply": own})
    assert cfg["manifest"] == "m.csv" and cfg["models"] == smallstudy_models()
    assert cfg["radiomics"]["params"]["US"] == str(r["bundle"] / "radiomics" / "US.yaml")


def smallstudy_models() -> dict:
    from axilla.settings import with_defaults

    return with_defaults(yaml.safe_load(smallstudy.CONFIG))["models"]


def test_the_studys_checklists_cite_its_bundle(tmp_path_factory):
    """METRICS 30 (and CLEAR 57, which mirrors it): the frozen model is cited by its manifest's hash
    (in the reason: publishing it stays the authors' act, so the item is not met by the run)."""
    r = runs(tmp_path_factory)
    sha = hashlib.sha256((r["study"] / "bundle" / "manifest.json").read_bytes()).hexdigest()[:12]
    items = pd.read_csv(r["study"] / "report" / "checklist" / "metrics.csv").set_index("item")
    assert f"bundle/manifest.json (sha256 {sha})" in items.loc[30, "reason"]
    report = (r["study"] / "report.html").read_text()
    assert f"manifest.json</code> (sha256 {sha})" in report  # provenance: the frozen study bundle
