"""SMOTE as a selection-chain step (seed 001: k = 5 on the training partition, before z-scoring).

References: imbalanced-learn's SMOTE / SMOTENC and scikit-learn's StandardScaler and
LogisticRegression called directly in the test on the training rows; the leakage runs of
test_no_leakage (held-out labels flipped, held-out features scrambled).
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE, SMOTENC
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from axilla import select
from axilla.features import ClinicalEncoder
from axilla.select import SMOTEStep, build_chain
from axilla.train import FeatureModel, run_feature_model
from test_no_leakage import KINDS, _data, _tamper, selection_model


def _imbalanced(seed=0, n=70, p=6):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    X = pd.DataFrame(rng.normal(size=(n, p)) + 0.8 * y[:, None] * (np.arange(p) < 2),
                     columns=[f"f{j}" for j in range(p)], index=[f"P{i:03d}" for i in range(n)])
    return X, y


def test_funnel_shows_the_step_and_later_steps_see_the_balanced_rows():
    X, y = _imbalanced()
    chain = build_chain({"steps": ["smote", "zscore"]}, random_state=4).fit(X, y)
    assert chain.funnel_.step.tolist() == ["smote", "zscore"]
    assert chain.funnel_.loc[0, ["n_in", "n_out"]].tolist() == [X.shape[1], X.shape[1]]
    Xs, ys = SMOTE(k_neighbors=5, random_state=4).fit_resample(X.to_numpy(), y)
    counts = np.bincount(ys)
    assert counts[0] == counts[1] == np.bincount(y).max() and len(ys) > len(y)
    # the z-score after SMOTE is fitted on the oversampled rows: imblearn's rows, StandardScaler's numbers
    sc = StandardScaler().fit(Xs)
    z = chain["zscore"]
    np.testing.assert_allclose(z.mean_.to_numpy(float), sc.mean_, rtol=1e-12)
    np.testing.assert_allclose(z.scale_.to_numpy(float), sc.scale_, rtol=1e-12)
    step = chain["smote"]
    assert (step.n_rows_in_, step.n_rows_out_) == (len(y), len(ys))
    np.testing.assert_array_equal(step.samples_, Xs[len(y):])
    assert step.class_counts_.tolist() == counts.tolist()


def test_transform_is_the_identity_on_held_out_rows():
    X, y = _imbalanced()
    held = _imbalanced(seed=9, n=13)[0]
    step = SMOTEStep(k_neighbors=5, random_state=0).fit(X, y)
    out = step.transform(held)
    pd.testing.assert_frame_equal(out, held)
    assert list(step.get_feature_names_out()) == list(X.columns)
    chain = build_chain({"steps": ["smote", "zscore"]}, random_state=0).fit(X, y)
    pd.testing.assert_frame_equal(chain.transform(held), chain["zscore"].transform(held))
    assert len(chain.transform(held)) == len(held)


def test_resample_gives_the_rows_the_later_steps_were_fitted_on_and_refuses_others():
    X, y = _imbalanced()
    chain = build_chain({"steps": ["variance", "smote", "zscore"]}, random_state=2).fit(X, y)
    Z, yz = chain.resample(X, y)
    Xs, ys = SMOTE(k_neighbors=5, random_state=2).fit_resample(X.to_numpy(), y)
    np.testing.assert_array_equal(yz, ys)
    np.testing.assert_allclose(Z.to_numpy(), StandardScaler().fit_transform(Xs), rtol=1e-10, atol=1e-12)
    assert list(Z.index[:len(X)]) == list(X.index) and Z.index[len(X)] == "smote_1"
    with pytest.raises(ValueError, match="training rows"):
        chain.resample(X.iloc[1:], y[1:])
    # without a resampling step: transform and the labels unchanged
    plain = build_chain({"steps": ["zscore"]}, random_state=2).fit(X, y)
    Zp, yp = plain.resample(X, y)
    pd.testing.assert_frame_equal(Zp, plain.transform(X))
    assert yp is y


def test_same_seed_same_rows_other_seed_other_rows():
    X, y = _imbalanced()
    a = SMOTEStep(random_state=5).fit(X, y).samples_
    b = SMOTEStep(random_state=5).fit(X, y).samples_
    c = SMOTEStep(random_state=6).fit(X, y).samples_
    np.testing.assert_array_equal(a, b)
    assert a.shape == c.shape and not np.array_equal(a, c)


def test_k_neighbors_option_and_refusals():
    X, y = _imbalanced()
    chain = build_chain({"steps": ["smote"], "smote": {"k_neighbors": 3}}, random_state=1).fit(X, y)
    Xs, _ = SMOTE(k_neighbors=3, random_state=1).fit_resample(X.to_numpy(), y)
    np.testing.assert_array_equal(chain["smote"].samples_, Xs[len(X):])
    assert build_chain({"steps": ["smote"]})["smote"].k_neighbors == 5  # the schema's default
    with pytest.raises(ValueError, match=r"needs numeric columns.*'margin'"):
        SMOTEStep().fit(X.assign(margin=np.where(y == 1, "spiculated", "round")), y)
    with pytest.raises(ValueError, match="missing values"):
        SMOTEStep().fit(X.assign(f0=X.f0.where(X.index != "P000")), y)
    few = np.zeros(len(y), int)
    few[:3] = 1
    with pytest.raises(ValueError, match="minority class has 3"):
        SMOTEStep(k_neighbors=5).fit(X, few)
    with pytest.raises(ValueError, match="unknown option"):
        build_chain({"steps": ["smote"], "smote": {"k": 3}})


def test_one_hot_factors_are_oversampled_as_one_categorical_feature():
    rng = np.random.default_rng(3)
    n = 80
    y = (rng.random(n) < 0.3).astype(int)
    raw = pd.DataFrame({"age": 50 + 8 * rng.normal(size=n) + 4 * y, "size": rng.gamma(3, size=n),
                        "margin": rng.choice(["a", "b", "c"], size=n)}, index=[f"P{i}" for i in range(n)])
    X = ClinicalEncoder({"age": "numeric", "size": "numeric", "margin": "categorical"}).fit(raw).transform(raw)
    assert list(X.columns) == ["age", "size", "margin=b", "margin=c"]
    step = SMOTEStep(k_neighbors=5, random_state=0)
    Xr, yr = step.fit_resample(X, y)
    dummies = Xr[["margin=b", "margin=c"]].to_numpy()
    assert np.isin(dummies, (0.0, 1.0)).all() and (dummies.sum(axis=1) <= 1).all()
    # reference: SMOTE-NC on the original levels, called here
    C = np.column_stack([X[["age", "size"]].to_numpy(), raw.margin.map({"a": 0, "b": 1, "c": 2}).to_numpy()])
    Cr, yc = SMOTENC(categorical_features=[2], k_neighbors=5, random_state=0).fit_resample(C, y)
    np.testing.assert_array_equal(yr, yc)
    np.testing.assert_allclose(Xr[["age", "size"]].to_numpy(), Cr[:, :2], rtol=1e-12)
    level = np.select([Xr["margin=b"] == 1, Xr["margin=c"] == 1], [1, 2], 0)
    np.testing.assert_array_equal(level, Cr[:, 2].astype(int))


def test_feature_model_classifier_is_fitted_on_the_oversampled_rows():
    X, y = _imbalanced(seed=4)
    clf = {"name": "lr", "params": {"C": 0.5}}
    m = FeatureModel(kinds={}, select={"steps": ["smote", "zscore"]}, random_state=3, classifier=clf).fit(X, y)
    Xs, ys = SMOTE(k_neighbors=5, random_state=3).fit_resample(X.to_numpy(), y)
    ref = LogisticRegression(C=0.5, max_iter=5000, tol=1e-8).fit(StandardScaler().fit_transform(Xs), ys)
    np.testing.assert_allclose(m.estimator_.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(m.estimator_.intercept_, ref.intercept_, rtol=1e-6, atol=1e-9)
    held = _imbalanced(seed=8, n=11)[0]
    np.testing.assert_allclose(m.predict_proba(held)[:, 1],
                               ref.predict_proba(StandardScaler().fit(Xs).transform(held.to_numpy()))[:, 1],
                               rtol=1e-6)


SMOTE_SEL = {"steps": ["variance", "smote", "zscore", "univariate", "lasso"], "smote": {"k_neighbors": 3},
             "univariate": {"p": 0.3}, "lasso": {"folds": 3, "rule": "min", "n_lambda": 20}}


def _state(d):
    with open(d / "model.pkl", "rb") as fh:
        m = pickle.load(fh)
    steps = m.chain_.named_steps
    return {"selected": m.selected_, "samples": steps["smote"].samples_.round(12).tolist(),
            "zmean": steps["zscore"].mean_.round(12).to_dict(), "lasso": steps["lasso"].coef_.round(12).to_dict(),
            "lr": np.round(m.estimator_.coef_, 12).tolist(), "funnel": m.chain_.funnel_.to_dict("records")}


def _fit(d, X, split):
    d.mkdir()
    select.run(selection_model(KINDS, SMOTE_SEL, 7), X, split, d / "sel.pkl", d / "selected.csv", d / "funnel.csv")
    run_feature_model(X, split, str(d / "sel.pkl"), 7, d / "model.pkl", d / "pred.csv")
    return d


def test_no_leakage_held_out_rows_and_labels_change_nothing_fitted(tmp_path):
    X, split = _data()
    a = _fit(tmp_path / "a", X, split)
    b = _fit(tmp_path / "b", *_tamper(X, split))
    sa = _state(a)
    assert sa == _state(b)
    assert len(sa["samples"]) > 0 and "smote" in pd.read_csv(a / "funnel.csv").step.tolist()
    pa, pb = (pd.read_csv(d / "pred.csv") for d in (a, b))
    train = pa.cohort == "train"
    pd.testing.assert_frame_equal(pa[train], pb[train])
    assert len(pa) == len(X)  # held-out patients predicted, never synthesised
    # the comparison is sensitive: one training label flipped changes what was fitted
    s2 = split.copy()
    s2.loc[0, "y"] = 1 - s2.loc[0, "y"]
    assert _state(_fit(tmp_path / "c", X, s2)) != sa


def test_bootstrap_resamples_with_repeated_patients_are_oversampled():
    # optimism bootstraps refit the whole model on rows drawn with replacement (repeated index labels)
    X, y = _imbalanced(seed=6)
    idx = np.random.default_rng(0).integers(0, len(y), len(y))
    Xb, yb = X.iloc[idx], y[idx]
    m = FeatureModel(kinds={}, select={"steps": ["smote", "zscore"]}, random_state=1).fit(Xb, yb)
    Xs, ys = SMOTE(k_neighbors=5, random_state=1).fit_resample(Xb.to_numpy(), yb)
    np.testing.assert_array_equal(m.chain_["smote"].samples_, Xs[len(yb):])
    with pytest.raises(ValueError, match="labelled like a synthetic"):
        SMOTEStep().fit(X.rename(index={"P000": "smote_1"}), y)
