"""No leakage for the zoo: tuned hyperparameters, SMOTE samples, mRMR / LightGBM / stepwise
selections, scores and the SVM meta-classifier are the same whatever the evaluation cohorts hold."""

import pickle

import numpy as np
import pandas as pd
import pytest

from axilla import select
from axilla import interpret
from axilla.train import run_feature_model, run_fusion_model
from test_no_leakage import KINDS, _data, _tamper, selection_model

SEL = {"steps": ["variance", "zscore", "univariate", "mrmr", "lasso"], "univariate": {"p": 0.3}, "mrmr": {"k": 6},
       "lasso": {"folds": 3, "rule": "min", "n_lambda": 20}}
SPECS = {
    "svm_smote": {"classifier": {"name": "svm", "tune": {"folds": 3, "repeats": 1, "grid": {"C": [0.1, 1.0]}}},
                  "smote": {"k_neighbors": 3}},
    "lgbm_chain": {"select": {"steps": ["variance", "lgbm"], "lgbm": {"folds": 3, "max_features": 4,
                                                                      "n_estimators": 30}},
                   "classifier": {"name": "xgboost", "params": {"n_estimators": 20}}},
    "stepwise": {"select": {"steps": ["variance", "ulogit", "stepwise"], "ulogit": {"p": 0.3},
                            "stepwise": {"criterion": "aic"}},
                 "classifier": {"name": "lr", "params": {"C": np.inf}}},
}


def _state(path):
    with open(path, "rb") as fh:
        m = pickle.load(fh)
    state = {"selected": m.selected_, "tuned": m.tuned_params_, "funnel": m.chain_.funnel_.to_dict("records")}
    state["smote"] = None if m.smote_samples_ is None else np.round(m.smote_samples_, 12).tolist()
    est = m.estimator_
    if hasattr(est, "svc_"):  # PlattSVC: the SVC and its Platt sigmoid
        cal = est.calibrated_.calibrated_classifiers_[0].calibrators[0]
        state["platt"] = [round(float(cal.a_), 12), round(float(cal.b_), 12)]
        est = est.svc_
    for attr in ("coef_", "support_vectors_", "dual_coef_"):
        if hasattr(est, attr):
            state[attr] = np.round(np.asarray(getattr(est, attr), float), 12).tolist()
    if hasattr(est, "get_booster"):
        state["trees"] = est.get_booster().get_dump()
    for name, step in m.chain_.steps:
        if name == "stepwise":
            state["or"] = step.table_.round(10).to_dict("list")
    return state


def _fit(d, X, split, spec, sel=SEL):
    d.mkdir()
    select.run(selection_model(KINDS, sel, 7, spec), X, split, d / "sel.pkl", d / "selected.csv", d / "funnel.csv")
    run_feature_model(X, split, str(d / "sel.pkl"), 7, d / "model.pkl", d / "pred.csv")
    interpret.run_feature_model(str(d / "model.pkl"), X, split, 7, "m", set(), interpret.Outputs.under(d))
    return d


@pytest.mark.parametrize("name", list(SPECS))
def test_zoo_models_ignore_evaluation_cohorts(name, tmp_path):
    X, split = _data()
    a = _fit(tmp_path / "a", X, split, SPECS[name])
    b = _fit(tmp_path / "b", *_tamper(X, split), SPECS[name])
    sa, sb = _state(a / "model.pkl"), _state(b / "model.pkl")
    assert sa == sb
    if name == "svm_smote":
        assert sa["smote"] and sa["tuned"]  # SMOTE did add rows, tuning did run
    for f in ("coefficients.csv", "odds_ratios.csv", "summary.json", "formula.txt", "importance.csv"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    pa, pb = (pd.read_csv(d / "pred.csv") for d in (a, b))
    train = pa.cohort == "train"
    pd.testing.assert_frame_equal(pa[train], pb[train])


def test_svm_post_fusion_ignores_evaluation_cohorts(tmp_path):
    X, split = _data()
    runs = {}
    for tag, (XX, ss) in {"a": (X, split), "b": _tamper(X, split)}.items():
        base = {n: str(_fit(tmp_path / f"{tag}{n}", XX[cols], ss, {}, {"steps": ["zscore"]}) / "pred.csv")
                for n, cols in {"m1": ["f0", "f1", "f5"], "m2": ["f2", "f6"]}.items()}
        out = tmp_path / f"{tag}_fusion"
        out.mkdir()
        run_fusion_model(base, 7, out / "model.pkl", out / "pred.csv", "svm")
        with open(out / "model.pkl", "rb") as fh:
            meta = pickle.load(fh).clf_
        cal = meta.calibrated_.calibrated_classifiers_[0].calibrators[0]  # Platt sigmoid a, b
        runs[tag] = ((meta.svc_.support_vectors_, cal.a_, cal.b_), pd.read_csv(out / "pred.csv"))
    for fa, fb in zip(runs["a"][0], runs["b"][0]):
        np.testing.assert_array_equal(fa, fb)
    pa, pb = runs["a"][1], runs["b"][1]
    train = pa.cohort == "train"
    pd.testing.assert_frame_equal(pa[train], pb[train])
