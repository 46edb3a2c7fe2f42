"""Acceptance (issue 19): a demo study with 20 % of patients lacking MRI runs to a complete report
under validate.missing_view: allow; each model scores the patients having its views."""

import subprocess
import sys

import pandas as pd
import pytest

from smallstudy import copy_workflow

# Written as the copy's config/config.yaml (a --configfile would be merged into the demo's views).
CONFIG = """\
study: missing
seed: 3
manifest: null
clinical: null
demo: {n_patients: 40, rater_fraction: 0.3, missing: {MRI: 0.2}}
validate: {missing_view: allow, confine_paths: true}
views: {MRI: [T2], US: [tumor]}
clinical_variables: {age: numeric, ki67: numeric, shape: categorical, imaging_node: categorical}
preprocess:
  MRI: {spacing: [1.0, 1.0, 1.0], normalize: zscore}
  US: {spacing: [0.25, 0.25], normalize: zscore}
deep:
  backbone: {MRI: resnet18, US: resnet18}
  size_2d: [32, 32]
  size_3d: [16, 16, 16]
  weights: {source: finetune, epochs: 1, batch_size: 8, patience: 1}
reproducibility: {pairs: [[A, B]]}
split: {method: random, test_fraction: 0.3, external: null}
select: {lasso: {folds: 2}}
models:
  clinical: {features: [clinical]}
  mri: {features: ["radiomics:MRI"]}
  us: {features: ["radiomics:US", "deep:US"]}
  postfusion: {fuse: [clinical, mri, us]}
evaluate: {optimism_bootstraps: 2}
"""


@pytest.mark.slow
@pytest.mark.xdist_group("missing_views")
def test_study_with_a_fifth_of_patients_lacking_mri_runs_to_a_report(tmp_path):
    copy_workflow(tmp_path)
    (tmp_path / "config" / "config.yaml").write_text(CONFIG)
    r = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:]
    res = tmp_path / "results" / "missing"
    manifest = pd.read_csv(tmp_path / "resources" / "demo" / "n40_seed3_noMRI0.2" / "manifest.csv")
    with_mri = set(manifest.patient_id[manifest.modality == "MRI"])
    everyone = set(manifest.patient_id)
    assert len(everyone - with_mri) == 8

    avail = pd.read_csv(res / "validate" / "availability.csv")
    assert list(avail.columns) == ["patient_id", "MRI_T2", "US_tumor"]
    assert set(avail.patient_id[avail.MRI_T2 == 1]) == with_mri and (avail.US_tumor == 1).all()

    def scored(model):
        return set(pd.read_csv(res / "models" / model / "predictions.csv").patient_id)

    assert scored("mri") == with_mri
    assert scored("clinical") == scored("us") == scored("postfusion") == everyone
    table = pd.read_csv(res / "metrics" / "availability.csv")
    assert set(table.subgroup) == {"complete", "lacking MRI"}
    lacking = table[table.subgroup == "lacking MRI"]
    assert set(lacking.model) == {"clinical", "us", "postfusion"} and lacking.groupby("model").n.sum().eq(8).all()
    # the per-cohort tables compare the models on the patients every model scores
    for c in ("train", "internal"):
        assert set(pd.read_csv(res / "predictions" / f"{c}.csv").patient_id) <= with_mri
    report = (res / "report.html").read_text()
    assert "Patients with absent views" in report and "Mercaldo" in report
