"""Section on the nomogram's per-patient Nomo-score (seed 002): the training cohort's Youden cut-off
and the observed metastasis rate of the low- and high-risk groups it makes in every cohort."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

import axilla.report.figures as figures  # the module itself: the package's __init__ imports build
from ..html import Doc, absent, fig_to_img, h3, table_html
from ..study import Study

GROUP_STYLE = {"low": dict(color="#4c78a8"), "high": dict(color="#e45756")}
OUTCOME_STYLE = {0: dict(marker="o", color="0.45", label="node negative"),
                 1: dict(marker="^", color="#d62728", label="node positive")}


def risk_display(groups: pd.DataFrame) -> pd.DataFrame:
    """The risk-group table as printed: observed rate with its Wilson 95 % CI in one cell."""
    rate = [("NA" if r.n == 0 else f"{r.rate:.3f} ({r.rate_ci_low:.3f}–{r.rate_ci_high:.3f})")
            for r in groups.itertuples()]
    return pd.DataFrame({"cohort": groups["cohort"], "risk group": groups["risk_group"], "n": groups["n"].astype(str),
                         "node positive": groups["events"].astype(str), "observed rate (95 % CI)": rate})


def _scores_panel(ax, scores: pd.DataFrame, cohorts: list[str], cutoff: float) -> None:
    """Each patient's Nomo-score by cohort (fixed jitter), marked by outcome; the cut-off line."""
    jitter = np.random.default_rng(0)  # fixed: the same figure on every run
    for i, c in enumerate(cohorts):
        part = scores[scores["cohort"] == c]
        for y, style in OUTCOME_STYLE.items():
            v = part.loc[part["y"] == y, "nomo_score"].to_numpy(float)
            ax.scatter(i + jitter.uniform(-0.28, 0.28, v.size), v, s=16, alpha=0.75, linewidths=0,
                       marker=style["marker"], color=style["color"], label=style["label"] if i == 0 else None)
    ax.axhline(cutoff, color="black", ls="--", lw=1.2, label=f"cut-off {cutoff:.1f}")
    ax.set_xticks(range(len(cohorts)), cohorts)
    ax.set(ylabel="Nomo-score (total points)", title="Nomo-score per patient")
    ax.legend(loc="best")


def _rates_panel(ax, groups: pd.DataFrame, cohorts: list[str]) -> None:
    """Observed metastasis rate per risk group and cohort, Wilson 95 % CI, events/n above each bar."""
    for j, (g, style) in enumerate(GROUP_STYLE.items()):
        part = groups[groups["risk_group"] == g].set_index("cohort").reindex(cohorts)
        x = np.arange(len(cohorts)) + (j - 0.5) * 0.38
        rate = part["rate"].fillna(0).to_numpy(float)
        err = np.vstack([rate - part["rate_ci_low"].fillna(0), part["rate_ci_high"].fillna(0) - rate]).clip(0)
        ax.bar(x, rate, width=0.36, yerr=err, capsize=3, label=f"{g} risk", **style)
        for xi, r in zip(x, part.itertuples()):
            ax.text(xi, 1.02, f"{int(r.events)}/{int(r.n)}", ha="center", fontsize=9)
    ax.set_xticks(range(len(cohorts)), cohorts)
    # headroom above 1: the counts at 1.02, the legend above them
    ax.set(ylim=(0, 1.32), yticks=np.linspace(0, 1, 6), ylabel="observed metastasis rate",
           title="Node positive by risk group")
    ax.legend(loc="upper center", ncol=2)


def nomo_risk_figure(scores: pd.DataFrame, groups: pd.DataFrame, title: str):
    """Two panels: Nomo-score per patient by cohort and outcome, observed rate by risk group."""
    import matplotlib.pyplot as plt  # after axilla.report.figures, which sets the Agg backend and fonts

    cohorts = list(dict.fromkeys(groups["cohort"]))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.4), constrained_layout=True)
    _scores_panel(left, scores, cohorts, float(groups["cutoff"].iloc[0]))
    _rates_panel(right, groups, cohorts)
    fig.suptitle(title)
    return fig


def nomo_risk(d: Doc, s: Study) -> None:
    groups, scores = s.by_model("nomo_risk"), s.by_model("nomo_scores")
    if not groups:
        d.add(absent("Nomo-score risk groups (models with nomogram: true)"))
        return
    for m, p in groups.items():
        t = pd.read_csv(p)
        cut, cut_p = float(t["cutoff"].iloc[0]), float(t["cutoff_probability"].iloc[0])
        d.add(h3(m) + f"<p>High risk: Nomo-score ≥ {cut:.2f} points (predicted probability {cut_p:.3f}), "
              f"the Youden-optimal cut-off on the {html.escape(s.train_cohort)} cohort.</p>")
        d.add(table_html(risk_display(t)))
        if m in scores:
            d.add(fig_to_img(nomo_risk_figure(pd.read_csv(scores[m], dtype={"patient_id": str}), t,
                                              f"{m}: Nomo-score risk groups"), f"Nomo-score risk groups {m}"))
    d.add("<p class='note'>Nomo-score: the sum of a patient's nomogram points over the model's predictors "
          "(points per predictor in models/&lt;model&gt;/nomo_scores.csv). The cut-off maximises Youden's J "
          "on the training cohort only and is applied unchanged to every cohort; as the points increase with "
          "the predicted probability, the groups are those of the equivalent probability cut-off. Observed "
          "rate: share of node-positive patients, Wilson 95 % CI.</p>")
