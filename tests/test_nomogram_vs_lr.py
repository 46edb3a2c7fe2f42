"""The nomogram reproduces its logistic regression: points per predictor, total points → probability
equal the LR's predicted probability, and the point scale follows rms::nomogram (the predictor with
the widest effect over its training range spans 0–100 points).

The reference is worked out here from the training table alone: z-scores with the population SD,
an independent scikit-learn LogisticRegression on them, slopes taken back to input units.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from axilla import nomogram
from axilla.train import FeatureModel

KINDS = {"age": "numeric", "tumor_mm": "numeric", "er": "categorical"}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 90
    X = pd.DataFrame({"age": np.round(55 + 10 * rng.normal(size=n)), "tumor_mm": 22 + 6 * rng.normal(size=n),
                      "er": rng.choice(["neg", "pos"], n)}, index=[f"P{i}" for i in range(n)])
    eta = -0.06 * (X.age - 55) + 0.15 * (X.tumor_mm - 22) + 0.5 * (X.er == "pos")
    y = (rng.random(n) < expit(eta)).astype(int)
    # Three evaluation rows; the last lies outside the training range (points beyond 0–100).
    new = pd.DataFrame({"age": [48.0, 71.0, 20.0], "tumor_mm": [30.5, 12.0, 60.0], "er": ["pos", "neg", "pos"]},
                       index=["E1", "E2", "E3"])
    return X, y, new


def _by_hand(X: pd.DataFrame, y, zscore: bool, C: float):
    """(intercept, slopes per input unit) of an LR fitted here, on the model's design columns."""
    D = pd.DataFrame({"age": X.age, "tumor_mm": X.tumor_mm, "er=pos": (X.er == "pos").astype(float)})
    mean, sd = D.mean(), D.std(ddof=0)  # population SD, as the chain's z-score
    Z = (D - mean) / sd if zscore else D
    lr = LogisticRegression(C=C, max_iter=10000, tol=1e-10).fit(Z.to_numpy(), y)
    b = pd.Series(lr.coef_[0], D.columns)
    b0 = lr.intercept_[0]
    if zscore:
        b0 -= float((b * mean / sd).sum())
        b = b / sd
    return b0, b, D


@pytest.mark.parametrize("steps, C", [(["zscore"], 1.0), (["variance", "zscore"], np.inf), (["variance"], 1.0)],
                         ids=["zscore-L2", "zscore-unpenalised", "raw-L2"])
def test_points_give_the_lr_probability(data, steps, C):
    X, y, new = data
    model = FeatureModel(kinds=KINDS, select={"steps": steps}, classifier={"name": "lr", "params": {"C": C}}).fit(X, y)
    pts = nomogram.patient_points(model, new)
    axes = nomogram.point_scale(model)
    prob = nomogram.points_to_probability(pts.total, axes)
    np.testing.assert_allclose(prob, model.predict_proba(new)[:, 1], atol=1e-9)

    b0, b, D = _by_hand(X, y, zscore="zscore" in steps, C=C)
    Dn = pd.DataFrame({"age": new.age, "tumor_mm": new.tumor_mm, "er=pos": (new.er == "pos").astype(float)})
    np.testing.assert_allclose(prob, expit(b0 + Dn @ b), atol=1e-6)
    # rms convention by hand: points = 100 · b · (x − x₀) / max_j |b_j| · range_j, where x₀ is the
    # end of the training range with the lower linear predictor.
    lo, hi = D.min(), D.max()
    per_point = 100 / (b.abs() * (hi - lo)).max()
    x0 = pd.Series(np.where(b >= 0, lo, hi), b.index)
    want = (Dn - x0) * b * per_point
    np.testing.assert_allclose(pts[list(b.index)], want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(pts.total, want.sum(axis=1), rtol=1e-5, atol=1e-4)
    assert pts.loc["E3", "tumor_mm"] > 100 or pts.loc["E3", "age"] > 100  # extrapolated past the ruler


def test_widest_predictor_spans_0_to_100(data):
    X, y, _ = data
    model = FeatureModel(kinds=KINDS, select={"steps": ["zscore"]}).fit(X, y)
    points, prob, meta = nomogram.nomogram_table(model)
    b0, b, D = _by_hand(X, y, zscore=True, C=1.0)
    widest = (b.abs() * (D.max() - D.min())).idxmax()
    span = points.groupby("predictor").points.agg(["min", "max"])
    assert span.loc[widest].tolist() == pytest.approx([0.0, 100.0], abs=1e-9)
    assert (span["min"].abs() < 1e-9).all() and (span["max"] <= 100 + 1e-9).all()
    assert (span.drop(widest)["max"] < 100).all()
    # A protective predictor (age, b < 0) scores 0 at its oldest training value.
    assert b["age"] < 0
    age = points[points.predictor == "age"]
    assert age.loc[age.points.idxmin(), "value"] == X.age.max()
    # A one-hot level has ticks at 0 and 1 only.
    assert sorted(points[points.predictor == "er=pos"].value) == [0.0, 1.0]
    # Total-points axis: 0 to the sum of the predictors' maxima, mapped to probability exactly.
    assert prob.total_points.iloc[-1] == pytest.approx(span["max"].sum())
    np.testing.assert_allclose(prob.probability, expit(b0 + (b * np.where(b >= 0, D.min(), D.max())).sum()
                                                      + prob.total_points / meta["points_per_unit_logit"]),
                               atol=1e-6)


def test_nomogram_needs_a_linear_classifier(data):
    X, y, _ = data
    model = FeatureModel(kinds=KINDS, select={"steps": ["zscore"]}, classifier={"name": "nb"}).fit(X, y)
    with pytest.raises(ValueError, match="logistic-regression"):
        nomogram.patient_points(model, X.iloc[:3])
