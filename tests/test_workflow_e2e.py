"""End to end: the small study (tests/smallstudy.py: every model kind, an external centre, permutation
control, a nomogram) writes the promised files and is complete after. Its run is the session's shared
reference (the fault, determinism and apply tests use it too), so the suite makes it once."""

import subprocess

import pandas as pd
import pytest
import yaml

import smallstudy

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(name="smallstudy")]


@pytest.fixture(scope="module")
def study():
    d = smallstudy.reference()
    return d, yaml.safe_load(smallstudy.CONFIG), smallstudy.results(d)


def test_every_cohort_has_every_models_predictions_and_metrics(study):
    _, cfg, res = study
    for cohort in ["train", "internal", "external"]:
        pred = pd.read_csv(res / "predictions" / f"{cohort}.csv", dtype={"patient_id": str})
        assert list(pred.columns[:2]) == ["patient_id", "y"]
        assert list(pred.columns[2:]) == list(cfg["models"])
        assert pred.iloc[:, 2:].apply(lambda c: c.between(0, 1).all()).all()
        met = pd.read_csv(res / "metrics" / f"{cohort}.csv")
        assert list(met.columns[:4]) == ["model", "auc", "auc_ci_low", "auc_ci_high"]
        assert list(met.model) == list(cfg["models"])
        assert (met.auc_ci_low <= met.auc).all() and (met.auc <= met.auc_ci_high).all()


def test_the_external_cohort_is_centre_b(study):
    d, cfg, res = study
    split = pd.read_csv(res / "split" / "split.csv", dtype={"patient_id": str})
    n, seed = cfg["demo"]["n_patients"], cfg["seed"]
    clin = pd.read_csv(d / "resources" / "demo" / f"n{n}_seed{seed}" / "clinical.csv", dtype={"patient_id": str})
    ext = set(clin.patient_id[clin.center == "B"])
    assert ext and set(split.patient_id[split.cohort == "external"]) == ext
    assert set(split.patient_id) == set(clin.patient_id)


def test_optimism_apparent_auc_is_the_train_fit(study):
    """Harrell's apparent AUC is the train rule's fit on the same inputs, score-fusion model included."""
    _, cfg, res = study
    train = pd.read_csv(res / "metrics" / "train.csv").set_index("model").auc
    rows = [pd.read_csv(p).iloc[0] for p in (res / "models").glob("*/optimism.csv")]
    assert {r.model for r in rows} == {m for m, spec in cfg["models"].items() if "fuse" not in spec}
    for row in rows:
        assert row.apparent == pytest.approx(train[row.model], abs=1e-9), row.model


def test_permutation_control_spared_surgery_and_sample_size_cover_every_model(study):
    """Score- and post-fusion models on their bases' permutations."""
    _, cfg, res = study
    for m in cfg["models"]:
        perm = pd.read_csv(res / "models" / m / "permutation.csv")
        assert set(perm.cohort) == {"internal", "external"} and (perm.n_permutations == 2).all(), m
    spared = pd.read_csv(res / "metrics" / "spared.csv")
    assert set(spared.model) == set(cfg["models"]) and set(spared.cohort) == {"internal", "external"}
    assert set(pd.read_csv(res / "metrics" / "sample_size.csv").model) == set(cfg["models"])
    assert (res / "models" / "combined" / "nomogram.png").stat().st_size > 0


def test_report_has_every_section_and_its_figures(study):
    from axilla.report import SECTIONS

    report = (study[2] / "report.html").read_text()
    for sid, heading in SECTIONS:
        assert f"<h2 id='{sid}'>{heading}</h2>" in report
    assert "fine-tuned" in report and "data:image/png;base64" in report


def test_complete_after_the_run(study):
    """A dry run right after has nothing to do."""
    dry = subprocess.run([*smallstudy.command(), "-n"], cwd=study[0], capture_output=True, text=True,
                         timeout=300)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr
