"""The study report: one self-contained HTML file (figures embedded as PNG/SVG), readable offline.

`build(inputs, cfg, ...)` takes a mapping of named input paths. Required: `split`, `clinical`
(validated), `qc`, and per cohort `metrics`, `predictions`, `pairwise`, `dca`; per model
`coefficients`. Every other section renders from an OPTIONAL input and, when that input is
absent, says so plainly ("not produced by this study's configuration"); see OPTIONAL for names
and formats. Patient identifiers never appear except as given in the input tables.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import html
import io
import json
import logging
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_path

log = logging.getLogger(__name__)

ABSENT = "not produced by this study's configuration"

# (id, heading) in report order; the headless-browser test checks every heading.
SECTIONS = [
    ("summary", "Study summary"),
    ("flow", "Cohort flow"),
    ("table1", "Table 1: characteristics by node status"),
    ("qc", "Validation and image QC"),
    ("icc", "Reproducibility (ICC)"),
    ("selection", "Feature selection funnel"),
    ("lasso", "LASSO cross-validation and coefficient path"),
    ("formulas", "Score formulas"),
    ("odds", "Odds ratios: univariable and multivariable analysis"),
    ("models", "Model tables"),
    ("roc", "ROC curves"),
    ("pairwise", "DeLong, NRI and IDI"),
    ("calibration", "Calibration"),
    ("dca", "Decision curves"),
    ("impact", "Clinical impact curve"),
    ("waterfall", "Waterfall plot"),
    ("nomogram", "Nomogram"),
    ("importance", "Feature importance"),
    ("gradcam", "Grad-CAM examples"),
    ("readers", "Reader study"),
    ("optimism", "Internal validation: bootstrap optimism"),
    ("provenance", "Provenance"),
    ("rulegraph", "Rule graph"),
    ("tripod", "TRIPOD+AI checklist"),
]

# Optional inputs: name -> (path template under results/<study>/, format). {model} / {cohort}
# expand per model / cohort; a missing file just leaves its section saying ABSENT.
OPTIONAL = {
    "funnel": ("selection/{model}/funnel.csv", "step, n_in, n_out"),
    "lasso_path": ("selection/{model}/lasso_path.csv", "log_lambda, feature, coef (long; one row per λ × feature)"),
    "lasso_cv": ("selection/{model}/lasso_cv.csv", "log_lambda, cv_mean, cv_se, chosen ('min' / '1se' / empty)"),
    "formula": ("models/{model}/formula.txt", "plain text, the score formula(s) of the model"),
    "nomogram": ("models/{model}/nomogram.svg", "SVG (or nomogram.png)"),
    "importance": ("models/{model}/importance.csv", "feature, importance, kind (axilla.interpret.importance_table)"),
    "odds_ratios": ("models/{model}/odds_ratios.csv", "axilla.interpret.ODDS_COLUMNS; header only for non-clinical models"),
    "optimism": ("models/{model}/optimism.csv", "model, apparent, optimism, corrected, n_boot"),
    "readers": ("metrics/{cohort}_readers.csv", "axilla.evaluate.READER_COLUMNS"),
    "readers_vs_models": ("metrics/{cohort}_readers_vs_models.csv", "axilla.evaluate.READER_VS_MODEL_COLUMNS"),
    "reader_pairs": ("metrics/{cohort}_reader_pairs.csv", "axilla.evaluate.READER_PAIR_COLUMNS"),
    "gradcam": ("deep/gradcam/*/*.png", "a folder per view, PNG per example, file name = caption (no DICOM header data)"),
    "qc_table": ("qc/preprocess.csv", "axilla.qc table; png paths relative to results/<study>/"),
    "missing": ("validate/missing.csv", "variable, kind, n_missing, n, percent, patients"),
    "icc": ("reproducibility/icc.csv", "feature, pair, n, form, icc, ci_low, ci_high"),
    "reproducible": ("reproducibility/reproducible_features.csv", "feature"),
    "deep_weights": ("features/deep_weights.json", "view -> {backbone, weights, details}"),
    "rulegraph": ("report/rulegraph.dot", "snakemake --rulegraph DOT"),
}

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45;font-size:16px}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #ccc;margin-top:2.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f1f1f1}td:first-child,th:first-child{text-align:left}
.note{color:#555;font-size:.92em}.absent{color:#8a5a00;font-style:italic}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}
img,svg{max-width:100%;height:auto}.grid{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
nav ol{columns:3;font-size:.92em}
"""


def optional_paths(results: str, models: Sequence[str], cohorts: Sequence[str]) -> dict[str, list[str]]:
    """Expand OPTIONAL for this study: name -> candidate paths (globs resolved by the caller)."""
    out = {}
    for name, (tpl, _) in OPTIONAL.items():
        if "{model}" in tpl:
            out[name] = [os.path.join(results, tpl.format(model=m)) for m in models]
        elif "{cohort}" in tpl:
            out[name] = [os.path.join(results, tpl.format(cohort=c)) for c in cohorts]
        else:
            out[name] = [os.path.join(results, tpl)]
    return out


# ---------------------------------------------------------------------------------------------
# html helpers
# ---------------------------------------------------------------------------------------------

def fig_to_img(fig, alt: str, fmt: str = "png") -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    if fmt == "svg":
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
        plt.close(fig)
        return buf.getvalue().decode("utf-8")[buf.getvalue().decode("utf-8").find("<svg"):]
    # dpi 100: a 6.4-inch figure is 640 px wide, shown 1:1 at 100 % zoom (text ≥ 9 pt stays legible)
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def file_img(path: str, alt: str) -> str:
    data = Path(path).read_bytes()
    if path.lower().endswith(".svg"):
        text = data.decode("utf-8")
        return text[text.find("<svg"):]
    mime = "image/png" if path.lower().endswith(".png") else "image/jpeg"
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{base64.b64encode(data).decode()}">'


def _is_p_column(name) -> bool:
    name = str(name)
    return name == "p" or name.endswith(("_p", " p"))


def table_html(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    def fmt(v, is_p=False):
        if isinstance(v, (float, np.floating)):
            if np.isnan(v):
                return ""
            # journals print small p-values as a bound, not as 0.000
            return "&lt;0.001" if is_p and v < 0.001 else floatfmt.format(v)
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    p_cols = [_is_p_column(c) for c in df.columns]
    body = "".join("<tr>" + "".join(f"<td>{fmt(v, p)}</td>" for v, p in zip(row, p_cols)) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _or_text(v: float) -> str:
    if not np.isfinite(v):
        return "∞" if v > 0 else "NA"
    if v == 0:
        return "0"
    return f"{v:.2f}" if 0.01 <= v < 1000 else f"{v:.2e}"


def odds_table(t: pd.DataFrame) -> pd.DataFrame:
    """A paper's layout of axilla.interpret.ODDS_COLUMNS: characteristic, then OR (95 % CI) and p
    of the univariable and of the multivariable analysis side by side (NA = not in it)."""
    terms = list(dict.fromkeys(t.loc[t.term != "(intercept)", "term"]))
    out = pd.DataFrame({"characteristic": terms})
    for a, label in (("univariate", "univariable"), ("multivariable", "multivariable")):
        part = t[t.analysis == a].set_index("term")
        if part.empty:
            continue
        out[f"{label} OR (95 % CI)"] = [
            f"{_or_text(part.at[k, 'odds_ratio'])} ({_or_text(part.at[k, 'or_ci_low'])}–"
            f"{_or_text(part.at[k, 'or_ci_high'])})" if k in part.index else "NA" for k in terms]
        out[f"{label} p"] = [("<0.001" if part.at[k, "p"] < 0.001 else f"{part.at[k, 'p']:.3f}")
                             if k in part.index and np.isfinite(part.at[k, "p"]) else "NA" for k in terms]
        if a == "multivariable" and "vif" in part and part["vif"].notna().any():
            out["VIF"] = [f"{part.at[k, 'vif']:.2f}" if k in part.index and np.isfinite(part.at[k, "vif"]) else ""
                          for k in terms]
    if "per" in t and t["per"].notna().any():
        pers = t.dropna(subset=["per"]).groupby("analysis", sort=False)["per"].first()
        out["OR per"] = ("1 " + pers.iloc[0] if pers.nunique() == 1
                         else "; ".join(f"{a.replace('univariate', 'univariable')}: 1 {v}" for a, v in pers.items()))
    return out


def absent(what: str = "") -> str:
    return f"<p class='absent'>{html.escape(what + ': ' if what else '')}{ABSENT}.</p>"


def _existing(paths) -> list[str]:
    if paths is None:
        return []
    if isinstance(paths, str):
        paths = [paths]
    found = []
    for p in paths:
        found.extend(sorted(glob.glob(p)) if any(ch in p for ch in "*?[") else ([p] if os.path.exists(p) else []))
    return found


def _by_key(paths: list[str], keys: Sequence[str], part: int) -> dict[str, str]:
    """Map model/cohort names to paths: `part` = index of the path component holding the name
    (-2: folder, e.g. models/<m>/x.csv; -1: file stem prefix, e.g. metrics/<c>_x.csv)."""
    out = {}
    for p in paths:
        for k in keys:
            name = Path(p).parts[part] if part == -2 else Path(p).name
            if (part == -2 and name == k) or (part == -1 and (name == f"{k}.csv" or name.startswith(f"{k}_"))):
                out[k] = p
    return out


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ["axilla", "snakemake", "numpy", "pandas", "scipy", "scikit-learn", "statsmodels", "pingouin",
                "simpleitk", "pyradiomics-bhklab", "torch", "monai", "antspyx", "matplotlib", "networkx"]:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------

class _Doc:
    def __init__(self):
        self.parts: list[str] = []
        self.done: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def section(self, sid: str) -> None:
        heading = dict(SECTIONS)[sid]
        self.done.append(sid)
        self.add(f"<h2 id='{sid}'>{html.escape(heading)}</h2>")


def _demo_oracle(manifest, split: pd.DataFrame, cohorts) -> pd.DataFrame | None:
    """Per-cohort AUC of the demo generator's true linear predictor (only beside a demo manifest)."""
    from .evaluate import roc_auc

    truth = os.path.join(os.path.dirname(str(manifest)), "truth.csv") if manifest else None
    if not truth or not os.path.exists(truth):
        return None
    t = pd.read_csv(truth, dtype={"patient_id": str}).set_index("patient_id")
    if "linear_predictor" not in t.columns or not set(split.patient_id) <= set(t.index):
        return None
    rows = []
    for c in cohorts:
        s = split[split.cohort == c]
        rows.append({"cohort": c, "patients": len(s),
                     "oracle_auc": roc_auc(s.y.to_numpy(), t.loc[s.patient_id, "linear_predictor"].to_numpy())})
    return pd.DataFrame(rows)


def build(inputs: Mapping[str, object], cfg: Mapping, cohorts: Sequence[str], models: Sequence[str],
          optional: Mapping[str, object] | None = None) -> str:
    from . import figures
    from .report_dag import render_svg
    from .report_tables import table_one, tripod_ai

    optional = dict(optional or {})
    cohorts, models = list(cohorts), list(models)
    opt = {k: _existing(v) for k, v in optional.items()}
    for k in ("icc", "reproducible", "deep_weights", "rulegraph", "funnel", "optimism", "readers",
              "readers_vs_models", "reader_pairs", "missing", "qc_table", "formula", "importance", "odds_ratios"):
        if k in inputs:  # declared rule inputs take precedence over discovered files
            opt[k] = _existing(inputs[k])
            tpl = OPTIONAL.get(k, ("",))[0]
            if "{cohort}" in tpl:  # a rule may declare several per-cohort tables under one name
                names = {Path(tpl.format(cohort=c)).name for c in cohorts}
                opt[k] = [q for q in opt[k] if Path(q).name in names]
    if "gradcam" in inputs:  # declared as the deep rule's per-view folders
        opt["gradcam"] = _existing([os.path.join(d, "*.png") for d in _existing(inputs["gradcam"])])
    rcfg = cfg.get("report", {}) or {}
    primary = rcfg.get("primary_model") or models[-1]
    if primary not in models:
        raise ValueError(f"config report.primary_model: '{primary}' is not a model of this study ({models})")
    train_cohort = cohorts[0]

    split = pd.read_csv(inputs["split"], dtype={"patient_id": str})
    clinical = pd.read_csv(inputs["clinical"], dtype={"patient_id": str})
    def each(key):  # Snakemake hands a one-file named input over as a plain str
        v = inputs[key]
        return [v] if isinstance(v, str) else list(v)

    metrics = dict(zip(cohorts, (pd.read_csv(p) for p in each("metrics")), strict=True))
    preds = dict(zip(cohorts, (pd.read_csv(p, dtype={"patient_id": str}) for p in each("predictions")),
                     strict=True))
    pairwise = dict(zip(cohorts, (pd.read_csv(p) for p in each("pairwise")), strict=True))
    dca = dict(zip(cohorts, (pd.read_csv(p) for p in each("dca")), strict=True))
    coefs = dict(zip(models, (pd.read_csv(p) for p in each("coefficients")), strict=True))

    d = _Doc()
    title = rcfg.get("title") or f"axilla study report: {cfg['study']}"
    d.add(f"<h1>{html.escape(title)}</h1>")
    d.add("<nav><ol>" + "".join(f"<li><a href='#{s}'>{html.escape(h)}</a></li>" for s, h in SECTIONS)
          + "</ol></nav>")

    # --- summary and flow ----------------------------------------------------------------------
    d.section("summary")
    views = "; ".join(f"{m}: {', '.join(v)}" for m, v in cfg["views"].items())
    data = ("built-in synthetic demo cohort" if cfg.get("manifest") is None
            else f"manifest {cfg['manifest']}, clinical table {cfg['clinical']}")
    d.add(f"<p>Study <b>{html.escape(cfg['study'])}</b>"
          + (f", preset <b>{html.escape(str(rcfg['preset']))}</b>" if rcfg.get("preset") else ", no preset")
          + f". Outcome <b>{html.escape(cfg['outcome'])}</b> (axillary lymph-node status) in {len(split)} "
          f"patients; images {html.escape(views)}; data: {html.escape(data)}; seed {cfg['seed']}. "
          f"Models: {html.escape(', '.join(models))}; primary model for single-model figures: "
          f"<b>{html.escape(primary)}</b>.</p>")
    best = metrics[cohorts[-1]].sort_values("auc", ascending=False).iloc[0]
    d.add(f"<p>On the <b>{html.escape(cohorts[-1])}</b> cohort the highest AUC is {best.auc:.3f} "
          f"(95 % CI {best.auc_ci_low:.3f}–{best.auc_ci_high:.3f}, model {html.escape(str(best.model))}).</p>")

    d.section("flow")
    counts = split.groupby("cohort")["y"].agg(patients="size", positive="sum").reindex(cohorts).reset_index()
    counts["negative"] = counts.patients - counts.positive
    counts["prevalence"] = counts.positive / counts.patients
    d.add(f"<p>{len(clinical)} patients in the validated clinical table → {len(split)} with images and outcome, "
          "split at patient level:</p>" + table_html(counts))
    sp = cfg["split"]
    ext = sp.get("external")
    d.add(f"<p class='note'>Split: {sp['method']}"
          + (f", {sp['test_fraction']:.0%} stratified internal hold-out" if sp["method"] == "random"
             else f" from column '{html.escape(str(sp.get('column')))}'")
          + (f"; external cohort = {html.escape(str(ext['column']))} in {html.escape(str(ext['values']))}"
             if ext else "") + ".</p>")
    oracle = _demo_oracle(inputs.get("manifest"), split, cohorts)
    if oracle is not None:
        d.add("<p>Synthetic demo cohort: the AUC of its true risk (the generator's linear predictor, "
              "<code>truth.csv</code>) per cohort is the ceiling any model can reach on these patients:</p>"
              + table_html(oracle))

    d.section("table1")
    variables = dict(cfg.get("clinical_variables", {}))
    if variables:
        cl = clinical.set_index("patient_id").loc[split.patient_id]
        for c in cohorts:
            ids = (split.cohort == c).to_numpy()
            yc = split.y.to_numpy()[ids]
            t1 = table_one(cl[ids], yc, variables)
            t1 = t1.rename(columns={"negative": f"node negative (n={int((yc == 0).sum())})",
                                    "positive": f"node positive (n={int((yc == 1).sum())})"})
            d.add(f"<h3>{html.escape(c)}</h3>" + table_html(t1))
        d.add("<p class='note'>Numeric: Shapiro–Wilk in both groups → Student/Welch t-test (Levene), else "
              "Mann–Whitney U; categorical: χ², Fisher's exact test for 2×2 tables with an expected count "
              "below 5. Percentages of non-missing values.</p>")
    else:
        d.add(absent("clinical variables"))

    # --- data quality --------------------------------------------------------------------------
    d.section("qc")
    qc = pd.read_csv(inputs["qc"], dtype={"patient_id": str})
    agg = {"images": ("patient_id", "size")}
    for col in ("size", "spacing"):
        if col in qc:
            agg[col] = (col, lambda x: x.mode().iloc[0] if len(x) else "")
    d.add("<p>All inputs passed validation (files, geometry, masks, clinical types, outcome).</p>"
          + table_html(qc.groupby(["modality", "view"]).agg(**agg).reset_index()))
    if opt.get("missing"):
        miss = pd.read_csv(opt["missing"][0])
        miss = miss[miss.n_missing > 0].drop(columns=["patients"], errors="ignore")
        strategy = (cfg.get("missing") or {}).get("strategy", "simple")
        how = "median / mode" if strategy == "simple" else "iterative imputation"
        d.add(f"<h3>Missing clinical values</h3><p>Imputed by {how}, fitted on the training cohort only; "
              "no patient is dropped.</p>" + (table_html(miss) if len(miss) else "<p>No clinical value is missing.</p>"))
    else:
        d.add(absent("missing-value counts"))
    if opt.get("qc_table"):
        try:
            from .qc import gallery_html

            # png paths are relative to results/<study>/, the folder above qc/
            d.add(gallery_html(opt["qc_table"][0], os.path.dirname(os.path.dirname(opt["qc_table"][0]))))
        except ImportError:
            d.add(absent("QC gallery (axilla.qc)"))
    else:
        d.add(absent("QC gallery"))

    d.section("icc")
    if opt.get("icc"):
        icc = pd.read_csv(opt["icc"][0])
        rc = cfg["reproducibility"]
        kept = len(pd.read_csv(opt["reproducible"][0])) if opt.get("reproducible") else None
        d.add(f"<p>{rc['icc']} per radiomics feature for rater pairs "
              f"{', '.join('–'.join(p) for p in rc['pairs'])}; features with ICC ≥ {rc['threshold']} in every "
              f"pair are kept" + (f": <b>{kept} of {icc['feature'].nunique()}</b>" if kept is not None else "")
              + ".</p>")
        if not icc.empty:
            d.add(fig_to_img(figures.icc_histogram(icc, rc["threshold"]), "ICC histogram"))
            by = icc.groupby("pair").agg(patients=("n", "first"), features=("icc", "size"),
                                         median_icc=("icc", "median"),
                                         above=("icc", lambda x: int((x >= rc["threshold"]).sum()))).reset_index()
            d.add(table_html(by))
    else:
        d.add(absent("ICC table"))

    # --- selection and models ------------------------------------------------------------------
    d.section("selection")
    funnels = _by_key(opt.get("funnel", []), models, -2)
    if funnels:
        for m, p in funnels.items():
            d.add(f"<h3>{html.escape(m)}</h3>" + table_html(pd.read_csv(p)))
        d.add("<p class='note'>Row <i>input</i>: n_in counts the variables and features as supplied, n_out the "
              "columns after one-hot encoding of categorical clinical variables (one column per "
              "non-reference level), which is what the first selection step receives.</p>")
    else:
        d.add(absent("selection funnel"))

    d.section("lasso")
    paths = _by_key(opt.get("lasso_path", []), models, -2)
    cvs = _by_key(opt.get("lasso_cv", []), models, -2)
    if paths:
        for m, p in paths.items():
            cv = pd.read_csv(cvs[m]) if m in cvs else None
            d.add(f"<h3>{html.escape(m)}</h3>" + fig_to_img(figures.lasso_path(pd.read_csv(p), cv, m), f"LASSO {m}"))
    else:
        d.add(absent("LASSO path and CV curve"))

    d.section("formulas")
    formulas = _by_key(opt.get("formula", []), models, -2)
    for m in models:
        if m in formulas:
            text = Path(formulas[m]).read_text(encoding="utf-8")
        else:  # the fitted logistic model is itself the score formula
            c = coefs[m]
            terms = [f"{r.coef:+.4f} × {r.term}" for r in c.itertuples() if r.term != "(intercept)"]
            icpt = c.loc[c.term == "(intercept)", "coef"]
            text = f"logit(p) = {icpt.iloc[0] if len(icpt) else 0:.4f} " + " ".join(terms)
        d.add(f"<h3>{html.escape(m)}</h3><pre>{html.escape(text)}</pre>")
    if not formulas:
        d.add("<p class='note'>From the fitted coefficients (features z-scored with training-cohort statistics); "
              f"dedicated score formulas: {ABSENT}.</p>")
    d.add("<h3>Coefficients</h3><div class='grid'>")
    for m in models:
        d.add(f"<div><b>{html.escape(m)}</b>" + table_html(coefs[m], "{:.4g}") + "</div>")
    d.add("</div>")

    d.section("odds")
    odds = {}
    for m, p in _by_key(opt.get("odds_ratios", []), models, -2).items():
        t = pd.read_csv(p)
        if not t.empty:
            odds[m] = t
    for m, t in odds.items():
        d.add(f"<h3>{html.escape(m)}</h3>" + table_html(odds_table(t), "{:.2f}"))
        d.add(fig_to_img(figures.forest(t, m), f"odds ratios {m}"))
    if odds:
        d.add("<p class='note'>Training cohort only. Logistic regression by maximum likelihood (statsmodels, "
              "unpenalised), 95 % Wald confidence intervals. Univariable: one model per candidate variable; "
              "multivariable: the terms the model kept, together (for chains with a backward stepwise step, the "
              "stepwise model; the classifier's own, possibly penalised, coefficients are in the coefficient "
              "tables above). Odds ratios per unit of the variable as entered (categorical: level versus the "
              "reference level), or per training SD where a z-score step came first; NA = not in that "
              "analysis; very large ORs with unbounded intervals signal separation.</p>")
    else:
        d.add(absent("odds-ratio tables (models of clinical variables, or chains with ulogit / stepwise steps)"))

    # --- performance ---------------------------------------------------------------------------
    d.section("models")
    rows = []
    for c in cohorts:
        for r in metrics[c].itertuples():
            rows.append({"cohort": c, "model": r.model, "AUC (95 % CI)": f"{r.auc:.3f} ({r.auc_ci_low:.3f}–"
                         f"{r.auc_ci_high:.3f})", "accuracy": r.accuracy, "sensitivity": r.sensitivity,
                         "specificity": r.specificity, "PPV": r.ppv, "NPV": r.npv, "F1": r.f1, "Brier": r.brier})
    d.add(table_html(pd.DataFrame(rows)))
    d.add("<p class='note'>Cut-off: Youden-optimal on the training cohort (p ≥ cut-off positive), applied "
          "unchanged to the other cohorts. Calibration columns of the same metrics files:</p>")
    cal = [{"cohort": c, "model": r.model, "threshold": r.threshold, "intercept": r.cal_intercept,
            "slope": r.cal_slope, "CITL": r.citl, "HL χ²": r.hl_chi2, "HL df": str(r.hl_df), "HL p": r.hl_p}
           for c in cohorts for r in metrics[c].itertuples()]
    d.add(table_html(pd.DataFrame(cal)))

    d.section("roc")
    d.add("<div class='grid'>")
    for c in cohorts:
        d.add(fig_to_img(figures.roc(preds[c], models, metrics[c], f"{c} (n={len(preds[c])})"), f"ROC {c}"))
    d.add("</div>")

    d.section("pairwise")
    for c in cohorts:
        if pairwise[c].empty:
            d.add(absent(f"{c}: pairwise comparisons (one model)"))
            continue
        d.add(f"<h3>{html.escape(c)}</h3>" + fig_to_img(figures.pairwise_heatmaps(pairwise[c], models, c),
                                                         f"pairwise {c}"))
        d.add(table_html(pairwise[c]))

    d.section("calibration")
    d.add("<div class='grid'>")
    for c in cohorts:
        d.add(fig_to_img(figures.calibration(preds[c], models, c), f"calibration {c}"))
    d.add("</div>")

    d.section("dca")
    d.add("<div class='grid'>")
    for c in cohorts:
        d.add(fig_to_img(figures.decision_curves(dca[c], c), f"decision curve {c}"))
    d.add("</div>")

    d.section("impact")
    d.add("<div class='grid'>")
    for c in cohorts[1:] or cohorts:
        d.add(fig_to_img(figures.clinical_impact(dca[c], primary, c), f"clinical impact {c}"))
    d.add("</div>")

    d.section("waterfall")
    cut = metrics[train_cohort].set_index("model").loc[primary, "threshold"]
    for c in cohorts:
        d.add(fig_to_img(figures.waterfall(preds[c], primary, cut, c), f"waterfall {c}"))

    d.section("nomogram")
    noms = {}
    for p in opt.get("nomogram", []) + _existing([p.replace(".svg", ".png") for p in optional.get("nomogram", [])]):
        noms.update(_by_key([p], models, -2))
    if noms:
        for m, p in noms.items():
            d.add(f"<h3>{html.escape(m)}</h3>" + file_img(p, f"nomogram {m}"))
    else:
        d.add(absent("nomogram"))

    d.section("importance")
    imps = _by_key(opt.get("importance", []), models, -2)
    for m in models:
        if m in imps:
            t = pd.read_csv(imps[m])
            kind = str(t["kind"].iloc[0]) if "kind" in t and len(t) else "feature importance"
            d.add(fig_to_img(figures.bar_importance(t, "importance", f"{m}: {kind}"), f"importance {m}"))
        else:
            c = coefs[m][coefs[m].term != "(intercept)"][["term", "coef"]]
            if not c.empty:
                d.add(fig_to_img(figures.bar_importance(c, "coef", f"{m}: standardised coefficients (model-native)"),
                                 f"importance {m}"))
    if imps:
        d.add("<p class='note'>Computed on the training cohort only. Model-native where the model has it: "
              "|standardised coefficient| (|b| × the feature's training SD) for logistic models; share of impurity "
              "decrease (random forest, AdaBoost) or of split gain (XGBoost, LightGBM) for trees; otherwise "
              "permutation importance (mean drop of the training AUC when the feature is shuffled). Post-fusion "
              f"models: importance of each base model's logit. SHAP: {ABSENT}.</p>")
    else:
        d.add(f"<p class='note'>Model-native importance (coefficients on z-scored features); SHAP: {ABSENT}.</p>")

    d.section("gradcam")
    cams = opt.get("gradcam", [])
    notes = {}
    if opt.get("deep_weights"):
        for view, v in json.loads(Path(opt["deep_weights"][0]).read_text()).items():
            notes[view] = ((v.get("details") or {}).get("gradcam") or {})
    by_view: dict[str, list[str]] = {}
    for p in cams:
        by_view.setdefault(Path(p).parent.name, []).append(p)
    for view in sorted(set(by_view) | set(notes)):
        rec = notes.get(view, {})
        if view in by_view:
            cells = "×".join(str(c) for c in rec.get("map_cells", []))
            d.add(f"<h3>{html.escape(view.replace('_', ' '))}</h3><div class='grid'>" + "".join(
                f"<figure>{file_img(p, Path(p).stem)}<figcaption>{html.escape(Path(p).stem)}</figcaption></figure>"
                for p in by_view[view]) + "</div>"
                + (f"<p class='note'>Target layer {html.escape(str(rec['layer']))} ({cells} cells at this input "
                   "size).</p>" if rec.get("layer") else ""))
        elif rec.get("note"):
            d.add(f"<p><b>{html.escape(view.replace('_', ' '))}</b>: {html.escape(rec['note'])}.</p>")
    if cams:
        d.add("<p class='note'>Grad-CAM (MONAI) of the fine-tuned or loaded network: left the network's input "
              "crop, right the heat map over it (red = regions that raise the score of the class the network "
              "predicts for this image, each map scaled to its own maximum, over the volume for 3D crops). Two "
              "node-positive and two node-negative training patients per view, drawn at random with the study "
              "seed; 3D crops at the slice with the largest ROI area. No patient identifiers, no image-header "
              "data.</p>")
    elif not notes:
        d.add(absent("Grad-CAM examples"))

    d.section("readers")
    rd = _by_key(opt.get("readers", []), cohorts, -1)
    if rd:
        vs = _by_key(opt.get("readers_vs_models", []), cohorts, -1)
        kp = _by_key(opt.get("reader_pairs", []), cohorts, -1)
        for c in cohorts:
            if c in rd:
                tab = pd.read_csv(rd[c])
                d.add(f"<h3>{html.escape(c)}</h3>" + table_html(tab))
                for extra in (vs, kp):
                    if c in extra:
                        d.add(table_html(pd.read_csv(extra[c])))
                if tab["sensitivity"].notna().any():
                    d.add(fig_to_img(figures.reader_points(preds[c], primary, tab, f"{c}: readers vs {primary}"),
                                     f"readers {c}"))
        d.add("<p class='note'>Readers vs models and reader pairs: paired DeLong on the patients both read "
              "(z &gt; 0: the first is higher); reader pairs also give Cohen's κ of the calls "
              "(reading ≥ threshold). In the figure an arrow joins reader R to R_ai, the same reader "
              "assisted by the model.</p>")
    else:
        d.add(absent("reader study (evaluate.readers)"))

    d.section("optimism")
    opts = opt.get("optimism", [])
    if opts:
        d.add(table_html(pd.concat([pd.read_csv(p) for p in opts], ignore_index=True)))
        d.add("<p class='note'>Harrell: apparent training AUC minus the mean optimism over bootstrap resamples, "
              "the whole procedure (encoding, selection, model) refitted in each. Score-fusion models take "
              "their base models' scores as given (out-of-fold on training patients), as rms::validate does "
              "for a nomogram fit, so their optimism leaves out the scores' own.</p>")
    else:
        d.add(absent("bootstrap optimism"))

    # --- provenance ----------------------------------------------------------------------------
    d.section("provenance")
    files = [(k, inputs[k]) for k in ("manifest", "clinical_raw") if inputs.get(k)]
    for m, p in sorted((cfg.get("radiomics", {}).get("params") or {}).items()):
        if os.path.exists(p):
            files.append((f"radiomics params {m}", p))
    w = (cfg.get("deep", {}).get("weights") or {})
    for key in ("path", "init"):
        if w.get(key) and os.path.exists(w[key]):
            files.append((f"deep weights ({key})", w[key]))
    prov = [{"input": k, "path": v, "sha256": sha256(v)} for k, v in files]
    if inputs.get("validated_manifest"):
        man = pd.read_csv(inputs["validated_manifest"])
        img = sorted(set(man.get("image", [])) | set(man.get("mask", [])))
        h = hashlib.sha256()
        for p in img:
            h.update(f"{p}\0{sha256(p) if os.path.exists(p) else 'missing'}\n".encode())
        prov.append({"input": f"all {len(img)} image and mask files", "path": "(validated manifest)",
                     "sha256": h.hexdigest()})
    d.add("<h3>Input files</h3>" + table_html(pd.DataFrame(prov)))
    d.add("<h3>Deep-learning weights used</h3>")
    if opt.get("deep_weights"):
        weights = json.loads(Path(opt["deep_weights"][0]).read_text())
        wt = pd.DataFrame([{"view": k, "backbone": v.get("backbone", ""), "weights": v.get("weights", ""),
                            "description": (v.get("details") or {}).get("description", "")}
                           for k, v in weights.items()])
        if wt["description"].equals(wt["weights"]):
            wt = wt.drop(columns="description")
        d.add(table_html(wt))
    else:
        d.add(absent("deep weights provenance"))
    d.add("<h3>Software</h3>" + table_html(pd.DataFrame(list(versions().items()), columns=["software", "version"])))
    bench = _existing(inputs.get("benchmarks"))
    if bench:
        secs = sum(float(pd.read_csv(p, sep="\t")["s"].sum()) for p in bench)
        # class "runtime": the one part of the report that differs between identical runs
        d.add(f"<p>Seed {cfg['seed']}.</p><p class=\"runtime\">Run time: {secs / 60:.1f} min summed over "
              f"{len(bench)} jobs' benchmarks (wall time per job; jobs may have run in parallel).</p>")
    else:
        d.add(f"<p>Seed {cfg['seed']}. Run time: {ABSENT} (no benchmark files).</p>")
    import yaml

    d.add("<h3>Configuration</h3><pre>" + html.escape(yaml.safe_dump(json.loads(json.dumps(dict(cfg))),
                                                                        sort_keys=False)) + "</pre>")

    d.section("rulegraph")
    if opt.get("rulegraph"):
        d.add(render_svg(Path(opt["rulegraph"][0]).read_text(encoding="utf-8")))
    else:
        d.add(absent("rule graph"))

    d.section("tripod")
    has = {"optimism": bool(opts), "readers": bool(rd), "nomogram": bool(noms)}
    d.add(table_html(tripod_ai(dict(cfg), counts, models, has).assign(
        filled=lambda t: t["filled"].map({True: "yes", False: "no"}))))

    assert d.done == [s for s, _ in SECTIONS], "report sections out of order"
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(d.parts) + "</body></html>\n")


def run(inputs: Mapping[str, object], cfg: Mapping, cohorts, models, optional, out_html: str) -> None:
    text = build(inputs, cfg, cohorts, models, optional)
    with atomic_path(out_html) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info("report written: %s (%.0f kB)", out_html, len(text) / 1024)
