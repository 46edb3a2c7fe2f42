"""Evaluation statistics pinned to independently worked values.

Each statistic is checked against (a) a small example worked out by hand in the comments,
(b) a brute-force re-implementation straight from the textbook definition, and where one
exists (c) another library. Definitions: see the docstrings of axilla.evaluate.
"""

import math
import os
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from axilla.errors import InputError
from axilla.settings import section
from axilla.evaluate import (
    METRIC_COLUMNS,
    PAIRWISE_COLUMNS,
    auc_ci_delong,
    auc_variance_delong,
    bootstrap_optimism_auc,
    brier,
    calibration_intercept_slope,
    decision_curve,
    delong_test,
    evaluate_cohorts,
    hosmer_lemeshow,
    idi,
    metrics_table,
    net_benefit,
    nri_continuous,
    pairwise_table,
    roc_auc,
    run,
    threshold_metrics,
    youden_threshold,
)

Z975 = stats.norm.ppf(0.975)

# 3 positives / 4 negatives with ties across classes (0.5 and 0.3 each occur once per class).
Y7 = np.array([1, 1, 1, 0, 0, 0, 0])
S1 = np.array([0.8, 0.5, 0.3, 0.5, 0.3, 0.2, 0.1])
S2 = np.array([0.9, 0.7, 0.2, 0.6, 0.4, 0.3, 0.1])


# --- brute-force references (O(m·n), straight from the definitions) -----------------------------

def _psi(a: float, b: float) -> float:
    return 1.0 if a > b else 0.5 if a == b else 0.0


def _brute_placements(y, s):
    pos, neg = s[y == 1], s[y == 0]
    v10 = np.array([np.mean([_psi(x, z) for z in neg]) for x in pos])
    v01 = np.array([np.mean([_psi(x, z) for x in pos]) for z in neg])
    return v10, v01


def _brute_auc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    return sum(_psi(x, z) for x in pos for z in neg) / (len(pos) * len(neg))


def _sample_cov(a, b):
    return sum((x - a.mean()) * (z - b.mean()) for x, z in zip(a, b)) / (len(a) - 1)


def _brute_delong_z(y, s1, s2):
    a10, a01 = _brute_placements(y, s1)
    b10, b01 = _brute_placements(y, s2)
    m, n = len(a10), len(a01)
    var = (
        (_sample_cov(a10, a10) + _sample_cov(b10, b10) - 2 * _sample_cov(a10, b10)) / m
        + (_sample_cov(a01, a01) + _sample_cov(b01, b01) - 2 * _sample_cov(a01, b01)) / n
    )
    return (a10.mean() - b10.mean()) / math.sqrt(var)


def _random_tied(seed, n=40):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    # one decimal -> many ties within and across classes
    s = np.round(np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.25, n), 0, 1), 1)
    return y, s


# --- AUC ------------------------------------------------------------------------------------------

def test_auc_hand_worked_with_ties():
    # Pairs (positive vs each of the 4 negatives 0.5, 0.3, 0.2, 0.1):
    #   0.8: 4 wins                    -> 4
    #   0.5: tie with 0.5, 3 wins      -> 3.5
    #   0.3: loss, tie with 0.3, 2 wins -> 2.5
    # total 10 of 12 pairs -> AUC = 5/6
    assert roc_auc(Y7, S1) == pytest.approx(5 / 6, abs=1e-15)
    assert roc_auc(Y7, S1) == pytest.approx(roc_auc_score(Y7, S1), abs=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_pair_counting_and_sklearn(seed):
    y, s = _random_tied(seed)
    assert roc_auc(y, s) == pytest.approx(_brute_auc(y, s), abs=1e-12)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_auc_below_half_is_not_flipped():
    # Reversing the score turns every win into a loss; ties stay ½: AUC = 1 - 5/6 = 1/6.
    assert roc_auc(Y7, -S1) == pytest.approx(1 / 6, abs=1e-15)
    auc, low, high = auc_ci_delong(Y7, -S1)
    assert auc == pytest.approx(1 / 6) and low == 0.0 and high < 0.5


def test_auc_accepts_bool_and_series():
    assert roc_auc(pd.Series(Y7.astype(bool)), pd.Series(S1)) == pytest.approx(5 / 6)


@pytest.mark.parametrize("y", [np.ones(4, int), np.zeros(4, int)])
def test_one_class_is_a_clear_error(y):
    with pytest.raises(ValueError, match="at least one positive and one negative"):
        roc_auc(y, [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="only class"):
        auc_ci_delong(y, [0.1, 0.2, 0.3, 0.4])


def test_bad_inputs_are_errors():
    with pytest.raises(ValueError, match="only 0 and 1"):
        roc_auc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="missing"):
        roc_auc([0, 1, 1], [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="3 values"):
        roc_auc([0, 1, 1], [0.1, 0.3])


# --- DeLong -------------------------------------------------------------------------------------

def test_delong_variance_and_ci_hand_worked():
    # V10 (per positive, fraction of negatives below + ½ ties) = [4, 3.5, 2.5]/4 = [24, 21, 15]/24
    #   mean 20/24, deviations [4, 1, -5]/24, sum sq 42/576, sample var 21/576
    # V01 (per negative, fraction of positives above + ½ ties):
    #   0.5 -> (1 + ½)/3, 0.3 -> (2 + ½)/3, 0.2 -> 1, 0.1 -> 1  = [3, 5, 6, 6]/6
    #   mean 5/6, deviations [-2, 0, 1, 1]/6, sum sq 6/36, sample var 1/18
    # var(AUC) = (21/576)/3 + (1/18)/4 = 7/576 + 8/576 = 15/576 = 5/192
    assert auc_variance_delong(Y7, S1) == pytest.approx(5 / 192, rel=1e-12)
    auc, low, high = auc_ci_delong(Y7, S1)
    assert auc == pytest.approx(5 / 6)
    assert low == pytest.approx(5 / 6 - Z975 * math.sqrt(5 / 192), rel=1e-12)  # 0.51705
    assert high == 1.0  # 5/6 + 0.316 = 1.150, truncated as pROC does
    _, low90, _ = auc_ci_delong(Y7, S1, level=0.90)
    assert low90 == pytest.approx(5 / 6 - stats.norm.ppf(0.95) * math.sqrt(5 / 192), rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_delong_variance_equals_explicit_placements(seed):
    y, s = _random_tied(seed)
    v10, v01 = _brute_placements(y, s)
    expected = _sample_cov(v10, v10) / len(v10) + _sample_cov(v01, v01) / len(v01)
    assert auc_variance_delong(y, s) == pytest.approx(expected, rel=1e-10)


def test_delong_test_hand_worked():
    # Second score: AUC2 = (4 + 4 + 1)/12 = 3/4; V10' = [1, 1, 1/4]; V01' = [2/3, 2/3, 2/3, 1].
    # Positives (m = 3), in 24ths: V10 dev [4, 1, -5], V10' dev [6, 6, -12]
    #   var V10 = 21/576, var V10' = 216/576/2 = 108/576, cov = (24 + 6 + 60)/576/2 = 45/576
    #   -> (21 + 108 - 90)/576 / 3 = 13/576
    # Negatives (n = 4), in 12ths: V01 dev [-4, 0, 2, 2], V01' dev [-1, -1, -1, 3]
    #   var V01 = 1/18, var V01' = 12/144/3 = 1/36, cov = (4 + 0 - 2 + 6)/144/3 = 1/54
    #   -> (1/18 + 1/36 - 2/54) / 4 = 5/432
    # var(AUC1 - AUC2) = 13/576 + 5/432 = 59/1728; z = (5/6 - 3/4)/sqrt(59/1728) = 0.45099
    z, p = delong_test(Y7, S1, S2)
    z_hand = (1 / 12) / math.sqrt(59 / 1728)
    assert z == pytest.approx(z_hand, rel=1e-12)
    assert p == pytest.approx(2 * stats.norm.sf(z_hand), rel=1e-12)
    assert p == pytest.approx(0.652, abs=1e-3)
    # order of the two scores flips the sign only
    z21, p21 = delong_test(Y7, S2, S1)
    assert z21 == pytest.approx(-z) and p21 == pytest.approx(p)


@pytest.mark.parametrize("seed", range(4))
def test_delong_test_equals_explicit_covariance(seed):
    y, s1 = _random_tied(seed)
    rng = np.random.default_rng(100 + seed)
    s2 = np.round(np.clip(s1 + rng.normal(0, 0.2, y.size), 0, 1), 1)
    z, p = delong_test(y, s1, s2)
    z_ref = _brute_delong_z(y, s1, s2)
    assert z == pytest.approx(z_ref, rel=1e-9)
    assert p == pytest.approx(2 * stats.norm.sf(abs(z_ref)), rel=1e-9)


def test_delong_auc_one_and_zero_variance_conventions():
    y = np.array([1, 1, 1, 0, 0, 0])
    perfect_a = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    perfect_b = np.array([0.6, 0.99, 0.55, 0.5, 0.01, 0.4])
    assert auc_ci_delong(y, perfect_a) == (1.0, 1.0, 1.0)
    assert auc_ci_delong(y, 1 - perfect_a) == (0.0, 0.0, 0.0)
    # equal AUCs, zero variance: pROC's special case z = 0 (p = 1)
    assert delong_test(y, perfect_a, perfect_b) == (0.0, 1.0)
    assert delong_test(y, perfect_a, perfect_a) == (0.0, 1.0)
    # AUC 1 vs 0, zero variance: R's 1/0 = Inf, p = 0
    z, p = delong_test(y, perfect_a, 1 - perfect_a)
    assert z == math.inf and p == 0.0


def test_delong_single_positive_is_nan_like_proc():
    y = np.array([1, 0, 0, 0])
    s = np.array([0.9, 0.1, 0.5, 0.3])
    auc, low, high = auc_ci_delong(y, s)
    assert auc == 1.0 and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in delong_test(y, s, s[::-1]))


# --- Youden and threshold metrics -----------------------------------------------------------------

def test_youden_ties_go_to_the_higher_threshold():
    # P = N = 3; candidate cut-offs (p >= t positive):
    #   t = 0.9: sens 1/3, spec 3/3 -> J = 1/3
    #   t = 0.7: sens 2/3, spec 2/3 -> J = 1/3   (the negative at 0.7 is called positive)
    #   t = 0.4: sens 3/3, spec 1/3 -> J = 1/3
    #   t = 0.1: J = 0
    # three-way tie -> the highest, 0.9
    assert youden_threshold([1, 1, 0, 1, 0, 0], [0.9, 0.7, 0.7, 0.4, 0.4, 0.1]) == 0.9


def test_youden_uses_greater_or_equal_and_reproduces_on_training_data():
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.2, 0.5, 0.5, 0.7, 0.9])
    # t = 0.9: J = 1/3 + 1 - 1 = 1/3; t = 0.7: 2/3 + 1 - 1 = 2/3; t = 0.5: 1 + 1/2 - 1 = 1/2; t = 0.2: 0
    t = youden_threshold(y, p)
    assert t == 0.7
    m = threshold_metrics(y, p, t)
    # p >= 0.7 -> calls [0, 0, 0, 1, 1]: TP 2, FN 1, TN 2, FP 0 (a ">" rule would give TP 1)
    assert (m["tp"], m["fn"], m["tn"], m["fp"]) == (2, 1, 2, 0)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == 1.0
    assert m["accuracy"] == pytest.approx(4 / 5)
    assert m["ppv"] == 1.0
    assert m["npv"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))


@pytest.mark.parametrize("seed", range(5))
def test_youden_equals_exact_search(seed):
    y, p = _random_tied(seed, n=30)
    P, N = int(y.sum()), int((1 - y).sum())
    best = max(
        (Fraction(int(((p >= t) & (y == 1)).sum()), P) + Fraction(int(((p < t) & (y == 0)).sum()), N) - 1, t)
        for t in np.unique(p)
    )  # tuples: max J, then max threshold
    assert youden_threshold(y, p) == best[1]


def test_threshold_metrics_undefined_are_nan_not_errors():
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.2, 0.5, 0.5, 0.7, 0.9])
    m = threshold_metrics(y, p, 0.95)  # nobody called positive
    assert math.isnan(m["ppv"]) and m["sensitivity"] == 0.0 and m["f1"] == 0.0
    assert m["npv"] == pytest.approx(2 / 5)
    m0 = threshold_metrics([0, 0, 0], [0.1, 0.2, 0.3], 0.5)  # no events, no calls
    assert math.isnan(m0["sensitivity"]) and math.isnan(m0["ppv"]) and math.isnan(m0["f1"])
    assert m0["specificity"] == 1.0 and m0["accuracy"] == 1.0


def test_brier_hand_worked():
    # (0.2² + 0.5² + 0.5² + 0.3² + 0.1²)/5 = (0.04 + 0.25 + 0.25 + 0.09 + 0.01)/5 = 0.128
    assert brier([0, 0, 1, 1, 1], [0.2, 0.5, 0.5, 0.7, 0.9]) == pytest.approx(0.128)


# --- calibration ----------------------------------------------------------------------------------

def _draw_from_p(n=20000, seed=11):
    rng = np.random.default_rng(seed)
    lp = rng.normal(-0.5, 1.5, n)
    return rng.binomial(1, expit(lp)), lp


def test_calibration_perfect_when_y_is_drawn_from_p():
    y, lp = _draw_from_p()
    cal = calibration_intercept_slope(y, expit(lp))
    assert cal["cal_slope"] == pytest.approx(1, abs=0.06)
    assert cal["cal_intercept"] == pytest.approx(0, abs=0.06)
    assert cal["citl"] == pytest.approx(0, abs=0.06)
    assert cal["n_excluded"] == 0


def test_calibration_slope_below_one_when_overconfident():
    y, lp = _draw_from_p()
    good = calibration_intercept_slope(y, expit(lp))
    over = calibration_intercept_slope(y, expit(2 * lp))  # logits stretched: too extreme
    under = calibration_intercept_slope(y, expit(lp / 2))
    assert over["cal_slope"] == pytest.approx(0.5, abs=0.04)
    assert under["cal_slope"] == pytest.approx(2, abs=0.12)
    # exact identity of the slope model: logit scaled by c -> slope / c, same intercept
    assert over["cal_slope"] == pytest.approx(good["cal_slope"] / 2, rel=1e-6)
    assert over["cal_intercept"] == pytest.approx(good["cal_intercept"], abs=1e-6)


def _hl_example():
    # 20 predictions; deciles of p tie (see test_hosmer_lemeshow_tied_breaks_hand_worked)
    p = np.array([0.1] * 5 + [0.2] * 5 + [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9])
    y = np.array([0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0])
    return y, p


def test_calibration_equals_direct_likelihood_maximisation():
    y, p = _hl_example()
    lp = np.log(p / (1 - p))

    def nll(theta):
        eta = theta[0] + theta[1] * lp
        return float(np.sum(np.logaddexp(0, eta) - y * eta))

    a, b = optimize.minimize(nll, [0.0, 1.0], method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 10000}).x
    # calibration-in-the-large solves the score equation Σ expit(a + logit p) = Σ y
    citl = optimize.brentq(lambda c: expit(c + lp).sum() - y.sum(), -10, 10, xtol=1e-14)
    cal = calibration_intercept_slope(y, p)
    assert cal["cal_slope"] == pytest.approx(b, abs=1e-6)
    assert cal["cal_intercept"] == pytest.approx(a, abs=1e-6)
    assert cal["citl"] == pytest.approx(citl, abs=1e-8)


def test_calibration_constant_prediction_and_excluded_extremes():
    y = np.array([1, 0, 1, 0, 0])
    cal = calibration_intercept_slope(y, np.full(5, 0.3))
    # constant logit: citl = logit(mean y) - logit(0.3); slope not identifiable
    assert cal["citl"] == pytest.approx(math.log(0.4 / 0.6) - math.log(0.3 / 0.7), abs=1e-8)
    assert math.isnan(cal["cal_slope"]) and math.isnan(cal["cal_intercept"])

    y, p = _hl_example()
    with pytest.warns(RuntimeWarning, match="2 predictions of exactly 0 or 1"):
        cal = calibration_intercept_slope(np.r_[y, 0, 1], np.r_[p, 0.0, 1.0])
    ref = calibration_intercept_slope(y, p)
    assert cal["n_excluded"] == 2
    assert cal["cal_slope"] == pytest.approx(ref["cal_slope"])
    assert cal["citl"] == pytest.approx(ref["citl"])


def test_calibration_separation_gives_nan_slope():
    cal = calibration_intercept_slope([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert math.isnan(cal["cal_slope"])
    assert np.isfinite(cal["citl"])


# --- Hosmer-Lemeshow -------------------------------------------------------------------------------

def test_hosmer_lemeshow_tied_breaks_hand_worked():
    # Decile breaks of the 20 sorted p (linear interpolation at positions 1.9k):
    #   0.1, 0.1, 0.1, 0.2, 0.2, 0.25, 0.44, 0.63, 0.82, 0.9, 0.9
    # tied breaks merge -> 6 intervals, of which (0.2, 0.25] is empty -> 5 groups:
    #   A {0.1×5, 0.2×5}: O = 2, E = 1.5, n = 10 -> 0.25/(1.5·0.85) = 0.196078
    #   B {0.3, 0.4}:     O = 1, E = 0.7, n = 2  -> 0.09/(0.7·0.65) = 0.197802
    #   C {0.5, 0.6}:     O = 1, E = 1.1, n = 2  -> 0.01/(1.1·0.45) = 0.020202
    #   D {0.7, 0.8}:     O = 2, E = 1.5, n = 2  -> 0.25/(1.5·0.25) = 0.666667
    #   E {0.9×4}:        O = 3, E = 3.6, n = 4  -> 0.36/(3.6·0.10) = 1.000000
    # chi2 = 2.080749, df = 5 - 2 = 3
    y, p = _hl_example()
    chi2, df, pval = hosmer_lemeshow(y, p)
    hand = 0.25 / 1.275 + 0.09 / 0.455 + 0.01 / 0.495 + 0.25 / 0.375 + 1.0
    assert chi2 == pytest.approx(hand, rel=1e-12)
    assert chi2 == pytest.approx(2.080749, abs=1e-6)
    assert df == 3
    assert pval == pytest.approx(stats.chi2.sf(hand, 3), rel=1e-12)


def test_hosmer_lemeshow_distinct_p_equals_equal_size_groups():
    rng = np.random.default_rng(5)
    p = rng.permutation(np.linspace(0.05, 0.95, 30))
    y = rng.binomial(1, p)
    chi2 = 0.0
    for g in np.array_split(np.argsort(p), 10):  # 10 groups of 3 consecutive predictions
        o, e, n = y[g].sum(), p[g].sum(), len(g)
        chi2 += (o - e) ** 2 / (e * (1 - e / n))
    got = hosmer_lemeshow(y, p)
    assert got[0] == pytest.approx(chi2, rel=1e-12)
    assert got[1] == 8


def test_hosmer_lemeshow_constant_prediction_has_no_df():
    chi2, df, pval = hosmer_lemeshow([1, 0, 0, 0], [0.25] * 4)  # one group, O = E = 1
    assert chi2 == 0.0 and df == -1 and math.isnan(pval)


# --- NRI and IDI (Hmisc improveProb) --------------------------------------------------------------

# events:      old [0.5, 0.4, 0.6, 0.3] -> new [0.7, 0.6, 0.5, 0.3]       Δ = [+.2, +.2, -.1, 0]
# non-events:  old [0.4, 0.5, 0.3, 0.2, 0.1] -> new [0.2, 0.3, 0.2, 0.4, 0.1]  Δ = [-.2, -.2, -.1, +.2, 0]
Y9 = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0])
P_OLD = np.array([0.5, 0.4, 0.6, 0.3, 0.4, 0.5, 0.3, 0.2, 0.1])
P_NEW = np.array([0.7, 0.6, 0.5, 0.3, 0.2, 0.3, 0.2, 0.4, 0.1])


def test_nri_hand_worked_with_unchanged_predictions():
    # events: up 2, down 1, unchanged 1 (n = 4) -> 1/4;  non-events: down 3, up 1, unchanged 1 (n = 5) -> 2/5
    # NRI = 0.25 + 0.40 = 0.65
    # v_ev = (2+1)/16 - 1²/64 = 11/64;  v_ne = (3+1)/25 - 2²/125 = 16/125
    nri, se, z, p = nri_continuous(Y9, P_OLD, P_NEW)
    se_hand = math.sqrt(11 / 64 + 16 / 125)  # 0.547608
    assert nri == pytest.approx(0.65, abs=1e-15)
    assert se == pytest.approx(se_hand, rel=1e-12)
    assert z == pytest.approx(0.65 / se_hand, rel=1e-12)  # 1.18698
    assert p == pytest.approx(2 * stats.norm.sf(0.65 / se_hand), rel=1e-12)


def test_idi_hand_worked():
    # mean Δ|event = 0.3/4 = 0.075; mean Δ|non-event = -0.3/5 = -0.06 -> IDI = 0.135
    # events: deviations [.125, .125, -.175, -.075], sum sq .0675, var .0225, /4 = .005625
    # non-events: deviations [-.14, -.14, -.04, .26, .06], sum sq .112, var .028, /5 = .0056
    # se = sqrt(.011225) = 0.105948
    value, se, z, p = idi(Y9, P_OLD, P_NEW)
    assert value == pytest.approx(0.135, abs=1e-12)
    assert se == pytest.approx(math.sqrt(0.011225), rel=1e-10)
    assert z == pytest.approx(0.135 / math.sqrt(0.011225), rel=1e-10)
    assert p == pytest.approx(2 * stats.norm.sf(0.135 / math.sqrt(0.011225)), rel=1e-10)


def test_nri_idi_identical_models_follow_r_semantics():
    nri, se, z, p = nri_continuous(Y9, P_OLD, P_OLD)
    assert (nri, se) == (0.0, 0.0) and math.isnan(z) and math.isnan(p)
    value, se, z, p = idi(Y9, P_OLD, P_OLD)
    assert (value, se) == (0.0, 0.0) and math.isnan(z) and math.isnan(p)
    # every event up, every non-event down: each component has variance 0 -> z = Inf, p = 0
    nri, se, z, p = nri_continuous(Y9, P_OLD, np.where(Y9 == 1, P_OLD + 0.05, P_OLD - 0.05))
    assert nri == 2.0 and se == 0.0 and z == math.inf and p == 0.0


# --- decision curves ------------------------------------------------------------------------------

def test_net_benefit_hand_worked():
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 1, 0])
    p = np.array([0.9, 0.3, 0.4, 0.2, 0.25, 0.1, 0.05, 0.6, 0.8, 0.1])
    # pt = 0.25: treated {0.9+, 0.3+, 0.4-, 0.25-, 0.6-, 0.8+}: TP 3, FP 3 (0.25 itself is treated)
    #   NB = 3/10 - 3/10 · (0.25/0.75) = 0.2
    # pt = 0.5: treated {0.9+, 0.6-, 0.8+}: TP 2, FP 1 -> 0.2 - 0.1 · 1 = 0.1
    assert net_benefit(y, p, [0.25, 0.5]) == pytest.approx([0.2, 0.1], abs=1e-15)
    # treat all: prevalence 0.4 -> 0.4 - 0.6/3 = 0.2 at 0.25, 0.4 - 0.6 = -0.2 at 0.5
    dca = decision_curve(y, {"m": p}, thresholds=[0.25, 0.5])
    assert list(dca.columns) == ["threshold", "model", "net_benefit", "high_risk_per_1000",
                                 "high_risk_events_per_1000"]
    assert list(dca["model"].unique()) == ["m", "treat_all", "treat_none"]
    wide = dca.pivot(index="threshold", columns="model", values="net_benefit")
    assert wide["treat_all"].to_numpy() == pytest.approx([0.2, -0.2])
    assert (wide["treat_none"] == 0).all()
    assert wide["m"].to_numpy() == pytest.approx([0.2, 0.1])
    # clinical impact per 1000: pt = 0.25 -> 6 of 10 high risk, 3 events; pt = 0.5 -> 3, 2
    m = dca[dca["model"] == "m"]
    assert m["high_risk_per_1000"].tolist() == [600.0, 300.0]
    assert m["high_risk_events_per_1000"].tolist() == [300.0, 200.0]
    ref = dca[dca["model"] == "treat_all"]
    assert ref["high_risk_per_1000"].tolist() == [1000.0, 1000.0]
    assert ref["high_risk_events_per_1000"].tolist() == [400.0, 400.0]


def test_decision_curve_default_grid_and_reserved_names():
    dca = decision_curve(Y7, {"a": S1})
    grid = dca.loc[dca["model"] == "a", "threshold"].to_numpy()
    assert grid.size == 99 and grid[0] == 0.01 and grid[6] == 0.07 and grid[-1] == 0.99
    with pytest.raises(ValueError, match="reserved"):
        decision_curve(Y7, {"treat_all": S1})
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        net_benefit(Y7, S1, [1.0])


# --- tables and files -----------------------------------------------------------------------------

def test_metrics_table_columns_and_fixed_thresholds():
    preds = {"a": S1, "b": S2}
    tab = metrics_table(Y7, preds)
    assert list(tab.columns) == METRIC_COLUMNS
    assert list(tab["model"]) == ["a", "b"]
    assert METRIC_COLUMNS == [
        "model", "auc", "auc_ci_low", "auc_ci_high", "threshold", "sensitivity", "specificity", "accuracy",
        "ppv", "npv", "f1", "brier", "cal_intercept", "cal_slope", "citl", "hl_chi2", "hl_df", "hl_p",
        # Wilson CIs appended (tests/test_proportion_ci_vs_statsmodels.py): earlier columns keep their places
        "sensitivity_ci_low", "sensitivity_ci_high", "specificity_ci_low", "specificity_ci_high",
        "accuracy_ci_low", "accuracy_ci_high", "ppv_ci_low", "ppv_ci_high", "npv_ci_low", "npv_ci_high"]
    row = tab.iloc[0]
    assert row["auc"] == pytest.approx(5 / 6) and row["auc_ci_high"] == 1.0
    assert row["threshold"] == youden_threshold(Y7, S1)
    fixed = metrics_table(Y7, preds, {"a": 0.5, "b": 0.65})
    assert list(fixed["threshold"]) == [0.5, 0.65]
    assert fixed.iloc[0]["sensitivity"] == pytest.approx(2 / 3)  # 0.8, 0.5 >= 0.5; 0.3 not
    assert fixed.iloc[0]["specificity"] == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="no threshold given"):
        metrics_table(Y7, preds, {"a": 0.5})


def test_pairwise_table_is_b_over_a():
    tab = pairwise_table(Y9, {"old": P_OLD, "mid": (P_OLD + P_NEW) / 2, "new": P_NEW})
    assert list(tab.columns) == PAIRWISE_COLUMNS
    assert list(zip(tab["model_a"], tab["model_b"])) == [("old", "mid"), ("old", "new"), ("mid", "new")]
    row = tab.iloc[1]
    z, p = delong_test(Y9, P_NEW, P_OLD)
    assert row["delong_z"] == pytest.approx(z) and row["delong_p"] == pytest.approx(p)
    assert row["nri"] == pytest.approx(0.65)
    assert row["idi"] == pytest.approx(0.135)
    assert pairwise_table(Y9, {"only": P_OLD}).empty


def _write(path, df):
    df.to_csv(path, index=False)
    return str(path)


def test_evaluate_cohorts_applies_training_cutoffs(tmp_path):
    rng = np.random.default_rng(2)

    def cohort(n):
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        m1 = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0.01, 0.99).round(3)
        m2 = np.clip(0.4 + 0.2 * y + rng.normal(0, 0.2, n), 0.01, 0.99).round(3)
        return pd.DataFrame({"patient_id": [f"P{i}" for i in range(n)], "y": y, "m1": m1, "m2": m2})

    train, test = cohort(60), cohort(30)
    paths = {
        "train": _write(tmp_path / "train.csv", train),
        "test": _write(tmp_path / "test.csv", test[["patient_id", "y", "m2", "m1"]]),  # column order may differ
    }
    out = tmp_path / "eval"
    written = evaluate_cohorts(paths, "train", str(out))
    assert sorted(os.listdir(out)) == sorted(
        f"{c}{s}.csv" for c in ("train", "test") for s in ("", "_pairwise", "_dca")
    )
    assert written["test"][0] == str(out / "test.csv")
    cut = {m: youden_threshold(train["y"], train[m]) for m in ("m1", "m2")}
    for c, df in (("train", train), ("test", test)):
        tab = pd.read_csv(out / f"{c}.csv")
        assert list(tab.columns) == METRIC_COLUMNS and list(tab["model"]) == ["m1", "m2"]
        assert tab["threshold"].tolist() == [cut["m1"], cut["m2"]]
        assert tab["auc"].tolist() == pytest.approx([roc_auc(df["y"], df["m1"]), roc_auc(df["y"], df["m2"])])
    pw = pd.read_csv(out / "test_pairwise.csv")
    assert list(pw.columns) == PAIRWISE_COLUMNS and len(pw) == 1
    # deterministic: a second run writes byte-identical files
    before = {f: (out / f).read_bytes() for f in os.listdir(out)}
    evaluate_cohorts(paths, "train", str(out))
    assert {f: (out / f).read_bytes() for f in os.listdir(out)} == before


def test_evaluate_cohorts_reports_all_input_problems(tmp_path):
    good = pd.DataFrame({"patient_id": ["a", "b", "c"], "y": [0, 1, 1], "m1": [0.1, 0.8, 0.7]})
    bad = pd.DataFrame({"patient_id": ["a", "a", "c"], "y": [0, 2, 1], "m1": [0.1, 1.5, None]})
    paths = {"train": _write(tmp_path / "train.csv", good), "test": _write(tmp_path / "test.csv", bad)}
    with pytest.raises(InputError) as err:
        evaluate_cohorts(paths, "train", str(tmp_path / "out"))
    msg = str(err.value)
    # duplicate id (row 2), y = 2 (row 2), probability 1.5 (row 2), missing probability (row 3)
    assert msg.startswith("4 input problems found:")
    assert "duplicate patient_id" in msg and "column 'y'" in msg and "column 'm1'" in msg
    assert not (tmp_path / "out").exists()  # nothing written before the inputs are valid
    with pytest.raises(ValueError, match="training cohort 'nope'"):
        evaluate_cohorts(paths, "nope", str(tmp_path / "out"))


def test_run_assembles_per_model_files_into_cohort_tables(tmp_path):
    # per-model files as the train rule writes them: patient_id, cohort, y, prob, oof_prob
    rng = np.random.default_rng(8)
    n = 40
    base = pd.DataFrame({"patient_id": [f"{i:03d}" for i in range(n)],
                         "cohort": ["train"] * 28 + ["internal"] * 12,
                         "y": np.tile([0, 1], n // 2)})
    files = {}
    for model, shift in (("clin", 0.2), ("rad", 0.4)):
        df = base.assign(prob=np.clip(0.3 + shift * base.y + rng.normal(0, 0.15, n), 0.01, 0.99).round(3),
                         oof_prob=np.nan)
        files[model] = _write(tmp_path / f"{model}.csv", df.sample(frac=1, random_state=0))  # any row order
    run(files, ["train", "internal"], str(tmp_path / "res"), section("evaluate"))
    pred = pd.read_csv(tmp_path / "res/predictions/internal.csv", dtype={"patient_id": str})
    assert list(pred.columns) == ["patient_id", "y", "clin", "rad"] and len(pred) == 12
    assert pred["patient_id"].iloc[0].startswith("0")  # ids kept as text
    met = pd.read_csv(tmp_path / "res/metrics/internal.csv")
    assert met["auc"].tolist() == pytest.approx([roc_auc(pred.y, pred.clin), roc_auc(pred.y, pred.rad)])
    train = pd.read_csv(tmp_path / "res/predictions/train.csv")
    assert met["threshold"].tolist() == [youden_threshold(train.y, train.clin), youden_threshold(train.y, train.rad)]
    assert (tmp_path / "res/metrics/internal_pairwise.csv").exists()
    assert (tmp_path / "res/metrics/train_dca.csv").exists()


# --- bootstrap optimism ---------------------------------------------------------------------------

def test_bootstrap_optimism_positive_for_overfitting_model():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 8))  # pure noise: any apparent discrimination is optimism
    y = rng.integers(0, 2, 40)

    def least_squares_score(X_fit, y_fit, X_eval):
        A = np.column_stack([np.ones(len(X_fit)), X_fit])
        beta = np.linalg.lstsq(A, y_fit - y_fit.mean(), rcond=None)[0]
        return np.column_stack([np.ones(len(X_eval)), X_eval]) @ beta

    res = bootstrap_optimism_auc(X, y, least_squares_score, n_boot=30, seed=1)
    assert res["apparent"] > 0.7
    assert res["optimism"] > 0.05
    assert res["corrected"] == pytest.approx(res["apparent"] - res["optimism"])
    again = bootstrap_optimism_auc(X, y, least_squares_score, n_boot=30, seed=1)
    assert again == res
