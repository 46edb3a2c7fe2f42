"""Typed settings: built once from the config, defaults from the schema only, cross-key problems
found when the workflow is parsed (as InputError, every problem at once)."""

import dataclasses
import subprocess
import sys

import pytest
import yaml

from axilla import settings
from axilla.errors import InputError

from conftest import ROOT

SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())

# settings class -> the schema node whose properties it mirrors
SECTIONS = {
    settings.Demo: SCHEMA["properties"]["demo"],
    settings.Validate: SCHEMA["properties"]["validate"],
    settings.Missing: SCHEMA["properties"]["missing"],
    settings.Blood: SCHEMA["properties"]["blood"],
    settings.Preprocess: SCHEMA["properties"]["preprocess"]["patternProperties"]["^(MG|MRI|US)$"],
    settings.Radiomics: SCHEMA["properties"]["radiomics"],
    settings.Deep: SCHEMA["properties"]["deep"],
    settings.Reproducibility: SCHEMA["properties"]["reproducibility"],
    settings.Split: SCHEMA["properties"]["split"],
    settings.TuneLimit: SCHEMA["properties"]["tune_limit"],
    settings.Evaluate: SCHEMA["properties"]["evaluate"],
    settings.Segment: SCHEMA["properties"]["segment"],
    settings.Review: SCHEMA["properties"]["segment"]["properties"]["review"],
    settings.Roi: SCHEMA["properties"]["roi"],
    settings.Report: SCHEMA["properties"]["report"],
}


@pytest.mark.parametrize("cls", list(SECTIONS), ids=lambda c: c.__name__)
def test_settings_mirror_the_schema_and_hold_no_defaults_of_their_own(cls):
    fields = dataclasses.fields(cls)
    assert {f.name for f in fields} == set(SECTIONS[cls]["properties"])
    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in fields)


def test_study_settings_cover_every_top_level_key():
    assert {f.name for f in dataclasses.fields(settings.Study)} == set(SCHEMA["properties"])


def test_schema_defaults_reach_optional_objects_and_unlisted_modalities():
    cfg = {"study": "s", "views": {"MRI": ["T2"], "US": ["tumor"]}, "models": {"m": {"features": ["clinical"]}},
           "preprocess": {"MRI": {"n4": {"enabled": True}}},
           "split": {"external": {"column": "center", "values": ["B"]}}}
    st = settings.load(cfg)
    assert st.preprocess["MRI"].n4.iterations == [50, 50, 30] and st.preprocess["MRI"].n4.backend == "simpleitk"
    assert st.preprocess["US"].normalize == "zscore" and st.preprocess["US"].dce.pre_phase == 0
    assert st.split.external["name"] == "external" and st.split.temporal is None
    assert st.radiomics.params == {"MG": "resources/radiomics/MG.yaml", "MRI": "resources/radiomics/MRI.yaml",
                                   "US": "resources/radiomics/US.yaml"}
    assert st.deep.backbone["US"] == "resnet18" and st.deep.weights == {"source": "finetune"}
    assert st.models["m"].select["lasso"] == {"folds": 5, "repeats": 1, "rule": "1se", "n_lambda": 100}
    assert st.models["m"].kind == "features"


def test_a_model_select_section_replaces_the_studys():
    cfg = {**DEMO, "models": {**DEMO["models"], "own": {"features": ["clinical"], "select": {"steps": ["stepwise"]}}}}
    st = settings.load(cfg)
    assert st.models["own"].select["steps"] == ["stepwise"] and st.models["clinical"].select["steps"][-1] == "lasso"


def test_classifier_spec_fills_tuning_defaults_also_for_tune_true():
    assert settings.classifier_spec(None) == {"name": "lr"}
    assert settings.classifier_spec({"name": "svm", "tune": True})["tune"] == {"folds": 5, "repeats": 1}
    assert settings.classifier_spec({"name": "rf", "tune": {"folds": 3}})["tune"] == {"folds": 3, "repeats": 1}


def _problems(**changes) -> str:
    cfg = {**DEMO, **changes}
    with pytest.raises(InputError) as e:
        settings.load(cfg)
    return str(e.value)


def test_tune_limit_caps_every_tuned_model_and_leaves_the_rest():
    cfg = {"study": "t", "views": {"US": ["tumor"]}, "tune_limit": {"folds": 3, "repeats": 1}, "models": {
        "heavy": {"features": ["clinical"], "classifier": {"name": "svm", "tune": {"folds": 5, "repeats": 20}}},
        "light": {"features": ["clinical"], "classifier": {"name": "knn", "tune": {"folds": 2, "repeats": 1}}},
        "plain": {"features": ["clinical"], "classifier": {"name": "lr"}}}}
    models = settings.load(cfg).models
    assert settings.classifier_spec(models["heavy"].classifier)["tune"] == {"folds": 3, "repeats": 1}
    assert settings.classifier_spec(models["light"].classifier)["tune"] == {"folds": 2, "repeats": 1}
    assert not models["plain"].classifier.get("tune")
    uncapped = settings.load({**cfg, "tune_limit": {}}).models["heavy"].classifier["tune"]
    assert (uncapped["folds"], uncapped["repeats"]) == (5, 20)


def test_cross_key_problems_all_at_once():
    models = {"clinical": {"features": ["clinical"], "select": {"steps": ["variance", "stepwise"]}},
              "blood": {"features": ["blood:SII"]},
              "fused": {"fuse": ["clinical", "ghost"]},
              "scored": {"features": ["clinical"], "scores": ["clinical", "fused"]}}
    msg = _problems(models=models, report={"primary_model": "best"}, manifest="m.csv",
                    clinical_variables={"age": "numeric"})
    assert msg.startswith("8 input problems found")  # SII needs three undeclared counts
    assert "key 'models.fused.fuse': 'ghost' is not a feature model of this study" in msg
    assert "key 'models.scored.scores': 'clinical' has no score: its selection must end in 'lasso'" in msg
    assert "key 'models.scored.scores': 'fused' is not a feature model without scores of this study" in msg
    assert "key 'report.primary_model': 'best' is not a model of this study" in msg
    assert "give both 'manifest' and 'clinical', or neither" in msg
    assert all(f"needs the {c} count" in msg for c in ("neutrophils", "platelets", "lymphocytes"))


def test_section_checks_its_values_against_the_schema():
    assert settings.section("evaluate").reader_threshold == 0.5
    with pytest.raises(InputError, match="key 'evaluate.reader_treshold': unknown key — did you mean 'reader_threshold'"):
        settings.section("evaluate", reader_treshold=0.4)


def test_workflow_stops_at_parse_time_on_a_cross_key_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**DEMO, "report": {"primary_model": "nope"}}))
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", str(bad)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "key 'report.primary_model': 'nope' is not a model of this study" in r.stdout + r.stderr


def test_a_model_of_other_models_scores_alone_is_a_feature_model_and_fuse_excludes_scores():
    """Seed 004's Rad model is an LR on RadScore alone: `scores` without `features` is valid;
    `fuse` with `scores` (or `features`) is two kinds of model at once and refused."""
    from axilla.config import check as check_schema

    def check(config):
        check_schema(config, settings.SCHEMA, "config")

    base = {"features": ["radiomics"], "select": {"steps": ["zscore", "lasso"]}}
    cfg = {"study": "t", "views": {"US": ["tumor"]}, "models": {"radscore": base, "rad": {"scores": ["radscore"]}}}
    check(cfg)
    rad = settings.load(cfg).models["rad"]
    assert rad.kind == "scores" and rad.features == [] and rad.scores == ["radscore"]
    for bad in ({"fuse": ["radscore", "rad"], "scores": ["radscore"]}, {"fuse": ["radscore", "rad"], "features": ["clinical"]}):
        with pytest.raises(InputError):
            check({**cfg, "models": {**cfg["models"], "both": bad}})
