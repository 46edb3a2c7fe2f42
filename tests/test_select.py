"""Feature-selection chain: each step on a small synthetic table, the funnel, and no leakage.

The per-class samples of the "normal" features are Blom normal scores (exactly normal-looking,
whatever the seed), shuffled per column, so which test each feature gets is not left to chance.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.preprocessing import StandardScaler

from axilla.select import (
    CorrelationFilter,
    LassoSelector,
    SelectionChain,
    UnivariateFilter,
    VarianceFilter,
    ZScore,
    build_chain,
    raw_scale,
    zscore_steps,
)
from axilla.select.base import _is_numeric

N = 40  # per class


def _blom(n=N):
    return stats.norm.ppf((np.arange(1, n + 1) - 0.375) / (n + 0.25))


def _table(seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], N)

    def two(neg, pos):
        return np.concatenate([rng.permutation(neg), rng.permutation(pos)])

    z = _blom()
    t_feat = two(z, z + 1.0)                         # normal, equal variances → Student t
    X = pd.DataFrame({
        "t_feat": t_feat,
        "welch_feat": two(z, 3 * z + 1.5),           # normal, variance ratio 9 → Welch
        "skew_feat": two(np.exp(z), np.exp(z + 1)),  # log-normal → Mann–Whitney
        "noise": two(z, z),                          # same distribution in both classes
        "dup_t": t_feat - 0.3 * y,                   # r > 0.9 with t_feat, smaller shift
        "const": 5.0,
        "nzv": np.r_[np.zeros(2 * N - 2), [1.0, 1.0]],
        "cat_fisher": np.r_[np.zeros(N), np.zeros(N - 4), np.ones(4)],
        "cat_chi2": np.r_[np.zeros(N - 10), np.ones(10), np.zeros(10), np.ones(N - 10)],
        "cat_str": two(np.array(list("ab" * (N // 2))), np.array(list("abcc" * (N // 4)))),
    }, index=[f"P{i:03d}" for i in rng.permutation(2 * N)])
    return X, y


# ------------------------------------------------------------------------------------------
# VarianceFilter
# ------------------------------------------------------------------------------------------

def test_variance_filter_drops_constant_and_near_zero():
    X, y = _table()
    vf = VarianceFilter().fit(X, y)
    assert dict(vf.drop_reasons_) == {"const": "constant", "nzv": "near-zero"}
    assert list(vf.transform(X).columns) == [c for c in X.columns if c not in ("const", "nzv")]
    # caret's metrics: most/second most common = 78/2, 2 distinct values in 80 rows
    assert vf.freq_ratio_["nzv"] == 39.0 and vf.percent_unique_["nzv"] == pytest.approx(2.5)
    # cat_fisher is 76/4 = 19, not > 95/5, so it stays
    assert vf.freq_ratio_["cat_fisher"] == 19.0 and "cat_fisher" in vf.selected_
    assert "nzv" in VarianceFilter(near_zero=False).fit(X).selected_
    assert "dup_t" not in VarianceFilter(threshold=2.0).fit(X).selected_  # variance ~1.2


def test_variance_filter_names_out_and_numpy_input():
    vf = VarianceFilter().fit(np.c_[np.ones(10), np.arange(10.0)])
    assert list(vf.get_feature_names_out()) == ["x1"]
    assert list(vf.get_support(indices=True)) == [1]


# ------------------------------------------------------------------------------------------
# ZScore
# ------------------------------------------------------------------------------------------

def test_zscore_uses_training_mean_and_population_sd():
    X, y = _table()
    num = X.drop(columns=["cat_str"])
    train, test = num.iloc[::2], num.iloc[1::2]
    zs = ZScore().fit(train)
    cols = [c for c in num.columns if c != "const"]
    ref = StandardScaler().fit(train[cols])  # ddof=0
    out = zs.transform(test)
    assert np.allclose(out[cols].to_numpy(), ref.transform(test[cols]))
    assert np.allclose(zs.scale_[cols], train[cols].std(ddof=0))
    assert (out["const"] == 0).all()
    assert list(out.index) == list(test.index)


def test_zscore_passes_non_numeric_through():
    X, _ = _table()
    out = ZScore().fit(X).transform(X)
    assert out["cat_str"].tolist() == X["cat_str"].tolist()
    assert list(out.columns) == list(X.columns)


# ------------------------------------------------------------------------------------------
# UnivariateFilter
# ------------------------------------------------------------------------------------------

def test_univariate_picks_the_right_test_per_feature():
    X, y = _table()
    uf = UnivariateFilter().fit(X, y)
    assert uf.tests_.to_dict() == {
        "t_feat": "t", "welch_feat": "welch", "skew_feat": "mwu", "noise": "t", "dup_t": "t",
        "const": "constant", "nzv": "fisher", "cat_fisher": "fisher", "cat_chi2": "chi2",
        "cat_str": "chi2",
    }
    assert set(uf.selected_) == {"t_feat", "welch_feat", "skew_feat", "dup_t", "cat_chi2", "cat_str"}
    assert not uf.fallback_


def test_univariate_pvalues_equal_scipy():
    X, y = _table()
    uf = UnivariateFilter().fit(X, y)
    a, b = (y == 0), (y == 1)
    col = X.to_dict("series")
    expect = {
        "t_feat": stats.ttest_ind(col["t_feat"][a], col["t_feat"][b]).pvalue,
        "welch_feat": stats.ttest_ind(col["welch_feat"][a], col["welch_feat"][b], equal_var=False).pvalue,
        "skew_feat": stats.mannwhitneyu(col["skew_feat"][a], col["skew_feat"][b]).pvalue,
        "cat_fisher": stats.fisher_exact(pd.crosstab(col["cat_fisher"], y)).pvalue,
        "cat_chi2": stats.chi2_contingency(pd.crosstab(col["cat_chi2"], y)).pvalue,
        "cat_str": stats.chi2_contingency(pd.crosstab(col["cat_str"], y)).pvalue,
        "const": 1.0,
    }
    for name, p in expect.items():
        assert uf.pvalues_[name] == pytest.approx(p, rel=1e-12), name
    assert uf.details_.loc["welch_feat", "levene_p"] < 0.05 < uf.details_.loc["t_feat", "levene_p"]
    assert uf.details_.loc["skew_feat", "shapiro_p_pos"] < 0.05


def test_univariate_categorical_by_name_and_fallback():
    X, y = _table()
    # named categorical: a 3-level numeric column gets χ² instead of a two-sample test
    X3 = pd.DataFrame({"grade": np.r_[np.tile([1, 2, 3], 27)[: 2 * N]]})
    assert UnivariateFilter(categorical=["grade"]).fit(X3, y).tests_["grade"] == "chi2"
    assert UnivariateFilter().fit(X3, y).tests_["grade"] != "chi2"
    # nothing significant → the lowest-p feature is kept and the fallback recorded
    uf = UnivariateFilter().fit(X[["noise", "const"]], y)
    assert uf.fallback_ and uf.selected_ == ["noise"]


def test_univariate_ignores_missing_values_per_feature():
    X, y = _table()
    Xm = X[["t_feat"]].copy()
    Xm.iloc[:5, 0] = np.nan
    uf = UnivariateFilter().fit(Xm, y)
    v = Xm["t_feat"].to_numpy()
    ok = ~np.isnan(v)
    assert uf.pvalues_["t_feat"] == pytest.approx(stats.ttest_ind(v[ok & (y == 0)], v[ok & (y == 1)]).pvalue)


# ------------------------------------------------------------------------------------------
# CorrelationFilter
# ------------------------------------------------------------------------------------------

def test_correlation_filter_keeps_the_more_relevant_of_a_pair():
    X, y = _table()
    num = X[["dup_t", "noise", "t_feat", "welch_feat"]]
    assert abs(np.corrcoef(num["t_feat"], num["dup_t"])[0, 1]) > 0.9
    cf = CorrelationFilter().fit(num, y)
    assert cf.selected_ == ["noise", "t_feat", "welch_feat"]
    pair = cf.dropped_pairs_.iloc[0]
    assert (pair["dropped"], pair["kept"]) == ("dup_t", "t_feat") and pair["r"] > 0.9
    assert cf.relevance_["t_feat"] < cf.relevance_["dup_t"]
    # column order does not matter
    assert set(CorrelationFilter().fit(num[num.columns[::-1]], y).selected_) == set(cf.selected_)


def test_spearman_catches_monotone_duplicates():
    X, y = _table()
    d = pd.DataFrame({"skew_feat": X["skew_feat"], "log_skew": np.log(X["skew_feat"]) * 0.5 + 0.01 * y})
    assert abs(np.corrcoef(d["skew_feat"], d["log_skew"])[0, 1]) < 0.9
    assert len(CorrelationFilter(method="pearson").fit(d, y).selected_) == 2
    assert len(CorrelationFilter(method="spearman").fit(d, y).selected_) == 1


def test_correlation_filter_leaves_non_numeric_columns():
    X, y = _table()
    cf = CorrelationFilter().fit(X, y)
    assert "cat_str" in cf.selected_ and "dup_t" not in cf.selected_


# ------------------------------------------------------------------------------------------
# LassoSelector
# ------------------------------------------------------------------------------------------

def _logistic_table(n=120, p=15, seed=2):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{j:02d}" for j in range(p)])
    eta = (2.0 * X["f00"] - 1.5 * X["f01"] + 1.0 * X["f02"]).to_numpy()
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return X, y


def test_lasso_keeps_informative_features_and_exposes_the_fit():
    X, y = _logistic_table()
    sel = LassoSelector(n_lambda=30, random_state=0).fit(X, y)
    assert {"f00", "f01", "f02"} <= set(sel.selected_) and len(sel.selected_) <= 6
    assert sel.coef_["f00"] > 0 > sel.coef_["f01"]
    assert sel.coef_path_.shape == (30, 15) and len(sel.cv_mean_) == len(sel.cv_se_) == 30
    assert sel.lambda_1se_ >= sel.lambda_min_ and sel.lambda_ == sel.lambda_1se_
    assert set(sel.coef_.index[sel.coef_ != 0]) == set(sel.selected_)
    # RadScore: the linear predictor, also from the selected columns alone
    eta = sel.intercept_ + X.to_numpy() @ sel.coef_.to_numpy()
    assert np.allclose(sel.linear_predictor(X), eta) and np.allclose(sel.linear_predictor(sel.transform(X)), eta)
    f = sel.formula(name="RadScore")
    assert f.startswith(f"RadScore = {sel.intercept_:.4f}") and all(c in f for c in sel.selected_)


def test_lasso_is_deterministic_and_seeded():
    X, y = _logistic_table()
    a = LassoSelector(n_lambda=20, random_state=4).fit(X, y)
    b = LassoSelector(n_lambda=20, random_state=4).fit(X, y)
    c = LassoSelector(n_lambda=20, random_state=5).fit(X, y)
    assert np.array_equal(a.cv_mean_, b.cv_mean_) and np.array_equal(a.foldid_, b.foldid_)
    assert not np.array_equal(a.foldid_, c.foldid_)


def test_repeated_cv_averages_the_repeats():
    X, y = _logistic_table(n=60, p=6)
    rng = np.random.default_rng(0)
    f1, f2 = rng.permutation(np.arange(60) % 5), rng.permutation(np.arange(60) % 5)
    both = LassoSelector(n_lambda=15, foldid=np.vstack([f1, f2])).fit(X, y)
    one = LassoSelector(n_lambda=15, foldid=f1).fit(X, y)
    two = LassoSelector(n_lambda=15, foldid=f2).fit(X, y)
    assert np.allclose(both.cv_mean_, (one.cv_mean_ + two.cv_mean_) / 2)
    assert np.allclose(both.cv_se_, (one.cv_se_ + two.cv_se_) / 2)
    stratified = LassoSelector(n_lambda=15, n_repeats=3, random_state=0).fit(X, y)
    assert stratified.foldid_.shape == (3, 60)
    for f in stratified.foldid_:  # stratified: every fold has its share of positives
        assert all(abs(y[f == k].mean() - y.mean()) < 0.15 for k in range(5))


@pytest.mark.parametrize("seed,expected", [(8, "lambda_min"), (1, "max_abs_path")])
def test_lasso_fallbacks_when_nothing_is_selected(seed, expected):
    rng = np.random.default_rng(seed)  # pure noise: CV prefers the empty model
    X = pd.DataFrame(rng.normal(size=(40, 6)), columns=list("abcdef"))
    y = np.array([0, 1] * 20)
    sel = LassoSelector(n_lambda=20, random_state=0).fit(X, y)
    assert sel.fallback_ == expected
    i_1se = list(sel.lambdas_).index(sel.lambda_1se_)
    assert not sel.coef_path_.iloc[i_1se].any()
    if expected == "lambda_min":
        assert sel.lambda_ == sel.lambda_min_ and sel.selected_
    else:
        peak = sel.coef_path_.abs().max()
        assert sel.lambda_ == 0.0 and sel.selected_ == [peak.idxmax()]


def test_lasso_rejects_bad_input():
    X, y = _logistic_table(n=30, p=3)
    Xn = X.copy()
    Xn.iloc[0, 0] = np.nan
    with pytest.raises(ValueError, match="missing"):
        LassoSelector(n_lambda=5).fit(Xn, y)
    with pytest.raises(ValueError, match="foldid"):
        LassoSelector(n_lambda=5, foldid=np.arange(10) % 5).fit(X, y)
    with pytest.raises(ValueError, match="two classes"):
        LassoSelector(n_lambda=5).fit(X, np.zeros(30))


# ------------------------------------------------------------------------------------------
# chain and funnel
# ------------------------------------------------------------------------------------------

SETTINGS = {"steps": ["variance", "zscore", "univariate", "correlation", "lasso"],
            "univariate": {"p": 0.05}, "correlation": {"threshold": 0.9, "method": "pearson"},
            "lasso": {"folds": 5, "repeats": 1, "rule": "1se", "n_lambda": 25}}


def _mixed_table(seed=0, n=100):
    """Informative, duplicated, noisy and constant numeric features; patient-id index."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"rad_{j:02d}" for j in range(20)])
    eta = (1.8 * X["rad_00"] - 1.2 * X["rad_01"]).to_numpy()
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    X["rad_dup"] = X["rad_00"] + 0.1 * rng.normal(size=n)
    X["const"] = 1.0
    X["rare"] = (np.arange(n) < 2).astype(float)
    X.index = [f"P{i:04d}" for i in rng.permutation(n)]
    return X, pd.Series(y, index=X.index)


def test_chain_funnel_is_consistent():
    X, y = _mixed_table()
    chain = build_chain(SETTINGS, random_state=0).fit(X, y)
    f = chain.funnel_
    assert list(f.columns) == ["step", "n_in", "n_out"] and list(f["step"]) == SETTINGS["steps"]
    assert f["n_in"].iloc[0] == X.shape[1]
    assert (f["n_in"].iloc[1:].to_numpy() == f["n_out"].iloc[:-1].to_numpy()).all()
    assert (f["n_out"] <= f["n_in"]).all() and f["n_out"].iloc[-1] == len(chain.get_feature_names_out())
    assert f.set_index("step").loc["variance", "n_out"] == X.shape[1] - 2
    kept = set(chain.get_feature_names_out())
    assert "rad_01" in kept and len({"rad_00", "rad_dup"} & kept) == 1  # one of the near-twins
    assert not {"rad_00", "rad_dup"} <= set(chain["correlation"].selected_)
    out = chain.transform(X)
    assert list(out.columns) == list(chain.get_feature_names_out()) and list(out.index) == list(X.index)
    assert np.allclose(chain.linear_predictor(X), chain["lasso"].linear_predictor(out))


def test_build_chain_defaults_and_errors():
    chain = build_chain({}, random_state=3)
    assert [n for n, _ in chain.steps] == ["variance", "zscore", "univariate", "correlation", "lasso"]
    assert chain["lasso"].random_state == 3 and chain["lasso"].rule == "1se"
    assert chain["lasso"].n_lambda == 100 and chain["lasso"].lambda_min_ratio is None  # glmnet's
    short = build_chain({"steps": ["zscore", "lasso"],
                         "lasso": {"rule": "min", "folds": 3, "n_lambda": 20, "lambda_min_ratio": 0.05}})
    assert short["lasso"].n_folds == 3 and short["lasso"].rule == "min"
    assert short["lasso"].n_lambda == 20 and short["lasso"].lambda_min_ratio == 0.05
    with pytest.raises(ValueError, match="unknown step"):
        build_chain({"steps": ["mrmr_typo"]})
    with pytest.raises(ValueError, match="unknown option"):
        build_chain({"lasso": {"fold": 5}})
    with pytest.raises(ValueError, match="unique"):
        SelectionChain([("a", ZScore()), ("a", ZScore())]).fit(*_mixed_table())


def test_chain_accepts_numpy_labels_like_the_train_stage():
    X, y = _mixed_table()
    chain = build_chain({"steps": ["variance", "zscore", "univariate"]}).fit(X, y.to_numpy())
    assert chain.transform(X).shape[1] == chain.funnel_["n_out"].iloc[-1]


# ------------------------------------------------------------------------------------------
# no leakage
# ------------------------------------------------------------------------------------------

def _assert_same(a, b, where):
    if isinstance(a, pd.DataFrame | pd.Series):
        (pd.testing.assert_frame_equal if isinstance(a, pd.DataFrame) else pd.testing.assert_series_equal)(
            a, b, check_exact=True, obj=where)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            _assert_same(u, v, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k}]")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), where
    else:
        assert a == b, where


def _fitted_state(chain):
    return {name: {k: v for k, v in vars(step).items() if k.endswith("_") and not k.startswith("_")}
            for name, step in chain.steps} | {"funnel_": chain.funnel_}


def test_no_leakage_fit_sees_only_training_rows():
    A, yA = _mixed_table(seed=1, n=140)
    train = A.index[np.random.default_rng(9).permutation(140)[:100]]
    test = A.index.difference(train)
    # a second "full table" that agrees on the training rows only: test values and labels changed
    rng = np.random.default_rng(123)
    B, yB = A.copy(), yA.copy()
    B.loc[test] = rng.normal(50, 30, size=(len(test), A.shape[1]))
    yB.loc[test] = 1 - yB.loc[test]

    chain_a = build_chain(SETTINGS, random_state=7).fit(A.loc[train], yA.loc[train])
    chain_b = build_chain(SETTINGS, random_state=7).fit(B.loc[train], yB.loc[train])
    state = _fitted_state(chain_a)
    _assert_same(state, _fitted_state(chain_b), "chain")
    for key in ("mean_", "scale_"):
        assert key in state["zscore"]
    for key in ("pvalues_", "tests_"):
        assert key in state["univariate"]
    for key in ("lambda_min_", "lambda_1se_", "coef_", "coef_path_", "cv_mean_"):
        assert key in state["lasso"]

    # evaluation rows are only ever mapped with the training statistics
    zs = chain_a["zscore"]
    cols = list(zs.mean_.index)
    manual = (A.loc[test, cols] - A.loc[train, cols].mean()) / A.loc[train, cols].std(ddof=0)
    assert np.allclose(zs.transform(A.loc[test, cols]).to_numpy(), manual.to_numpy())
    pd.testing.assert_frame_equal(chain_a.transform(A.loc[test]), chain_b.transform(A.loc[test]))

    # nothing keeps a reference to the training frame: changing it afterwards changes nothing
    Xtr = A.loc[train].copy()
    chain_c = build_chain(SETTINGS, random_state=7).fit(Xtr, yA.loc[train])
    Xtr.iloc[:, :] = 0.0
    _assert_same(_fitted_state(chain_c), state, "chain after mutating its input")


def test_no_leakage_each_step_alone():
    X, y = _table()
    rows = np.arange(0, 2 * N, 2)  # every other patient: both classes present
    X2 = X.copy()
    y2 = y.copy()
    other = np.setdiff1d(np.arange(2 * N), rows)
    X2.iloc[other, :5] = -X2.iloc[other, :5] * 7
    y2[other] = 1 - y2[other]
    for step in (VarianceFilter(), ZScore(), UnivariateFilter(), CorrelationFilter()):
        a = type(step)().fit(X.iloc[rows], y[rows])
        b = type(step)().fit(X2.iloc[rows], y2[rows])
        _assert_same({k: v for k, v in vars(a).items() if k.endswith("_")},
                     {k: v for k, v in vars(b).items() if k.endswith("_")}, type(step).__name__)


# ------------------------------------------------------------------------------------------
# vectorised fits == the per-column definitions
# ------------------------------------------------------------------------------------------

def _reference_variance(X, threshold=0.0, near_zero=True, freq_cut=95 / 5, unique_cut=10.0):
    """VarianceFilter.fit column by column (the original implementation)."""
    n = X.shape[0]
    var, ratio, pct, reasons = {}, {}, {}, {}
    for c in X.columns:
        s = X[c]
        counts = s.dropna().value_counts(sort=True)
        k = len(counts)
        ratio[c] = float(counts.iloc[0] / counts.iloc[1]) if k >= 2 else 0.0
        pct[c] = 100.0 * k / n
        var[c] = float(np.nanvar(s.to_numpy(float))) if _is_numeric(s) and k else np.nan
        if k <= 1:
            reasons[c] = "constant"
        elif _is_numeric(s) and var[c] <= threshold:
            reasons[c] = "variance"
        elif near_zero and ratio[c] > freq_cut and pct[c] <= unique_cut:
            reasons[c] = "near-zero"
    return {"variances_": pd.Series(var, dtype=float), "freq_ratio_": pd.Series(ratio, dtype=float),
            "percent_unique_": pd.Series(pct, dtype=float), "drop_reasons_": pd.Series(reasons, dtype=object),
            "support_": np.array([c not in reasons for c in X.columns])}


_NO_STATS = {"shapiro_p_neg": np.nan, "shapiro_p_pos": np.nan, "levene_p": np.nan, "min_expected": np.nan}


def _scipy_numeric(neg, pos, alpha, levene_center):
    """UnivariateFilter's documented rule for one numeric feature, straight from scipy.stats:
    Shapiro-Wilk per class; both normal -> Levene picks Student's or Welch's t; else Mann-Whitney."""
    out = {"kind": "numeric", **_NO_STATS}
    if neg.size == 0 or pos.size == 0 or np.ptp(np.concatenate([neg, pos])) == 0:
        return {**out, "test": "constant", "p": 1.0}
    for key, g in (("shapiro_p_neg", neg), ("shapiro_p_pos", pos)):
        if g.size >= 3 and np.ptp(g) > 0:  # Shapiro needs 3 values with some spread
            out[key] = stats.shapiro(g).pvalue
    if out["shapiro_p_neg"] > alpha and out["shapiro_p_pos"] > alpha:  # NaN (not testable) is False
        out["levene_p"] = stats.levene(neg, pos, center=levene_center).pvalue
        equal = out["levene_p"] > alpha
        return {**out, "test": "t" if equal else "welch", "p": stats.ttest_ind(neg, pos, equal_var=equal).pvalue}
    return {**out, "test": "mwu", "p": stats.mannwhitneyu(neg, pos, alternative="two-sided").pvalue}


def _scipy_categorical(s, y01, yates):
    """χ² test of the crosstab; Fisher's exact test for a 2×2 table with an expected count < 5."""
    keep = s.notna().to_numpy()
    table = pd.crosstab(s.to_numpy()[keep], y01[keep]).to_numpy()
    out = {"kind": "categorical", **_NO_STATS}
    if min(table.shape) < 2:
        return {**out, "test": "constant", "p": 1.0}
    out["min_expected"] = stats.contingency.expected_freq(table).min()
    if table.shape == (2, 2) and out["min_expected"] < 5:
        return {**out, "test": "fisher", "p": stats.fisher_exact(table).pvalue}
    return {**out, "test": "chi2", "p": stats.chi2_contingency(table, correction=yates).pvalue}


def _reference_univariate(X, y, categorical=None, alpha=0.05, levene_center="median", yates=True,
                          p_threshold=0.05):
    """UnivariateFilter.fit column by column, each test a direct scipy.stats call."""
    y01 = (y == np.unique(y)[1]).astype(float)
    pos = y01 == 1
    rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in X.columns:
            s = X[c]
            if (categorical is not None and c in set(categorical)) or not _is_numeric(s) \
                    or s.dropna().nunique() == 2:
                rows[c] = _scipy_categorical(s, y01, yates)
            else:
                v = s.to_numpy(float)
                ok = ~np.isnan(v)
                rows[c] = _scipy_numeric(v[ok & ~pos], v[ok & pos], alpha, levene_center)
    details = pd.DataFrame.from_dict(rows, orient="index")
    details["p"] = details["p"].fillna(1.0)
    details = details[["kind", "test", "p", "shapiro_p_neg", "shapiro_p_pos", "levene_p", "min_expected"]]
    support = np.array(details["p"] < p_threshold, dtype=bool)
    fallback = not support.any()
    if fallback:
        support[int(np.argmin(details["p"].to_numpy()))] = True
    return {"details_": details, "pvalues_": details["p"].astype(float),
            "tests_": details["test"].astype(object), "support_": support, "fallback_": fallback}


def _wide_table(n=60, seed=11):
    """A radiomics-like matrix: every kind of column the two filters treat differently."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n // 2 - 3), np.ones(n - n // 2 + 3)].astype(int)[rng.permutation(n)]
    shift = 0.8 * y[:, None]
    cols = {}

    def add(prefix, block):
        for j in range(block.shape[1]):
            cols[f"{prefix}_{j:02d}"] = block[:, j]

    add("normal", rng.normal(size=(n, 60)) * rng.uniform(0.1, 50, 60) + shift * rng.integers(0, 2, 60))
    add("welch", rng.normal(size=(n, 15)) * np.where(y[:, None] == 1, 4.0, 1.0) + shift)
    add("skew", np.exp(rng.normal(size=(n, 60)) + shift * rng.integers(0, 2, 60)))
    add("ties", np.round(rng.normal(size=(n, 60)) * rng.choice([0.5, 2, 8], 60) + shift))
    add("const", np.full((n, 5), 3.25))
    add("nzv", (rng.random((n, 30)) < rng.uniform(0.01, 0.12, 30)) * rng.integers(1, 4, (n, 30)) * 1.0)
    add("binary", (rng.random((n, 15)) < rng.uniform(0.05, 0.6, 15)) * 1.0 + 2.0)
    add("oneclass_const", np.where(y[:, None] == 1, 7.0, rng.normal(size=(n, 5))))
    add("gamma", rng.gamma(rng.uniform(0.5, 5, 40), size=(n, 40)) + shift)
    X = pd.DataFrame(cols)
    X["nan_one"] = rng.normal(size=n)
    X.loc[rng.choice(n, 4, replace=False), "nan_one"] = np.nan
    shared = rng.choice(n, 6, replace=False)                   # two columns, one NaN pattern
    for c in ("nan_shared_a", "nan_shared_b"):
        X[c] = np.exp(rng.normal(size=n))
        X.loc[shared, c] = np.nan
    X["nan_class"] = np.where(y == 1, np.nan, rng.normal(size=n))  # one class entirely missing
    X["all_nan"] = np.nan
    X["ints"] = rng.integers(0, 12, n)
    X["big_ints"] = np.int64(2**62) + rng.integers(0, 3, n)     # distinct only as integers
    X["grade"] = rng.integers(1, 4, n).astype(float)            # named categorical
    X["site"] = rng.choice(["a", "b", "c"], n)                  # string categorical
    X["flag"] = rng.random(n) < 0.3                             # bool
    X["nullable"] = pd.array(rng.integers(0, 5, n), dtype="Int64")
    X["negzero"] = np.where(rng.random(n) < 0.5, 0.0, -0.0) + (np.arange(n) == 0)
    return X, y


def _assert_fit_equal(fitted, ref, exact):
    for key, want in ref.items():
        got = getattr(fitted, key)
        if isinstance(want, pd.DataFrame):
            pd.testing.assert_frame_equal(got, want, check_exact=exact, rtol=1e-12, atol=0, obj=key)
        elif isinstance(want, pd.Series):
            pd.testing.assert_series_equal(got, want, check_exact=exact or want.dtype == object,
                                           rtol=1e-12, atol=0, obj=key)
        elif isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got, want, err_msg=key)
        else:
            assert got == want, key


@pytest.mark.parametrize("n,seed", [(60, 11), (61, 12), (14, 13)])
def test_variance_filter_equals_per_column_reference(n, seed):
    X, y = _wide_table(n, seed)
    vf = VarianceFilter().fit(X, y)
    _assert_fit_equal(vf, _reference_variance(X), exact=True)
    if n >= 60:  # with 14 rows, 10 % unique means a single value: nothing is "near-zero"
        assert {"constant", "near-zero"} <= set(vf.drop_reasons_)
    for kw in ({"threshold": 1.0}, {"near_zero": False}, {"freq_cut": 4.0, "unique_cut": 20.0}):
        _assert_fit_equal(VarianceFilter(**kw).fit(X), _reference_variance(X, **kw), exact=True)


@pytest.mark.parametrize("n,seed", [(60, 11), (61, 12), (14, 13)])
def test_univariate_filter_equals_per_column_reference(n, seed):
    X, y = _wide_table(n, seed)
    uf = UnivariateFilter(categorical=["grade"]).fit(X, y)
    _assert_fit_equal(uf, _reference_univariate(X, y, categorical=["grade"]), exact=False)
    if n >= 60:
        assert {"t", "welch", "mwu", "constant", "fisher", "chi2"} <= set(uf.tests_)
    # other settings: Levene centred on the mean / trimmed mean, stricter α, no Yates
    for kw in ({"levene_center": "mean", "alpha": 0.2}, {"levene_center": "trimmed", "yates": False}):
        _assert_fit_equal(UnivariateFilter(**kw).fit(X, y), _reference_univariate(X, y, **kw), exact=False)


def test_univariate_mann_whitney_method_is_chosen_per_feature():
    # classes of <= 8: scipy's "auto" is exact without ties and asymptotic with ties, decided
    # once per call, so a vectorised call over both kinds must still match the per-column p
    X, y = _wide_table(14, 13)
    uf = UnivariateFilter().fit(X, y)
    mwu = [c for c in X.columns if uf.tests_[c] == "mwu"]
    tied = [c for c in mwu if X[c].dropna().nunique() < X[c].notna().sum()]
    assert tied and len(tied) < len(mwu)
    for c in mwu:
        v = X[c].to_numpy(float)
        ok = ~np.isnan(v)
        p = stats.mannwhitneyu(v[ok & (y == 0)], v[ok & (y == 1)], alternative="two-sided").pvalue
        assert uf.pvalues_[c] == pytest.approx(p, rel=1e-12, abs=0), c


def test_raw_scale_composes_every_zscore_before_the_step():
    # two z-scores in a row, then the LASSO: its predictor folded back onto the raw values
    X, y = _logistic_table()
    X = X * np.linspace(0.5, 20, X.shape[1]) + 3.0
    chain = SelectionChain([("z1", ZScore()), ("z2", ZScore()), ("lasso", LassoSelector(n_lambda=20))]).fit(X, y)
    lasso = chain["lasso"]
    assert zscore_steps(chain, "lasso") == [chain["z1"], chain["z2"]]
    assert zscore_steps(chain, "z2") == [chain["z1"]]
    b0, b = raw_scale(zscore_steps(chain, "lasso"), lasso.intercept_, lasso.coef_[lasso.selected_])
    assert np.allclose(b0 + X[list(b.index)].to_numpy() @ b.to_numpy(), chain.linear_predictor(X), atol=1e-9)
    # a term that was constant on the training rows (z always 0) weighs nothing on the raw scale
    const = ZScore().fit(pd.DataFrame({"a": [1.0, 2.0, 4.0], "c": 5.0}))
    b0, b = raw_scale([const], 1.0, pd.Series({"a": 2.0, "c": 3.0, "other": 4.0}))
    assert b["c"] == 0.0 and b["other"] == 4.0
    assert b0 == pytest.approx(1.0 - 2.0 * const.mean_["a"] / const.scale_["a"])
