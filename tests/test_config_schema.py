"""The config schema fills defaults, and rejects unknown keys and wrong types with a readable message."""

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


@pytest.fixture
def config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_config_valid_and_defaults_filled(config):
    del config["select"]["lasso"]["rule"]
    validate(config, SCHEMA)
    assert config["select"]["lasso"]["rule"] == "1se"
    minimal = {"study": "x", "views": {"US": ["tumor"]}, "models": {"r": {"features": ["radiomics"]}}}
    validate(minimal, SCHEMA)
    assert minimal["seed"] == 42 and minimal["reproducibility"]["icc"] == "ICC2"


@pytest.mark.parametrize("edit, fragment", [
    (lambda c: c.update(sede=1), "sede"),                                   # misspelt top-level key
    (lambda c: c["select"]["lasso"].update(folds="five"), "five"),          # wrong type
    (lambda c: c["select"]["lasso"].update(lambda_min_ratio=1.5), "1.5"),   # out of (0, 1)
    (lambda c: c["views"].update(CT=["axial"]), "CT"),                      # unknown modality
    (lambda c: c["views"].update(MG=["ML"]), "ML"),                         # unknown view
    (lambda c: c.update(study="my study/1"), "my study/1"),                 # unsafe study name
    (lambda c: c["models"].update(bad={"features": ["pet"]}), "pet"),       # unknown feature source
    (lambda c: c["reproducibility"].update(icc="ICC1"), "ICC1"),
])
def test_bad_config_rejected(config, edit, fragment):
    bad = copy.deepcopy(config)
    edit(bad)
    with pytest.raises(WorkflowError) as e:
        validate(bad, SCHEMA)
    assert fragment in str(e.value)


def test_check_reports_every_problem_with_its_key(config):
    from axilla.config import check
    from axilla.errors import InputError

    bad = copy.deepcopy(config)
    bad["sede"] = 1
    bad["select"]["lasso"]["folds"] = "five"
    bad["models"]["both"] = {"features": ["clinical"], "fuse": ["a", "b"]}
    with pytest.raises(InputError) as e:
        check(bad, SCHEMA)
    msg = str(e.value)
    assert msg.startswith("3 input problems found:")
    assert "key 'sede': unknown key — did you mean 'seed'?" in msg
    assert "key 'select.lasso.folds': 'five' is not of type 'integer'" in msg
    assert "key 'models.both': a model needs exactly one of 'features'" in msg
    check(config, SCHEMA)  # the demo config passes


def test_nullable_sections_validate_with_snakemake_defaults():
    # Snakemake's default filler calls setdefault on every instance with `properties`, null
    # included: a nullable section must not declare defaults inside (they live in the code).
    from snakemake.utils import validate

    cfg = {"study": "s", "views": {"US": ["tumor"]}, "models": {"r": {"features": ["radiomics"], "smote": None}},
           "split": {"external": None, "temporal": None}}
    validate(cfg, str(SCHEMA))
    assert cfg["split"]["external"] is None and cfg["models"]["r"]["smote"] is None
