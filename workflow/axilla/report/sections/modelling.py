"""Sections on the models: selection funnel, LASSO, score formulas, odds ratios, model tables."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

import axilla.report.figures as figures  # the module itself: the package's __init__ imports build
from ..html import Doc, absent, fig_to_img, h3, table_html
from ..spec import ABSENT
from ..study import Study
from ..tables import odds_table


def selection(d: Doc, s: Study) -> None:
    funnels = s.by_model("funnel")
    if not funnels:
        d.add(absent("selection funnel"))
        return
    for m, p in funnels.items():
        d.add(h3(m) + table_html(pd.read_csv(p)))
    d.add("<p class='note'>Row <i>input</i>: n_in counts the variables and features as supplied, n_out the "
          "columns after one-hot encoding of categorical clinical variables (one column per "
          "non-reference level), which is what the first selection step receives.</p>")


def lasso(d: Doc, s: Study) -> None:
    paths, cvs = s.by_model("lasso_path"), s.by_model("lasso_cv")
    if not paths:
        d.add(absent("LASSO path and CV curve"))
        return
    for m, p in paths.items():
        cv = pd.read_csv(cvs[m]) if m in cvs else None
        d.add(h3(m) + fig_to_img(figures.lasso_path(pd.read_csv(p), cv, m), f"LASSO {m}"))


def coefficient_formula(c: pd.DataFrame) -> str:
    """The fitted logistic model written as its score formula."""
    terms = [f"{r.coef:+.4f} × {r.term}" for r in c.itertuples() if r.term != "(intercept)"]
    icpt = c.loc[c.term == "(intercept)", "coef"]
    return f"logit(p) = {icpt.iloc[0] if len(icpt) else 0:.4f} " + " ".join(terms)


def formulas(d: Doc, s: Study) -> None:
    found = s.by_model("formula")
    for m in s.models:
        if m in found:
            text = Path(found[m]).read_text(encoding="utf-8")
        else:  # the fitted logistic model is itself the score formula
            text = coefficient_formula(s.coefs[m])
        d.add(f"{h3(m)}<pre>{html.escape(text)}</pre>")
    if not found:
        d.add("<p class='note'>From the fitted coefficients (features z-scored with training-cohort statistics); "
              f"dedicated score formulas: {ABSENT}.</p>")
    d.add("<h3>Coefficients</h3><div class='grid'>")
    for m in s.models:
        d.add(f"<div><b>{html.escape(m)}</b>" + table_html(s.coefs[m], "{:.4g}") + "</div>")
    d.add("</div>")


def odds(d: Doc, s: Study) -> None:
    tables = {}
    for m, p in s.by_model("odds_ratios").items():
        t = pd.read_csv(p)
        if not t.empty:
            tables[m] = t
    for m, t in tables.items():
        d.add(h3(m) + table_html(odds_table(t), "{:.2f}"))
        d.add(fig_to_img(figures.forest(t, m), f"odds ratios {m}"))
    if not tables:
        d.add(absent("odds-ratio tables (models of clinical variables, or chains with ulogit / stepwise steps)"))
        return
    d.add("<p class='note'>Training cohort only. Logistic regression by maximum likelihood (statsmodels, "
          "unpenalised), 95 % Wald confidence intervals. Univariable: one model per candidate variable; "
          "multivariable: the terms the model kept, together (for chains with a backward stepwise step, the "
          "stepwise model; the classifier's own, possibly penalised, coefficients are in the coefficient "
          "tables above). Odds ratios per unit of the variable as entered (categorical: level versus the "
          "reference level), or per training SD where a z-score step came first; NA = not in that "
          "analysis; very large ORs with unbounded intervals signal separation.</p>")


def with_ci(r, metric: str) -> str | float:
    """"0.812 (0.701–0.889)" from a metrics row's value and its _ci_low / _ci_high (the value
    alone for a metrics file without them; NA where the denominator was 0)."""
    v = getattr(r, metric)
    lo, hi = getattr(r, f"{metric}_ci_low", None), getattr(r, f"{metric}_ci_high", None)
    if lo is None or hi is None:
        return v
    return "NA" if pd.isna(v) else f"{v:.3f} ({lo:.3f}–{hi:.3f})"


def models(d: Doc, s: Study) -> None:
    rows = []
    for c in s.cohorts:
        for r in s.metrics[c].itertuples():
            rows.append({"cohort": c, "model": r.model, "AUC (95 % CI)": f"{r.auc:.3f} ({r.auc_ci_low:.3f}–"
                         f"{r.auc_ci_high:.3f})", **{f"{label} (95 % CI)": with_ci(r, m) for m, label in (
                             ("accuracy", "accuracy"), ("sensitivity", "sensitivity"),
                             ("specificity", "specificity"), ("ppv", "PPV"), ("npv", "NPV"))},
                         "F1": r.f1, "Brier": r.brier})
    d.add(table_html(pd.DataFrame(rows)))
    d.add("<p class='note'>Cut-off: Youden-optimal on the training cohort (p ≥ cut-off positive), applied "
          "unchanged to the other cohorts. 95 % CIs: DeLong for the AUC, Wilson score intervals for the "
          "proportions. Calibration columns of the same metrics files:</p>")
    cal = [{"cohort": c, "model": r.model, "threshold": r.threshold, "intercept": r.cal_intercept,
            "slope": r.cal_slope, "CITL": r.citl, "HL χ²": r.hl_chi2, "HL df": str(r.hl_df), "HL p": r.hl_p}
           for c in s.cohorts for r in s.metrics[c].itertuples()]
    d.add(table_html(pd.DataFrame(cal)))
    availability(d, s)


def availability(d: Doc, s: Study) -> None:
    """validate.missing_view: allow: each model's AUC per pattern of present views (nothing under
    stop / drop, where every patient is complete)."""
    paths = s.opt.get("availability", [])
    table = pd.read_csv(paths[0]) if paths else None
    if table is None or set(table.subgroup) <= {"complete"}:
        return
    d.add(h3("Patients with absent views"))
    d.add("<p class='note'>validate.missing_view: allow. Each feature model is fitted and evaluated on the "
          "patients having every view its features read; an absent modality is never imputed. A post-fusion "
          "model gives a patient lacking some base models the prediction of its submodel on the bases the "
          "patient has, refitted on the training patients having those bases (missing-pattern rule, Mercaldo &amp; "
          "Blume 2020). The tables above compare the models on the patients every model scores; below, each "
          "model in each availability subgroup it scores (AUC with DeLong 95 % CI; none with one outcome class "
          "only).</p>")
    rows = [{"model": r.model, "cohort": r.cohort, "subgroup": r.subgroup, "n": str(r.n), "positives": str(r.positives),
             "AUC (95 % CI)": "–" if pd.isna(r.auc) else f"{r.auc:.3f} ({r.auc_ci_low:.3f}–{r.auc_ci_high:.3f})"}
            for r in table.itertuples()]
    d.add(table_html(pd.DataFrame(rows)))
