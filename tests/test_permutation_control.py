"""Permutation negative control: null AUCs centred on 0.5 without signal, flagged with a planted
leak; the Ojala-Garriga p-value by hand; the pipeline's refits use the same permutations everywhere."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from axilla.evaluate import PERMUTATION_COLUMNS, permutation_test, permuted_labels, roc_auc
from axilla.evaluate.permutation import chance_sd, null_flagged, p_value


def _lr(X_fit, y_fit, X_eval):
    return LogisticRegression(max_iter=1000).fit(X_fit, y_fit).predict_proba(X_eval)[:, 1]


def _data(signal: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(260, 5))
    y = (rng.random(260) < 1 / (1 + np.exp(-signal * X[:, 0]))).astype(int)
    return X[:60], y[:60], {"test": X[60:]}, {"test": y[60:]}


class Peeking:
    """A leaky procedure: it fits on the (permuted) training labels, then looks at the held-out
    outcomes to choose, among its fit and each single feature either way round, the score that
    ranks them best (model selection on the test set)."""

    def __init__(self, y_eval):
        self.y_eval = y_eval

    def __call__(self, X_fit, y_fit, X_eval):
        candidates = [_lr(X_fit, y_fit, X_eval)] + [s * X_eval[:, j] for j in range(X_eval.shape[1]) for s in (1, -1)]
        return max(candidates, key=lambda c: roc_auc(self.y_eval, c))


def test_p_value_and_chance_sd_by_hand():
    assert p_value(0.8, [0.5, 0.85, 0.8, 0.4]) == pytest.approx(3 / 5)  # 1 + two null AUCs >= 0.8
    assert p_value(0.9, [0.5, 0.6]) == pytest.approx(1 / 3)
    assert chance_sd([0, 0, 1, 1]) == pytest.approx(np.sqrt(5 / 48))


def test_no_signal_gives_null_aucs_centred_on_chance():
    Xt, yt, Xe, ye = _data(signal=0.0)
    summary, null = permutation_test(Xt, yt, Xe, ye, _lr, n=40, seed=3)
    row = summary.iloc[0]
    assert list(summary.columns) == PERMUTATION_COLUMNS and len(null) == 40
    assert abs(row.null_mean - 0.5) < 3 * row.null_mean_se and not row.flagged
    assert row.null_sd == pytest.approx(np.std(null.auc, ddof=1))


def test_real_signal_is_significant_and_its_null_is_not_flagged():
    Xt, yt, Xe, ye = _data(signal=2.5)
    summary, _ = permutation_test(Xt, yt, Xe, ye, _lr, n=30, seed=3)
    row = summary.iloc[0]
    assert row.auc > 0.8 and row.p_value == pytest.approx(1 / 31) and not row.flagged


def test_a_planted_leak_is_flagged():
    Xt, yt, Xe, ye = _data(signal=0.0)
    summary, null = permutation_test(Xt, yt, Xe, ye, Peeking(ye["test"]), n=40, seed=3)
    assert (null.auc >= 0.5).all() and summary.iloc[0].flagged
    # the label itself as a held-out feature, read by a procedure that always uses it: AUC 1 every time
    leak = {"test": np.c_[Xe["test"], ye["test"]]}

    def copy_label(X_fit, y_fit, X_eval):
        return X_eval[:, -1] if X_eval.shape[0] != X_fit.shape[0] else _lr(X_fit, y_fit, X_eval)

    summary, null = permutation_test(np.c_[Xt, yt], yt, leak, ye, copy_label, n=20, seed=1)
    assert (null.auc == 1).all() and summary.iloc[0].flagged


def test_flag_rule_uses_the_chance_sd_as_a_floor_and_needs_enough_permutations():
    assert not null_flagged([0.52, 0.48, 0.55, 0.45], sd_chance=0.08, min_n=4)
    assert null_flagged([0.63] * 4, sd_chance=0.08, min_n=4)  # SD 0, floored: 0.13 > 3 x 0.08 / 2
    assert not null_flagged([0.62] * 4, sd_chance=0.08, min_n=4)  # 0.12 is not beyond 0.12
    assert not null_flagged([0.9] * 19, sd_chance=0.08)  # fewer than 20 permutations: not judged
    assert null_flagged([0.9] * 20, sd_chance=0.08)


def test_permutations_are_the_same_for_any_row_order_or_subset():
    ids = [f"P{i:02d}" for i in range(12)]
    y = np.tile([0, 1], 6)
    a = permuted_labels(ids, y, 3, seed=7)
    b = permuted_labels(ids[::-1], y[::-1], 3, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert (a.sum() == 6).all() and not (a[0].to_numpy() == a[1].to_numpy()).all()


def test_pipeline_refits_every_model_on_the_same_permutations(tmp_path):
    from sklearn.base import clone

    from axilla.io import save_model
    from axilla.permute import run_feature_permutations, run_fusion_permutations, training_permutations
    from axilla.train import FeatureModel, FusionModel, oof_proba, run_feature_model, run_fusion_model

    rng = np.random.default_rng(5)
    n = 40
    ids = [f"P{i:02d}" for i in range(n)]
    y = np.tile([0, 1], n // 2)
    X = pd.DataFrame({"a": y + rng.normal(0, 1, n), "b": rng.normal(size=n), "c": y + rng.normal(0, 2, n)}, index=ids)
    X.index.name = "patient_id"
    split = pd.DataFrame({"patient_id": ids, "cohort": ["train"] * 28 + ["internal"] * 12, "y": y})
    perm = {}
    for m, cols in (("m1", ["a", "b"]), ("m2", ["c"])):
        template = FeatureModel(kinds={}, select={"steps": ["variance", "zscore"]}, random_state=0)
        save_model(template.fit_selection(X[cols].iloc[:28], y[:28]), str(tmp_path / f"{m}.pkl"))
        run_feature_model(X[cols], split, str(tmp_path / f"{m}.pkl"), 3, str(tmp_path / f"{m}_model.pkl"),
                          str(tmp_path / f"{m}_pred.csv"))
        perm[m] = {k: str(tmp_path / f"{m}_{k}.csv") for k in ("summary", "null", "predictions")}
        run_feature_permutations(X[cols], split, str(tmp_path / f"{m}.pkl"), str(tmp_path / f"{m}_pred.csv"), {}, 3,
                                 3, True, m, perm[m])
    labels = training_permutations(split, 3, 3)
    train = X.iloc[:28]
    m2 = pd.read_csv(perm["m2"]["predictions"], dtype={"patient_id": str})
    null2 = pd.read_csv(perm["m2"]["null"])
    for k in range(3):  # refitted from scratch on permutation k, scored on the true held-out outcomes
        yk = labels.loc[train.index, k].to_numpy()
        fresh = clone(FeatureModel(kinds={}, select={"steps": ["variance", "zscore"]}, random_state=0))
        p = fresh.fit(train[["c"]], yk).predict_proba(X[["c"]].iloc[28:])[:, 1]
        assert null2.auc[k] == pytest.approx(roc_auc(y[28:], p))
        oof = oof_proba(clone(fresh), train[["c"]], yk, 3)
        assert m2[m2.permutation == k].oof_prob.iloc[:28].to_numpy() == pytest.approx(oof)
    run_fusion_model({"m1": str(tmp_path / "m1_pred.csv"), "m2": str(tmp_path / "m2_pred.csv")}, 3,
                     str(tmp_path / "f_model.pkl"), str(tmp_path / "f_pred.csv"), "lr")
    out = {k: str(tmp_path / f"f_{k}.csv") for k in ("summary", "null", "predictions")}
    run_fusion_permutations(split, {b: perm[b]["predictions"] for b in ("m1", "m2")}, str(tmp_path / "f_pred.csv"),
                            "lr", 3, 3, False, "f", out)
    base = {b: pd.read_csv(perm[b]["predictions"], dtype={"patient_id": str}) for b in ("m1", "m2")}
    k = 1
    oof = pd.DataFrame({b: f[f.permutation == k].oof_prob.to_numpy()[:28] for b, f in base.items()}, index=train.index)
    full = pd.DataFrame({b: f[f.permutation == k].prob.to_numpy()[28:] for b, f in base.items()})
    meta = FusionModel(meta="lr", random_state=3).fit(oof, labels.loc[train.index, k].to_numpy())
    got = pd.read_csv(out["null"])
    assert got.auc[k] == pytest.approx(roc_auc(y[28:], meta.predict_proba(full)[:, 1]))
    summary = pd.read_csv(out["summary"])
    assert list(summary.columns) == PERMUTATION_COLUMNS and summary.n_permutations[0] == 3
    real = pd.read_csv(tmp_path / "f_pred.csv")
    assert summary.auc[0] == pytest.approx(roc_auc(y[28:], real.prob[28:]))


def test_permutation_tables_do_not_depend_on_the_worker_count(tmp_path):
    """The rule gives a job 1 to 4 workers by its number of permutations (axilla.cluster): the
    tables must be the same whichever it gets."""
    from axilla.io import save_model
    from axilla.permute import run_feature_permutations
    from axilla.train import FeatureModel, run_feature_model

    rng = np.random.default_rng(8)
    ids = [f"P{i:02d}" for i in range(30)]
    y = np.tile([0, 1], 15)
    X = pd.DataFrame({"a": y + rng.normal(0, 1, 30), "b": rng.normal(size=30)}, index=pd.Index(ids, name="patient_id"))
    split = pd.DataFrame({"patient_id": ids, "cohort": ["train"] * 20 + ["internal"] * 10, "y": y})
    save_model(FeatureModel(kinds={}, select={"steps": ["zscore"]}, random_state=0).fit_selection(X.iloc[:20], y[:20]),
               str(tmp_path / "t.pkl"))
    run_feature_model(X, split, str(tmp_path / "t.pkl"), 3, str(tmp_path / "m.pkl"), str(tmp_path / "p.csv"))
    tables = {}
    for n_jobs in (1, 2):
        out = {k: str(tmp_path / f"{n_jobs}_{k}.csv") for k in ("summary", "null", "predictions")}
        run_feature_permutations(X, split, str(tmp_path / "t.pkl"), str(tmp_path / "p.csv"), {}, 4, 3, False, "m",
                                 out, n_jobs=n_jobs)
        tables[n_jobs] = {k: open(p).read() for k, p in out.items()}
    assert tables[1] == tables[2]
