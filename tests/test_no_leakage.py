"""No leakage: changing evaluation-cohort labels and features leaves every fitted artefact unchanged.

Runs the `select`, `train` and `train_fusion` entry points twice — once on the original data,
once with every non-training patient's outcome flipped and features scrambled — and compares
the fitted selection, coefficients and training-cohort (out-of-fold) predictions.
"""

import pickle

import numpy as np
import pandas as pd
import pytest

from axilla import select
from axilla import interpret
from axilla.train import FeatureModel, run_feature_model, run_fusion_model

SETTINGS = {"steps": ["variance", "zscore", "univariate", "correlation", "lasso"],
            "univariate": {"p": 0.2}, "correlation": {"threshold": 0.9},
            # a coarser λ path than glmnet's 100 (what is fitted on which rows is the question here)
            "lasso": {"folds": 3, "rule": "min", "n_lambda": 20}}
KINDS = {"age": "numeric", "margin": "categorical"}


def _data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = pd.DataFrame({f"f{j}": rng.normal(size=n) + (0.8 * y if j < 3 else 0) for j in range(12)},
                     index=[f"P{i:03d}" for i in range(n)])
    X["age"] = 50 + 5 * rng.normal(size=n) + 3 * y
    X["margin"] = np.where(rng.random(n) < 0.3 + 0.4 * y, "spiculated", "round")
    cohort = np.array(["train"] * 36 + ["internal"] * 12 + ["external"] * 12)
    split = pd.DataFrame({"patient_id": X.index, "cohort": cohort, "y": y})
    return X, split


def _tamper(X, split, seed=1):
    rng = np.random.default_rng(seed)
    X, split = X.copy(), split.copy()
    test = (split.cohort != "train").to_numpy()
    split.loc[test, "y"] = 1 - split.loc[test, "y"]
    num = [c for c in X.columns if c != "margin"]
    X.loc[test, num] = rng.normal(size=(test.sum(), len(num))) * 10
    X.loc[test, "margin"] = "lobulated"
    return X, split


def selection_model(kinds, settings, seed, model_spec=None) -> FeatureModel:
    """The unfitted model that the `select` rule fits (study-wide ``select`` unless the model has its own)."""
    spec = model_spec or {}
    return FeatureModel(kinds=kinds, select=spec.get("select") or settings, random_state=seed,
                        classifier=spec.get("classifier"), smote=spec.get("smote"))


def _fit(tmp, X, split):
    tmp.mkdir()
    select.run(selection_model(KINDS, SETTINGS, 7), X, split, tmp / "sel.pkl", tmp / "selected.csv",
               tmp / "funnel.csv")
    run_feature_model(X, split, str(tmp / "sel.pkl"), 7, tmp / "model.pkl", tmp / "pred.csv")
    interpret.run_feature_model(str(tmp / "model.pkl"), X, split, 7, "m", {"clinical"}, interpret.Outputs.under(tmp))
    return tmp


def _fit_fusion(base, out):
    run_fusion_model(base, 7, out / "model.pkl", out / "pred.csv", "lr")
    interpret.run_fusion_model(str(out / "model.pkl"), base, 7, interpret.Outputs.under(out))


def _fitted_state(path):
    with open(path, "rb") as fh:
        m = pickle.load(fh)
    steps = m.chain_.named_steps
    return {"selected": m.selected_, "medians": m.encoder_.medians_.to_dict(), "levels": m.encoder_.levels_,
            "zmean": steps["zscore"].mean_.to_dict(), "zsd": steps["zscore"].scale_.to_dict(),
            "pvalues": steps["univariate"].pvalues_.to_dict(), "lambda": steps["lasso"].lambda_,
            "lasso": steps["lasso"].coef_.to_dict(), "lr": m.estimator_.coef_.tolist()}


def test_feature_model_ignores_evaluation_cohorts(tmp_path):
    X, split = _data()
    a = _fit(tmp_path / "a", X, split)
    Xt, st = _tamper(X, split)
    b = _fit(tmp_path / "b", Xt, st)
    for f in ["selected.csv", "funnel.csv", "coefficients.csv", "formula.txt", "importance.csv", "sel.pkl"]:
        if not f.endswith(".pkl"):
            assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert _fitted_state(a / "model.pkl") == _fitted_state(b / "model.pkl")
    pa, pb = (pd.read_csv(d / "pred.csv", dtype={"patient_id": str}) for d in (a, b))
    train = pa.cohort == "train"
    pd.testing.assert_frame_equal(pa[train], pb[train])
    # the tampering did reach the evaluation rows, so the comparison above could have failed
    assert not np.allclose(pa.loc[~train, "prob"], pb.loc[~train, "prob"])


def test_fitting_on_tampered_training_rows_changes_the_model(tmp_path):
    """Guard: the comparison above is sensitive — training-row changes do change the fit."""
    X, split = _data()
    a = _fit(tmp_path / "a", X, split)
    s2 = split.copy()
    s2.loc[:5, "y"] = 1 - s2.loc[:5, "y"]
    b = _fit(tmp_path / "b", X, s2)
    assert _fitted_state(a / "model.pkl") != _fitted_state(b / "model.pkl")


def test_post_fusion_ignores_evaluation_cohorts(tmp_path):
    X, split = _data()
    runs = {}
    for tag, (XX, ss) in {"a": (X, split), "b": _tamper(X, split)}.items():
        base = {}
        for name, cols in {"m1": ["f0", "f1", "f5", "age", "margin"], "m2": ["f2", "f6", "f7"]}.items():
            d = _fit(tmp_path / f"{tag}_{name}", XX[cols], ss)
            base[name] = str(d / "pred.csv")
        out = tmp_path / f"{tag}_fusion"
        out.mkdir()
        _fit_fusion(base, out)
        runs[tag] = out
    assert (runs["a"] / "coefficients.csv").read_bytes() == (runs["b"] / "coefficients.csv").read_bytes()
    pa, pb = (pd.read_csv(d / "pred.csv") for d in runs.values())
    train = pa.cohort == "train"
    pd.testing.assert_frame_equal(pa[train], pb[train])


def test_post_fusion_meta_classifier_sees_only_out_of_fold_probabilities(tmp_path, monkeypatch):
    """By construction: the meta-classifier is fitted on the `oof_prob` column, never on `prob`."""
    X, split = _data()
    base = {}
    for name, cols in {"m1": ["f0", "f1"], "m2": ["f2", "f3"]}.items():
        d = _fit(tmp_path / name, X[cols], split)
        pred = pd.read_csv(d / "pred.csv")
        pred.loc[pred.cohort == "train", "prob"] = np.nan  # in-sample probabilities made unusable
        pred.to_csv(d / "pred.csv", index=False)
        base[name] = str(d / "pred.csv")
    out = tmp_path / "fusion"
    out.mkdir()
    _fit_fusion(base, out)
    coef = pd.read_csv(out / "coefficients.csv")
    assert np.isfinite(coef.coef).all()
