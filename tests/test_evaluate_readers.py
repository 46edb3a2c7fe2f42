"""Reader study and optimism plumbing, pinned to hand-worked values (see axilla.evaluate)."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from axilla.errors import InputError
from axilla.settings import section
from axilla.evaluate import (
    READER_COLUMNS,
    READER_PAIR_COLUMNS,
    READER_VS_MODEL_COLUMNS,
    bootstrap_optimism_auc,
    delong_test,
    load_readers,
    reader_tables,
    roc_auc,
    run,
)

Y = np.array([1, 1, 1, 0, 0, 0])
A = np.array([1, 1, 0, 0, 1, 0])  # binary reader
B = np.array([1, 0, 0, 0, 1, np.nan])  # did not read the last patient
P = np.array([0.9, 0.6, 0.4, 0.3, 0.7, 0.2])  # a model


def test_reader_metrics_hand_worked():
    readers, vs, kappa = reader_tables(Y, {"A": A, "B": B}, {"m": P})
    assert list(readers.columns) == READER_COLUMNS
    assert list(vs.columns) == READER_VS_MODEL_COLUMNS and list(kappa.columns) == READER_PAIR_COLUMNS
    a, b = readers.iloc[0], readers.iloc[1]
    # A: calls [1,1,0 | 0,1,0]: sens 2/3, spec 2/3; a 0/1 reader's AUC = (sens + spec)/2 = 2/3
    assert (a["n"], a["sensitivity"], a["specificity"], a["accuracy"]) == (6, 2 / 3, 2 / 3, 4 / 6)
    assert a["auc"] == pytest.approx(2 / 3, abs=1e-15)
    # B on its 5 patients y = [1,1,1,0,0], calls [1,0,0,0,1]: sens 1/3, spec 1/2, acc 2/5
    assert b["n"] == 5
    assert (b["sensitivity"], b["specificity"], b["accuracy"]) == pytest.approx((1 / 3, 1 / 2, 2 / 5))
    assert b["auc"] == pytest.approx((1 / 3 + 1 / 2) / 2)


def test_reader_kappa_hand_worked():
    _, _, kappa = reader_tables(Y, {"A": A, "B": B, "C": A}, {})
    k = kappa.set_index(["reader_a", "reader_b"])
    # A vs B on the 5 read by both: A [1,1,0,0,1], B [1,0,0,0,1]; observed agreement 4/5,
    # chance 3/5·2/5 + 2/5·3/5 = 12/25 -> kappa = (4/5 - 12/25)/(13/25) = 8/13
    assert k.loc[("A", "B"), "n"] == 5 and k.loc[("A", "B"), "agreement"] == pytest.approx(0.8)
    assert k.loc[("A", "B"), "kappa"] == pytest.approx(8 / 13, abs=1e-12)
    assert k.loc[("A", "C"), "kappa"] == 1.0  # identical readers
    # paired DeLong of the two readers on the patients both read (B skipped the last one)
    z, p = delong_test(Y[:5], A[:5], B[:5])
    assert (k.loc[("A", "B"), "delong_z"], k.loc[("A", "B"), "delong_p"]) == pytest.approx((z, p))
    assert (k.loc[("A", "B"), "auc_a"], k.loc[("A", "B"), "auc_b"]) == pytest.approx(
        (roc_auc(Y[:5], A[:5]), roc_auc(Y[:5], B[:5])))
    assert k.loc[("A", "C"), "delong_p"] == 1.0  # identical readings: z = 0
    # kappa < 0: systematic disagreement. A vs its complement: agreement 0, chance 1/2 -> -1
    _, _, kk = reader_tables(Y, {"A": A, "notA": 1 - A}, {})
    assert kk["kappa"].iloc[0] == pytest.approx(-1.0)


def test_reader_vs_model_is_paired_delong_on_read_patients():
    _, vs, _ = reader_tables(Y, {"B": B}, {"m": P})
    row = vs.iloc[0]
    z, p = delong_test(Y[:5], B[:5], P[:5])
    assert (row["delong_z"], row["delong_p"]) == pytest.approx((z, p))
    assert row["model_auc"] == pytest.approx(roc_auc(Y[:5], P[:5]))
    # probability readers use "reading >= threshold" as the call
    readers, _, _ = reader_tables(Y, {"prob": P}, {}, threshold=0.65)
    assert readers.iloc[0][["sensitivity", "specificity"]].tolist() == pytest.approx([1 / 3, 2 / 3])


def test_reader_bad_readings_are_errors(tmp_path):
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        reader_tables(Y, {"A": A * 2}, {})
    clin = pd.DataFrame({"patient_id": ["P1", "P2"], "r1": [0.2, "high"], "r2": [1.5, 0]})
    clin.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(InputError) as err:
        load_readers(str(tmp_path / "c.csv"), {"R1": "r1", "R2": "r2", "R3": "nope"})
    msg = str(err.value)
    assert msg.startswith("3 input problems found:")
    assert "row 2, column 'r1'" in msg and "row 1, column 'r2'" in msg and "column 'nope': reader 'R3'" in msg


def test_run_writes_reader_tables(tmp_path):
    ids = [f"P{i}" for i in range(12)]
    y = np.tile([1, 0], 6)
    pred = pd.DataFrame({"patient_id": ids, "cohort": ["train"] * 6 + ["internal"] * 6, "y": y,
                         "prob": np.linspace(0.1, 0.9, 12)})
    pred.to_csv(tmp_path / "m.csv", index=False)
    r1 = np.where(y == 1, 0.8, 0.3)
    r1[0] = 0.2
    pd.DataFrame({"patient_id": ids, "r1": r1, "r2": y}).sample(frac=1, random_state=1).to_csv(
        tmp_path / "clin.csv", index=False)
    run({"m": str(tmp_path / "m.csv")}, ["train", "internal"], str(tmp_path / "res"),
        section("evaluate", readers={"R1": "r1", "R2": "r2"}), clinical=str(tmp_path / "clin.csv"))
    tab = pd.read_csv(tmp_path / "res/metrics/train_readers.csv")
    # train: patients 0-5, y [1,0,1,0,1,0]; R1 misses patient 0 -> sens 2/3; R2 is the truth
    assert tab.set_index("reader").loc["R1", "sensitivity"] == pytest.approx(2 / 3)
    assert tab.set_index("reader").loc["R2", "auc"] == 1.0
    kappa = pd.read_csv(tmp_path / "res/metrics/internal_reader_pairs.csv")
    assert kappa["kappa"].iloc[0] == 1.0  # on internal both readers are perfect
    assert (tmp_path / "res/metrics/internal_readers_vs_models.csv").exists()


def test_optimism_same_on_frames_and_arrays():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] + rng.normal(0, 1, 30) > 0).astype(int)

    def fp(Xf, yf, Xe):
        return LogisticRegression().fit(np.asarray(Xf), yf).predict_proba(np.asarray(Xe))[:, 1]

    def fp_frame(Xf, yf, Xe):
        assert list(Xf.columns) == ["a", "b", "c"] and Xf.index.is_unique
        return fp(Xf, yf, Xe)

    arr = bootstrap_optimism_auc(X, y, fp, n_boot=5, seed=2)
    frame = bootstrap_optimism_auc(pd.DataFrame(X, columns=list("abc"), index=[f"p{i}" for i in range(30)]),
                                   y, fp_frame, n_boot=5, seed=2)
    assert frame == arr
    from joblib import parallel_config

    with parallel_config(backend="threading"):  # worker processes cost seconds to start; same code path
        assert bootstrap_optimism_auc(X, y, fp, n_boot=5, seed=2, n_jobs=2) == arr  # resamples drawn up front
    assert math.isfinite(arr["corrected"]) and arr["corrected"] < arr["apparent"]


def test_run_optimism_refits_the_whole_feature_model(tmp_path):
    from sklearn.base import clone

    from axilla.evaluate import OPTIMISM_COLUMNS, run_optimism
    from axilla.train import FeatureModel, save_model

    rng = np.random.default_rng(5)
    n = 36
    ids = [f"P{i:02d}" for i in range(n)]
    y = np.tile([0, 1], n // 2)
    X = pd.DataFrame({"a": y + rng.normal(0, 1, n), "b": rng.normal(size=n), "c": rng.normal(size=n)}, index=ids)
    split = pd.DataFrame({"patient_id": ids, "cohort": ["train"] * 28 + ["internal"] * 8, "y": y})
    model = FeatureModel(kinds={}, select={"steps": ["variance", "zscore"]}, random_state=0)
    save_model(model.fit_selection(X.iloc[:28], y[:28]), str(tmp_path / "selection.pkl"))
    run_optimism(X, split, str(tmp_path / "selection.pkl"), "m", n_boot=4, seed=9, out_csv=str(tmp_path / "o.csv"))
    got = pd.read_csv(tmp_path / "o.csv")
    assert list(got.columns) == OPTIMISM_COLUMNS

    def fp(Xf, yf, Xe):  # fresh, unfitted copy each time: selection is refitted on the resample
        return clone(FeatureModel(kinds={}, select={"steps": ["variance", "zscore"]})).fit(Xf, yf).predict_proba(Xe)[:, 1]

    ref = bootstrap_optimism_auc(X.iloc[:28], y[:28], fp, n_boot=4, seed=9)  # training rows only
    assert got.iloc[0][["apparent", "optimism", "corrected"]].tolist() == pytest.approx(
        [ref["apparent"], ref["optimism"], ref["corrected"]], abs=1e-12)
