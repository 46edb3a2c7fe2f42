"""Section on the `lgbm` selection step (seed 004's Fig. 4): the LightGBM importance ranking and
the CV AUC of the incrementally added features, per model with such a step."""

from __future__ import annotations

import pandas as pd

import axilla.report.figures as figures  # the module itself: the package's __init__ imports build
from ..html import Doc, absent, fig_to_img, h3, table_html
from ..study import Study

TOP = 20  # importance bars drawn (the curve has at most select.lgbm.max_features points)


def lgbm(d: Doc, s: Study) -> None:
    curves, ranks = s.by_model("lgbm_curve"), s.by_model("lgbm_importance")
    shown = [m for m in s.models if m in curves and m in ranks]
    if not shown:
        d.add(absent("LightGBM ranking (models whose selection has an lgbm step)"))
        return
    for m in shown:
        curve, imp = pd.read_csv(curves[m]), pd.read_csv(ranks[m])
        d.add(h3(m) + fig_to_img(figure(imp, curve, m), f"LightGBM ranking and CV AUC {m}"))
        best = curve[curve.chosen.astype(bool)]
        d.add(table_html(best[["n_features", "cv_auc_mean", "cv_auc_sd", "ci_low", "ci_high", "n_splits"]]))
    d.add("<p class='note'>Training cohort only. Importance: LightGBM split gain, one model fitted on all "
          "training patients. Curve: features added one at a time in order of importance; each point is the "
          "mean AUC of repeated stratified k-fold cross-validation (error bars: 95 % t interval of the mean "
          "over the folds × repeats); the prefix with the highest mean AUC (ties: the shorter) is kept "
          "(marked).</p>")


def figure(imp: pd.DataFrame, curve: pd.DataFrame, title: str):
    """(A) importance bars of the top features, kept ones dark; (B) CV AUC against the number of
    features with 95 % CI bars and the chosen prefix marked."""
    plt = figures.plt
    top = imp.sort_values("rank").head(TOP)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, max(3.6, 0.26 * len(top) + 1.2)), constrained_layout=True)
    colours = ["C0" if sel else "0.7" for sel in top.selected.astype(bool)]
    a.barh(range(len(top))[::-1], top.importance, color=colours)
    a.set_yticks(range(len(top))[::-1], [str(f) for f in top.feature])
    a.set(xlabel="importance (gain)", title=f"{title}: (A) LightGBM ranking")
    err = [curve.cv_auc_mean - curve.ci_low, curve.ci_high - curve.cv_auc_mean]
    b.errorbar(curve.n_features, curve.cv_auc_mean, yerr=err, fmt="o-", ms=4, color="C3", ecolor="0.6", capsize=2)
    for r in curve[curve.chosen.astype(bool)].itertuples():
        b.axvline(r.n_features, ls="--", color="k", lw=1)
        b.annotate(f"best: {r.n_features} ({r.cv_auc_mean:.3f})", (r.n_features, r.cv_auc_mean), fontsize=9,
                   xytext=(4, -14), textcoords="offset points")
    b.set(xlabel="number of features (in order of importance)", ylabel="cross-validated AUC",
          title=f"{title}: (B) incremental CV AUC", xticks=list(curve.n_features))
    return fig
