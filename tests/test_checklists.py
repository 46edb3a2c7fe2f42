"""CLEAR and METRICS filled from a run: the published items and weights, items decided from what
a study has (no external cohort: external testing not met; radiomics only: METRICS' deep item n/a
and out of the denominator), and the METRICS total against a hand computation."""

import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from axilla import report
from axilla.report import checklist
from axilla.settings import load

sys.path.insert(0, str(Path(__file__).resolve().parent))
import test_report as tr  # noqa: E402  (its tiny results tree)

BASE = {"study": "t", "seed": 1, "views": {"US": ["tumor"]}, "clinical_variables": {"age": "numeric"},
        "select": {"steps": ["zscore", "lasso"]}}


def _run(cfg: dict, cohorts=(("train", 30, 12), ("internal", 12, 5)), files=None, centers=None) -> checklist.Run:
    counts = pd.DataFrame(cohorts, columns=["cohort", "patients", "positive"])
    return checklist.Run(load({**BASE, **cfg}), counts, files or {}, "", centers)


def _status(table: pd.DataFrame) -> dict[int, str]:
    return dict(zip(table["item"], table["status"]))


def test_the_published_items_and_weights():
    # METRICS Table 1 (Kocak et al., Insights Imaging 2024): 30 items, 9 categories, weights summing to 1;
    # a few weights read off the paper by hand
    m = checklist.items("metrics")
    assert [i["id"] for i in m] == list(range(1, 31))
    assert len({i["category"] for i in m}) == 9
    assert sum(i["weight"] for i in m) == pytest.approx(1.0, abs=1e-4)
    w = {i["id"]: i["weight"] for i in m}
    assert (w[3], w[18], w[27], w[30]) == (0.0919, 0.0599, 0.0749, 0.0075)
    assert [i["id"] for i in checklist.items("clear")] == list(range(1, 59))


def test_no_external_cohort_marks_external_testing_not_met():
    run = _run({"split": {"method": "random", "test_fraction": 0.3, "external": None},
                "models": {"rad": {"features": ["radiomics"]}}})
    mt, ct = checklist.metrics_table(run), checklist.clear_table(run)
    row = mt.set_index("item").loc[27]
    assert row.status == "not met" and "no external cohort" in row.reason
    assert _status(mt)[26] == "met"  # the internal hold-out is there
    assert "(external)" not in ct.set_index("item").at[38, "evidence"]


def test_an_external_cohort_marks_it_met_and_an_empty_one_does_not():
    cfg = {"split": {"method": "random", "test_fraction": 0.3, "external": {"column": "center", "values": ["B"]}},
           "models": {"rad": {"features": ["radiomics"]}}}
    with_ext = _run(cfg, cohorts=(("train", 30, 12), ("internal", 12, 5), ("external", 20, 8)), centers=2)
    mt = checklist.metrics_table(with_ext).set_index("item")
    assert mt.at[27, "status"] == "met" and "20 patients" in mt.at[27, "evidence"]
    assert mt.at[4, "status"] == "met"  # two centres
    empty = _run(cfg, cohorts=(("train", 30, 12), ("internal", 12, 5), ("external", 0, 0)), centers=1)
    mt = checklist.metrics_table(empty).set_index("item")
    assert mt.at[27, "status"] == "not met" and "no patients" in mt.at[27, "reason"]
    assert mt.at[4, "status"] == "not met"


def test_radiomics_only_study_excludes_the_deep_item_from_the_denominator():
    run = _run({"models": {"rad": {"features": ["radiomics"]}}})
    mt = checklist.metrics_table(run)
    st = _status(mt)
    assert st[17] == "n/a" and st[9] == "n/a"  # end-to-end deep learning; automated segmentation
    assert st[12] != "n/a"  # hand-crafted features: standardised software applies
    score = checklist.metrics_score(mt)
    applicable = sum(i["weight"] for i in checklist.items("metrics") if i["id"] not in (9, 17))
    assert score["applicable_weight"] == pytest.approx(applicable, abs=1e-4)
    assert score["na"] == 2


def test_deep_only_study_marks_the_hand_crafted_items_not_applicable():
    run = _run({"models": {"dl": {"features": ["deep"]}}})
    assert _status(checklist.metrics_table(run))[12] == "n/a"
    st = _status(checklist.clear_table(run))
    assert all(st[i] == "n/a" for i in (23, 24, 26, 28))
    assert st[17] == "n/a"  # no clinical predictors in any model


def test_metrics_total_of_a_hand_built_status_table():
    # items 1-4 met (0.0368 + 0.0735 + 0.0919 + 0.0438 = 0.2460), 17 and 9 n/a, the rest not met:
    # 100 * 0.2460 / (1 - 0.0200 - 0.0225) = 100 * 0.2460 / 0.9575 = 25.69... -> 25.7 %, band "low"
    items = checklist.items("metrics")
    status = ["met" if i["id"] <= 4 else "n/a" if i["id"] in (9, 17) else "not met" for i in items]
    table = pd.DataFrame({"weight": [i["weight"] for i in items], "status": status})
    s = checklist.metrics_score(table)
    assert s["score"] == 25.7 and s["band"] == "low"
    assert (s["met"], s["not_met"], s["na"]) == (4, 24, 2)
    assert s["met_weight"] == 0.246 and s["applicable_weight"] == 0.9575
    everything = table.assign(status="met")
    assert checklist.metrics_score(everything)["score"] == 100.0
    assert checklist.metrics_score(everything)["band"] == "excellent"
    with pytest.raises(ValueError, match="statuses"):
        checklist.metrics_score(table.assign(status="yes"))


def test_evidence_names_result_files_with_their_sha256(tmp_path):
    import hashlib

    root = tmp_path / "results" / "t"
    (root / "metrics").mkdir(parents=True)
    icc = root / "reproducibility" / "icc.csv"
    icc.parent.mkdir()
    pd.DataFrame({"feature": ["f"], "icc": [0.9]}).to_csv(icc, index=False)
    run = checklist.Run(load({**BASE, "models": {"rad": {"features": ["radiomics"]}}}),
                        pd.DataFrame({"cohort": ["train"], "patients": [10], "positive": [4]}),
                        {"icc": [str(icc)]}, str(root))
    row = checklist.metrics_table(run).set_index("item").loc[14]
    digest = hashlib.sha256(icc.read_bytes()).hexdigest()[:12]
    assert row.status == "met" and f"reproducibility/icc.csv (sha256 {digest})" in row.evidence
    # without the table the item says why it is not met
    run.files = {}
    row = checklist.metrics_table(run).set_index("item").loc[14]
    assert row.status == "not met" and "no ICC table" in row.reason


def test_the_report_writes_both_checklists_and_shows_them(tmp_path):
    res, inputs = tr._study(tmp_path)
    out = res / "report.html"
    report.run(inputs, tr.CFG, tr.COHORTS, tr.MODELS, report.optional_paths(str(res), tr.MODELS, tr.COHORTS), str(out))
    folder = res / "report" / "checklist"
    clear = pd.read_csv(folder / "clear.csv", keep_default_na=False)
    metrics = pd.read_csv(folder / "metrics.csv", keep_default_na=False)
    assert list(clear.columns) == checklist.CLEAR_COLUMNS and len(clear) == 58
    assert list(metrics.columns) == checklist.METRICS_COLUMNS and len(metrics) == 30
    assert set(clear.status) <= set(checklist.STATUSES) and set(metrics.status) <= set(checklist.STATUSES)
    # every met item says what proves it, every other item why not
    for t in (clear, metrics):
        assert (t.loc[t.status == "met", "evidence"] != "").all()
        assert (t.loc[t.status != "met", "reason"] != "").all()
    # the tiny study has no external cohort
    assert metrics.set_index("item").at[27, "status"] == "not met"
    # the total recomputed by hand from the written table
    m = metrics.assign(weight=metrics.weight.astype(float))
    by_hand = 100 * m.weight[m.status == "met"].sum() / m.weight[m.status != "n/a"].sum()
    score = json.loads((folder / "metrics_score.json").read_text())
    assert score["score"] == round(by_hand, 1)
    text = out.read_text(encoding="utf-8")
    sec = text.split("<h2 id='checklists'>")[1]
    assert f"METRICS score: {score['score']:.1f} %" in sec
    assert re.search(r"External testing</td><td>0\.0749</td><td>not met", sec)
