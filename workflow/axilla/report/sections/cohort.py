"""Sections on the cohort and its data: summary, flow, Table 1, validation / QC, ICC."""

from __future__ import annotations

import html
import os
import re
from dataclasses import asdict

import pandas as pd

from ...evaluate import roc_auc
from ...fidelity import deviations
from ...io import read_table
from ...qc import gallery_html
from ...reproducibility import describe_source
import axilla.report.figures as figures  # the module itself: the package's __init__ imports build
from ..html import Doc, absent, fig_to_img, h3, table_html
from ..study import Study
from ..tables import table_one


def summary(d: Doc, s: Study) -> None:
    st = s.settings
    views = "; ".join(f"{m}: {', '.join(v)}" for m, v in st.views.items())
    data = ("built-in synthetic demo cohort" if st.manifest is None
            else f"manifest {st.manifest}, clinical table {st.clinical}")
    d.add(f"<p>Study <b>{html.escape(st.study)}</b>"
          + (f", preset <b>{html.escape(str(st.report.preset))}</b>" if st.report.preset else ", no preset")
          + f". Outcome <b>{html.escape(st.outcome)}</b> (axillary lymph-node status) in {len(s.split)} "
          f"patients; images {html.escape(views)}; data: {html.escape(data)}; seed {st.seed}. "
          f"Models: {html.escape(', '.join(s.models))}; primary model for single-model figures: "
          f"<b>{html.escape(s.primary)}</b>.</p>")
    _fidelity(d, s)
    last = s.cohorts[-1]
    best = s.metrics[last].sort_values("auc", ascending=False).iloc[0]
    d.add(f"<p>On the <b>{html.escape(last)}</b> cohort the highest AUC is {best.auc:.3f} "
          f"(95 % CI {best.auc_ci_low:.3f}–{best.auc_ci_high:.3f}, model {html.escape(str(best.model))}).</p>")


def _md(text: str) -> str:
    """A table cell's markdown as HTML: escaped, `code` spans kept."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _fidelity(d: Doc, s: Study) -> None:
    """The preset's deviations from its paper, from its fidelity table (config/presets/<preset>.md)."""
    paths = s.inputs.get("fidelity") or []
    if isinstance(paths, str):
        paths = [paths]
    if not paths:
        return
    n, rows = deviations(paths[0])
    d.add(f"<p>Fidelity to the preset's paper ({html.escape(os.path.basename(paths[0]))}): "
          f"{n - len(rows)} of {n} Methods elements as published, {len(rows)} deviation(s):</p>")
    if rows:
        body = "".join(f"<tr><td>{_md(r['Element'])}</td><td>{_md(r['Reason'])}</td></tr>" for r in rows)
        d.add(f"<details><summary>deviations and their reasons</summary><table><tr><th>element</th>"
              f"<th>reason</th></tr>{body}</table></details>")


def demo_oracle(manifest, split: pd.DataFrame, cohorts) -> pd.DataFrame | None:
    """Per-cohort AUC of the demo generator's true linear predictor (only beside a demo manifest)."""
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


# The problem classes of validate/excluded.csv, as the flow diagram names them.
EXCLUSION_LABELS = {"missing_view": "required view missing", "unreadable": "image or mask unreadable",
                    "small_roi": "no ROI or ROI too small", "missing_outcome": "outcome missing"}


def flow(d: Doc, s: Study) -> None:
    _flow_diagram(d, s)
    d.add(f"<p>{len(s.clinical)} patients in the validated clinical table → {len(s.split)} with images and outcome, "
          "split at patient level:</p>" + table_html(s.counts()))
    sp = s.settings.split
    ext = sp.external
    d.add(f"<p class='note'>Split: {sp.method}"
          + (f", {sp.test_fraction:.0%} stratified internal hold-out" if sp.method == "random"
             else f" from column '{html.escape(str(sp.column))}'")
          + (f"; external cohort = {html.escape(str(ext['column']))} in {html.escape(str(ext['values']))}"
             if ext else "") + ".</p>")
    oracle = demo_oracle(s.inputs.get("manifest"), s.split, s.cohorts)
    if oracle is not None:
        d.add("<p>Synthetic demo cohort: the AUC of its true risk (the generator's linear predictor, "
              "<code>truth.csv</code>) per cohort is the ceiling any model can reach on these patients:</p>"
              + table_html(oracle))


def _flow_diagram(d: Doc, s: Study) -> None:
    """The CONSORT-style diagram and, in words, who was excluded and why (validate/excluded.csv)."""
    excluded = s.excluded()
    by_class = excluded.drop_duplicates(["patient_id", "problem"]).problem.value_counts()
    order = [*EXCLUSION_LABELS, *sorted(set(by_class.index) - set(EXCLUSION_LABELS))]
    classes = [(EXCLUSION_LABELS.get(c, c), int(by_class[c])) for c in order if c in by_class.index]
    n_excluded = excluded.patient_id.nunique()
    sources = [(label, read_table(s.inputs[key]).patient_id.nunique()) for key, label in
               (("manifest", "Image manifest"), ("clinical_raw", "Clinical table"))
               if s.inputs.get(key) and os.path.exists(str(s.inputs[key]))]
    words = "; ".join(f"{label} {n}" for label, n in classes)
    kept = s.kept_without()
    alt = (f"Cohort flow: {len(s.split) + n_excluded} patients assessed, {n_excluded} excluded"
           + (f" ({words})" if words else "") + f", {len(s.split)} analysed"
           + "".join(f", of whom {n} {label}" for label, n in kept))
    d.add(fig_to_img(figures.cohort_flow(sources, classes, n_excluded, s.counts(), kept), alt))
    d.add(f"<p>{html.escape(alt)}. Exclusions are decided by validation before any image is processed, by "
          "the config's <code>validate.&lt;problem&gt;: drop</code>; each excluded patient and the reason are in "
          "<code>validate/excluded.csv</code>" + (" (a patient may count under several problems)"
                                                  if sum(n for _, n in classes) > n_excluded else "") + "."
          + (" Patients lacking a view are kept (<code>validate.missing_view: allow</code>): each model uses "
             "those having its views." if kept else "") + "</p>")


def table1(d: Doc, s: Study) -> None:
    variables = dict(s.settings.clinical_variables)
    if not variables:
        d.add(absent("clinical variables"))
        return
    cl = s.clinical.set_index("patient_id").loc[s.split.patient_id]
    for c in s.cohorts:
        ids = (s.split.cohort == c).to_numpy()
        yc = s.split.y.to_numpy()[ids]
        t1 = table_one(cl[ids], yc, variables)
        t1 = t1.rename(columns={"negative": f"node negative (n={int((yc == 0).sum())})",
                                "positive": f"node positive (n={int((yc == 1).sum())})"})
        d.add(h3(c) + table_html(t1))
    d.add("<p class='note'>Numeric: Shapiro–Wilk in both groups → Student/Welch t-test (Levene), else "
          "Mann–Whitney U; categorical: χ², Fisher's exact test for 2×2 tables with an expected count "
          "below 5. Percentages of non-missing values.</p>")


def _missing_values(d: Doc, s: Study) -> None:
    if not s.opt.get("missing"):
        d.add(absent("missing-value counts"))
        return
    miss = pd.read_csv(s.opt["missing"][0])
    miss = miss[miss.n_missing > 0].drop(columns=["patients"], errors="ignore")
    strategy = s.settings.missing.strategy
    how = "median / mode" if strategy == "simple" else "iterative imputation"
    d.add(f"<h3>Missing clinical values</h3><p>Imputed by {how}, fitted on the training cohort only; "
          "no patient is dropped.</p>" + (table_html(miss) if len(miss) else "<p>No clinical value is missing.</p>"))


def qc(d: Doc, s: Study) -> None:
    qc = pd.read_csv(s.inputs["qc"], dtype={"patient_id": str})
    agg = {"images": ("patient_id", "size")}
    for col in ("size", "spacing"):
        if col in qc:
            agg[col] = (col, lambda x: x.mode().iloc[0] if len(x) else "")
    d.add("<p>All inputs passed validation (files, geometry, masks, clinical types, outcome).</p>"
          + table_html(qc.groupby(["modality", "view"]).agg(**agg).reset_index()))
    d.add("<p>Preprocessing applied per modality (each image's own record: <code>preprocess/&lt;patient&gt;/"
          "&lt;view&gt;/qc.json</code>):</p>" + table_html(preprocessing_table(s.settings.preprocess)))
    _missing_values(d, s)
    if s.opt.get("qc_table"):
        # png paths are relative to results/<study>/, the folder above qc/
        table = s.opt["qc_table"][0]
        d.add(gallery_html(table, os.path.dirname(os.path.dirname(table))))
    else:
        d.add(absent("QC gallery"))


def preprocessing_table(preprocess: dict) -> pd.DataFrame:
    """One row per modality: every preprocessing step as configured, "off" where it is not applied."""
    rows = []
    for modality, p in preprocess.items():
        n4 = p.n4
        rows.append({
            "modality": modality,
            "N4 bias correction": (f"{n4.backend}, shrink {n4.shrink}, iterations {n4.iterations}"
                                   + (f" (not {', '.join(n4.skip_views)})" if n4.skip_views else "")
                                   if n4.enabled else "off"),
            "resampling": f"{' × '.join(map(str, p.spacing))} mm" if p.spacing else "off (native grid)",
            "normalisation": f"{p.normalize} ({p.normalize_region})",
            "clipping": f"percentiles {p.clip_percentiles}" if p.clip_percentiles else "off",
            "flip": p.flip if modality == "MG" else "—",
            "DCE subtraction": "on" if p.dce.subtract else "off",
        })
    return pd.DataFrame(rows)


def icc(d: Doc, s: Study) -> None:
    if not s.opt.get("icc"):
        d.add(absent("ICC table"))
        return
    icc = pd.read_csv(s.opt["icc"][0])
    rc = asdict(s.settings.reproducibility)
    kept = len(pd.read_csv(s.opt["reproducible"][0])) if s.opt.get("reproducible") else None
    over = describe_source(s.settings.reproducibility)
    every = "in every pair" if s.settings.reproducibility.source == "raters" else "across them"
    d.add(f"<p>{rc['icc']} per radiomics feature for {html.escape(over)}; features with ICC ≥ {rc['threshold']} "
          f"{every} are kept" + (f": <b>{kept} of {icc['feature'].nunique()}</b>" if kept is not None else "")
          + ".</p>")
    if not icc.empty:
        d.add(fig_to_img(figures.icc_histogram(icc, rc["threshold"]), "ICC histogram"))
        by = icc.groupby("pair").agg(patients=("n", "first"), features=("icc", "size"),
                                     median_icc=("icc", "median"),
                                     above=("icc", lambda x: int((x >= rc["threshold"]).sum()))).reset_index()
        d.add(table_html(by))
