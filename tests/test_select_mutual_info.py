"""The mutual-information redundancy step (seed 002) against independent references.

References: closed-form entropies of discrete variables built by hand (a uniform 4-level
feature, its parity, the outcome as its upper half); scikit-learn's mutual_info_classif and
normalized_mutual_info_score called directly in the test; the leakage runs of test_no_leakage.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.feature_selection import mutual_info_classif
from sklearn.metrics import normalized_mutual_info_score

from axilla import select
from axilla.select import MutualInfoFilter, build_chain
from axilla.select.mutual_info import bin_codes, nmi_with
from axilla.train import run_feature_model
from test_no_leakage import KINDS, _data, _tamper, selection_model


def _discrete(reps=20):
    """a uniform on 0..3; parity = a mod 2; y = a >= 2; u independent of everything (balanced design)."""
    a = np.repeat(np.arange(4), reps)
    u = np.tile(np.arange(2), 2 * reps)
    X = pd.DataFrame({"parity": (a % 2).astype(float), "a": a.astype(float), "u": u.astype(float)})
    return X, (a >= 2).astype(int)


def test_discrete_mi_and_nmi_equal_the_closed_form():
    X, y = _discrete()
    f = MutualInfoFilter(threshold=0.6, n_bins=5).fit(X, y)
    # I(a; y) = H(y) = ln 2 (y is a function of a); parity and u are independent of y by design
    np.testing.assert_allclose(f.relevance_[["a", "parity", "u"]], [np.log(2), 0.0, 0.0], atol=1e-12)
    t = f.table_.set_index("feature")
    assert t.index[0] == "a" and t.loc["a", "kept"]
    # NMI(parity, a) = I / √(H(a) H(parity)) = ln2 / √(ln4 · ln2) = 1/√2 > 0.6: represented by a
    assert not t.loc["parity", "kept"] and t.loc["parity", "represented_by"] == "a"
    assert t.loc["parity", "nmi"] == pytest.approx(1 / np.sqrt(2), abs=1e-12)
    assert t.loc["u", "kept"]  # NMI with a (and parity's not kept) far below
    assert f.selected_ == ["a", "u"]
    # a threshold above 1/√2 keeps it
    assert MutualInfoFilter(threshold=0.75, n_bins=5).fit(X, y).selected_ == ["parity", "a", "u"]


def test_duplicate_and_noisy_copy_are_represented_by_the_original():
    rng = np.random.default_rng(0)
    n = 150
    y = rng.integers(0, 2, n)
    x = rng.normal(size=n) + 1.2 * y
    X = pd.DataFrame({"x": x, "z": rng.normal(size=n), "copy": x, "noisy": x + 0.05 * rng.normal(size=n),
                      "w": rng.normal(size=n) + 0.5 * y})
    f = MutualInfoFilter(threshold=0.5, n_bins=5, random_state=3).fit(X, y)
    ref = mutual_info_classif(X.to_numpy(), y, discrete_features=np.zeros(5, bool), n_neighbors=3, random_state=3)
    np.testing.assert_allclose(f.relevance_.to_numpy(), ref, rtol=1e-12)
    t = f.table_.set_index("feature")
    best = f.relevance_[["x", "copy", "noisy"]].idxmax()
    others = [c for c in ("x", "copy", "noisy") if c != best]
    assert t.loc[best, "kept"] and not t.loc[others, "kept"].any()
    assert (t.loc[others, "represented_by"] == best).all()
    codes = bin_codes(X.to_numpy(), 5)
    for c in others:  # NMI as sklearn computes it on the same codes
        j, k = list(X.columns).index(c), list(X.columns).index(best)
        assert t.loc[c, "nmi"] == pytest.approx(
            normalized_mutual_info_score(codes[:, k], codes[:, j], average_method="geometric"), abs=1e-12)
    assert nmi_with(codes[:, [0]], codes[:, 2], 5)[0] == pytest.approx(1.0, abs=1e-12)  # x and its exact copy
    assert {"z", "w"} <= set(f.selected_)


def test_binning_is_equal_frequency_and_nmi_matches_sklearn():
    rng = np.random.default_rng(1)
    A = np.column_stack([rng.normal(size=100), rng.exponential(size=100), np.repeat([0.0, 1.0, 5.0, 7.0], 25)])
    codes = bin_codes(A, 5)
    assert [np.bincount(codes[:, j]).tolist() for j in range(2)] == [[20] * 5, [20] * 5]
    for j in range(2):  # order kept: a larger value never lands in a lower bin
        o = np.argsort(A[:, j])
        assert (np.diff(codes[o, j]) >= 0).all()
    assert np.bincount(codes[:, 2]).tolist() == [25] * 4  # four distinct values keep their own codes
    got = nmi_with(codes[:, :2], codes[:, 2], 5)
    ref = [normalized_mutual_info_score(codes[:, j], codes[:, 2], average_method="geometric") for j in range(2)]
    np.testing.assert_allclose(got, ref, atol=1e-12)
    assert nmi_with(codes[:, :1], np.zeros(100, int), 5).tolist() == [0.0]  # a constant carries nothing


def test_min_relevance_and_defaults_from_the_schema():
    X, y = _discrete()
    f = MutualInfoFilter(threshold=0.99, min_relevance=0.1).fit(X, y)
    assert f.selected_ == ["a"]  # parity and u carry no information about y
    schema = yaml.safe_load(open("workflow/schemas/config.schema.yaml"))
    props = schema["definitions"]["select"]["properties"]["mutual_info"]["properties"]
    step = build_chain({"steps": ["mutual_info"]}, random_state=5)["mutual_info"]
    assert {k: getattr(step, k) for k in props} == {k: v["default"] for k, v in props.items()}
    assert step.random_state == 5
    with pytest.raises(ValueError, match="numeric"):
        MutualInfoFilter().fit(X.assign(s=["a"] * len(X)), y)


def test_same_seed_same_selection():
    rng = np.random.default_rng(2)
    n = 90
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, 12)) + 0.4 * y[:, None], columns=[f"f{j}" for j in range(12)])
    a, b = (MutualInfoFilter(random_state=4).fit(X, y) for _ in range(2))
    pd.testing.assert_frame_equal(a.table_, b.table_)


MI_SEL = {"steps": ["variance", "zscore", "mutual_info", "lasso"], "mutual_info": {"threshold": 0.3},
          "lasso": {"folds": 3, "rule": "min", "n_lambda": 20}}


def _fit(d, X, split):
    d.mkdir()
    select.run(selection_model(KINDS, MI_SEL, 7), X, split, d / "sel.pkl", d / "selected.csv", d / "funnel.csv")
    run_feature_model(X, split, str(d / "sel.pkl"), 7, d / "model.pkl", d / "pred.csv")
    with open(d / "model.pkl", "rb") as fh:
        m = pickle.load(fh)
    return {"table": m.chain_["mutual_info"].table_.round(12).fillna(-1).to_dict("list"), "selected": m.selected_,
            "lr": np.round(m.estimator_.coef_, 12).tolist()}


def test_no_leakage_held_out_rows_and_labels_change_nothing_fitted(tmp_path):
    X, split = _data()
    X = X.assign(f0_copy=X.f0 + 0.01 * np.sin(np.arange(len(X))))  # something to be redundant with
    a = _fit(tmp_path / "a", X, split)
    assert a == _fit(tmp_path / "b", *_tamper(X, split))
    assert not all(a["table"]["kept"])  # the step did drop something
    s2 = split.copy()
    s2.loc[:3, "y"] = 1 - s2.loc[:3, "y"]  # training labels: the comparison is sensitive
    assert _fit(tmp_path / "c", X, s2) != a
