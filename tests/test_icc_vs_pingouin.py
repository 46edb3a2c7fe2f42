"""ICC(2,1) and ICC(3,1) equal pingouin's (= psych::ICC's) definitions on fixed tables."""

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from axilla.reproducibility import feature_icc, icc

# Shrout & Fleiss (1979) Table 2: 6 targets rated by 4 judges. Their published values are
# ICC(2,1) = 0.29 and ICC(3,1) = 0.71 (the example psych::ICC reproduces).
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)


def _pingouin(x: np.ndarray, form: str):
    n, k = x.shape
    long = pd.DataFrame({"t": np.repeat(np.arange(n), k), "r": np.tile(np.arange(k), n), "s": x.ravel()})
    res = pg.intraclass_corr(long, targets="t", raters="r", ratings="s").set_index("Type")
    row = res.loc[{"ICC2": "ICC(A,1)", "ICC3": "ICC(C,1)"}[form]]  # pingouin 0.7 names
    return row["ICC"], row["CI95"][0], row["CI95"][1]


def test_shrout_fleiss_published_values():
    i2, _, _ = icc(SHROUT_FLEISS, "ICC2")
    i3, _, _ = icc(SHROUT_FLEISS, "ICC3")
    assert round(float(i2[0]), 2) == 0.29
    assert round(float(i3[0]), 2) == 0.71


@pytest.mark.parametrize("form", ["ICC2", "ICC3"])
@pytest.mark.parametrize("table", ["shrout", "random"])
def test_icc_and_ci_equal_pingouin(form, table):
    x = SHROUT_FLEISS if table == "shrout" else np.random.default_rng(3).normal(size=(15, 2)) + np.arange(15)[:, None] * 0.3
    value, lo, hi = icc(x, form)
    ref, ref_lo, ref_hi = _pingouin(x, form)
    assert value[0] == pytest.approx(ref, abs=1e-10)
    # pingouin rounds its CI to 2 decimals
    assert lo[0] == pytest.approx(ref_lo, abs=0.006)
    assert hi[0] == pytest.approx(ref_hi, abs=0.006)


def test_vectorised_over_features_and_constant_feature_is_nan():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 2, 3))
    x[:, :, 2] = 5.0
    value, _, _ = icc(x, "ICC2")
    for j in range(2):
        assert value[j] == pytest.approx(icc(x[:, :, j], "ICC2")[0][0])
    assert np.isnan(value[2])


def test_feature_icc_pairs_raters_by_patient():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=8)
    rows = []
    for i, t in enumerate(truth):
        pid = f"P{i}"
        rows.append({"patient_id": pid, "rater": "A", "f": t})
        rows.append({"patient_id": pid, "rater": "B", "f": t + 0.01 * i})
    # a patient rated by A only does not enter the A-B ICC
    rows.append({"patient_id": "P99", "rater": "A", "f": 100.0})
    table = feature_icc(pd.DataFrame(rows), [("A", "B")], "ICC3")
    assert table.loc[0, "n"] == 8
    ref = icc(np.c_[truth, truth + 0.01 * np.arange(8)], "ICC3")[0][0]
    assert table.loc[0, "icc"] == pytest.approx(ref)
