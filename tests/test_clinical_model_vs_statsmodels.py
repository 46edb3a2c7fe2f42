"""Clinical-model statistics (axilla.select.clinical) pinned to independently computed values.

References: statsmodels' Logit and variance_inflation_factor called directly; a logistic
regression fitted here by Newton–Raphson in NumPy (Wald SE from the inverse information); VIF as
1 / (1 − R²) from least squares, and in closed form for two columns of known correlation. The
stepwise table is built so its removal order is known: ``n1`` takes the same rows twice with
opposite signs, so by symmetry of the likelihood its coefficient is exactly 0 in every model (Wald
p = 1, and dropping it lowers the AIC by exactly 2, the most any removal can); ``n2`` is noise; x1
and x2 carry the signal.
"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.special import expit
from statsmodels.stats.outliers_influence import variance_inflation_factor

from axilla.select.clinical import StepwiseSelector, UnivariateLogitFilter, univariate_table, vif

Z975 = stats.norm.ppf(0.975)


def _mle(X: pd.DataFrame, y: np.ndarray) -> dict:
    """Logistic regression with intercept by Newton–Raphson: coef, Wald SE and p, log-likelihood."""
    A = np.column_stack([np.ones(len(X)), X.to_numpy(float)])
    b = np.zeros(A.shape[1])
    for _ in range(100):
        p = expit(A @ b)
        info = A.T @ (A * (p * (1 - p))[:, None])
        step = np.linalg.solve(info, A.T @ (y - p))
        b += step
        if np.abs(step).max() < 1e-12:
            break
    p = expit(A @ b)
    se = np.sqrt(np.diag(np.linalg.inv(A.T @ (A * (p * (1 - p))[:, None]))))
    names = ["(intercept)", *X.columns]
    return {"coef": pd.Series(b, names), "se": pd.Series(se, names),
            "p": pd.Series(2 * stats.norm.sf(np.abs(b / se)), names),
            "llf": float(np.sum(y * np.log(p) + (1 - y) * np.log1p(-p))), "k": A.shape[1]}


def _aic(X, y) -> float:
    f = _mle(X, y)
    return 2 * f["k"] - 2 * f["llf"]


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(20240605)
    m = 45
    base = pd.DataFrame({"x1": rng.normal(size=m), "x2": rng.normal(size=m), "n2": rng.normal(size=m)})
    y = (rng.random(m) < expit(-0.3 + 1.4 * base.x1 + 0.9 * base.x2)).astype(float)
    X = pd.concat([base.assign(n1=1.0), base.assign(n1=-1.0)], ignore_index=True)[["x1", "n1", "x2", "n2"]]
    return X, np.concatenate([y, y])


def test_univariate_or_ci_p_equal_statsmodels_and_newton(table):
    X, y = table
    X = X.assign(age=np.round(50 + 10 * X.x1 + 3 * X.n2), const=7.0)
    got = univariate_table(X, y).set_index("term")
    for c in ["x1", "n1", "x2", "n2", "age"]:
        fit = sm.Logit(y, sm.add_constant(X[[c]])).fit(disp=0)
        ci = np.exp(fit.conf_int(0.05).loc[c])
        np.testing.assert_allclose(got.loc[c, ["odds_ratio", "or_ci_low", "or_ci_high", "p"]].to_numpy(float),
                                   [np.exp(fit.params[c]), ci.iloc[0], ci.iloc[1], fit.pvalues[c]], rtol=1e-6)
        own = _mle(X[[c]], y)
        b, se = own["coef"][c], own["se"][c]
        np.testing.assert_allclose(got.loc[c, ["coef", "se", "p"]].to_numpy(float), [b, se, own["p"][c]], rtol=1e-6,
                                   atol=1e-12)  # n1's coefficient is 0
        np.testing.assert_allclose(got.loc[c, ["or_ci_low", "or_ci_high"]].to_numpy(float),
                                   np.exp([b - Z975 * se, b + Z975 * se]), rtol=1e-6)
    # The mirrored column carries no information: OR 1, p 1 (by construction, not estimation).
    assert got.loc["n1", "odds_ratio"] == pytest.approx(1.0, abs=1e-9) and got.loc["n1", "p"] == pytest.approx(1.0)
    # A constant has no regression: reported as OR 1, p 1 rather than failing the whole table.
    assert got.loc["const", "odds_ratio"] == 1.0 and got.loc["const", "p"] == 1.0


def test_univariate_filter_keeps_p_below_threshold(table):
    X, y = table
    f = UnivariateLogitFilter(p_threshold=0.05).fit(X, y)
    p = {c: _mle(X[[c]], y)["p"][c] for c in X.columns}
    assert f.selected_ == [c for c in X.columns if p[c] < 0.05]
    assert not f.fallback_


def _reference_backward(X, y, criterion, p_remove=0.05):
    """Backward elimination done by hand with the NumPy fit: [(removed, value)], kept terms."""
    terms, out = list(X.columns), []
    while len(terms) > 1:
        if criterion == "p":
            p = _mle(X[terms], y)["p"].drop("(intercept)")
            if p.max() < p_remove:
                break
            out.append((p.idxmax(), p.max()))
            terms.remove(p.idxmax())
        else:
            now = _aic(X[terms], y)
            trial = {t: _aic(X[[u for u in terms if u != t]], y) for t in terms}
            best = min(trial, key=trial.get)
            if not trial[best] < now:
                break
            out.append((best, trial[best]))
            terms.remove(best)
    return out, terms


@pytest.mark.parametrize("criterion", ["p", "aic"])
def test_backward_stepwise_drops_in_the_known_order(table, criterion):
    X, y = table
    ref, kept = _reference_backward(X, y, criterion)
    # The designed order: the mirrored column, then the noise column; the signal stays.
    assert [r for r, _ in ref] == ["n1", "n2"] and kept == ["x1", "x2"]
    if criterion == "aic":  # dropping a zero coefficient saves exactly one parameter's 2
        assert _aic(X, y) - ref[0][1] == pytest.approx(2.0, abs=1e-9)
    sel = StepwiseSelector(criterion=criterion, p_remove=0.05, max_vif=None).fit(X, y)
    assert sel.history_.removed.tolist() == ["n1", "n2"] and set(sel.history_.reason) == {criterion}
    np.testing.assert_allclose(sel.history_.value.to_numpy(float), [v for _, v in ref], rtol=1e-6)
    assert sel.selected_ == kept
    final = _mle(X[kept], y)
    t = sel.table_.set_index("term")
    np.testing.assert_allclose(t.loc[kept, "odds_ratio"], np.exp(final["coef"][kept]), rtol=1e-6)
    np.testing.assert_allclose(t.loc[kept, "p"], final["p"][kept], rtol=1e-6)
    assert sel.aic_ == pytest.approx(2 * final["k"] - 2 * final["llf"], rel=1e-9)


def test_stepwise_by_p_keeps_one_term_when_nothing_is_significant(table):
    X, y = table
    noise = X[["n1", "n2"]].assign(n3=np.tile(np.linspace(-1, 1, len(X) // 2), 2))
    ref, kept = _reference_backward(noise, y, "p")
    sel = StepwiseSelector(criterion="p", max_vif=None).fit(noise, y)
    assert sel.history_.removed.tolist() == [r for r, _ in ref] and sel.selected_ == kept and len(kept) == 1


def _vif_by_hand(X: pd.DataFrame) -> pd.Series:
    out = {}
    for c in X.columns:
        A = np.column_stack([np.ones(len(X)), X.drop(columns=c).to_numpy(float)])
        x = X[c].to_numpy(float)
        resid = x - A @ np.linalg.lstsq(A, x, rcond=None)[0]
        r2 = 1 - resid @ resid / np.sum((x - x.mean()) ** 2)
        out[c] = 1 / (1 - r2)
    return pd.Series(out)


def test_vif_two_columns_of_known_correlation():
    # x1, x2 with sample correlation exactly r: R² of either on the other is r², VIF = 1 / (1 − r²).
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(np.column_stack([np.ones(30), rng.normal(size=(30, 2))]))
    z1, z2 = q[:, 1], q[:, 2]  # centred, orthonormal
    r = 0.8
    X = pd.DataFrame({"x1": 5 + 2 * z1, "x2": -1 + 0.5 * (r * z1 + np.sqrt(1 - r**2) * z2)})
    np.testing.assert_allclose(vif(X), [1 / (1 - r**2)] * 2, rtol=1e-10)
    assert vif(X[["x1"]]).tolist() == [1.0]


def test_vif_equals_one_over_one_minus_r2_and_statsmodels(table):
    X, _ = table
    X = X.assign(x3=X.x1 + 0.5 * X.x2 + 0.3 * X.n2**2)  # correlated, not collinear
    got = vif(X)
    np.testing.assert_allclose(got, _vif_by_hand(X), rtol=1e-9)
    design = sm.add_constant(X).to_numpy()
    np.testing.assert_allclose(got, [variance_inflation_factor(design, j) for j in range(1, design.shape[1])],
                               rtol=1e-9)


def test_stepwise_drops_the_largest_vif_first(table):
    X, y = table
    X = X.assign(x1b=X.x1 + 0.1 * np.tanh(X.n2))  # near-copy of x1 (not an exact linear combination)
    by_hand = _vif_by_hand(X)
    sel = StepwiseSelector(criterion="p", max_vif=10).fit(X, y)
    first = sel.history_.iloc[0]
    assert first.reason == "vif" and first.removed == by_hand.idxmax() and by_hand.max() > 10
    assert first.value == pytest.approx(by_hand.max(), rel=1e-9)
    # After it, every remaining VIF is below the bound, so the rest is p-value elimination.
    assert (sel.history_.reason.iloc[1:] == "p").all()
    assert (_vif_by_hand(X.drop(columns=first.removed)) <= 10).all()
    np.testing.assert_allclose(sel.vif_, _vif_by_hand(X[sel.selected_]) if len(sel.selected_) > 1 else [1.0],
                               rtol=1e-9)
