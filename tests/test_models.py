"""The model zoo's SVM: Platt scaling written the way scikit-learn >= 1.9 asks, checked by hand."""

import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

from axilla.models import PlattSVC, make_classifier


def _data(n=90, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] - 0.5 * X[:, 1] + rng.normal(size=n) > 0).astype(int)


def test_platt_svc_never_ranks_patients_against_its_own_decisions(caplog):
    """Pairs of opposite-label points 0.05 apart: an RBF SVC with a narrow kernel memorises them,
    so each held-out fold's decision values rank the outcome backwards and Platt's sigmoid comes
    out decreasing (probability AUC 0 while the decision AUC is 1). The probability is then the
    training prevalence, with a warning, never an inverted ranking."""
    x = np.repeat(np.arange(20.0), 2) + np.tile([0, 0.05], 20)
    y = np.tile([1, 0, 1, 1], 10)
    X = x[:, None]
    oof = np.empty(len(y))
    for fit, held in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        oof[held] = SVC(C=100, gamma=50).fit(X[fit], y[fit]).decision_function(X[held])
    assert roc_auc_score(y, oof) < 0.5  # the premise: out-of-fold decisions rank backwards
    with caplog.at_level("WARNING"):
        m = PlattSVC(C=100, gamma=50, random_state=0).fit(X, y)
    assert m.inverted_sigmoid_ and "training prevalence" in caplog.text
    np.testing.assert_allclose(m.predict_proba(X)[:, 1], y.mean(), rtol=1e-12)
    assert roc_auc_score(y, m.decision_function(X)) == 1.0
    Xg, yg = _data()
    assert not PlattSVC(C=2.0, random_state=3).fit(Xg, yg).inverted_sigmoid_  # an ordinary fit is untouched


def test_platt_svc_equals_sigmoid_fitted_on_out_of_fold_decision_values():
    X, y = _data()
    m = PlattSVC(C=2.0, random_state=3).fit(X, y)
    # by hand: out-of-fold SVC decision values on the same seeded folds, then Platt's a, b
    oof = np.empty(len(y))
    for fit, held in StratifiedKFold(5, shuffle=True, random_state=3).split(X, y):
        oof[held] = SVC(C=2.0).fit(X[fit], y[fit]).decision_function(X[held])
    cal = m.calibrated_.calibrated_classifiers_[0].calibrators[0]
    full = SVC(C=2.0).fit(X, y)
    np.testing.assert_allclose(m.decision_function(X), full.decision_function(X), rtol=1e-10)
    np.testing.assert_allclose(m.predict_proba(X)[:, 1], expit(-(cal.a_ * full.decision_function(X) + cal.b_)),
                               rtol=1e-10)
    # Platt (1999): (a, b) minimise the cross-entropy on the oof values against his smoothed
    # targets (n+ + 1)/(n+ + 2) and 1/(n- + 2), so no nearby (a, b) does better
    n1, n0 = y.sum(), (1 - y).sum()
    t = np.where(y == 1, (n1 + 1) / (n1 + 2), 1 / (n0 + 2))

    def nll(a, b):
        p = np.clip(expit(-(a * oof + b)), 1e-12, 1 - 1e-12)
        return -np.sum(t * np.log(p) + (1 - t) * np.log(1 - p))
    best = nll(cal.a_, cal.b_)
    for da, db in [(0.01, 0), (-0.01, 0), (0, 0.01), (0, -0.01)]:
        assert nll(cal.a_ + da, cal.b_ + db) > best - 1e-9
    assert cal.a_ < 0  # higher decision value -> higher probability


def test_platt_svc_is_seeded_and_tunable_without_deprecation_warnings():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        a = make_classifier({"name": "svm", "tune": {"folds": 3, "grid": {"C": [0.5, 2.0]}}}, 7).fit(X, y)
        b = make_classifier({"name": "svm", "tune": {"folds": 3, "grid": {"C": [0.5, 2.0]}}}, 7).fit(X, y)
    assert a.best_params_ == b.best_params_ and set(a.best_params_) == {"C"}
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.predict_proba(X).shape == (len(y), 2)
    with pytest.raises(TypeError):
        PlattSVC(probability=True)
