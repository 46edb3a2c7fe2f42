"""The study report: every section present, optional sections say when they are absent,
Table 1 tests and the rule-graph rendering pinned to hand-worked values."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from axilla import evaluate, report
from axilla.settings import section

ROOT = Path(__file__).resolve().parents[1]
from axilla.report.dag import layered_svg, parse_dot
from axilla.report.sections.cohort import demo_oracle
from axilla.report.tables import categorical_test, numeric_test, table_one

COHORTS = ["train", "internal"]
MODELS = ["clin", "rad"]
CFG = {
    "study": "tiny", "seed": 7, "outcome": "ln_status", "manifest": None, "clinical": None,
    "views": {"US": ["tumor"]}, "clinical_variables": {"age": "numeric", "er": "categorical"},
    "split": {"method": "random", "test_fraction": 0.3, "external": None},
    "reproducibility": {"icc": "ICC2", "threshold": 0.75, "pairs": [["A", "B"]]},
    "deep": {"backbone": {"US": "resnet18"}, "weights": {"source": "random"}},
    "select": {"steps": ["variance", "lasso"]},
    "models": {"clin": {"features": ["clinical"]}, "rad": {"features": ["radiomics"]}},
    "report": {"preset": "seed-002"},
}


def _study(tmp_path, optional_files=True):
    """A tiny results tree written through axilla.evaluate, as the pipeline does."""
    rng = np.random.default_rng(0)
    n = 40
    ids = [f"ID-{i:02d}" for i in range(n)]
    y = np.tile([0, 1], n // 2)
    cohort = np.where(np.arange(n) < 26, "train", "internal")
    res = tmp_path / "results" / "tiny"
    files = {}
    for m, s in (("clin", 0.3), ("rad", 0.15)):
        p = np.clip(0.5 + s * (y - 0.5) * 2 + rng.normal(0, 0.2, n), 0.02, 0.98)
        d = res / "models" / m
        d.mkdir(parents=True)
        pd.DataFrame({"patient_id": ids, "cohort": cohort, "y": y, "prob": p}).to_csv(d / "predictions.csv", index=False)
        pd.DataFrame({"term": ["(intercept)", f"{m}_feature"], "coef": [0.1, 1.2 if m == "clin" else -0.8],
                      "odds_ratio": [1.1, 3.3]}).to_csv(d / "coefficients.csv", index=False)
        files[m] = str(d / "predictions.csv")
    evaluate.run(files, COHORTS, str(res), section("evaluate"))
    (res / "split").mkdir()
    pd.DataFrame({"patient_id": ids, "cohort": cohort, "y": y}).to_csv(res / "split/split.csv", index=False)
    (res / "validate").mkdir()
    pd.DataFrame({"patient_id": ids, "ln_status": y, "age": rng.normal(55, 10, n).round(),
                  "er": rng.integers(0, 2, n)}).to_csv(res / "validate/clinical.csv", index=False)
    pd.DataFrame({"patient_id": ids, "modality": "US", "view": "tumor", "size": "64x64",
                  "spacing": "0.25x0.25"}).to_csv(res / "validate/qc.csv", index=False)
    if optional_files:
        pd.DataFrame({"variable": ["age", "ki67"], "kind": "numeric", "n_missing": [0, 3], "n": n,
                      "percent": [0, 100 * 3 / n], "patients": ["", "P1;P2;P3"]}).to_csv(
            res / "validate/missing.csv", index=False)
        (res / "selection/clin").mkdir(parents=True)
        pd.DataFrame({"step": ["input", "lasso"], "n_in": [5, 5], "n_out": [5, 1]}).to_csv(
            res / "selection/clin/funnel.csv", index=False)
        lam = np.linspace(-4, 0, 5)
        pd.DataFrame({"log_lambda": np.repeat(lam, 2), "feature": ["a", "b"] * 5,
                      "coef": np.r_[np.linspace(1, 0, 5), np.linspace(-0.5, 0, 5)].reshape(2, 5).T.ravel()}).to_csv(
            res / "selection/clin/lasso_path.csv", index=False)
        pd.DataFrame({"log_lambda": lam, "cv_mean": [1.2, 1.1, 1.0, 1.1, 1.3], "cv_se": 0.05,
                      "chosen": ["", "", "min", "1se", ""]}).to_csv(res / "selection/clin/lasso_cv.csv", index=False)
        (res / "models/clin/formula.txt").write_text("RadScore = 0.1 + 1.2 × clin_feature")
        pd.DataFrame({"feature": ["rad_feature", "other"], "importance": [0.31, 0.02],
                      "kind": "permutation: mean drop in training AUC (10 repeats)"}).to_csv(
            res / "models/rad/importance.csv", index=False)
        pd.DataFrame({"analysis": ["univariate", "univariate", "multivariable", "multivariable"],
                      "term": ["age", "er=1", "(intercept)", "age"], "coef": [0.05, 0.4, -2.0, 0.06],
                      "se": [0.02, 0.5, 1.0, 0.02], "odds_ratio": [1.0513, 1.4918, 0.1353, 1.0618],
                      "or_ci_low": [1.011, 0.56, 0.02, 1.02], "or_ci_high": [1.093, 3.97, 0.96, 1.105],
                      "p": [0.012, 0.42, 0.045, 0.0004], "vif": [np.nan, np.nan, np.nan, 1.0],
                      "per": "unit"}).to_csv(res / "models/clin/odds_ratios.csv", index=False)
        pd.DataFrame(columns=["analysis", "term", "coef", "se", "odds_ratio", "or_ci_low", "or_ci_high", "p",
                              "vif", "per"]).to_csv(res / "models/rad/odds_ratios.csv", index=False)
        from PIL import Image

        cam = res / "deep/gradcam/US_tumor"
        cam.mkdir(parents=True)
        Image.fromarray(np.zeros((192, 392, 3), np.uint8)).save(
            cam / "US tumor, node-positive training patient 1 (CNN p 0.81, heat for the predicted class "
                  "node-positive, layer layer3).png")
        (res / "features").mkdir()
        (res / "features/deep_weights.json").write_text(json.dumps({
            "US_tumor": {"backbone": "resnet18 (2D)", "weights": "fine-tuned", "details": {"gradcam": {
                "layer": "layer3", "map_cells": [4, 4], "files": ["x.png"]}}},
            "US_node": {"backbone": "resnet18 (2D)", "weights": "random", "details": {"gradcam": {
                "files": [], "note": "no Grad-CAM: the network is randomly initialised"}}}}))
        (res / "report").mkdir()
        (res / "report/rulegraph.dot").write_text(
            'digraph snakemake_dag {\n\t0[label = "all"];\n\t1[label = "report"];\n\t2[label = "evaluate"];\n'
            "\t1 -> 0\n\t2 -> 1\n}\n")
    inputs = {"split": str(res / "split/split.csv"), "clinical": str(res / "validate/clinical.csv"),
              "qc": str(res / "validate/qc.csv"),
              "metrics": [str(res / f"metrics/{c}.csv") for c in COHORTS],
              "predictions": [str(res / f"predictions/{c}.csv") for c in COHORTS],
              "pairwise": [str(res / f"metrics/{c}_pairwise.csv") for c in COHORTS],
              "dca": [str(res / f"metrics/{c}_dca.csv") for c in COHORTS],
              "coefficients": [str(res / f"models/{m}/coefficients.csv") for m in MODELS]}
    return res, inputs


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rep")
    res, inputs = _study(tmp)
    out = res / "report.html"
    report.run(inputs, CFG, COHORTS, MODELS, report.optional_paths(str(res), MODELS, COHORTS), str(out))
    return out, out.read_text(encoding="utf-8")


def test_every_section_in_order_and_self_contained(built):
    _, text = built
    found = re.findall(r"<h2 id='([a-z0-9]+)'>([^<]+)</h2>", text)
    assert found == report.SECTIONS
    # self-contained: no external resources, figures embedded
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", text)
    assert text.count("data:image/png;base64,") >= 10
    assert "seed-002" in text and "ID-00" not in text.split("<h2 id='table1'>")[1].split("<h2 id='qc'>")[0]


def test_optional_sections_render_or_say_absent(built):
    _, text = built
    sec = dict(re.findall(r"<h2 id='([a-z0-9]+)'>[^<]+</h2>(.*?)(?=<h2 id=|</body>)", text, re.S))
    for sid in ("nomogram", "readers", "optimism"):
        assert report.ABSENT in sec[sid], sid
    for sid in ("selection", "lasso", "formulas", "rulegraph", "roc", "dca", "impact", "waterfall", "tripod"):
        assert report.ABSENT not in sec[sid].split("<p class='note'>")[0] or sid == "formulas", sid
    assert "RadScore = 0.1 + 1.2 × clin_feature" in sec["formulas"]
    assert "logit(p) = 0.1000 -0.8000 × rad_feature" in sec["formulas"]  # derived from coefficients
    assert "<svg" in sec["rulegraph"] and ">evaluate</text>" in sec["rulegraph"]
    assert report.ABSENT in sec["icc"]  # no ICC table in this study
    # TRIPOD+AI: answerable items filled from the run, the rest left to the authors
    assert "train: 26 patients, 13 node positive; internal: 14 patients, 7 node positive" in sec["tripod"]
    assert "to be completed by the authors" in sec["tripod"] and "hold-out only" in sec["tripod"]


def test_interpretation_sections_show_train_and_deep_outputs(built):
    _, text = built
    sec = dict(re.findall(r"<h2 id='([a-z0-9]+)'>[^<]+</h2>(.*?)(?=<h2 id=|</body>)", text, re.S))
    # odds ratios: the paper layout, univariable and multivariable side by side, NA where not entered
    odds = sec["odds"]
    assert report.ABSENT not in odds and "<h3>clin</h3>" in odds and "<h3>rad</h3>" not in odds
    row = re.search(r"<tr><td>age</td>(.*?)</tr>", odds).group(1)
    assert "<td>1.05 (1.01–1.09)</td><td>0.012</td><td>1.06 (1.02–1.10)</td><td>&lt;0.001</td>" in row
    assert re.search(r"<tr><td>er=1</td><td>1.49 \(0.56–3.97\)</td><td>0.420</td><td>NA</td><td>NA</td>", odds)
    assert "(intercept)" not in odds and "1 unit" in odds and odds.count("data:image/png;base64,") == 1
    # importance: the file's kind is the figure title; the other model falls back to its coefficients
    imp = sec["importance"]
    assert imp.count("data:image/png;base64,") == 2 and "SHAP" in imp and "training cohort only" in imp
    # Grad-CAM: the example with its caption; the randomly initialised view says why it has none
    cam = sec["gradcam"]
    assert "US tumor, node-positive training patient 1 (CNN p 0.81" in cam and "Target layer layer3 (4×4" in cam
    assert "<b>US node</b>: no Grad-CAM: the network is randomly initialised." in cam
    assert report.ABSENT not in cam


def test_declared_rule_inputs_are_used(tmp_path):
    """The report rule hands over train's files and the deep rule's Grad-CAM folders as inputs."""
    res, inputs = _study(tmp_path)
    inputs = {**inputs, "odds_ratios": [str(res / f"models/{m}/odds_ratios.csv") for m in MODELS],
              "importance": [str(res / "models/rad/importance.csv")],
              "gradcam": [str(res / "deep/gradcam/US_tumor"), str(res / "deep/gradcam/US_node")]}
    text = report.build(inputs, CFG, COHORTS, MODELS, {})
    assert "<tr><td>age</td><td>1.05 (1.01–1.09)" in text and "CNN p 0.81" in text


def test_report_without_any_optional_input(tmp_path):
    res, inputs = _study(tmp_path, optional_files=False)
    text = report.build(inputs, CFG, COHORTS, MODELS, report.optional_paths(str(res), MODELS, COHORTS))
    for sid in ("selection", "lasso", "rulegraph", "qc", "icc", "odds", "gradcam"):
        body = text.split(f"<h2 id='{sid}'>")[1].split("<h2 id=")[0]
        assert report.ABSENT in body, sid


def test_model_table_numbers_come_from_metrics_files(built):
    out, text = built
    met = pd.read_csv(out.parent / "metrics/internal.csv").set_index("model")
    r = met.loc["clin"]
    assert f"{r.auc:.3f} ({r.auc_ci_low:.3f}–{r.auc_ci_high:.3f})" in text


# --- Table 1 ------------------------------------------------------------------------------------

def test_table_one_tests_chosen_by_data():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 40), rng.normal(0.5, 1, 40)
    p, test, normal = numeric_test(a, b)
    assert normal and test == "Student t" and p == pytest.approx(stats.ttest_ind(a, b).pvalue)
    skew_a, skew_b = rng.exponential(1, 40), rng.exponential(2, 40)
    p, test, normal = numeric_test(skew_a, skew_b)
    assert not normal and test == "Mann–Whitney U"
    assert p == pytest.approx(stats.mannwhitneyu(skew_a, skew_b, alternative="two-sided").pvalue)
    # 2x2 with expected count < 5 -> Fisher: [[1, 5], [6, 1]] hand-worked two-sided p = 0.0291
    p, test = categorical_test(np.array([[1, 5], [6, 1]]))
    assert test == "Fisher exact" and p == pytest.approx(0.029137529, rel=1e-6)
    # all expected >= 5 -> Yates-corrected chi2: [[20, 10], [10, 20]] -> chi2 = (|20-15|-.5)^2 * 4/15 = 5.4
    p, test = categorical_test(np.array([[20, 10], [10, 20]]))
    assert test == "χ²" and p == pytest.approx(stats.chi2.sf(5.4, 1), rel=1e-12)


def test_table_one_counts_and_percentages():
    df = pd.DataFrame({"er": ["1", "1", "0", "0", "1", None], "age": [50, 60, 55, 65, 70, 40]})
    y = np.array([0, 0, 1, 1, 1, 0])
    t = table_one(df, y, {"er": "categorical", "age": "numeric"})
    er = t[t.level.isin(["0", "1"])].set_index("level")
    # non-missing: negatives {1, 1} (n=2), positives {0, 0, 1} (n=3)
    assert er.loc["0", "negative"] == "0 (0.0 %)" and er.loc["0", "positive"] == "2 (66.7 %)"
    assert er.loc["1", "negative"] == "2 (100.0 %)" and er.loc["1", "positive"] == "1 (33.3 %)"
    age = t[t.variable == "age"].iloc[0]
    assert age["negative"] == "50.0 ± 10.0"  # 50, 60, 40


# --- rule graph ---------------------------------------------------------------------------------

def test_rule_graph_layout_draws_every_rule_and_edge():
    dot = ('digraph snakemake_dag {\n\t0[label = "all", color = "0.1 0.6 0.85"];\n\t1[label = "report"];\n'
           '\t2[label = "evaluate"];\n\t3[label = "train"];\n\t1 -> 0\n\t2 -> 1\n\t3 -> 2\n\t3 -> 1\n}')
    nodes, edges = parse_dot(dot)
    assert nodes == {"0": "all", "1": "report", "2": "evaluate", "3": "train"} and len(edges) == 4
    svg = layered_svg(nodes, edges)
    assert svg.count("<rect") == 4 and svg.count("<line") == 4
    ys = {lab: float(re.search(rf'y="([0-9.]+)"[^>]*>{lab}</text>', svg).group(1)) for lab in nodes.values()}
    # longest-path layers: train above evaluate above report above all
    assert ys["train"] < ys["evaluate"] < ys["report"] < ys["all"]


def test_rule_graph_with_score_fusion_cycle_and_self_loop():
    """Score fusion: train(radiomics) feeds select(scorefusion), so the rule graph has the cycle
    select -> train -> select and the self-loop train -> train. Every edge is still drawn."""
    dot = ('digraph snakemake_dag {\n\t0[label = "all"];\n\t1[label = "train"];\n\t2[label = "select"];\n'
           '\t3[label = "split"];\n\t3 -> 2\n\t2 -> 1\n\t1 -> 2\n\t1 -> 1\n\t1 -> 0\n}')
    svg = layered_svg(*parse_dot(dot))
    assert svg.count("<rect") == 4 and svg.count("<line") == 4 and svg.count("fill=\"none\"") == 1  # the loop
    ys = {lab: float(re.search(rf'y="([0-9.]+)"[^>]*>{lab}</text>', svg).group(1)) for lab in ("split", "select", "train", "all")}
    assert ys["split"] < ys["select"] < ys["train"] < ys["all"]


# --- headless browser ---------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed (Debian: apt-get install chromium)")
def test_report_opens_in_headless_chromium(built, tmp_path):
    out, _ = built
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", out.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    headings = re.findall(r'<h2 id="([a-z0-9]+)">([^<]+)</h2>', dom)
    assert headings == report.SECTIONS
    # rendered, not just parsed: a screenshot of the top of the page holds real content
    shot = tmp_path / "page.png"
    subprocess.run([*cmd[:-2], f"--screenshot={shot}", "--window-size=1200,2000", out.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000


def test_figures_are_shown_near_natural_size(built):
    """Legible at 100 % zoom: every embedded PNG is 100 dpi, at most ~1200 px wide (the page is
    1180 px, so at most a slight shrink) and its smallest text is 9 pt (12.5 px)."""
    import base64
    import io

    from PIL import Image

    from axilla.report import figures  # noqa: F401  (sets the font sizes)
    import matplotlib.pyplot as plt

    _, text = built
    widths = [Image.open(io.BytesIO(base64.b64decode(b))).size[0]
              for b in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)]
    assert widths and all(300 <= w <= 1250 for w in widths), widths
    assert min(plt.rcParams[k] for k in ("font.size", "legend.fontsize", "xtick.labelsize", "ytick.labelsize")) >= 9


def test_rule_graph_is_written_the_same_whatever_snakemake_numbering():
    from axilla.report.dag import canonical_dot, parse_dot

    a = 'digraph snakemake_dag {\n 7[label = "train", color = "0.1 0.6 0.85"];\n 3[label = "all"];\n 7 -> 3\n}'
    b = 'digraph snakemake_dag {\n 1[label = "all", color = "0.5 0.6 0.85"];\n 4[label = "train"];\n 4 -> 1\n}'
    assert canonical_dot(a) == canonical_dot(b)
    nodes, edges = parse_dot(canonical_dot(a))
    assert nodes == {"0": "all", "1": "train"} and edges == [("1", "0")]


def test_missing_value_counts_are_shown_without_patient_ids(built):
    _, text = built
    section = text[text.index("Missing clinical values"):][:2000]
    assert "median / mode" in section and "<td>ki67</td>" in section and "<td>3</td>" in section
    assert "P1;P2;P3" not in text and "<td>age</td>" not in section


def test_demo_oracle_auc_shown_beside_a_demo_manifest(tmp_path):
    """A demo cohort's truth.csv (next to its manifest) gives each cohort's ceiling AUC; the value
    is the Mann-Whitney AUC of the true linear predictor, worked by hand here."""
    res, inputs = _study(tmp_path)
    split = pd.read_csv(res / "split/split.csv")
    demo_dir = tmp_path / "demo"
    demo_dir.mkdir()
    (demo_dir / "manifest.csv").write_text("patient_id\n")
    # internal cohort: ids 26..39, y alternates 0/1; a predictor that ranks all positives above
    # all negatives except one swapped pair gives AUC 1 - 1/(7*7)
    lp = split.y.astype(float).to_numpy().copy()
    internal = np.flatnonzero(split.cohort == "internal")
    neg, pos = internal[split.y.to_numpy()[internal] == 0], internal[split.y.to_numpy()[internal] == 1]
    lp[neg[0]], lp[pos[0]] = 0.6, 0.4
    pd.DataFrame({"patient_id": split.patient_id, "linear_predictor": lp}).to_csv(demo_dir / "truth.csv", index=False)
    got = demo_oracle(str(demo_dir / "manifest.csv"), split.astype({"patient_id": str}), COHORTS)
    assert got.set_index("cohort").loc["internal", "oracle_auc"] == pytest.approx(1 - 1 / 49)
    assert got.set_index("cohort").loc["train", "oracle_auc"] == 1.0
    inputs["manifest"] = str(demo_dir / "manifest.csv")
    out = tmp_path / "r.html"
    report.run(inputs, CFG, COHORTS, MODELS, report.optional_paths(str(res), MODELS, COHORTS), str(out))
    assert "true risk" in out.read_text(encoding="utf-8")
    assert demo_oracle(str(tmp_path / "nowhere" / "manifest.csv"), split, COHORTS) is None


def test_reader_study_section_shows_tables_and_operating_points(tmp_path):
    res, inputs = _study(tmp_path)
    split = pd.read_csv(res / "split/split.csv")
    rng = np.random.default_rng(3)
    own = split.y + rng.normal(0, 0.8, len(split))
    pd.DataFrame({"patient_id": split.patient_id, "r": 1 / (1 + np.exp(-own)),
                  "r_ai": 1 / (1 + np.exp(-(own + 2 * (split.y - 0.5))))}).to_csv(tmp_path / "clin.csv", index=False)
    files = {m: str(res / f"models/{m}/predictions.csv") for m in MODELS}
    evaluate.run(files, COHORTS, str(res), section("evaluate", readers={"R": "r", "R_ai": "r_ai"}),
                 clinical=str(tmp_path / "clin.csv"))
    out = res / "report.html"
    # declared as one rule input holding every reader table (the report sorts them by file name)
    inputs["readers"] = sorted(str(q) for q in (res / "metrics").glob("*_reader*.csv"))
    report.run(inputs, CFG, COHORTS, MODELS, report.optional_paths(str(res), MODELS, COHORTS), str(out))
    sec = out.read_text(encoding="utf-8").split("<h2 id='readers'>")[1].split("<h2 id=")[0]
    assert report.ABSENT not in sec
    assert sec.count("<th>sensitivity</th>") == len(COHORTS) and sec.count("<th>kappa</th>") == len(COHORTS)
    assert sec.count('alt="readers ') == len(COHORTS)  # one operating-point figure per cohort
    pairs = pd.read_csv(res / "metrics/internal_reader_pairs.csv")
    assert (pairs.reader_a.tolist(), pairs.reader_b.tolist()) == (["R"], ["R_ai"])
    assert pairs.delong_z.iloc[0] < 0  # the assisted read is better
    assert "<th>delong_p</th>" in sec and "<td>R_ai</td>" in sec


def test_tripod_states_the_deep_stage_defaults_when_deep_is_not_configured(tmp_path):
    # a preset without a `deep` section: the report names what the deep stage then uses
    res, inputs = _study(tmp_path, optional_files=False)
    cfg = {k: v for k, v in CFG.items() if k != "deep"}
    text = report.build(inputs, cfg, COHORTS, MODELS, {})
    tripod = text.split("<h2 id='tripod'>")[1]
    assert "deep features from resnet18 (weights: finetune)" in tripod


def test_small_p_values_print_as_a_bound():
    t = pd.DataFrame({"test": ["a", "b"], "p": [0.0004, 0.0123], "delong_p": [1e-9, 0.5], "HL p": [0.0009, np.nan],
                      "auc": [0.0004, 0.9]})
    cells = re.findall(r"<td>([^<]*)</td>", report.table_html(t))
    assert cells == ["a", "&lt;0.001", "&lt;0.001", "&lt;0.001", "0.000", "b", "0.012", "0.500", "", "0.900"]


def test_provenance_hashes_a_weights_init_given_as_a_file_spec(tmp_path):
    """The schema lets deep.weights.init be a file spec object, as the deep stage accepts; the
    report hashes the file it names instead of failing after the whole study ran."""
    from axilla.io import file_sha256

    res, inputs = _study(tmp_path, optional_files=False)
    weights = tmp_path / "init.pt"
    weights.write_bytes(b"not really a checkpoint")
    cfg = {**CFG, "deep": {"backbone": {"US": "resnet18"}, "weights": {
        "source": "finetune", "init": {"source": "file", "path": str(weights), "strict": False}}}}
    text = report.build(inputs, cfg, COHORTS, MODELS, {})
    prov = text.split("<h2 id='provenance'>")[1].split("<h2 id=")[0]
    assert f"<td>deep weights (init)</td><td>{weights}</td><td>{file_sha256(weights)}</td>" in prov


def test_summary_states_the_presets_deviations_from_its_table(tmp_path):
    """The summary counts the preset's Methods elements and lists each deviation with its reason."""
    from axilla.fidelity import parse_table

    table = ROOT / "config" / "presets" / "dce_rad_dl_sii.md"
    _, rows = parse_table(table.read_text())
    dev = [r for r in rows if r["Status"] == "deviation"]
    assert 0 < len(dev) < len(rows)
    res, inputs = _study(tmp_path, optional_files=False)
    out = res / "report.html"
    cfg = {**CFG, "report": {"preset": "dce_rad_dl_sii"}}
    report.run({**inputs, "fidelity": [str(table)]}, cfg, COHORTS, MODELS, {}, str(out))
    summary = out.read_text(encoding="utf-8").split("<h2 id='summary'>")[1].split("<h2 id=")[0]
    assert f"{len(rows) - len(dev)} of {len(rows)} Methods elements as published, {len(dev)} deviation(s)" in summary
    assert summary.count("<tr><td>") == len(dev)
    assert html.escape(dev[0]["Element"]) in summary


def test_qc_section_states_each_modalitys_preprocessing():
    """Configured steps are named with their settings; a modality the config leaves out shows the
    schema's recommended block (not "no preprocessing"); steps not applied say off."""
    from axilla.report.sections.cohort import preprocessing_table
    from axilla.settings import load

    st = load({"study": "t", "views": {"MRI": ["T2", "ADC"], "US": ["tumor"]}, "models": {"m": {"features": ["clinical"]}},
               "preprocess": {"MRI": {"spacing": [1.0, 1.0, 1.0], "n4": {"enabled": True, "backend": "ants",
                                                                      "skip_views": ["ADC"]}}}})
    t = preprocessing_table(st.preprocess).set_index("modality")
    assert t.loc["MRI", "N4 bias correction"].startswith("ants, shrink") and t.loc["MRI", "N4 bias correction"].endswith("(not ADC)")
    assert t.loc["MRI", "resampling"] == "1.0 × 1.0 × 1.0 mm"
    assert t.loc["US", "resampling"] == "0.25 × 0.25 mm" and t.loc["US", "N4 bias correction"] == "off"
    assert t.loc["US", "normalisation"] == "zscore (foreground)" and t.loc["US", "clipping"] == "off"
