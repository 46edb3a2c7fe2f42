"""Wilson 95 % CIs of sensitivity, specificity, accuracy, PPV and NPV (seed 004 reports them),
from statsmodels' `proportion_confint(method="wilson")`: checked against the published values of
Newcombe (1998, Stat Med 17:857, Table I, method 3), and the metrics table's intervals against the
confusion counts counted here."""

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from axilla.evaluate import METRIC_COLUMNS, PROPORTION_CI_COLUMNS, metrics_table, wilson_interval
from axilla.evaluate.stage import evaluate_cohorts

COUNTS = [(0, 1), (1, 1), (0, 5), (5, 5), (1, 5), (3, 10), (7, 10), (0, 37), (37, 37), (18, 37), (81, 263),
          (1, 1000), (999, 1000)]


# Newcombe (1998), Table I, Wilson score interval without continuity correction (4 decimals).
NEWCOMBE = {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605), (0, 20): (0.0, 0.1611),
            (1, 29): (0.0061, 0.1718)}


@pytest.mark.parametrize("k, n", list(NEWCOMBE))
def test_wilson_equals_newcombes_published_intervals(k, n):
    assert wilson_interval(k, n) == pytest.approx(NEWCOMBE[(k, n)], abs=5e-5)


@pytest.mark.parametrize("k, n", COUNTS)
@pytest.mark.parametrize("level", [0.95, 0.90])
def test_wilson_stays_in_the_unit_interval_around_the_estimate(k, n, level):
    got = wilson_interval(k, n, level)
    assert 0.0 <= got[0] <= k / n <= got[1] <= 1.0
    wider = wilson_interval(k, n, min(0.99, level + 0.04))
    assert wider[0] <= got[0] and got[1] <= wider[1]


def test_wilson_edges_are_exact_and_empty_is_nan():
    assert wilson_interval(0, 12)[0] == 0.0 and wilson_interval(12, 12)[1] == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson_interval(4, 3)


def _metric_counts(y, p, threshold):
    """(successes, trials) per metric, counted here with "p >= threshold is positive"."""
    call = np.asarray(p) >= threshold
    tp, fp = int((call & (y == 1)).sum()), int((call & (y == 0)).sum())
    tn, fn = int((~call & (y == 0)).sum()), int((~call & (y == 1)).sum())
    return {"sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp), "accuracy": (tp + tn, tp + fp + tn + fn),
            "ppv": (tp, tp + fp), "npv": (tn, tn + fn)}


@pytest.mark.parametrize("threshold", [0.0, 0.35, 0.6, 1.01])  # everyone positive ... nobody positive
def test_metrics_table_cis_are_wilson_of_the_confusion_counts(threshold):
    rng = np.random.default_rng(4)
    y = np.r_[np.ones(23, int), np.zeros(31, int)]
    p = np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.2, y.size), 0.01, 0.99)
    row = metrics_table(y, {"m": p}, {"m": threshold}).iloc[0]
    for metric, (k, n) in _metric_counts(y, p, threshold).items():
        lo, hi = row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
        if n == 0:  # e.g. PPV when nobody is called positive: no estimate, no interval
            assert math.isnan(row[metric]) and math.isnan(lo) and math.isnan(hi)
            continue
        assert (lo, hi) == pytest.approx(proportion_confint(k, n, method="wilson"), abs=1e-12), metric
        assert lo <= row[metric] <= hi


def test_ci_columns_are_documented_names_appended_after_the_existing_ones():
    assert PROPORTION_CI_COLUMNS == [f"{m}_ci_{e}" for m in ("sensitivity", "specificity", "accuracy", "ppv", "npv")
                                     for e in ("low", "high")]
    assert METRIC_COLUMNS[-len(PROPORTION_CI_COLUMNS):] == PROPORTION_CI_COLUMNS
    assert METRIC_COLUMNS[:5] == ["model", "auc", "auc_ci_low", "auc_ci_high", "threshold"]


def test_metrics_file_holds_the_cis_at_the_training_cut_off(tmp_path):
    """The written metrics CSV: held-out cohort's CIs are those of its counts at the training cut-off."""
    rng = np.random.default_rng(9)
    paths = {}
    for cohort, n in (("train", 60), ("internal", 25)):
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, n), 0.01, 0.99)
        paths[cohort] = str(tmp_path / f"{cohort}_pred.csv")
        pd.DataFrame({"patient_id": [f"{cohort}{i}" for i in range(n)], "y": y, "m": p}).to_csv(paths[cohort],
                                                                                              index=False)
    evaluate_cohorts(paths, "train", str(tmp_path / "metrics"))
    met = pd.read_csv(tmp_path / "metrics/internal.csv").iloc[0]
    pred = pd.read_csv(paths["internal"])
    for metric, (k, n) in _metric_counts(pred.y.to_numpy(), pred.m.to_numpy(), met["threshold"]).items():
        want = proportion_confint(k, n, method="wilson")
        assert (met[f"{metric}_ci_low"], met[f"{metric}_ci_high"]) == pytest.approx(want, abs=1e-12), metric
