"""LassoSelector against glmnet's definitions (R is not available here, so glmnet cannot run).

glmnet (family="binomial", alpha=1, standardize=TRUE) is defined by four things; each is checked
here against an independent computation written in this file:

(a) the λ scale and path: x standardised with population SD, λ_max = max_j |x_jᵀ(y − ȳ)|/n is
    the smallest λ whose solution is all-zero (checked by fitting just above and just below it),
    and the path runs log-linearly from λ_max down to λ_max·lambda.min.ratio (0.01 if n < p,
    else 1e-4);
(b) the objective −loglik/n + λ‖β‖₁ with an unpenalised intercept. A convex problem's solution
    is characterised by its KKT conditions, so if every fit on the path satisfies glmnet's KKT
    conditions (x_jᵀ(y − p)/n = λ·sign(β_j) for β_j ≠ 0, |x_jᵀ(y − p)/n| <= λ for β_j = 0,
    Σ(y − p) = 0), the fit IS glmnet's solution at that λ, whatever solver produced it. This also
    verifies the mapping C = 1/(n·λ) (a wrong mapping, C = 1/λ, fails the same check);
(c) cv.glmnet's CV: per-observation binomial deviance of the held-out fold (p clamped to
    [1e-5, 1 − 1e-5]), cvm and cvsd as in cvcompute/cvstats (grouped by fold when there are >= 3
    observations per fold, else ungrouped), λ_min and λ_1se as in getOptcv.glmnet. The test
    recomputes all of it by brute force from its own fold fits (StandardScaler + sklearn per fold)
    with the same fixed foldid and compares; and the selected set must equal the nonzero set of a
    fresh fit at the chosen λ.

Together: same standardisation, same λ grid, same optimum at each λ, same CV curve and rule,
hence the same selection as cv.glmnet given the same foldid (up to solver tolerance ~1e-5).
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from axilla.select import LassoSelector


def _table(n=80, p=12, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.5, 20, p) + rng.uniform(-5, 5, p)  # raw scales differ
    Zt = (X - X.mean(0)) / X.std(0)
    eta = 1.2 * Zt[:, 0] - 0.9 * Zt[:, 1] + 0.6 * Zt[:, 2] - 0.2
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame(X, columns=[f"f{j}" for j in range(p)]), y


def _zscore(X):
    return StandardScaler().fit_transform(np.asarray(X, float))  # population SD, like glmnet


def _kkt_violation(Z, y, beta, b0, lam):
    p = 1 / (1 + np.exp(-(Z @ beta + b0)))
    g = Z.T @ (y - p) / len(y)
    nz = beta != 0
    active = np.abs(g[nz] - lam * np.sign(beta[nz])).max() if nz.any() else 0.0
    inactive = max(0.0, np.abs(g[~nz]).max() - lam) if (~nz).any() else 0.0
    return max(active, inactive, abs(np.mean(y - p)))


@pytest.fixture(scope="module")
def fitted():
    X, y = _table()
    return X, y, LassoSelector(n_lambda=30, random_state=0).fit(X, y)


def test_lambda_max_is_the_smallest_all_zero_lambda(fitted):
    X, y, sel = fitted
    Z, n = _zscore(X), len(y)
    lam_max = np.abs(Z.T @ (y - y.mean())).max() / n
    assert sel.lambda_max_ == pytest.approx(lam_max, rel=1e-12)
    assert sel.lambdas_[0] == pytest.approx(lam_max, rel=1e-12)

    def coefs(lam):
        return LogisticRegression(**sel.solver_params_, C=1 / (n * lam)).fit(Z, y).coef_.ravel()

    assert not coefs(lam_max * 1.001).any()
    assert coefs(lam_max * 0.999).any()
    assert not sel.coef_path_.iloc[0].any() and sel.coef_path_.iloc[1].any()


def test_path_is_glmnets_log_grid():
    X, y = _table(n=80, p=12)
    sel = LassoSelector(n_lambda=20, random_state=0).fit(X, y)  # n >= p: ratio 1e-4
    assert np.allclose(np.diff(np.log(sel.lambdas_)), np.log(1e-4) / 19)
    Xw, yw = _table(n=30, p=40, seed=5)
    wide = LassoSelector(n_lambda=20, random_state=0).fit(Xw, yw)  # n < p: ratio 0.01
    assert wide.lambdas_[-1] / wide.lambdas_[0] == pytest.approx(0.01)


def test_every_fit_on_the_path_satisfies_glmnets_kkt_conditions(fitted):
    X, y, sel = fitted
    Z = _zscore(X)
    for lam, beta, b0 in zip(sel.lambdas_, sel.coef_path_.to_numpy(), sel.intercept_path_.to_numpy()):
        assert _kkt_violation(Z, y, beta, b0, lam) < 1e-4, lam
    assert sel.kkt_violation_.max() < 1e-4  # its own check, which also covers every fold fit
    # the same check rejects a wrong penalty mapping, so it has the power to tell
    lam = sel.lambdas_[10]
    wrong = LogisticRegression(**sel.solver_params_, C=1 / lam).fit(Z, y)
    assert _kkt_violation(Z, y, wrong.coef_.ravel(), wrong.intercept_[0], lam) > 1e-3


def test_original_scale_coefficients_give_the_same_linear_predictor(fitted):
    X, y, sel = fitted
    Z = _zscore(X)
    eta_std = sel.intercept_std_ + Z @ sel.coef_std_.to_numpy()
    assert np.allclose(sel.score(X).to_numpy(), eta_std, atol=1e-9)


def _brute_force_cv(X, y, foldid, lambdas, solver_params):
    """cv.glmnet's cvm, cvsd, lambda.min, lambda.1se, re-derived without the module's code."""
    X = np.asarray(X, float)
    n, L = len(y), len(lambdas)
    dev = np.full((n, L), np.nan)
    for k in np.unique(foldid):
        tr, te = foldid != k, foldid == k
        scaler = StandardScaler().fit(X[tr])
        for j, lam in enumerate(lambdas):
            m = LogisticRegression(**solver_params, C=1 / (tr.sum() * lam)).fit(scaler.transform(X[tr]), y[tr])
            p = np.clip(m.predict_proba(scaler.transform(X[te]))[:, 1], 1e-5, 1 - 1e-5)
            dev[te, j] = -2 * (y[te] * np.log(p) + (1 - y[te]) * np.log(1 - p))
    folds = np.unique(foldid)
    K = len(folds)
    cvm, cvsd = np.zeros(L), np.zeros(L)
    for j in range(L):
        if n / K >= 3:  # cvcompute: per-fold weighted means, weights = fold sizes
            w = [np.sum(foldid == k) for k in folds]
            means = [np.mean(dev[foldid == k, j]) for k in folds]
            cvm[j] = sum(wi * mi for wi, mi in zip(w, means)) / sum(w)
            var = sum(wi * (mi - cvm[j]) ** 2 for wi, mi in zip(w, means)) / sum(w)
            cvsd[j] = np.sqrt(var / (K - 1))
        else:  # grouped=FALSE: observations are the units
            cvm[j] = np.mean(dev[:, j])
            cvsd[j] = np.sqrt(np.mean((dev[:, j] - cvm[j]) ** 2) / (n - 1))
    lam_min = max(lam for lam, c in zip(lambdas, cvm) if c <= cvm.min())
    i = list(lambdas).index(lam_min)
    lam_1se = max(lam for lam, c in zip(lambdas, cvm) if c <= cvm[i] + cvsd[i])
    return cvm, cvsd, lam_min, lam_1se


# liblinear may call accurate fits unconverged (see LassoSelector._path); the module ignores it too
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n,p,k", [(80, 12, 5), (14, 4, 5)], ids=["grouped", "ungrouped"])
def test_cv_curve_and_lambda_rules_match_cv_glmnet(n, p, k):
    X, y = _table(n=n, p=p, seed=11)
    if n < 20:  # two of each class per training fold at least
        y = np.array([0, 1] * (n // 2))
    foldid = np.random.default_rng(1).permutation(np.arange(n) % k) + 1  # R-style 1..K labels
    sel = LassoSelector(n_lambda=25, foldid=foldid, random_state=0).fit(X, y)
    cvm, cvsd, lam_min, lam_1se = _brute_force_cv(X, y, foldid, sel.lambdas_, sel.solver_params_)
    assert np.allclose(sel.cv_mean_, cvm, rtol=1e-6, atol=1e-9)
    assert np.allclose(sel.cv_se_, cvsd, rtol=1e-6, atol=1e-9)
    assert sel.lambda_min_ == lam_min and sel.lambda_1se_ == lam_1se
    assert lam_1se >= lam_min


def test_selected_set_is_the_nonzero_set_at_the_chosen_lambda(fitted):
    X, y, sel = fitted
    assert sel.fallback_ is None and sel.lambda_ == sel.lambda_1se_
    Z, n = _zscore(X), len(y)
    m = LogisticRegression(**sel.solver_params_, C=1 / (n * sel.lambda_1se_)).fit(Z, y)
    assert set(X.columns[m.coef_.ravel() != 0]) == set(sel.selected_)
    assert {"f0", "f1"} <= set(sel.selected_)
    mn = LassoSelector(n_lambda=30, rule="min", random_state=0).fit(X, y)
    m = LogisticRegression(**sel.solver_params_, C=1 / (n * mn.lambda_min_)).fit(Z, y)
    assert set(X.columns[m.coef_.ravel() != 0]) == set(mn.selected_)
