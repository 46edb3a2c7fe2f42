"""The LASSO path and CV-curve tables the report draws come straight from the fitted selector."""

import numpy as np
import pandas as pd

from axilla.select import build_chain, lasso_tables


def test_lasso_tables_match_the_fitted_selector():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 12)), columns=[f"f{i}" for i in range(12)])
    y = (X.f0 - 0.8 * X.f3 + rng.normal(scale=0.8, size=80) > 0).astype(int).to_numpy()
    chain = build_chain({"steps": ["zscore", "lasso"], "lasso": {"folds": 3, "rule": "1se"}}).fit(X, y)
    lasso = chain.named_steps["lasso"]
    path, cv = lasso_tables(chain)

    assert list(cv.columns) == ["log_lambda", "cv_mean", "cv_se", "chosen"]
    assert len(cv) == len(lasso.lambdas_) and np.allclose(np.exp(cv.log_lambda), lasso.lambdas_)
    one_se = np.exp(cv.log_lambda[cv.chosen == "1se"]).to_numpy()
    # this table's λ_1se lies above λ_min, so exactly one row is marked "1se" (where they are the
    # same λ, the row says "min")
    assert lasso.lambda_1se_ > lasso.lambda_min_
    assert len(one_se) == 1 and np.isclose(one_se[0], lasso.lambda_1se_)
    assert np.isclose(np.exp(cv.log_lambda[cv.chosen == "min"].iloc[0]), lasso.lambda_min_)
    # only features that enter somewhere on the path; values equal the fitted path
    entered = set(lasso.coef_path_.columns[(lasso.coef_path_ != 0).any(axis=0)])
    assert set(path.feature) == entered and {"f0", "f3"} <= entered
    at = path[np.isclose(path.log_lambda, np.log(lasso.lambdas_[-1]))].set_index("feature").coef
    assert np.allclose(at, lasso.coef_path_.iloc[-1][at.index])


def test_lasso_tables_without_lasso_are_empty_with_headers():
    X = pd.DataFrame(np.random.default_rng(1).normal(size=(20, 3)), columns=list("abc"))
    chain = build_chain({"steps": ["zscore"]}).fit(X, np.arange(20) % 2)
    path, cv = lasso_tables(chain)
    assert path.empty and list(path.columns) == ["log_lambda", "feature", "coef"]
    assert cv.empty and list(cv.columns) == ["log_lambda", "cv_mean", "cv_se", "chosen"]
