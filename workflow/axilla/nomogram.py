"""Nomogram of a logistic-regression model: points per predictor, total points → probability.

Coefficients are taken back to the predictors' input scale (undoing the chain's z-score with the
training mean and SD), so the axes read in the units clinicians know. The predictor with the
widest effect over its training range spans 0-100 points (the rms::nomogram convention).
Points are linear in the LR's linear predictor, so total points give the model's predicted
probability exactly (``patient_points`` + ``points_to_probability``); the figure is only as exact
as its tick spacing. ``nomo_scores`` / ``risk_group_table``: each patient's Nomo-score (total
points), the training cohort's Youden cut-off on it and the low / high risk groups it makes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from .evaluate import wilson_interval, youden_threshold
from .io import write_csv
from .select import raw_scale, zscore_steps
from .split import TRAIN


def raw_scale_terms(model) -> tuple[float, pd.Series]:
    """(intercept, coefficients per design column) of a FeatureModel's LR on the input scale."""
    from .models import linear_terms

    lin = linear_terms(model.clf_)
    if lin is None:
        raise ValueError("a nomogram needs a logistic-regression classifier (classifier: lr)")
    return raw_scale(zscore_steps(model.chain_), lin[0], pd.Series(lin[1], index=model.design_columns_))


def point_scale(model) -> dict:
    """The nomogram's axes: input-scale coefficients ``b`` and intercept ``b0``, training range
    ``lo``/``hi`` per predictor, the value scoring 0 points (``zero``: the end of the range with
    the lower linear predictor), and ``scale`` = points per unit of linear predictor, chosen so
    the predictor with the widest effect |b|·(hi − lo) spans exactly 0–100 points.
    """
    b0, b = raw_scale_terms(model)
    lo, hi = model.design_range_["min"], model.design_range_["max"]
    effect = (b * (hi - lo)).abs()
    scale = 100.0 / effect.max() if effect.max() > 0 else 0.0
    zero = pd.Series(np.where(b >= 0, lo, hi), index=b.index)
    return {"b0": b0, "b": b, "lo": lo, "hi": hi, "zero": zero, "scale": scale}


def points_to_probability(total, axes: dict) -> np.ndarray:
    """Total points → predicted probability (exact: points are linear in the linear predictor)."""
    total = np.asarray(total, float)
    eta = axes["b0"] + float((axes["b"] * axes["zero"]).sum()) + (total / axes["scale"] if axes["scale"] else 0 * total)
    return expit(eta)


def patient_points(model, X: pd.DataFrame) -> pd.DataFrame:
    """Points per predictor and ``total`` for each row of X (raw input table, as for predict_proba).

    Values outside the training range score below 0 or above 100, as a ruler extended past its ends.
    """
    axes = point_scale(model)
    D = model.encoder_.transform(X)[list(axes["b"].index)]
    pts = (D - axes["zero"]) * axes["b"] * axes["scale"]
    return pts.assign(total=pts.sum(axis=1))


# Per-patient Nomo-score (seed 002: "a Nomo-score was derived for each patient by summing the
# points corresponding to the predictors"), its training Youden cut-off and the risk groups.
SCORE_COLUMNS = ["patient_id", "cohort", "y", "nomo_score", "probability", "risk_group"]  # then points_<predictor>
RISK_GROUP_COLUMNS = ["cohort", "risk_group", "n", "events", "rate", "rate_ci_low", "rate_ci_high",
                      "cutoff", "cutoff_probability"]
RISK_GROUPS = ("low", "high")


def nomo_cutoff(nomo_score, y) -> float:
    """Youden-optimal Nomo-score of the patients given (in the pipeline: the training cohort
    only); "Nomo-score >= cut-off" is high risk, ties in J go to the higher cut-off."""
    return youden_threshold(y, nomo_score)


def nomo_scores(model, X: pd.DataFrame, split: pd.DataFrame, train_cohort: str = TRAIN) -> tuple[pd.DataFrame, float]:
    """(one row per patient, SCORE_COLUMNS then ``points_<predictor>``; the cut-off).

    ``split``: patient_id, cohort, y for the rows of X. Only the training cohort's scores and
    outcomes set the cut-off; every cohort is grouped by that same cut-off. The probability is the
    nomogram's (= the model's) at the patient's total points; as points are increasing in the
    linear predictor, the groups are the same as a cut-off on the probability would give.
    """
    split = split.set_index("patient_id").loc[X.index]
    pts = patient_points(model, X)
    total = pts.pop("total").to_numpy(float)
    train = (split["cohort"] == train_cohort).to_numpy()
    if not train.any():
        raise ValueError(f"no patient of the training cohort '{train_cohort}': no Nomo-score cut-off")
    cut = nomo_cutoff(total[train], split["y"].to_numpy()[train])
    table = pd.DataFrame({"patient_id": X.index, "cohort": split["cohort"].to_numpy(), "y": split["y"].to_numpy(),
                          "nomo_score": total, "probability": points_to_probability(total, point_scale(model)),
                          "risk_group": np.where(total >= cut, "high", "low")})
    for c in pts.columns:
        table[f"points_{c}"] = pts[c].to_numpy(float)
    return table, cut


def risk_group_table(scores: pd.DataFrame, cutoff: float, cutoff_probability: float,
                     cohorts=None) -> pd.DataFrame:
    """Per cohort and risk group: patients, events, observed metastasis rate with its Wilson 95 % CI
    (an empty group has n = 0 and nan rate), and the cut-off that made the groups."""
    cohorts = list(dict.fromkeys(scores["cohort"])) if cohorts is None else list(cohorts)
    rows = []
    for c in cohorts:
        for g in RISK_GROUPS:
            y = scores.loc[(scores["cohort"] == c) & (scores["risk_group"] == g), "y"].to_numpy(int)
            lo, hi = wilson_interval(int(y.sum()), y.size)
            rows.append({"cohort": c, "risk_group": g, "n": int(y.size), "events": int(y.sum()),
                         "rate": y.mean() if y.size else np.nan, "rate_ci_low": lo, "rate_ci_high": hi,
                         "cutoff": cutoff, "cutoff_probability": cutoff_probability})
    return pd.DataFrame(rows, columns=RISK_GROUP_COLUMNS)


def run_risk(model_pkl: str, X: pd.DataFrame, split: pd.DataFrame, cohorts, out_scores: str, out_groups: str) -> None:
    """The `nomo_risk` rule: per-patient Nomo-scores and the risk-group table of every cohort."""
    from .io import load_model

    model = load_model(model_pkl)
    scores, cut = nomo_scores(model, X, split)
    cut_p = float(points_to_probability(cut, point_scale(model)))
    write_csv(scores, out_scores, float_format=None)
    write_csv(risk_group_table(scores, cut, cut_p, cohorts), out_groups, float_format=None)


def nomogram_table(model) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Points per predictor value (ticks over the training range) and total points → probability."""
    axes = point_scale(model)
    b, lo, hi, zero, scale = axes["b"], axes["lo"], axes["hi"], axes["zero"], axes["scale"]
    enc = model.encoder_
    dummies = {f"{c}={lv}" for c in enc.categorical_ for lv in enc.levels_[c]}
    rows = []
    for c in b.index:
        # A one-hot level is 0 or 1: ticks in between would read as impossible values.
        ticks = sorted({lo[c], hi[c]}) if c in dummies else np.linspace(lo[c], hi[c], 5 if lo[c] != hi[c] else 1)
        for v in ticks:
            rows.append({"predictor": c, "value": float(v), "points": float(scale * b[c] * (v - zero[c]))})
    points = pd.DataFrame(rows)
    total_max = float(points.groupby("predictor").points.max().sum())
    totals = np.linspace(0, total_max, 11)
    prob = pd.DataFrame({"total_points": totals, "probability": points_to_probability(totals, axes)})
    return points, prob, {"intercept": axes["b0"], "points_per_unit_logit": scale}


def run(model_pkl: str, out_csv: str, out_png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .train import load_model

    model = load_model(model_pkl)
    points, prob, _ = nomogram_table(model)
    write_csv(pd.concat([points.assign(kind="predictor"),
                         prob.rename(columns={"total_points": "points", "probability": "value"})
                         .assign(kind="total", predictor="probability")], ignore_index=True), out_csv)
    preds = list(dict.fromkeys(points.predictor))
    fig, ax = plt.subplots(figsize=(8, 0.6 * (len(preds) + 3)))
    rows = ["points", *preds, "total points", "probability"]
    for i, name in enumerate(rows):
        yv = len(rows) - i
        if name == "points":
            ticks = [(p, f"{p:.0f}") for p in np.linspace(0, 100, 11)]
        elif name in preds:
            t = points[points.predictor == name]
            ticks = [(p, f"{v:.3g}") for p, v in zip(t.points, t.value)]
        else:
            tmax = prob.total_points.max() or 1.0
            if name == "total points":
                ticks = [(100 * tp / tmax, f"{tp:.0f}") for tp in prob.total_points]
            else:
                ticks = [(100 * tp / tmax, f"{pr:.2f}") for tp, pr in zip(prob.total_points, prob.probability)]
        xs = [x for x, _ in ticks]
        ax.plot([min(xs), max(xs)], [yv, yv], color="black", lw=1)
        for x, lab in ticks:
            ax.plot([x, x], [yv, yv + 0.1], color="black", lw=1)
            ax.text(x, yv + 0.15, lab, ha="center", fontsize=7)
        ax.text(-5, yv, name, ha="right", va="center", fontsize=9)
    ax.set_xlim(-40, 105)
    ax.set_ylim(0, len(rows) + 1)
    ax.axis("off")
    fig.tight_layout()
    from .io import atomic_path

    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
