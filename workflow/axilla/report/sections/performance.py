"""Sections on model performance: ROC, pairwise comparisons, calibration, decision curves,
clinical impact and waterfall plots."""

from __future__ import annotations

import pandas as pd

import axilla.report.figures as figures  # the module itself: the package's __init__ imports build
from ..html import Doc, absent, fig_to_img, h3, table_html
from ..study import Study


def roc(d: Doc, s: Study) -> None:
    d.add("<div class='grid'>")
    for c in s.cohorts:
        d.add(fig_to_img(figures.roc(s.preds[c], s.models, s.metrics[c], f"{c} (n={len(s.preds[c])})"), f"ROC {c}"))
    d.add("</div>")


def pairwise(d: Doc, s: Study) -> None:
    for c in s.cohorts:
        if s.pairwise[c].empty:
            d.add(absent(f"{c}: pairwise comparisons (one model)"))
            continue
        d.add(h3(c) + fig_to_img(figures.pairwise_heatmaps(s.pairwise[c], s.models, c), f"pairwise {c}"))
        d.add(table_html(s.pairwise[c]))


def calibration(d: Doc, s: Study) -> None:
    d.add("<div class='grid'>")
    for c in s.cohorts:
        d.add(fig_to_img(figures.calibration(s.preds[c], s.models, c), f"calibration {c}"))
    d.add("</div>")


def dca(d: Doc, s: Study) -> None:
    reduction = s.by_cohort("interventions")
    d.add("<div class='grid'>")
    for c in s.cohorts:
        d.add(fig_to_img(figures.decision_curves(s.dca[c], c), f"decision curve {c}"))
        if c in reduction:  # beside it: the same curves as interventions avoided (Vickers)
            d.add(fig_to_img(figures.net_reduction(pd.read_csv(reduction[c]), c), f"net reduction in interventions {c}"))
    d.add("</div>")
    if reduction:
        d.add("<p class='note'>Net reduction in interventions per 100 patients (Vickers): axillary operations "
              "avoided without missing a metastasis the treat-all strategy would find, (net benefit − net benefit "
              "of operating on all) × (1 − pt) / pt × 100.</p>")


def impact(d: Doc, s: Study) -> None:
    d.add("<div class='grid'>")
    for c in s.cohorts[1:] or s.cohorts:
        d.add(fig_to_img(figures.clinical_impact(s.dca[c], s.primary, c), f"clinical impact {c}"))
    d.add("</div>")


def waterfall(d: Doc, s: Study) -> None:
    cut = s.metrics[s.train_cohort].set_index("model").loc[s.primary, "threshold"]
    for c in s.cohorts:
        d.add(fig_to_img(figures.waterfall(s.preds[c], s.primary, cut, c), f"waterfall {c}"))
