"""The report shows the Wilson CIs of the threshold metrics in the model tables, and the Nomo-score
risk-group section (table + figure) for models with a nomogram, or says it is absent."""

import re

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from axilla import nomogram, report
from test_report import CFG, COHORTS, MODELS, _study


def _section(text: str, sid: str) -> str:
    return text.split(f"<h2 id='{sid}'>")[1].split("<h2 id=")[0]


def _write_nomo_files(res):
    """Nomo-scores of the 'clin' model's patients, grouped at a cut-off of 50 points."""
    split = pd.read_csv(res / "split/split.csv", dtype={"patient_id": str})
    score = np.linspace(0, 100, len(split)) + 30 * split.y
    scores = pd.DataFrame({"patient_id": split.patient_id, "cohort": split.cohort, "y": split.y,
                           "nomo_score": score, "probability": score / 200,
                           "risk_group": np.where(score >= 50, "high", "low"), "points_clin_feature": score})
    scores.to_csv(res / "models/clin/nomo_scores.csv", index=False)
    groups = nomogram.risk_group_table(scores, 50.0, 0.25, COHORTS)
    groups.to_csv(res / "models/clin/nomo_risk_groups.csv", index=False)
    return scores, groups


def test_model_table_shows_wilson_cis(tmp_path):
    res, inputs = _study(tmp_path, optional_files=False)
    text = report.build(inputs, CFG, COHORTS, MODELS, report.optional_paths(str(res), MODELS, COHORTS))
    models = _section(text, "models")
    pred = pd.read_csv(res / "predictions/internal.csv")
    met = pd.read_csv(res / "metrics/internal.csv").set_index("model")
    call = pred.clin >= met.loc["clin", "threshold"]
    tp, fn = int((call & (pred.y == 1)).sum()), int((~call & (pred.y == 1)).sum())
    lo, hi = proportion_confint(tp, tp + fn, method="wilson")
    assert f"<td>{tp / (tp + fn):.3f} ({lo:.3f}–{hi:.3f})</td>" in models
    assert "<th>sensitivity (95 % CI)</th>" in models and "<th>NPV (95 % CI)</th>" in models
    assert "Wilson" in models


def test_risk_section_renders_table_and_figure(tmp_path):
    res, inputs = _study(tmp_path, optional_files=False)
    scores, groups = _write_nomo_files(res)
    text = report.build(inputs, CFG, COHORTS, MODELS, report.optional_paths(str(res), MODELS, COHORTS))
    assert re.findall(r"<h2 id='([a-z0-9]+)'>", text) == [sid for sid, _ in report.SECTIONS]
    sec = _section(text, "risk")
    assert report.ABSENT not in sec and "<h3>clin</h3>" in sec and "<h3>rad</h3>" not in sec
    assert "Nomo-score ≥ 50.00 points (predicted probability 0.250)" in sec
    high = scores[(scores.cohort == "internal") & (scores.risk_group == "high")]
    k, n = int(high.y.sum()), len(high)
    lo, hi = proportion_confint(k, n, method="wilson")
    assert f"<tr><td>internal</td><td>high</td><td>{n}</td><td>{k}</td><td>{k / n:.3f} ({lo:.3f}–{hi:.3f})</td>" in sec
    assert sec.count("data:image/png;base64,") == 1 and 'alt="Nomo-score risk groups clin"' in sec


def test_declared_nomo_inputs_are_used(tmp_path):
    """The report rule declares the nomo_risk rule's outputs; they take precedence over discovery."""
    res, inputs = _study(tmp_path, optional_files=False)
    _write_nomo_files(res)
    inputs = {**inputs, "nomo_scores": [str(res / "models/clin/nomo_scores.csv")],
              "nomo_risk": [str(res / "models/clin/nomo_risk_groups.csv")]}
    sec = _section(report.build(inputs, CFG, COHORTS, MODELS, {}), "risk")
    assert report.ABSENT not in sec and "data:image/png;base64," in sec


def test_risk_section_absent_without_a_nomogram_model(tmp_path):
    res, inputs = _study(tmp_path, optional_files=False)
    text = report.build(inputs, CFG, COHORTS, MODELS, report.optional_paths(str(res), MODELS, COHORTS))
    assert report.ABSENT in _section(text, "risk")
