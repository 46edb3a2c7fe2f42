"""validate.missing_view: allow — patients with absent views, checked against hand-made cases and
scikit-learn fits computed here on the training rows.

The manifest keeps a patient's present views; availability.csv says which; a feature model uses the
patients having every view its sources read; post-fusion gives a patient lacking a base model the
prediction of the submodel refitted on the training patients having its bases (Mercaldo & Blume
2020), and nothing fitted sees held-out rows; evaluation reports AUC per availability subgroup.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from axilla import demo
from axilla.availability import availability_table, subgroups, usable, views_needed
from axilla.errors import InputError
from axilla.evaluate import availability_metrics
from axilla.evaluate.stage import run as evaluate_run
from axilla.features import load_feature_tables
from axilla.reproducibility import feature_icc
from axilla.settings import section
from axilla.train import FusionModel, run_fusion_model
from axilla.validate import load_manifest

VIEWS = {"MRI": ["T2", "DWI"], "US": ["tumor"]}
KEYS = ["MRI_T2", "MRI_DWI", "US_tumor"]


def _manifest(tmp_path, rows):
    df = pd.DataFrame(rows, columns=["patient_id", "modality", "view", "rater"])
    df["image"] = [f"img/{p}_{m}_{v}.nii.gz" for p, m, v in zip(df.patient_id, df.modality, df.view)]
    df["mask"] = [f"msk/{p}_{m}_{v}_{r}.nii.gz" for p, m, v, r in zip(df.patient_id, df.modality, df.view, df.rater)]
    path = tmp_path / "manifest.csv"
    df[["patient_id", "modality", "view", "image", "mask", "rater"]].to_csv(path, index=False)
    return path


ROWS = [("P1", "MRI", "T2", "A"), ("P1", "MRI", "DWI", "A"), ("P1", "US", "tumor", "A"),
        ("P2", "US", "tumor", "A"),                                  # no MRI at all
        ("P3", "MRI", "T2", "A"), ("P3", "US", "tumor", "A"),        # no DWI
        ("P3", "MRI", "DWI", "B")]                                   # DWI by the second rater only


def test_allow_keeps_patients_with_their_present_views(tmp_path):
    path = _manifest(tmp_path, ROWS)
    with pytest.raises(InputError):
        load_manifest(path, VIEWS, "A", "stop")
    m = load_manifest(path, VIEWS, "A", "allow")
    assert sorted(m.patient_id.unique()) == ["P1", "P2", "P3"]
    # P3's DWI has no primary-rater mask: no feature is computed from it, so its row goes
    assert not ((m.patient_id == "P3") & (m.view == "DWI")).any()
    assert m.attrs["dropped"] == {}
    table = availability_table(m, VIEWS, "A")
    expected = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "MRI_T2": [1, 0, 1], "MRI_DWI": [1, 0, 0],
                             "US_tumor": [1, 1, 1]})
    pd.testing.assert_frame_equal(table, expected)
    labels = subgroups(table)
    assert labels.to_dict() == {"P1": "complete", "P2": "lacking MRI", "P3": "lacking MRI_DWI"}


def test_allow_still_stops_on_a_patient_without_any_view(tmp_path):
    path = _manifest(tmp_path, ROWS + [("P4", "MRI", "T2", "B")])
    with pytest.raises(InputError, match="P4 has none of the views"):
        load_manifest(path, VIEWS, "A", "allow")


def test_availability_is_all_ones_without_allow(tmp_path):
    m = load_manifest(_manifest(tmp_path, ROWS), VIEWS, "A", "drop")
    table = availability_table(m, VIEWS, "A")
    assert list(table.patient_id) == ["P1"] and (table[KEYS] == 1).all().all()
    assert set(subgroups(table)) == {"complete"}


@pytest.mark.parametrize("specs, needed", [
    (["clinical"], []), (["blood:SII"], []), (["radiomics"], KEYS), (["deep"], KEYS),
    (["radiomics:MRI"], ["MRI_T2", "MRI_DWI"]), (["deep:US_tumor"], ["US_tumor"]),
    (["clinical", "radiomics:MRI_T2"], ["MRI_T2"]), (["radiomics:MRI_T2_original_shape"], ["MRI_T2"]),
    (["radiomics:MRI_T"], []),  # a prefix names whole name parts: MRI_T is not MRI_T2
])
def test_views_needed_by_feature_sources(specs, needed):
    assert views_needed(specs, KEYS) == needed


def _tables(tmp_path, n=12):
    """clinical, split, radiomics (MRI columns absent for P02, P05, P08) and availability CSVs."""
    ids = [f"P{i:02d}" for i in range(n)]
    no_mri = {"P02", "P05", "P08"}
    rng = np.random.default_rng(0)
    pd.DataFrame({"patient_id": ids, "age": rng.normal(50, 5, n)}).to_csv(tmp_path / "clinical.csv", index=False)
    pd.DataFrame({"patient_id": ids, "cohort": ["train"] * 8 + ["test"] * 4,
                  "y": [0, 1] * (n // 2)}).to_csv(tmp_path / "split.csv", index=False)
    rad = pd.DataFrame({"patient_id": ids, "MRI_T2_f": rng.normal(size=n), "US_tumor_f": rng.normal(size=n)})
    rad.loc[rad.patient_id.isin(no_mri), "MRI_T2_f"] = np.nan
    rad.to_csv(tmp_path / "radiomics.csv", index=False)
    pd.DataFrame({"patient_id": ids, "MRI_T2": [0 if p in no_mri else 1 for p in ids],
                  "US_tumor": 1}).to_csv(tmp_path / "availability.csv", index=False)
    return {k: str(tmp_path / f"{k}.csv") for k in ("clinical", "split", "radiomics", "availability")}, ids, no_mri


def test_a_model_uses_the_patients_having_its_views(tmp_path):
    inputs, ids, no_mri = _tables(tmp_path)
    X, _, split = load_feature_tables(inputs, ["radiomics:MRI"], {"age": "numeric"})
    assert list(X.index) == [p for p in ids if p not in no_mri] == list(split.patient_id)
    assert X.notna().all().all()  # nothing left to impute for an absent modality
    X, _, split = load_feature_tables(inputs, ["clinical", "radiomics:US"], {"age": "numeric"})
    assert list(X.index) == ids and len(split) == len(ids)
    avail = pd.read_csv(inputs["availability"], dtype={"patient_id": str})
    assert usable(["clinical"], avail).all()
    assert set(usable(["radiomics"], avail).pipe(lambda s: s[~s].index)) == no_mri


def test_a_score_fusion_model_uses_the_patients_its_base_models_score(tmp_path):
    inputs, ids, no_mri = _tables(tmp_path)
    split = pd.read_csv(inputs["split"], dtype={"patient_id": str})
    base = split[~split.patient_id.isin(no_mri)].assign(prob=0.5, oof_prob=0.4, score=1.0, oof_score=2.0)
    base.to_csv(tmp_path / "base.csv", index=False)
    X, _, s = load_feature_tables({**inputs, "score_mri": str(tmp_path / "base.csv")}, ["clinical"],
                                  {"age": "numeric"})
    assert list(X.index) == [p for p in ids if p not in no_mri] == list(s.patient_id)
    # out-of-fold score for training patients, the full fit's for the others
    assert X.mri_score.to_dict() == {p: 2.0 if c == "train" else 1.0 for p, c in zip(s.patient_id, s.cohort)}


# --------------------------------------------------------------------------- post-fusion


def _base_predictions(tmp_path, seed=0, n=80, lacking=range(0, 80, 5)):
    """Two base models' prediction files; base `mri` scores nobody in `lacking` (its rows absent)."""
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    y = rng.integers(0, 2, n)
    cohort = np.array(["train"] * 50 + ["test"] * 30)
    paths = {}
    for name, shift in (("clin", 1.0), ("mri", 1.5)):
        p = 1 / (1 + np.exp(-(shift * (y - 0.5) + rng.normal(size=n))))
        oof = np.where(cohort == "train", np.clip(p + rng.normal(0, 0.05, n), 0.01, 0.99), np.nan)
        df = pd.DataFrame({"patient_id": ids, "cohort": cohort, "y": y, "prob": p, "oof_prob": oof})
        if name == "mri":
            df = df.drop(index=list(lacking))
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    return {k: str(v) for k, v in paths.items()}


def test_post_fusion_gives_a_patient_lacking_a_base_its_submodel(tmp_path):
    base = _base_predictions(tmp_path)
    run_fusion_model(base, 7, tmp_path / "model.pkl", tmp_path / "pred.csv", "lr")
    pred = pd.read_csv(tmp_path / "pred.csv", dtype={"patient_id": str}).set_index("patient_id")
    clin, mri = (pd.read_csv(base[k], dtype={"patient_id": str}).set_index("patient_id") for k in ("clin", "mri"))
    assert list(pred.index) == list(clin.index)  # everyone: the clinical base scores everyone
    train = clin[clin.cohort == "train"]
    # independent reference: scikit-learn's LR (the meta default, C = 1) on the training rows' OOF logits
    sub = LogisticRegression(C=1.0, max_iter=5000, tol=1e-8).fit(logit(train[["oof_prob"]].to_numpy()), train.y)
    both = train.join(mri.oof_prob.rename("mri"), how="inner")
    full = LogisticRegression(C=1.0, max_iter=5000, tol=1e-8).fit(logit(both[["oof_prob", "mri"]].to_numpy()),
                                                                   both.y)
    test = clin[clin.cohort == "test"]
    lacking = test.index[~test.index.isin(mri.index)]
    having = test.index[test.index.isin(mri.index)]
    assert len(lacking) and len(having)
    np.testing.assert_allclose(pred.loc[lacking, "prob"], sub.predict_proba(logit(test.loc[lacking, ["prob"]].to_numpy()))[:, 1],
                               rtol=1e-6)
    X = np.column_stack([logit(test.loc[having, "prob"]), logit(mri.loc[having, "prob"])])
    np.testing.assert_allclose(pred.loc[having, "prob"], full.predict_proba(X)[:, 1], rtol=1e-6)


def test_post_fusion_submodels_never_see_held_out_rows(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    base_a = _base_predictions(a)
    base_b = _base_predictions(b)
    for path in base_b.values():  # held-out rows tampered: outcome flipped, probabilities scrambled
        df = pd.read_csv(path)
        test = df.cohort == "test"
        df.loc[test, "y"] = 1 - df.loc[test, "y"]
        df.loc[test, "prob"] = np.random.default_rng(5).uniform(0.01, 0.99, test.sum())
        df.to_csv(path, index=False)
    for d, base in ((a, base_a), (b, base_b)):
        run_fusion_model(base, 7, d / "model.pkl", d / "pred.csv", "lr")
    pa, pb = (pd.read_csv(d / "pred.csv") for d in (a, b))
    train = pa.cohort == "train"
    pd.testing.assert_frame_equal(pa[train], pb[train])
    assert not np.allclose(pa.loc[~train, "prob"], pb.loc[~train, "prob"])  # the tampering reached them


def test_fusion_without_absent_scores_is_the_plain_meta_classifier():
    rng = np.random.default_rng(2)
    P = pd.DataFrame(rng.uniform(0.05, 0.95, (40, 2)), columns=["a", "b"])
    y = rng.integers(0, 2, 40)
    m = FusionModel(meta="lr").fit(P, y)
    assert list(m.submodels_) == [("a", "b")]
    ref = LogisticRegression(C=1.0, max_iter=5000, tol=1e-8).fit(logit(P.to_numpy()), y)
    np.testing.assert_allclose(m.predict_proba(P), ref.predict_proba(logit(P.to_numpy())), rtol=1e-6)
    P.loc[3, "b"] = np.nan
    with pytest.raises(ValueError, match="no submodel"):
        m.predict_proba(P)


# --------------------------------------------------------------------------- evaluation


def test_availability_metrics_per_subgroup():
    rng = np.random.default_rng(3)
    ids = [f"P{i:02d}" for i in range(40)]
    y = np.tile([0, 1], 20)
    groups = pd.Series(["complete"] * 30 + ["lacking MRI"] * 10, index=ids)
    clin = pd.DataFrame({"cohort": "test", "y": y, "prob": rng.uniform(size=40)}, index=ids)
    mri = clin.iloc[:30].assign(prob=rng.uniform(size=30))
    t = availability_metrics({"clin": clin, "mri": mri}, groups, ["test"])
    assert list(zip(t.model, t.subgroup)) == [("clin", "complete"), ("clin", "lacking MRI"), ("mri", "complete")]
    assert list(t.n) == [30, 10, 30] and list(t.positives) == [15, 5, 15]
    np.testing.assert_allclose(t.auc, [roc_auc_score(y[:30], clin.prob[:30]), roc_auc_score(y[30:], clin.prob[30:]),
                                       roc_auc_score(y[:30], mri.prob)])
    assert (t.auc_ci_low < t.auc).all() and (t.auc < t.auc_ci_high).all()


def test_evaluate_compares_models_on_the_patients_every_model_scores(tmp_path):
    rng = np.random.default_rng(4)
    ids = [f"P{i:02d}" for i in range(60)]
    y = np.tile([0, 1], 30)
    cohort = np.array(["train"] * 40 + ["test"] * 20)
    lacking = set(ids[::5])
    files = {}
    for name in ("clin", "mri"):
        df = pd.DataFrame({"patient_id": ids, "cohort": cohort, "y": y,
                           "prob": np.clip(0.3 * y + rng.uniform(0, 0.7, 60), 0, 1)})
        if name == "mri":
            df = df[~df.patient_id.isin(lacking)]
        files[name] = tmp_path / f"{name}.csv"
        df.to_csv(files[name], index=False)
    pd.DataFrame({"patient_id": ids, "MRI_T2": [0 if p in lacking else 1 for p in ids],
                  "US_tumor": 1}).to_csv(tmp_path / "availability.csv", index=False)
    settings = section("evaluate")
    with pytest.raises(InputError, match="patients differ"):
        evaluate_run(files, ["train", "test"], str(tmp_path / "stop"), settings)
    out = tmp_path / "allow"
    evaluate_run(files, ["train", "test"], str(out), settings, availability=str(tmp_path / "availability.csv"),
                 allow_missing=True)
    wide = pd.read_csv(out / "predictions" / "test.csv", dtype={"patient_id": str})
    assert set(wide.patient_id) == {p for p in ids[40:] if p not in lacking}
    metrics = pd.read_csv(out / "metrics" / "test.csv").set_index("model")
    mri = pd.read_csv(files["mri"]).query("cohort == 'test'")
    assert metrics.loc["mri", "auc"] == pytest.approx(roc_auc_score(mri.y, mri.prob))
    table = pd.read_csv(out / "metrics" / "availability.csv")
    row = table[(table.model == "clin") & (table.cohort == "test") & (table.subgroup == "lacking MRI")].iloc[0]
    assert row.n == len([p for p in ids[40:] if p in lacking])
    assert not ((table.model == "mri") & (table.subgroup == "lacking MRI")).any()


def test_icc_of_a_view_uses_the_patients_having_it():
    rng = np.random.default_rng(6)
    n = 20
    truth = rng.normal(size=(n, 2))
    rows = []
    for rater in ("A", "B"):
        vals = truth + rng.normal(0, 0.3, (n, 2))
        rows.append(pd.DataFrame({"patient_id": [f"P{i}" for i in range(n)], "rater": rater,
                                  "MRI_T2_f": vals[:, 0], "US_tumor_f": vals[:, 1]}))
    by_rater = pd.concat(rows, ignore_index=True)
    full = feature_icc(by_rater, [("A", "B")], "ICC2").set_index("feature")
    absent = by_rater.patient_id.isin(["P0", "P1", "P2"])
    with_gaps = by_rater.copy()
    with_gaps.loc[absent, "MRI_T2_f"] = np.nan
    t = feature_icc(with_gaps, [("A", "B")], "ICC2").set_index("feature")
    present = feature_icc(by_rater[~absent], [("A", "B")], "ICC2").set_index("feature")
    assert t.loc["MRI_T2_f", "n"] == n - 3
    assert t.loc["MRI_T2_f", "icc"] == pytest.approx(present.loc["MRI_T2_f", "icc"])
    assert t.loc["US_tumor_f", "icc"] == pytest.approx(full.loc["US_tumor_f", "icc"])  # its view: every patient


# --------------------------------------------------------------------------- demo


def test_demo_missing_modality_is_opt_in():
    base = demo.plan(40, 3, 0.3)
    assert base.equals(demo.plan(40, 3, 0.3, missing={})) and demo.folder(40, 3) == demo.folder(40, 3, missing={})
    m = demo.plan(40, 3, 0.3, missing={"MRI": 0.2})
    lacking = set(base.patient_id) - set(m[m.modality == "MRI"].patient_id)
    assert len(lacking) == 8 and lacking == demo.absent(40, 3, {"MRI": 0.2})["MRI"]
    # only those patients' MRI rows go; every other row is as without the option
    pd.testing.assert_frame_equal(m.reset_index(drop=True), base[~((base.modality == "MRI") & base.patient_id.isin(
        lacking))].reset_index(drop=True))
    assert demo.folder(40, 3, missing={"MRI": 0.2}) == "n40_seed3_noMRI0.2"
