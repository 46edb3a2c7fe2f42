"""The study report: one self-contained HTML file (figures embedded), readable offline."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import logging
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_path

log = logging.getLogger(__name__)

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f1f1f1}td:first-child,th:first-child{text-align:left}
.note{color:#555;font-size:.92em}pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}
img{max-width:100%}.grid{display:flex;flex-wrap:wrap;gap:1em}
"""


def _fig_to_img(fig, alt: str) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else floatfmt.format(v)
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def roc_figure(pred: pd.DataFrame, models: list[str], title: str, metrics: pd.DataFrame):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    auc = metrics.set_index("model")
    for m in models:
        fpr, tpr, _ = roc_curve(pred.y, pred[m])
        a = auc.loc[m]
        ax.plot(fpr, tpr, lw=1.8, label=f"{m}: {a.auc:.3f} ({a.auc_ci_low:.3f}–{a.auc_ci_high:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8, title="AUC (95 % CI, DeLong)", title_fontsize=8)
    ax.set_aspect("equal")
    return fig


def icc_histogram(icc: pd.DataFrame, threshold: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for pair, g in icc.groupby("pair"):
        ax.hist(g.icc.dropna().clip(-0.2, 1), bins=40, alpha=0.55, label=pair)
    ax.axvline(threshold, color="k", ls="--", lw=1)
    ax.set(xlabel="ICC per radiomics feature", ylabel="features")
    ax.legend(fontsize=8)
    return fig


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ["axilla", "snakemake", "numpy", "pandas", "scikit-learn", "statsmodels", "simpleitk",
                "pyradiomics-bhklab", "torch", "monai", "antspyx", "matplotlib"]:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def build(inputs, params) -> str:
    cfg = params.config
    cohorts = list(params.cohorts)
    models = list(params.models)
    split = pd.read_csv(inputs.split, dtype={"patient_id": str})
    s = []
    add = s.append
    add(f"<h1>axilla study report: {html.escape(cfg['study'])}</h1>")
    views = "; ".join(f"{m}: {', '.join(v)}" for m, v in cfg["views"].items())
    data = "built-in synthetic demo cohort" if cfg.get("manifest") is None else html.escape(str(cfg["manifest"]))
    add(f"<p>Outcome <b>{html.escape(cfg['outcome'])}</b> in {len(split)} patients; images: {views}; data: {data}; "
        f"seed {cfg['seed']}.</p>")

    add("<h2 id='split'>Cohorts</h2>")
    counts = split.groupby("cohort").y.agg(patients="size", positive="sum").reindex(cohorts).reset_index()
    counts["negative"] = counts.patients - counts.positive
    counts["prevalence"] = counts.positive / counts.patients
    add(_table(counts))
    sp = cfg["split"]
    ext = sp.get("external")
    add(f"<p class='note'>Split: {sp['method']}" + (f", {sp['test_fraction']:.0%} stratified internal hold-out"
        if sp["method"] == "random" else f" from column '{sp['column']}'") +
        (f"; external cohort = {ext['column']} in {ext['values']}" if ext else "") + ". Patient level.</p>")

    add("<h2 id='validate'>Validation and image QC</h2>")
    qc = pd.read_csv(inputs.qc, dtype={"patient_id": str})
    summ = qc.groupby(["modality", "view"]).agg(images=("patient_id", "size"),
                                                 size=("size", lambda x: x.mode().iloc[0]),
                                                 spacing=("spacing", lambda x: x.mode().iloc[0])).reset_index()
    add("<p>All inputs passed validation (files, geometry, masks, clinical types, outcome).</p>" + _table(summ))

    add("<h2 id='reproducibility'>Reproducibility (ICC)</h2>")
    icc = pd.read_csv(inputs.icc)
    keep = pd.read_csv(inputs.reproducible)
    nrad = pd.read_csv(inputs.radiomics, nrows=1).shape[1] - 1
    rc = cfg["reproducibility"]
    add(f"<p>{rc['icc']} per radiomics feature for rater pairs {', '.join('–'.join(p) for p in rc['pairs'])}; "
        f"features with ICC ≥ {rc['threshold']} in every pair are kept: <b>{len(keep)} of {nrad}</b>.</p>")
    if not icc.empty:
        add(_fig_to_img(icc_histogram(icc, rc["threshold"]), "ICC histogram"))
        by = icc.groupby("pair").agg(patients=("n", "first"), median_icc=("icc", "median"),
                                     above=("icc", lambda x: int((x >= rc["threshold"]).sum()))).reset_index()
        add(_table(by))

    add("<h2 id='deep'>Deep features: weights used</h2>")
    weights = json.loads(Path(inputs.deep_weights).read_text())
    rows = [{"view": k, "backbone": v.get("backbone", ""), "weights": v.get("weights", "")} for k, v in weights.items()]
    add(_table(pd.DataFrame(rows)))

    add("<h2 id='select'>Feature selection (training cohort only)</h2>")
    for path in inputs.funnels:
        name = Path(path).parent.name
        add(f"<h3>{html.escape(name)}</h3>" + _table(pd.read_csv(path)))

    add("<h2 id='train'>Models</h2>")
    for path in inputs.coefficients:
        name = Path(path).parent.name
        add(f"<h3>{html.escape(name)}</h3>" + _table(pd.read_csv(path), "{:.4g}"))

    add("<h2 id='evaluate'>Discrimination</h2><div class='grid'>")
    for cohort, mpath, ppath in zip(cohorts, inputs.metrics, inputs.predictions):
        pred = pd.read_csv(ppath, dtype={"patient_id": str})
        met = pd.read_csv(mpath)
        add(_fig_to_img(roc_figure(pred, models, f"{cohort} (n={len(pred)})", met), f"ROC {cohort}"))
    add("</div>")
    for cohort, mpath in zip(cohorts, inputs.metrics):
        met = pd.read_csv(mpath)
        add(f"<h3>{html.escape(cohort)}</h3>" + _table(met[[c for c in met.columns if c in (
            "model", "n", "n_positive", "auc", "auc_ci_low", "auc_ci_high", "threshold", "sensitivity",
            "specificity", "accuracy")]]))
    for cohort, path in zip(cohorts, inputs.pairwise):
        pw = pd.read_csv(path)
        if not pw.empty:
            add(f"<h4>{html.escape(cohort)}: paired DeLong tests</h4>" + _table(pw[[c for c in pw.columns if c in (
                "model_a", "model_b", "delong_z", "delong_p")]]))

    add("<h2 id='provenance'>Provenance</h2>")
    files = {"manifest": inputs.manifest, "clinical": inputs.clinical_raw}
    add(_table(pd.DataFrame([{"input": k, "path": v, "sha256": sha256(v)} for k, v in files.items()])))
    add(_table(pd.DataFrame(list(versions().items()), columns=["software", "version"])))
    import yaml

    add("<h3>Configuration</h3><pre>" + html.escape(yaml.safe_dump(dict(cfg), sort_keys=False)) + "</pre>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>axilla: {html.escape(cfg['study'])}</title><style>{CSS}</style></head><body>"
            + "\n".join(s) + "</body></html>\n")


def run(inputs, params, out_html: str) -> None:
    text = build(inputs, params)
    with atomic_path(out_html) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info("report written: %s (%.0f kB)", out_html, len(text) / 1024)
