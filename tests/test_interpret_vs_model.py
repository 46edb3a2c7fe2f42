"""Score formulas, feature importance and odds-ratio tables checked against the fitted models
themselves: the formula text recomputes the model's own linear predictor, a planted strong feature
ranks first whatever the classifier, the odds ratios equal a direct statsmodels fit, and nothing
depends on the evaluation cohorts."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from axilla import interpret, select
from axilla.io import load_model
from axilla.train import FeatureModel, FusionModel, run_feature_model, run_fusion_model
from test_no_leakage import KINDS, _data, _tamper, selection_model

LASSO = {"steps": ["variance", "zscore", "univariate", "lasso"], "univariate": {"p": 0.3},
         "lasso": {"folds": 3, "rule": "min", "n_lambda": 20}}
STEPWISE = {"steps": ["variance", "ulogit", "stepwise"], "ulogit": {"p": 0.3}, "stepwise": {"criterion": "p", "p": 0.05}}


def _fit(X, split, sel, classifier=None):
    train = (split.cohort == "train").to_numpy()
    m = FeatureModel(kinds=KINDS, select=sel, random_state=7, classifier=classifier)
    return m.fit(X[train], split.y[train].to_numpy()), train


def _eval(text, block, X_enc):
    """Evaluate the formula that follows the line starting with `block` on encoded rows."""
    b0, coefs = interpret.parse_linear(text[text.index(block):])
    return b0 + sum(b * X_enc[f.removeprefix("z(").removesuffix(")")].to_numpy(float) for f, b in coefs.items()), coefs


def test_lasso_score_and_logit_formulas_recompute_the_model_on_two_rows():
    X, split = _data()
    m, train = _fit(X, split, LASSO)
    text = interpret.formula_text(m, X[train], "radiomics")
    assert "radiomics_score = " in text and "logit(p) = " in text and "L2, C = 1" in text
    rows = X.iloc[[0, 40]]  # one training patient, one evaluation patient
    enc = m.encoder_.transform(rows)
    score = m.linear_score(rows)
    logit = np.log(m.predict_proba(rows)[:, 1] / m.predict_proba(rows)[:, 0])
    # on the original values (the z-score folded in) ...
    raw, coefs = _eval(text, "Equivalently", enc)
    assert set(coefs) == set(m.lasso_.selected_)
    np.testing.assert_allclose(raw, score, rtol=1e-4, atol=1e-4)
    later = text[text.index("# Model probability"):]
    raw_logit, _ = _eval(later, "Equivalently", enc)
    np.testing.assert_allclose(raw_logit, logit, rtol=1e-4, atol=1e-4)
    # ... and on the z-scale with the listed training means and SDs
    b0, zcoefs = interpret.parse_linear(text)
    stats = {line.split()[0]: (float(line.split()[2]), float(line.split()[4]))
             for line in text.splitlines() if line.startswith("    ") and "  mean " in line}
    z = b0 + sum(b * (enc[f[2:-1]] - stats[f[2:-1]][0]) / stats[f[2:-1]][1] for f, b in zcoefs.items())
    np.testing.assert_allclose(z, score, rtol=1e-4, atol=1e-4)


def test_stepwise_lr_formula_is_on_original_values_and_equals_the_multivariable_table():
    X, split = _data()
    m, train = _fit(X, split, STEPWISE, {"name": "lr", "params": {"C": np.inf}})
    text = interpret.formula_text(m, X[train], "clinical")
    assert "_score" not in text and "unpenalised logistic regression" in text and "z(" not in text
    rows = X.iloc[[1, 50]]
    val, _ = _eval(text, "logit(p)", m.encoder_.transform(rows))
    np.testing.assert_allclose(val, m.estimator_.decision_function(m._design(rows).to_numpy(float)), rtol=1e-4)
    odds = interpret.odds_ratio_tables(m, X[train], split.y[train], clinical=True)
    multi = odds[odds.analysis == "multivariable"].set_index("term")
    b0, coefs = interpret.parse_linear(text)
    # statsmodels (table) and scikit-learn (model) fit the same unpenalised likelihood
    assert multi.loc["(intercept)", "coef"] == pytest.approx(b0, rel=1e-3)
    for f, b in coefs.items():
        assert multi.loc[f, "coef"] == pytest.approx(b, rel=1e-3)
    assert set(odds.per) == {"unit"}


def test_clinical_odds_ratios_equal_direct_statsmodels_fits():
    X, split = _data()
    clin = X[["age", "margin", "f0", "f1"]]
    m, train = _fit(clin, split, LASSO)
    y = split.y[train].to_numpy()
    odds = interpret.odds_ratio_tables(m, clin[train], y, clinical=True)
    enc = m.encoder_.transform(clin[train])
    uni = odds[odds.analysis == "univariate"].set_index("term")
    assert list(uni.index) == ["age", "f0", "f1", "margin=spiculated"]
    for term in uni.index:
        fit = sm.Logit(y, sm.add_constant(enc[[term]])).fit(disp=0)
        assert uni.loc[term, "odds_ratio"] == pytest.approx(np.exp(fit.params[term]), rel=1e-6)
        lo, hi = np.exp(fit.conf_int().loc[term])
        assert (uni.loc[term, "or_ci_low"], uni.loc[term, "or_ci_high"]) == pytest.approx((lo, hi), rel=1e-6)
        assert uni.loc[term, "p"] == pytest.approx(fit.pvalues[term], rel=1e-6)
    multi = odds[odds.analysis == "multivariable"].set_index("term")
    assert list(multi.index) == ["(intercept)", *m.selected_]
    fit = sm.Logit(y, sm.add_constant(enc[m.selected_])).fit(disp=0)
    np.testing.assert_allclose(multi.odds_ratio.to_numpy(), np.exp(fit.params.to_numpy()), rtol=1e-5)
    assert multi.vif.iloc[1:].notna().all()
    # a radiomics / deep model gets no table (header only)
    assert interpret.odds_ratio_tables(m, clin[train], y, clinical=False).empty


def test_odds_ratio_tables_from_the_chain_or_computed_per_analysis():
    X, split = _data()
    clin = X[["age", "margin", "f0", "f1"]]
    # ulogit without stepwise (seed 004's clinical model): the chain's univariable table, the
    # multivariable one computed from the selected terms
    m, train = _fit(clin, split, {"steps": ["variance", "ulogit"], "ulogit": {"p": 0.3}})
    y = split.y[train].to_numpy()
    odds = interpret.odds_ratio_tables(m, clin[train], y, clinical=True)
    uni = odds[odds.analysis == "univariate"].reset_index(drop=True)
    pd.testing.assert_frame_equal(uni[["term", "odds_ratio", "p"]],
                                  m.chain_["ulogit"].table_[["term", "odds_ratio", "p"]].reset_index(drop=True))
    multi = odds[odds.analysis == "multivariable"]
    assert list(multi.term) == ["(intercept)", *m.selected_]
    # a z-score step before the stepwise step: its ORs are per training SD, and they say so
    m, _ = _fit(clin, split, {"steps": ["variance", "zscore", "ulogit", "stepwise"], "ulogit": {"p": 0.3}})
    odds = interpret.odds_ratio_tables(m, clin[train], y, clinical=False)
    assert set(odds.analysis) == {"univariate", "multivariable"} and set(odds.per) == {"training SD"}


def test_clinical_models_are_those_without_imaging_sources():
    assert interpret.is_clinical(interpret.feature_sources(["clinical:age", "clinical:tumor_diameter_mm", "blood"]))
    assert interpret.is_clinical({"clinical"}) and not interpret.is_clinical(set())
    assert not interpret.is_clinical(interpret.feature_sources(["clinical", "radiomics:MG"]))


def _planted(seed=0, n=90, effect=2.5):
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    X = pd.DataFrame({f"noise{j}": rng.normal(size=n) for j in range(5)}, index=[f"P{i:03d}" for i in range(n)])
    X.insert(3, "strong", effect * y + rng.normal(size=n))
    X["weak"] = 0.4 * y + rng.normal(size=n)
    cohort = np.where(np.arange(n) < 60, "train", "internal")
    return X, pd.DataFrame({"patient_id": X.index, "cohort": cohort, "y": y})


@pytest.mark.parametrize("clf,kind", [("lr", "standardised coefficient"), ("sgd", "standardised coefficient"),
                                      ("rf", "impurity"), ("adaboost", "impurity"), ("xgboost", "XGBoost"),
                                      ("lightgbm", "LightGBM"), ("svm", "permutation"), ("knn", "permutation"),
                                      ("mlp", "permutation"), ("nb", "permutation")])
def test_importance_ranks_a_planted_strong_feature_first(clf, kind):
    X, split = _planted()
    m, train = _fit(X, split, {"steps": ["zscore"]}, clf)
    t = interpret.importance_table(m.clf_, m._design(X[train]), split.y[train], seed=7)
    assert list(t.columns) == ["feature", "importance", "kind"]
    assert sorted(t.feature) == sorted(X.columns)
    assert t.feature.iloc[0] == "strong", t
    assert kind in t.kind.iloc[0]
    assert t.importance.is_monotonic_decreasing


def test_standardised_coefficient_is_scale_free():
    """|b| × SD: the same importance whether a feature is in mm or in m."""
    X, split = _planted(effect=1.0)  # no separation: the unpenalised fit is finite and unique
    m1, train = _fit(X, split, {"steps": ["variance"]}, {"name": "lr", "params": {"C": np.inf}})
    X2 = X.assign(strong=X.strong / 1000)
    m2, _ = _fit(X2, split, {"steps": ["variance"]}, {"name": "lr", "params": {"C": np.inf}})
    t1 = interpret.importance_table(m1.clf_, m1._design(X[train]), split.y[train]).set_index("feature")
    t2 = interpret.importance_table(m2.clf_, m2._design(X2[train]), split.y[train]).set_index("feature")
    assert t1.loc["strong", "importance"] == pytest.approx(t2.loc["strong", "importance"], rel=1e-3)


@pytest.mark.parametrize("spec", [{}, {"classifier": "svm"}])
def test_interpretation_files_ignore_evaluation_cohorts(spec, tmp_path):
    X, split = _data()
    out = {}
    for tag, (XX, ss) in {"a": (X, split), "b": _tamper(X, split)}.items():
        d = tmp_path / tag
        d.mkdir()
        select.run(selection_model(KINDS, LASSO, 7, spec), XX, ss, d / "sel.pkl", d / "selected.csv", d / "funnel.csv")
        run_feature_model(XX, ss, str(d / "sel.pkl"), 7, d / "model.pkl", d / "pred.csv")
        interpret.run_feature_model(str(d / "model.pkl"), XX, ss, 7, "m", {"clinical"}, interpret.Outputs.under(d))
        out[tag] = d
    for f in ("formula.txt", "importance.csv", "odds_ratios.csv", "coefficients.csv", "summary.json"):
        assert (out["a"] / f).read_bytes() == (out["b"] / f).read_bytes(), f
    assert "m_score = " in (out["a"] / "formula.txt").read_text()
    assert len(pd.read_csv(out["a"] / "importance.csv")) == len(load_model(out["a"] / "model.pkl").selected_)


def test_fusion_formula_recomputes_the_meta_model(tmp_path):
    X, split = _data()
    base = {}
    for name, cols in {"m1": ["f0", "f1", "f5"], "m2": ["f2", "f6"]}.items():
        d = tmp_path / name
        d.mkdir()
        select.run(selection_model(KINDS, {"steps": ["zscore"]}, 7), X[cols], split, d / "sel.pkl", d / "selected.csv",
                   d / "funnel.csv")
        run_feature_model(X[cols], split, str(d / "sel.pkl"), 7, d / "model.pkl", d / "pred.csv")
        base[name] = str(d / "pred.csv")
    out = tmp_path / "fusion"
    out.mkdir()
    run_fusion_model(base, 7, out / "model.pkl", out / "pred.csv", "lr")
    interpret.run_fusion_model(str(out / "model.pkl"), base, 7, interpret.Outputs.under(out))
    model: FusionModel = load_model(out / "model.pkl")
    b0, coefs = interpret.parse_linear((out / "formula.txt").read_text())
    P = pd.DataFrame({n: pd.read_csv(p).prob for n, p in base.items()}).iloc[:2]
    lg = np.log(P / (1 - P))
    val = b0 + sum(coefs[f"logit(p_{n})"] * lg[n] for n in base)
    p = model.predict_proba(P)[:, 1]
    np.testing.assert_allclose(val, np.log(p / (1 - p)), rtol=1e-4)  # 6 significant digits
    imp = pd.read_csv(out / "importance.csv")
    assert set(imp.feature) == {"logit(p_m1)", "logit(p_m2)"} and (imp.importance >= 0).all()
