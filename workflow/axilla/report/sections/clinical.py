"""Sections on the clinical question and the checks a reviewer asks for next: axillary surgery
spared, the permutation negative control, the sample-size adequacy of the training cohort."""

from __future__ import annotations

import html
import math

import pandas as pd

from ...evaluate.permutation import MIN_FLAG
from ..html import Doc, absent, h3, optional_table, table_html
from ..study import Study

LEAK = "color:#b00000;font-weight:bold"  # the report's red: a leak or an undersized cohort


def _pct(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{v:.0f}"


def _ci(row: pd.Series, m: str, fmt) -> str:
    return f"95 % CI {fmt(row[f'{m}_ci_low'])}–{fmt(row[f'{m}_ci_high'])}"


def spared_sentence(row: pd.Series) -> str:
    """One sentence a surgeon can read, from a row of metrics/spared.csv (the sensitivity-target rule)."""
    target = float(row["rule"].split("_", 1)[1])

    def two(v):
        return "–" if not math.isfinite(v) else f"{v:.2f}"

    return (f"At a cut-off set for {100 * target:g} % sensitivity in training (risk below "
            f"{row['threshold']:.3g} spared), model <b>{html.escape(str(row['model']))}</b> would spare "
            f"{_pct(row['spared_per_100'])} of 100 patients ({_ci(row, 'spared_per_100', _pct)}) of the "
            f"{html.escape(str(row['cohort']))} cohort axillary surgery, while {_pct(row['fn_per_100'])} of those 100 "
            f"({_ci(row, 'fn_per_100', _pct)}) would have a node metastasis left undetected: NPV {two(row['npv'])} "
            f"({_ci(row, 'npv', two)}), sensitivity {two(row['sensitivity'])} ({_ci(row, 'sensitivity', two)}).")


def spared(d: Doc, s: Study) -> None:
    table = optional_table(d, s.opt.get("spared"), "surgery spared")
    if table is None:
        return
    target = table[table.rule.str.startswith("sensitivity_")]
    for cohort, rows in target.groupby("cohort", sort=False):
        d.add(h3(str(cohort)) + "<ul>" + "".join(f"<li>{spared_sentence(r)}</li>" for _, r in rows.iterrows())
              + "</ul>")
    cols = ["model", "cohort", "rule", "threshold", "train_sensitivity", "spared_per_100", "fn_per_100", "npv",
            "sensitivity"]
    d.add(table_html(table[cols]))
    d.add("<p class='note'>A patient with a predicted risk below the cut-off is spared sentinel / axillary surgery; "
          "a node-positive patient among them is a false negative. Cut-offs are fixed on the training cohort: the "
          "largest whose out-of-fold sensitivity reaches the target (<code>evaluate.spared.sensitivity</code>), and "
          "Youden's (as in the model tables). Per 100 patients of the cohort; 95 % CIs are percentile bootstraps "
          "of the cohort's patients with the cut-off held fixed. The net reduction in interventions is drawn "
          "beside the decision curves.</p>")


def _flag_sentence(row: pd.Series) -> str:
    return (f"<p style='{LEAK}'>Leak suspected: model {html.escape(str(row['model']))} on permuted training labels "
            f"still scores {html.escape(str(row['cohort']))} patients with mean AUC {row['null_mean']:.3f} "
            f"(SE {row['null_mean_se']:.3f}, {int(row['n_permutations'])} permutations), not 0.5. Something fitted "
            "has seen held-out outcomes, or the evaluation is biased.</p>")


def permutation(d: Doc, s: Study) -> None:
    paths = s.opt.get("permutation", [])
    if not paths:
        d.add(absent("permutation negative control (evaluate.permutations)"))
        return
    table = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    flagged = table[table.flagged.astype(bool)]
    for _, row in flagged.iterrows():
        d.add(_flag_sentence(row))
    few = int(table.n_permutations.min()) < MIN_FLAG
    if few:
        d.add(f"<p>{int(table.n_permutations.min())} permutations are too few to judge a leak (at least {MIN_FLAG}; "
              "<code>evaluate.permutations</code>); the null AUCs are shown as they came.</p>")
    elif flagged.empty:
        d.add("<p>Every model's null AUCs are centred on 0.5: no sign of a leak.</p>")
    d.add(table_html(table.drop(columns=["chance_sd"])))
    d.add("<p class='note'>The whole procedure of each model (encoding, selection chain, SMOTE, tuning, "
          "classifier; score and post-fusion models on their base models' refits of the same permutation) refitted "
          "on permuted training labels, then scored on the held-out cohorts' true outcomes. p: Ojala &amp; Garriga "
          f"(2010), (1 + #{{null AUC ≥ AUC}}) / (N + 1). Flagged (red) when, with N ≥ {MIN_FLAG} permutations, the "
          "null mean lies outside 0.5 ± 3 SE, SE = max(the null SD, the SD of a chance AUC on the cohort, "
          "√((m+n+1)/(12mn))) / √N.</p>")


def _undersized(row: pd.Series) -> str:
    return (f"<p style='{LEAK}'>The training cohort ({int(row['n_train'])} patients, {int(row['events'])} node "
            f"positive) is too small for model {html.escape(str(row['model']))}: with its "
            f"{int(row['parameter_count'])} candidate predictor parameters Riley et al.'s criteria need at least "
            f"{int(row['n_required'])} patients ({row['events_required']:.0f} events); it has "
            f"{row['events_per_parameter']:.2g} events per candidate parameter.</p>")


def samplesize(d: Doc, s: Study) -> None:
    table = optional_table(d, s.opt.get("sample_size"), "sample-size adequacy")
    if table is None:
        return
    small = table[(table.parameters == "candidate") & ~table.adequate.astype(bool)]
    for _, row in small.iterrows():
        d.add(_undersized(row))
    if small.empty:
        d.add("<p>The training cohort meets Riley et al.'s minimum sample size for every model's candidate "
              "predictors.</p>")
    d.add(table_html(table))
    d.add("<p class='note'>Riley et al. (BMJ 2020;368:m441; Stat Med 2019) for a binary outcome, as R pmsampsize "
          "computes them: the most patients of (1) expected shrinkage ≥ <code>evaluate.sample_size_shrinkage</code>, "
          "(2) apparent minus adjusted Nagelkerke R² ≤ 0.05, (3) overall risk within ±0.05. Candidate parameters: "
          "the encoded columns entering the model's selection chain (selection does not lower the overfitting it "
          "must guard against; a score counts as one, a post-fusion model has one per base model); selected: those "
          "its classifier uses. The anticipated Cox-Snell R² is that of the model's out-of-fold training "
          "probabilities, or Riley's conservative 15 % of its maximum when that is not positive.</p>")
