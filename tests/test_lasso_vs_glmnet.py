"""LassoSelector against R's glmnet / cv.glmnet output (family="binomial", alpha=1, standardize=TRUE).

The fixtures in tests/data/glmnet/ are R's output, written by tests/reference/glmnet_lasso.R (its
header says how to regenerate them and which R / glmnet made them): three data sets with a fixed
foldid, R's default λ path, the path on glmnet's λ grid, cv.glmnet's cvm / cvsd, λ.min, λ.1se and
the coefficients at both. "grouped" (80 × 12, 5 folds) uses cv.glmnet's per-fold statistics;
"ungrouped" (14 × 4, folds of 2-3) the per-observation ones glmnet switches to below 3 per fold;
"wide" (30 × 40) has n < p, so glmnet's default path ends at 0.01·λ_max, and its 1-SE model is empty.

Tolerances. glmnet ran with thresh=1e-14, so the fixtures are glmnet's exact optimum for these
purposes; the differences are axilla's solver (liblinear). Each data set is fitted twice:
* with the solver tightened (tol=1e-12): the path, intercepts and CV curve must be glmnet's to
  ~1e-4 relative. The intercept floor (~1e-4) is liblinear's intercept_scaling=1e4, which leaves a
  penalty of λ/1e4 on the intercept (the KKT residual of that is ~2e-5);
* with the pipeline's solver settings (tol=1e-6): the choices the pipeline makes must be glmnet's
  (λ.min, λ.1se, the selected set, the coefficients at the chosen λ), and the path and CV curve
  agree down to λ.min. Past λ.min the default tolerance can be far off where the data are nearly
  separable ("ungrouped": standardised coefficients ~45, off by up to 0.45 at the path's end).
"""

import functools
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from axilla.select import LassoSelector

from conftest import TEST_DATA

GLMNET = TEST_DATA / "glmnet"
CASES = ["grouped", "ungrouped", "wide"]
TIGHT = dict(tol=1e-12, max_iter=100_000)


@functools.cache
def _reference(name):
    """One data set and R's output for it; coefficients also on glmnet's standardised scale."""
    def read(part):
        return pd.read_csv(GLMNET / f"{name}_{part}.csv")

    data, path, selected = read("data"), read("path"), read("selected").set_index("rule")
    X = data.drop(columns=["y", "foldid"])
    mean, sd = X.mean().to_numpy(), X.std(ddof=0).to_numpy()  # glmnet: population SD
    ref = SimpleNamespace(X=X, y=data["y"].to_numpy(), foldid=data["foldid"].to_numpy(), path=path,
                          cv=read("cv"), selected=selected, default_lambda=read("default_lambda")["lambda"],
                          Z=(X.to_numpy() - mean) / sd)
    beta = path[X.columns].to_numpy()
    ref.beta_std, ref.b0_std = beta * sd, path["a0"].to_numpy() + beta @ mean
    return ref


@functools.cache
def _fit(name, tight):
    ref = _reference(name)
    return LassoSelector(n_lambda=len(ref.path), foldid=ref.foldid, **(TIGHT if tight else {})).fit(ref.X, ref.y)


def _kkt_violation(Z, y, beta, b0, lam):
    """Distance from optimality for −loglik/n + λ‖β‖₁ (unpenalised intercept): 0 at the optimum."""
    p = 1 / (1 + np.exp(-(Z @ beta + b0)))
    g = Z.T @ (y - p) / len(y)
    nz = beta != 0
    active = np.abs(g[nz] - lam * np.sign(beta[nz])).max(initial=0.0)
    inactive = max(0.0, np.abs(g[~nz]).max(initial=0.0) - lam)
    return max(active, inactive, abs(np.mean(y - p)))


def _chosen(ref, sel):
    """R's row for the λ axilla used: λ.1se, or λ.min where glmnet's 1-SE model is empty."""
    one_se = ref.selected.loc["1se", ref.X.columns].to_numpy(float)
    return ref.selected.loc["min" if not one_se.any() else "1se"]


@pytest.mark.parametrize("name", CASES)
def test_lambda_grid_is_glmnets(name):
    ref, sel = _reference(name), _fit(name, tight=False)
    assert sel.lambda_max_ == pytest.approx(ref.default_lambda[0], rel=1e-12)
    np.testing.assert_allclose(sel.lambdas_, ref.path["lambda"], rtol=1e-12)
    # glmnet's own default path (it may stop early): same λ_max, same lambda.min.ratio, same steps
    np.testing.assert_allclose(sel.lambdas_[: len(ref.default_lambda)], ref.default_lambda, rtol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_path_is_glmnets(name):
    ref, sel, default = _reference(name), _fit(name, tight=True), _fit(name, tight=False)
    np.testing.assert_allclose(sel.coef_path_.to_numpy(), ref.beta_std, rtol=1e-4, atol=3e-5)
    np.testing.assert_allclose(sel.intercept_path_.to_numpy(), ref.b0_std, rtol=1e-4, atol=3e-4)
    for fit in (sel, default):  # the same features are active at every λ, first row all zero
        np.testing.assert_array_equal(fit.coef_path_.to_numpy() != 0, ref.beta_std != 0)
    assert not ref.beta_std[0].any() and ref.beta_std[1].any()


@pytest.mark.parametrize("name", CASES)
def test_cv_curve_is_cv_glmnets(name):
    ref, sel = _reference(name), _fit(name, tight=True)
    np.testing.assert_allclose(sel.cv_mean_, ref.cv["cvm"], rtol=1e-4, atol=3e-5)
    np.testing.assert_allclose(sel.cv_se_, ref.cv["cvsd"], rtol=1e-4, atol=3e-5)
    assert sel.lambda_min_ == pytest.approx(ref.selected.loc["min", "lambda"], rel=1e-12)
    assert sel.lambda_1se_ == pytest.approx(ref.selected.loc["1se", "lambda"], rel=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_pipeline_solver_makes_glmnets_choices(name):
    ref, sel = _reference(name), _fit(name, tight=False)
    assert sel.lambda_min_ == pytest.approx(ref.selected.loc["min", "lambda"], rel=1e-12)
    assert sel.lambda_1se_ == pytest.approx(ref.selected.loc["1se", "lambda"], rel=1e-12)
    row = _chosen(ref, sel)
    assert sel.fallback_ == (None if row.name == "1se" else "lambda_min")
    assert (row.name == "min") == (name == "wide")  # the fallback is exercised
    assert sel.lambda_ == pytest.approx(row["lambda"], rel=1e-12)
    coef = row[ref.X.columns].astype(float)
    assert list(sel.selected_) == list(coef.index[coef != 0])
    np.testing.assert_allclose(sel.coef_.to_numpy(), coef.to_numpy(), rtol=1e-3, atol=1e-4)
    assert sel.intercept_ == pytest.approx(row["a0"], abs=2e-3)
    # path and CV curve from λ_max down to λ.min
    k = int(np.flatnonzero(np.isclose(ref.path["lambda"], sel.lambda_min_, rtol=1e-12))[0]) + 1
    np.testing.assert_allclose(sel.coef_path_.to_numpy()[:k], ref.beta_std[:k], rtol=1e-2, atol=2e-3)
    np.testing.assert_allclose(sel.cv_mean_[:k], ref.cv["cvm"][:k], rtol=5e-3)
    np.testing.assert_allclose(sel.cv_se_[:k], ref.cv["cvsd"][:k], rtol=5e-3, atol=1e-3)


@pytest.mark.parametrize("name", CASES)
def test_kkt_check_is_glmnets_objective(name):
    ref, sel = _reference(name), _fit(name, tight=True)
    lambdas = ref.path["lambda"].to_numpy()
    for lam, beta, b0, mine, b0_mine in zip(lambdas, ref.beta_std, ref.b0_std, sel.coef_path_.to_numpy(),
                                            sel.intercept_path_.to_numpy()):
        assert _kkt_violation(ref.Z, ref.y, beta, b0, lam) < 1e-7, lam  # glmnet's fit: optimal
        assert _kkt_violation(ref.Z, ref.y, mine, b0_mine, lam) < 1e-4, lam
    assert sel.kkt_violation_.max() < 1e-4  # the module's own check, which also covers the fold fits
    # the check has power: glmnet's fit at λ.min is far from optimal at half that λ
    k = int(np.flatnonzero(np.isclose(lambdas, ref.selected.loc["min", "lambda"], rtol=1e-12))[0])
    assert _kkt_violation(ref.Z, ref.y, ref.beta_std[k], ref.b0_std[k], lambdas[k] / 2) > 1e-3


@pytest.mark.parametrize("name", CASES)
def test_linear_predictor_is_glmnets(name):
    ref, sel = _reference(name), _fit(name, tight=True)
    row = _chosen(ref, sel)
    eta = row["a0"] + ref.X.to_numpy() @ row[ref.X.columns].to_numpy(float)
    np.testing.assert_allclose(sel.linear_predictor(ref.X).to_numpy(), eta, atol=3e-4)
