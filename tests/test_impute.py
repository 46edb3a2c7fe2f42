"""Missing clinical values: imputed from the training rows only, counted, never dropped."""

import logging

import numpy as np
import pandas as pd
import pytest
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer

from axilla.features import ClinicalEncoder

KINDS = {"age": "numeric", "ki67": "numeric", "grade": "categorical"}


def _train():
    return pd.DataFrame({"age": [40.0, np.nan, 50.0, 61.0, 70.0, np.nan],
                         "ki67": [10.0, 20.0, np.nan, 35.0, 40.0, 15.0],
                         "grade": ["2", "3", None, "3", "1", "3"],
                         "rad_x": [1.0, 2.0, 3.0, np.nan, 5.0, 6.0]},
                        index=[f"P{i}" for i in range(6)])


def test_simple_fill_values_hand_worked_and_counts(caplog):
    with caplog.at_level(logging.INFO, logger="axilla.features"):
        enc = ClinicalEncoder(KINDS).fit(_train())
    # medians of the observed training values: age (40, 50, 61, 70) -> 55.5; ki67 -> 20; rad_x -> 3
    test = pd.DataFrame({"age": [np.nan], "ki67": [np.nan], "grade": [None], "rad_x": [np.nan]}, index=["Q"])
    out = enc.transform(test)
    assert out.loc["Q", ["age", "ki67", "rad_x"]].tolist() == [55.5, 20.0, 3.0]
    assert out.loc["Q", "grade=3"] == 1.0 and out.loc["Q", "grade=2"] == 0.0  # mode '3'
    table = enc.imputation_.set_index("column")
    assert table.n_missing_train.to_dict() == {"age": 2, "ki67": 1, "rad_x": 1, "grade": 1}
    assert table.loc["age", "fill"] == "median 55.5" and table.loc["grade", "fill"] == "mode 3"
    assert enc.n_imputed_ == 5
    assert "imputing 5 missing value(s) in 6 training rows (simple): age 2, ki67 1, rad_x 1, grade 1" in caplog.text


@pytest.mark.parametrize("strategy", ["simple", "iterative"])
def test_no_leakage_from_evaluation_rows(strategy):
    train = _train()
    test = pd.DataFrame({"age": [np.nan, 90.0], "ki67": [30.0, np.nan], "grade": ["1", None], "rad_x": [2.0, 9.0]},
                        index=["Q1", "Q2"])
    enc = ClinicalEncoder(KINDS, strategy=strategy, random_state=0).fit(train)
    base = enc.transform(test)
    # Evaluation rows with extreme values change neither the training fit nor each other's imputations.
    wild = test.assign(age=[np.nan, 1e6], rad_x=[2.0, -1e6])
    out = enc.transform(wild)
    assert out.loc["Q1"].equals(base.loc["Q1"])
    assert enc.transform(test.loc[["Q1"]]).loc["Q1"].equals(base.loc["Q1"])
    # Fitting on training + evaluation rows would give a different fill: so the fit saw training only.
    leaky = ClinicalEncoder(KINDS, strategy=strategy, random_state=0).fit(pd.concat([train, wild]))
    assert leaky.transform(test).loc["Q1", "age"] != base.loc["Q1", "age"]
    assert len(out) == 2 and not out.isna().any().any()  # never dropped, nothing left missing


def test_iterative_matches_scikit_learn_fitted_on_training_rows():
    train = _train()
    test = pd.DataFrame({"age": [np.nan, 45.0], "ki67": [38.0, np.nan], "grade": ["1", "2"], "rad_x": [2.0, 9.0]},
                        index=["Q1", "Q2"])
    enc = ClinicalEncoder(KINDS, strategy="iterative", random_state=3).fit(train)
    ref = IterativeImputer(max_iter=10, random_state=3).fit(train[["age", "ki67"]].to_numpy())
    expect = ref.transform(test[["age", "ki67"]].to_numpy())
    out = enc.transform(test)
    assert out.loc["Q1", "age"] == pytest.approx(expect[0, 0]) and out.loc["Q2", "ki67"] == pytest.approx(expect[1, 1])
    assert out.loc["Q2", "age"] == 45.0  # observed values untouched
    # age depends on ki67 in the training rows, so the iterative fill differs from the median.
    assert out.loc["Q1", "age"] != pytest.approx(55.5)
    assert enc.imputation_.set_index("column").loc["age", "fill"] == "iterative"


def test_unknown_strategy_refused():
    with pytest.raises(ValueError, match="imputation strategy must be 'simple' or 'iterative', not 'mean'"):
        ClinicalEncoder(KINDS, strategy="mean").fit(_train())
