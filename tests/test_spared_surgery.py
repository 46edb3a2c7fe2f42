"""Surgery spared at a safe false-negative rate and the net reduction in interventions, against
hand-counted tables (and dcurves' definition through net benefit)."""

import numpy as np
import pandas as pd
import pytest

from axilla.evaluate import SPARED_COLUMNS, net_benefit, net_reduction, sensitivity_threshold
from axilla.evaluate.spared import bootstrap_spared, spared_measures
from axilla.evaluate.stage_clinical import run_spared
from axilla.settings import section

# Training out-of-fold probabilities: five positives, five negatives.
Y_TRAIN = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
OOF = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.5, 0.4, 0.2, 0.1, 0.05])
# A held-out cohort of eight: three positives.
Y_TEST = np.array([1, 1, 0, 0, 0, 0, 1, 0])
P_TEST = np.array([0.7, 0.5, 0.55, 0.2, 0.1, 0.65, 0.25, 0.59])


def test_sensitivity_cutoff_is_the_largest_reaching_the_target():
    # 80 %: 4 of 5 positives at or above; the 4th largest positive score is 0.6 (0.65 would keep 3)
    assert sensitivity_threshold(Y_TRAIN, OOF, 0.8) == 0.6
    # 90 %: ceil(4.5) = 5 positives, so the smallest positive score
    assert sensitivity_threshold(Y_TRAIN, OOF, 0.9) == 0.3
    assert sensitivity_threshold(Y_TRAIN, OOF, 1.0) == 0.3
    # 0.9 x 30 positives is 27.000000000000004 in floating point: still 27, not 28
    y30 = np.r_[np.ones(30, int), np.zeros(5, int)]
    p30 = np.r_[np.arange(30, 0, -1) / 31, np.full(5, 0.01)]
    assert sensitivity_threshold(y30, p30, 0.9) == pytest.approx(4 / 31)


def test_spared_counts_by_hand():
    m = spared_measures(Y_TEST, P_TEST, 0.6)
    # called negative (p < 0.6): 0.5(+), 0.55, 0.2, 0.1, 0.25(+), 0.59 -> 6 spared, 2 of them positive
    assert (m["spared"], m["fn"], m["n"], m["positives"]) == (6, 2, 8, 3)
    assert m["spared_per_100"] == 75.0 and m["fn_per_100"] == 25.0
    assert m["npv"] == pytest.approx(4 / 6) and m["sensitivity"] == pytest.approx(1 / 3)
    none = spared_measures(Y_TEST, P_TEST, 0.0)  # nobody spared: NPV undefined
    assert none["spared"] == 0 and np.isnan(none["npv"]) and none["sensitivity"] == 1.0


def test_bootstrap_cis_match_a_plain_loop_over_the_same_resamples():
    got = bootstrap_spared(Y_TEST, P_TEST, 0.6, n_boot=200, seed=4)
    idx = np.random.default_rng(4).integers(0, 8, (8, 200))
    spared = [100 * np.mean(P_TEST[idx[:, b]] < 0.6) for b in range(200)]
    npv = []
    for b in range(200):
        yb, neg = Y_TEST[idx[:, b]], P_TEST[idx[:, b]] < 0.6
        if neg.any():
            npv.append(np.mean(yb[neg] == 0))
    assert [got["spared_per_100_ci_low"], got["spared_per_100_ci_high"]] == pytest.approx(
        np.percentile(spared, [2.5, 97.5]))
    assert [got["npv_ci_low"], got["npv_ci_high"]] == pytest.approx(np.percentile(npv, [2.5, 97.5]))
    assert got["spared_per_100_ci_low"] <= 75 <= got["spared_per_100_ci_high"]


def test_net_reduction_by_hand_and_as_dcurves_defines_it():
    t = np.array([0.2, 0.25, 0.5])
    # pt 0.5: TN (negatives below 0.5) = 0.2, 0.1 -> 2; FN (positives below 0.5) = 0.25 -> 1: (2/8 - 1/8) x 100
    # pt 0.25: TN 2, FN 0 (0.25 is operated) -> 25;  pt 0.2: TN 1 (0.1), FN 0 -> 12.5
    assert net_reduction(Y_TEST, P_TEST, t) == pytest.approx([12.5, 25.0, 12.5])
    # dcurves net_intervention_avoided: (NB - NB_treat_all) / (pt / (1 - pt)) x nper
    grid = np.arange(1, 100) / 100
    nb = net_benefit(Y_TEST, P_TEST, grid)
    nb_all = net_benefit(Y_TEST, np.ones(8), grid)
    assert net_reduction(Y_TEST, P_TEST) == pytest.approx((nb - nb_all) / (grid / (1 - grid)) * 100, abs=1e-12)


def test_run_spared_writes_both_rules_per_held_out_cohort(tmp_path):
    ids = [f"P{i}" for i in range(18)]
    pred = pd.DataFrame({"patient_id": ids, "cohort": ["train"] * 10 + ["test"] * 8, "y": np.r_[Y_TRAIN, Y_TEST],
                         "prob": np.r_[OOF + 0.01, P_TEST], "oof_prob": np.r_[OOF, [np.nan] * 8]})
    pred.to_csv(tmp_path / "m.csv", index=False)
    wide = {}
    for c, g in pred.groupby("cohort"):
        wide[c] = str(tmp_path / f"{c}.csv")
        g[["patient_id", "y", "prob"]].rename(columns={"prob": "m"}).to_csv(wide[c], index=False)
    out = {c: str(tmp_path / f"{c}_int.csv") for c in wide}
    run_spared({"m": str(tmp_path / "m.csv")}, wide, section("evaluate", spared={"sensitivity": 0.8}).spared, 1,
               str(tmp_path / "spared.csv"), out)
    got = pd.read_csv(tmp_path / "spared.csv")
    assert list(got.columns) == SPARED_COLUMNS and set(got.cohort) == {"test"}
    sens = got[got.rule == "sensitivity_0.8"].iloc[0]
    assert sens.threshold == 0.6 and sens.train_sensitivity == 0.8  # set on the out-of-fold probabilities
    assert (sens.spared, sens.fn, sens.spared_per_100) == (6, 2, 75.0)
    youden = got[got.rule == "youden"].iloc[0]
    # training fit (OOF + 0.01): J is largest at 0.61 (4/5 + 5/5 - 1) -> test: p < 0.61 spares the same six
    assert youden.threshold == pytest.approx(0.61) and youden.spared == 6
    assert pd.read_csv(out["test"]).set_index("threshold").loc[0.5, "net_reduction_per_100"] == pytest.approx(12.5)
