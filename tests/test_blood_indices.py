"""Derived blood indices (seed 004) against values worked out by hand from the counts:
SII = N × P / L, NLR = N / L, PLR = P / L, MLR = M / L, WLR = WBC / L."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from axilla.features import (BLOOD_INDICES, ClinicalEncoder, assemble, blood_config_problems,
                             blood_indices)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
COUNTS = {"neutrophils": "numeric", "lymphocytes": "numeric", "platelets": "numeric", "monocytes": "numeric",
          "wbc": "numeric"}


def _table():
    # Counts chosen so every index is exact in decimal arithmetic.
    return pd.DataFrame({"patient_id": ["P1", "P2", "P3"],
                         "neutrophils": [4.0, 3.0, 6.0], "lymphocytes": [2.0, 1.5, 0.5],
                         "platelets": [200.0, 150.0, 300.0], "monocytes": [0.5, 0.3, 0.4],
                         "wbc": [7.0, 6.0, 8.0], "age": [50, 60, 70]})


def test_indices_equal_hand_computed_values():
    got = blood_indices(_table())
    # P1: 4·200/2, 4/2, 200/2, 0.5/2, 7/2; P2: 3·150/1.5, ...; P3: 6·300/0.5, ...
    want = pd.DataFrame({"SII": [400.0, 300.0, 3600.0], "NLR": [2.0, 2.0, 12.0], "PLR": [100.0, 100.0, 600.0],
                         "MLR": [0.25, 0.2, 0.8], "WLR": [3.5, 4.0, 16.0]},
                        index=pd.Index(["P1", "P2", "P3"], name="patient_id"))
    pd.testing.assert_frame_equal(got, want, rtol=1e-12)


def test_count_columns_are_configurable():
    t = _table().rename(columns={"neutrophils": "NEUT#", "lymphocytes": "LYM", "platelets": "PLT"})
    got = blood_indices(t, {"neutrophils": "NEUT#", "lymphocytes": "LYM", "platelets": "PLT"}, ["SII", "NLR"])
    assert list(got.columns) == ["SII", "NLR"]
    np.testing.assert_allclose(got.SII, [400.0, 300.0, 3600.0])
    np.testing.assert_allclose(got.NLR, [2.0, 2.0, 12.0])
    with pytest.raises(ValueError, match="PLT"):  # a renamed count that the table lacks is named
        blood_indices(_table(), {"platelets": "PLT"}, ["PLR"])
    with pytest.raises(ValueError, match="basophils"):
        blood_indices(_table(), {"basophils": "BAS"})


def test_missing_count_leaves_only_its_indices_missing():
    t = _table()
    t.loc[1, "platelets"] = np.nan
    got = blood_indices(t)
    assert got.loc["P2", ["SII", "PLR"]].isna().all()
    np.testing.assert_allclose(got.loc["P2", ["NLR", "MLR", "WLR"]], [2.0, 0.2, 4.0])


def test_zero_lymphocytes_give_missing_indices_and_a_warning(caplog):
    t = _table()
    t.loc[2, "lymphocytes"] = 0.0
    with caplog.at_level(logging.WARNING, logger="axilla.features"):
        got = blood_indices(t)
    assert got.loc["P3"].isna().all() and np.isfinite(got.loc[["P1", "P2"]].to_numpy()).all()
    assert "lymphocyte count" in caplog.text and "P3" in caplog.text and "P1" not in caplog.text


def test_missing_index_imputed_with_training_median_only():
    # Training P1..P4, evaluation P5 (SII 10^6, which would move a median that saw it).
    t = pd.DataFrame({"patient_id": ["P1", "P2", "P3", "P4", "P5"],
                      "neutrophils": [4.0, 3.0, 6.0, 2.0, 1000.0], "lymphocytes": [2.0, 1.5, 0.0, 1.0, 1.0],
                      "platelets": [200.0, 150.0, 300.0, 100.0, 1000.0], "monocytes": [0.5] * 5, "wbc": [7.0] * 5})
    X, kinds = assemble(["blood:SII"], t, COUNTS)
    assert kinds == {"SII": "numeric"} and list(X.columns) == ["SII"]
    train = ["P1", "P2", "P3", "P4"]
    enc = ClinicalEncoder(kinds).fit(X.loc[train])
    # observed training SII: 400, 300, 200 → median 300; P3 (zero lymphocytes) gets it.
    assert enc.transform(X).loc["P3", "SII"] == 300.0
    assert enc.transform(X).loc["P5", "SII"] == 1e6
    row = enc.imputation_.set_index("column").loc["SII"]
    assert row.kind == "numeric" and row.n_missing_train == 1


def test_assemble_blood_source_with_clinical():
    X, kinds = assemble(["clinical:age", "blood"], _table(), {"age": "numeric", **COUNTS})
    assert list(X.columns) == ["age", *BLOOD_INDICES]  # the raw counts only come with `clinical`
    assert all(kinds[c] == "numeric" for c in X.columns)
    with pytest.raises(ValueError, match="unknown blood index 'XYZ'"):
        assemble(["blood:XYZ"], _table(), COUNTS)
    with pytest.raises(ValueError, match="name of a clinical variable"):  # never silently one of two
        assemble(["clinical", "blood:SII"], _table().assign(SII=1.0), {"SII": "numeric", **COUNTS})


def test_config_problems_name_undeclared_counts():
    models = {"immune": {"features": ["blood:NLR"]}, "all": {"features": ["clinical", "blood"]},
              "post": {"fuse": ["immune", "all"]}}
    assert blood_config_problems(models, COUNTS, None) == []
    # NLR needs neutrophils and lymphocytes only; the full source also monocytes, platelets, wbc.
    declared = {"neutrophils": "numeric", "lymphocytes": "numeric", "wbc": "categorical"}
    msgs = [p.message for p in blood_config_problems(models, declared, None)]
    assert len(msgs) == 3 and not any("immune" in m for m in msgs)
    assert any("'wbc: numeric'" in m for m in msgs) and any("'platelets: numeric'" in m for m in msgs)
    renamed = blood_config_problems({"m": {"features": ["blood:PLR"]}}, {"LYM": "numeric", "PLT": "numeric"},
                                    {"lymphocytes": "LYM", "platelets": "PLT"})
    assert renamed == []
    assert "basophils" in str(blood_config_problems(models, COUNTS, {"basophils": "B"})[0])


def test_schema_accepts_blood_sources_and_fills_count_columns():
    cfg = {"study": "s", "views": {"MRI": ["DCE2"]}, "models": {"m": {"features": ["clinical", "blood", "blood:SII"]}}}
    validate(cfg, SCHEMA)
    assert cfg["blood"] == {c: c for c in COUNTS}
    with pytest.raises(WorkflowError, match="blood:SIRI"):
        validate({"study": "s", "views": {"MRI": ["DCE2"]}, "models": {"m": {"features": ["blood:SIRI"]}}}, SCHEMA)
