"""The report's surgery-spared, permutation-control and sample-size sections, from their tables:
one sentence per model a surgeon can read, red statements for a leak and an undersized cohort."""

import re

import numpy as np
import pandas as pd

from axilla import report
from axilla.evaluate import INTERVENTION_COLUMNS, PERMUTATION_COLUMNS, SAMPLE_SIZE_COLUMNS, SPARED_COLUMNS

from test_report import CFG, COHORTS, MODELS, _study


def _sections(text):
    return dict(re.findall(r"<h2 id='([a-z0-9]+)'>[^<]+</h2>(.*?)(?=<h2 id=|</body>)", text, re.S))


def _tables(res):
    row = dict.fromkeys(SPARED_COLUMNS, 0.5) | {
        "model": "clin", "cohort": "internal", "rule": "sensitivity_0.9", "threshold": 0.231, "n": 14,
        "positives": 7, "spared": 5, "fn": 1, "spared_per_100": 38.2, "spared_per_100_ci_low": 30.4,
        "spared_per_100_ci_high": 46.1, "fn_per_100": 4.1, "fn_per_100_ci_low": 1.0, "fn_per_100_ci_high": 8.3,
        "npv": 0.894, "npv_ci_low": 0.8, "npv_ci_high": 0.96, "n_boot": 1000}
    pd.DataFrame([row, row | {"rule": "youden"}], columns=SPARED_COLUMNS).to_csv(res / "metrics/spared.csv", index=False)
    for c in COHORTS:
        pd.DataFrame({"threshold": [0.1, 0.2], "model": "clin", "net_reduction_per_100": [3.0, 9.0]},
                     columns=INTERVENTION_COLUMNS).to_csv(res / f"metrics/{c}_interventions.csv", index=False)
    perm = dict.fromkeys(PERMUTATION_COLUMNS, 0.05) | {"cohort": "internal", "auc": 0.8, "n_permutations": 20,
                                                       "null_mean": 0.5, "p_value": 0.05, "flagged": False}
    pd.DataFrame([perm | {"model": "clin"}]).to_csv(res / "models/clin/permutation.csv", index=False)
    pd.DataFrame([perm | {"model": "rad", "null_mean": 0.71, "null_mean_se": 0.02, "flagged": True}]).to_csv(
        res / "models/rad/permutation.csv", index=False)
    size = dict.fromkeys(SAMPLE_SIZE_COLUMNS, 0.1) | {
        "model": "rad", "parameters": "candidate", "parameter_count": 120, "n_train": 26, "events": 13,
        "n_required": 4188, "events_required": 2094, "events_per_parameter": 13 / 120, "adequate": False}
    pd.DataFrame([size, size | {"model": "clin", "parameter_count": 1, "n_required": 20, "adequate": True}]).to_csv(
        res / "metrics/sample_size.csv", index=False)


def test_clinical_sections_render_from_their_tables(tmp_path):
    res, inputs = _study(tmp_path)
    _tables(res)
    out = res / "report.html"
    report.run(inputs, CFG, COHORTS, MODELS, report.optional_paths(str(res), MODELS, COHORTS), str(out))
    sec = _sections(out.read_text(encoding="utf-8"))
    assert ("At a cut-off set for 90 % sensitivity in training (risk below 0.231 spared), model <b>clin</b> would "
            "spare 38 of 100 patients (95 % CI 30–46) of the internal cohort axillary surgery, while 4 of those 100 "
            "(95 % CI 1–8) would have a node metastasis left undetected: NPV 0.89 (95 % CI 0.80–0.96)") in sec["spared"]
    assert sec["spared"].count("<li>") == 1  # one sentence per model and cohort; Youden's in the table only
    assert "net reduction in interventions internal" in sec["dca"]
    assert "color:#b00000" in sec["permutation"] and "Leak suspected: model rad" in sec["permutation"]
    assert "model clin on permuted" not in sec["permutation"] and "too few" not in sec["permutation"]
    assert "too small for model rad" in sec["samplesize"] and "at least 4188 patients" in sec["samplesize"]
    assert "too small for model clin" not in sec["samplesize"]


def test_clinical_sections_say_absent_without_their_tables(tmp_path):
    res, inputs = _study(tmp_path, optional_files=False)
    out = res / "report.html"
    report.run(inputs, CFG, COHORTS, MODELS, report.optional_paths(str(res), MODELS, COHORTS), str(out))
    sec = _sections(out.read_text(encoding="utf-8"))
    for sid in ("spared", "permutation", "samplesize"):
        assert report.ABSENT in sec[sid], sid
    assert "net reduction" not in sec["dca"]


def test_too_few_permutations_are_said_to_be_too_few(tmp_path):
    res, inputs = _study(tmp_path)
    _tables(res)
    for m in MODELS:
        p = res / f"models/{m}/permutation.csv"
        pd.read_csv(p).assign(n_permutations=5, flagged=False).to_csv(p, index=False)
    out = res / "report.html"
    report.run(inputs, CFG, COHORTS, MODELS, report.optional_paths(str(res), MODELS, COHORTS), str(out))
    sec = _sections(out.read_text(encoding="utf-8"))["permutation"]
    assert "5 permutations are too few to judge a leak (at least 20" in sec and "color:#b00000" not in sec
