"""Factor-wise clinical selection: the indicator columns of one categorical variable enter and
leave the univariate filter and backward stepwise regression together, tested on the factor's df.

References: statsmodels Logit fits made in the test (likelihood-ratio statistics 2·ΔLL on df,
joint Wald tests from ``wald_test``, AICs), a backward elimination written out here over the
hand-made terms, and the VIF as 1 / (1 − R²) from least squares.
"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.special import expit

from axilla.features import ClinicalEncoder
from axilla.select import StepwiseSelector, UnivariateLogitFilter, build_chain, gvif, vif
from axilla.train import FeatureModel


def _logit(X, y):
    return sm.Logit(y, sm.add_constant(X.astype(float), has_constant="add")).fit(disp=0, method="newton",
                                                                               maxiter=200)


@pytest.fixture(scope="module")
def table():
    """x1, x2 signal; n1 noise; grade (3 levels) unrelated to y; margin: level b as the reference
    a, level c strongly positive (so margin=b alone is not significant, the factor is)."""
    rng = np.random.default_rng(11)
    n = 240
    raw = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "n1": rng.normal(size=n),
                        "grade": rng.choice(["1", "2", "3"], size=n), "margin": rng.choice(["a", "b", "c"], size=n)})
    lin = -0.6 + 1.0 * raw.x1 + 0.7 * raw.x2 + 1.6 * (raw.margin == "c")
    y = (rng.random(n) < expit(lin)).astype(int).to_numpy()
    enc = ClinicalEncoder({"x1": "numeric", "x2": "numeric", "n1": "numeric", "grade": "categorical",
                           "margin": "categorical"}).fit(raw)
    X = enc.transform(raw)
    assert list(X.columns) == ["x1", "x2", "n1", "grade=2", "grade=3", "margin=b", "margin=c"]
    terms = {"x1": ["x1"], "x2": ["x2"], "n1": ["n1"], "grade": ["grade=2", "grade=3"],
             "margin": ["margin=b", "margin=c"]}
    return X, y, terms


def _drop_value(X, y, terms, kept, t, how, fit):
    cols = [c for u in kept for c in terms[u]]
    rest = [c for u in kept if u != t for c in terms[u]]
    if how == "lr":
        return stats.chi2.sf(2 * (fit.llf - _logit(X[rest], y).llf), len(terms[t]))
    if how == "aic":
        return _logit(X[rest], y).aic
    R = np.zeros((len(terms[t]), len(cols) + 1))  # + const in column 0
    for i, c in enumerate(terms[t]):
        R[i, 1 + cols.index(c)] = 1.0
    return float(fit.wald_test(R, scalar=True).pvalue)


def _reference_backward(X, y, terms, how, p_remove=0.05):
    kept, out = list(terms), []
    while len(kept) > 1:
        fit = _logit(X[[c for u in kept for c in terms[u]]], y)
        vals = {t: _drop_value(X, y, terms, kept, t, how, fit) for t in kept}
        if how == "aic":
            t = min(vals, key=vals.get)
            if not vals[t] < fit.aic:
                break
        else:
            t = max(vals, key=vals.get)
            if not vals[t] >= p_remove:
                break
        out.append((t, vals[t], len(terms[t])))
        kept.remove(t)
    return out, kept


@pytest.mark.parametrize("criterion,test,how", [("p", "lr", "lr"), ("p", "wald", "wald"), ("aic", "wald", "aic")])
def test_backward_stepwise_removes_whole_factors(table, criterion, test, how):
    X, y, terms = table
    ref, kept = _reference_backward(X, y, terms, how)
    assert "grade" in [t for t, _, _ in ref] and "margin" in kept  # the design works
    sel = StepwiseSelector(criterion=criterion, p_remove=0.05, max_vif=None, test=test).fit(X, y)
    assert sel.history_.removed.tolist() == [t for t, _, _ in ref]
    np.testing.assert_allclose(sel.history_.value.to_numpy(float), [v for _, v, _ in ref], rtol=1e-6)
    assert sel.history_.df.tolist() == [d for _, _, d in ref]
    assert sel.selected_ == [c for c in X.columns if any(c in terms[t] for t in kept)]
    assert {"margin=b", "margin=c"} <= set(sel.selected_)  # the factor stays whole...
    final = _logit(X[sel.selected_], y)
    if criterion == "p":  # ...although margin=b alone would go by its own Wald p
        assert final.pvalues["margin=b"] >= 0.05
    np.testing.assert_allclose(sel.table_.set_index("term").loc[sel.selected_, "coef"], final.params[sel.selected_],
                               rtol=1e-6)
    assert sel.aic_ == pytest.approx(final.aic, rel=1e-9)


def test_lr_of_dropping_a_three_level_factor_is_two_delta_ll_on_two_df(table):
    X, y, _ = table
    Z = X[["x1", "grade=2", "grade=3"]]
    full, reduced = _logit(Z, y), _logit(Z[["x1"]], y)
    lr = 2 * (full.llf - reduced.llf)
    sel = StepwiseSelector(criterion="p", test="lr", max_vif=None, p_remove=0.05).fit(Z, y)
    first = sel.history_.iloc[0]
    assert (first.removed, first.reason, first.df) == ("grade", "lr", 2)
    assert first.value == pytest.approx(stats.chi2.sf(lr, 2), rel=1e-8)
    assert sel.selected_ == ["x1"]
    # AIC: the factor's removal saves two parameters
    assert full.aic - reduced.aic == pytest.approx(2 * 2 - lr, rel=1e-9)
    aic = StepwiseSelector(criterion="aic", max_vif=None).fit(Z, y)
    if reduced.aic < full.aic:
        assert aic.history_.iloc[0].value == pytest.approx(reduced.aic, rel=1e-9)
    else:  # 2·ΔLL above 4 (two parameters' worth): the factor stays whole under AIC
        assert "grade" not in aic.history_.removed.tolist() and {"grade=2", "grade=3"} <= set(aic.selected_)
        assert aic.aic_ == pytest.approx(full.aic, rel=1e-9)


def test_univariate_filter_keeps_a_factor_whole_by_its_lr_test(table):
    X, y, _ = table
    f = UnivariateLogitFilter(p_threshold=0.05).fit(X, y)
    lr_margin = _logit(X[["margin=b", "margin=c"]], y).llr_pvalue
    lr_grade = _logit(X[["grade=2", "grade=3"]], y).llr_pvalue
    assert f.term_p_["margin"] == pytest.approx(lr_margin, rel=1e-8) and lr_margin < 0.05
    assert f.term_p_["grade"] == pytest.approx(lr_grade, rel=1e-8) and lr_grade >= 0.05
    assert f.term_p_["x1"] == pytest.approx(_logit(X[["x1"]], y).pvalues["x1"], rel=1e-8)
    assert {"margin=b", "margin=c"} <= set(f.selected_) and not {"grade=2", "grade=3"} & set(f.selected_)
    # the table stays per column (the odds-ratio rows of the report)
    assert f.table_.term.tolist() == list(X.columns)


def _r2_on(x, D):
    A = np.column_stack([np.ones(len(D)), D])
    r = x - A @ np.linalg.lstsq(A, x, rcond=None)[0]
    return 1 - r @ r / np.sum((x - x.mean()) ** 2)


def test_gvif_of_a_factor(table):
    X, _, _ = table
    Z = X[["x1", "margin=b", "margin=c"]].assign(x1=X.x1 + 0.8 * X["margin=c"])  # x1 related to the factor
    g = gvif(Z, {"x1": ["x1"], "margin": ["margin=b", "margin=c"]})
    # two terms: both GVIFs equal x1's VIF, 1 / (1 − R² of x1 on the factor's dummies)
    ref = 1 / (1 - _r2_on(Z.x1.to_numpy(), Z[["margin=b", "margin=c"]].to_numpy()))
    np.testing.assert_allclose(g.to_numpy(), [ref, ref], rtol=1e-9)
    # the factor's GVIF does not depend on its reference level (a instead of ... a as reference → b)
    alt = Z.assign(**{"margin=a": 1 - Z["margin=b"] - Z["margin=c"]})[["x1", "margin=a", "margin=c"]]
    np.testing.assert_allclose(gvif(alt, {"x1": ["x1"], "margin": ["margin=a", "margin=c"]}).to_numpy(), g.to_numpy(),
                               rtol=1e-9)
    # one-column terms: the ordinary VIF
    W = X[["x1", "x2", "n1"]]
    np.testing.assert_allclose(gvif(W, {c: [c] for c in W}).to_numpy(), vif(W).to_numpy(), rtol=1e-9)


def _gvif_by_hand(Z, own):
    R = np.corrcoef(Z.to_numpy(float), rowvar=False)
    i = [list(Z.columns).index(c) for c in own]
    j = [k for k in range(Z.shape[1]) if k not in i]
    return np.linalg.det(R[np.ix_(i, i)]) * np.linalg.det(R[np.ix_(j, j)]) / np.linalg.det(R)


def test_vif_step_compares_vif_and_gvif_to_the_power_one_over_df(table):
    X, y, terms = table
    # x3 nearly grade=3; stage is grade recoded in 3 of 240 patients: a second, collinear factor
    level = X["grade=2"] + 2 * X["grade=3"]
    level[::80] = (level[::80] + 1) % 3
    Z = X.assign(x3=X["grade=3"] + 0.1 * np.tanh(X.x2), **{"stage=2": (level == 1) * 1.0, "stage=3": (level == 2) * 1.0})
    terms = {**terms, "x3": ["x3"], "stage": ["stage=2", "stage=3"]}
    ref = {t: (1 / (1 - _r2_on(Z[c[0]].to_numpy(), Z.drop(columns=c).to_numpy())) if len(c) == 1
               else _gvif_by_hand(Z, c) ** (1 / len(c))) for t, c in terms.items()}
    assert ref["grade"] > 10 and ref["x3"] > 10 and ref["stage"] > 10  # all offend; the largest goes first
    sel = StepwiseSelector(criterion="p", max_vif=10).fit(Z, y)
    first = sel.history_.iloc[0]
    worst = max(ref, key=ref.get)
    assert (first.removed, first.reason, first.df) == (worst, "vif", len(terms[worst]))
    assert first.value == pytest.approx(ref[worst], rel=1e-8)
    vifs = sel.history_[sel.history_.reason == "vif"]
    assert "stage" in vifs.removed.tolist() or "grade" in vifs.removed.tolist()  # a factor, removed whole
    assert vifs[vifs.removed.isin(["stage", "grade"])].df.eq(2).all()
    for f in ("stage", "grade"):
        assert set(terms[f]) <= set(sel.selected_) or not set(terms[f]) & set(sel.selected_)
    assert (sel.gvif_ <= 10).all()


def test_chain_options_and_the_feature_model_keep_factors_whole(table):
    X, y, _ = table
    step = build_chain({"steps": ["stepwise"], "stepwise": {"test": "lr"}})["stepwise"]
    assert step.test == "lr" and build_chain({"steps": ["stepwise"]})["stepwise"].test == "wald"
    with pytest.raises(ValueError, match="test must be"):
        StepwiseSelector(test="score").fit(X, y)
    raw = X[["x1", "x2", "n1"]].assign(margin=np.select([X["margin=b"] == 1, X["margin=c"] == 1], ["b", "c"], "a"))
    raw.index = [f"P{i}" for i in range(len(raw))]
    m = FeatureModel(kinds={"margin": "categorical"}, select={"steps": ["variance", "ulogit", "stepwise"]},
                     classifier={"name": "lr", "params": {"C": np.inf}}).fit(raw, y)
    assert {"margin=b", "margin=c"} <= set(m.selected_)
