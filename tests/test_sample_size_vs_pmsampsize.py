"""Riley et al. minimum sample size against R pmsampsize's own test cases, and the Cox-Snell R²
against statsmodels' log-likelihoods."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from axilla.evaluate import SAMPLE_SIZE_COLUMNS, cox_snell_r2, riley_binary
from axilla.evaluate.samplesize import max_r2_cs, sample_size_rows


# pmsampsize (CRAN, >= 1.1.1) tests/testthat/test_bin.R, tests 4.1-4.4: type = "b", shrinkage 0.9;
# criteria 1, 2, 3 and the final size, and EPP of each (Riley et al. BMJ 2020's example is 4.1).
PMSAMPSIZE = [
    ((0.288, 24, 0.174), (623, 662, 221, 662), (4.52, 4.8, 1.6, 4.8)),
    ((0.55, 24, 0.174), (255, 532, 221, 532), (1.85, 3.86, 1.6, 3.86)),
    ((0.288, 36, 0.174), (934, 992, 221, 992), (4.51, 4.79, 1.07, 4.79)),
    ((0.288, 24, 0.25), (623, 590, 289, 623), (6.49, 6.15, 3.01, 6.49)),
]


@pytest.mark.parametrize("args,sizes,epp", PMSAMPSIZE)
def test_riley_criteria_match_pmsampsize(args, sizes, epp):
    r2, parameters, prevalence = args
    got = riley_binary(parameters, prevalence, r2)
    assert (got["n_shrinkage"], got["n_nagelkerke"], got["n_risk"], got["n_required"]) == sizes
    assert [round(n * prevalence / parameters, 2) for n in sizes] == list(epp)
    assert round(got["epp_required"], 2) == epp[-1]


def test_max_r2_and_bad_inputs():
    # prevalence 0.5: lnL_null / n = ln 0.5, so max R2cs = 1 - 0.25
    assert max_r2_cs(0.5) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        riley_binary(10, 0.5, 0.8)  # above the maximum
    with pytest.raises(ValueError):
        riley_binary(0, 0.5, 0.2)


def test_cox_snell_r2_matches_statsmodels_likelihoods():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2))
    y = (rng.random(200) < 1 / (1 + np.exp(-(x[:, 0] - 0.5)))).astype(int)
    fit = sm.Logit(y, sm.add_constant(x)).fit(disp=0)
    expected = 1 - np.exp(2 * (fit.llnull - fit.llf) / y.size)
    assert cox_snell_r2(y, fit.predict()) == pytest.approx(expected, rel=1e-8)
    assert cox_snell_r2(y, np.full(200, y.mean())) == pytest.approx(0, abs=1e-12)


def test_rows_use_the_conservative_r2_when_out_of_fold_fits_worse_than_prevalence():
    y = np.tile([0, 1], 20)
    bad = np.where(y == 1, 0.2, 0.8)  # out-of-fold probabilities pointing the wrong way
    rows = pd.DataFrame(sample_size_rows("m", {"candidate": 30, "selected": 3}, y, bad), columns=SAMPLE_SIZE_COLUMNS)
    assert rows.r2_source.iloc[0].startswith("conservative")
    assert rows.r2_cs.iloc[0] == pytest.approx(0.15 * 0.75)
    cand = rows.set_index("parameters").loc["candidate"]
    assert cand.n_required == riley_binary(30, 0.5, 0.15 * 0.75)["n_required"] and not cand.adequate
    assert cand.events_per_parameter == pytest.approx(20 / 30)
