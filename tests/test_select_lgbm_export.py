"""The `lgbm` step's importance ranking and incremental CV-AUC curve (seed 004, Fig. 4): written by
the select stage beside selection.pkl, checked against LightGBM / scikit-learn run here directly,
and drawn by the report's `lgbm` section."""

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier
from scipy.stats import t as t_dist
from sklearn.model_selection import RepeatedStratifiedKFold, cross_val_score

from axilla import report, select
from axilla.train import FeatureModel

FOLDS, REPEATS, MAX_F, TREES, SEED = 4, 2, 6, 30, 7


def _data(n=90, p=10, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)],
                     index=pd.Index([f"P{i:03d}" for i in range(n)], name="patient_id"))
    y = (1.2 * X.f2 - X.f5 + 0.5 * X.f7 + rng.normal(scale=1.0, size=n) > 0).astype(int)
    cohort = np.where(np.arange(n) % 5 == 0, "internal", "train")
    split = pd.DataFrame({"patient_id": X.index, "cohort": cohort, "y": y.to_numpy()})
    return X, split


def _run(tmp_path, steps):
    X, split = _data()
    sel = {"steps": steps, "lgbm": {"folds": FOLDS, "repeats": REPEATS, "max_features": MAX_F, "n_estimators": TREES}}
    model = FeatureModel(kinds={c: "numeric" for c in X.columns}, select=sel, random_state=SEED)
    d = tmp_path / "selection" / "m"
    d.mkdir(parents=True, exist_ok=True)
    select.run(model, X, split, d / "selection.pkl", d / "selected.csv", d / "funnel.csv")
    return X, split, d


def _reference_lgbm():
    # the step's documented model, built here from LightGBM's own API
    return LGBMClassifier(n_estimators=TREES, num_leaves=7, min_child_samples=5, learning_rate=0.05,
                          importance_type="gain", n_jobs=1, verbose=-1, random_state=SEED)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("lgbm"), ["lgbm"])


def test_importance_ranking_is_lightgbms_gain_on_training_rows(exported):
    X, split, d = exported
    imp = pd.read_csv(d / "lgbm_importance.csv")
    assert list(imp.columns) == ["feature", "importance", "rank", "selected"]
    train = split.set_index("patient_id").cohort.eq("train").reindex(X.index).to_numpy()
    y = split.set_index("patient_id").y.reindex(X.index).to_numpy()
    ref = pd.Series(_reference_lgbm().fit(X[train], y[train]).booster_.feature_importance("gain"), index=X.columns)
    assert set(imp.feature) == set(X.columns) and list(imp["rank"]) == list(range(1, X.shape[1] + 1))
    assert np.allclose(imp.set_index("feature").importance.reindex(X.columns), ref, rtol=1e-6)
    assert (np.diff(imp.importance) <= 0).all()
    assert set(imp.feature[:2]) <= {"f2", "f5", "f7"}  # the informative features lead


def test_curve_matches_cv_auc_recomputed_for_top_k(exported):
    X, split, d = exported
    curve = pd.read_csv(d / "lgbm_curve.csv")
    imp = pd.read_csv(d / "lgbm_importance.csv")
    assert list(curve.columns) == ["n_features", "feature_added", "cv_auc_mean", "cv_auc_sd", "ci_low", "ci_high",
                                   "n_splits", "chosen"]
    assert list(curve.n_features) == list(range(1, MAX_F + 1))
    assert list(curve.feature_added) == list(imp.feature[:MAX_F])
    s = split.set_index("patient_id").reindex(X.index)
    Xt, yt = X[(s.cohort == "train").to_numpy()], s.y[(s.cohort == "train").to_numpy()].to_numpy()
    cv = RepeatedStratifiedKFold(n_splits=FOLDS, n_repeats=REPEATS, random_state=SEED)
    for k in (1, 3, MAX_F):
        aucs = cross_val_score(_reference_lgbm(), Xt[list(imp.feature[:k])], yt, cv=cv, scoring="roc_auc")
        row = curve.set_index("n_features").loc[k]
        assert np.isclose(row.cv_auc_mean, aucs.mean()) and np.isclose(row.cv_auc_sd, aucs.std(ddof=1))
        half = t_dist.ppf(0.975, len(aucs) - 1) * aucs.std(ddof=1) / np.sqrt(len(aucs))
        assert row.n_splits == FOLDS * REPEATS and np.isclose(row.ci_high - row.ci_low, 2 * half)
    # the chosen prefix: the best mean (first on ties); the selection keeps exactly those features
    best = int(curve.n_features[curve.cv_auc_mean == curve.cv_auc_mean.max()].min())
    assert list(curve.n_features[curve.chosen]) == [best]
    assert set(pd.read_csv(d / "selected.csv").feature) == set(imp.feature[:best]) == set(imp.feature[imp.selected])


def test_no_lgbm_step_no_tables_and_stale_ones_removed(tmp_path):
    _, _, d = _run(tmp_path, ["lgbm"])
    assert (d / "lgbm_curve.csv").exists()
    _, _, d = _run(tmp_path, ["zscore"])  # the same model re-configured without the step
    assert not (d / "lgbm_curve.csv").exists() and not (d / "lgbm_importance.csv").exists()


def test_report_section_finds_and_draws_them(exported, tmp_path):
    from axilla.report.html import Doc
    from axilla.report.sections import lgbm as section
    from axilla.report.study import resolve_optional

    _, _, d = exported
    results = d.parent.parent
    opt = resolve_optional({}, report.optional_paths(str(results), ["m", "other"], ["train"]), ["train"])
    assert opt["lgbm_curve"] == [str(d / "lgbm_curve.csv")]

    class S:  # the two Study members the section reads
        models = ["m", "other"]

        def by_model(self, name):
            return {"m": opt[name][0]} if opt[name] else {}

    doc = Doc()
    section.lgbm(doc, S())
    text = "\n".join(doc.parts)
    assert text.count("data:image/png;base64,") == 1 and "<h3>m</h3>" in text and "other" not in text
    empty = Doc()
    S.by_model = lambda self, name: {}
    section.lgbm(empty, S())
    assert report.ABSENT in "\n".join(empty.parts)
