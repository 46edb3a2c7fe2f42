"""Per-patient Nomo-score, its training Youden cut-off and the risk groups (seed 002).

References: Youden cut-offs worked by hand and by a brute-force J over every candidate written
here; risk-group counts by pandas, their CIs by statsmodels' Wilson interval; the nomogram's
probability against the model's own predict_proba. Leakage: held-out labels and predictor values
do not move the cut-off.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from statsmodels.stats.proportion import proportion_confint

from axilla import nomogram
from axilla.io import save_model
from axilla.train import FeatureModel

KINDS = {"age": "numeric", "tumor_mm": "numeric", "er": "categorical"}


def test_youden_cutoff_by_hand():
    # positives at 30, 60, 70, 80; negatives at 10, 20, 40, 50 ("score >= t" is high risk).
    # J(t): 10→0, 20→.25, 30→.5, 40→.25, 50→.5, 60→.75 (sens 3/4, spec 4/4), 70→.5, 80→.25
    s = [10, 20, 30, 40, 50, 60, 70, 80]
    y = [0, 0, 1, 0, 0, 1, 1, 1]
    assert nomogram.nomo_cutoff(s, y) == 60
    # J(2) = J(4) = 0.5: the tie goes to the higher, more specific cut-off
    assert nomogram.nomo_cutoff([1, 2, 3, 4], [0, 1, 0, 1]) == 4


def _brute_force_cutoff(s, y):
    """max over the observed values t of J = sens + spec - 1, highest t on ties."""
    best = None
    for t in sorted(set(s)):
        call = s >= t
        j = call[y == 1].mean() + (~call[y == 0]).mean() - 1
        if best is None or j >= best[0] - 1e-12:
            best = (j, t)
    return best[1]


@pytest.fixture(scope="module")
def study():
    rng = np.random.default_rng(5)
    n = 130
    X = pd.DataFrame({"age": np.round(55 + 10 * rng.normal(size=n)), "tumor_mm": 22 + 6 * rng.normal(size=n),
                      "er": rng.choice(["neg", "pos"], n)}, index=pd.Index([f"P{i:03d}" for i in range(n)],
                                                                           name="patient_id"))
    y = (rng.random(n) < expit(-0.06 * (X.age - 55) + 0.15 * (X.tumor_mm - 22) + 0.8 * (X.er == "pos"))).astype(int)
    cohort = np.where(np.arange(n) < 80, "train", np.where(np.arange(n) < 110, "internal", "external"))
    split = pd.DataFrame({"patient_id": X.index, "cohort": cohort, "y": y.to_numpy()})
    train = cohort == "train"
    model = FeatureModel(kinds=KINDS, select={"steps": ["zscore"]}).fit(X[train], y.to_numpy()[train])
    return model, X, split


def test_scores_are_the_nomogram_points_and_the_model_probability(study):
    model, X, split = study
    scores, cut = nomogram.nomo_scores(model, X, split)
    assert list(scores.columns[:6]) == nomogram.SCORE_COLUMNS
    pts = [c for c in scores.columns if c.startswith("points_")]
    assert pts == ["points_age", "points_tumor_mm", "points_er=pos"]
    np.testing.assert_allclose(scores[pts].sum(axis=1), scores.nomo_score, rtol=1e-12)
    np.testing.assert_allclose(scores.probability, model.predict_proba(X)[:, 1], atol=1e-9)
    assert list(scores.patient_id) == list(X.index) and (scores.y.to_numpy() == split.y.to_numpy()).all()
    train = scores[scores.cohort == "train"]
    assert cut == pytest.approx(_brute_force_cutoff(train.nomo_score.to_numpy(), train.y.to_numpy()), abs=0)
    assert ((scores.nomo_score >= cut) == (scores.risk_group == "high")).all()
    # the points increase with the probability, so a probability cut-off makes the same groups
    p_cut = _brute_force_cutoff(train.probability.to_numpy(), train.y.to_numpy())
    assert ((scores.probability >= p_cut) == (scores.risk_group == "high")).all()


def test_risk_group_table_counts_and_wilson_cis(study):
    model, X, split = study
    scores, cut = nomogram.nomo_scores(model, X, split)
    tab = nomogram.risk_group_table(scores, cut, 0.5, ["train", "internal", "external"])
    assert list(tab.columns) == nomogram.RISK_GROUP_COLUMNS
    assert list(zip(tab.cohort, tab.risk_group)) == [(c, g) for c in ("train", "internal", "external")
                                                     for g in ("low", "high")]
    want = scores.groupby(["cohort", "risk_group"]).y.agg(["size", "sum"])
    for r in tab.itertuples():
        n, k = want.loc[(r.cohort, r.risk_group)] if (r.cohort, r.risk_group) in want.index else (0, 0)
        assert (r.n, r.events) == (n, k)
        assert r.rate == pytest.approx(k / n)
        assert (r.rate_ci_low, r.rate_ci_high) == pytest.approx(proportion_confint(k, n, method="wilson"), abs=1e-12)
    assert (tab.cutoff == cut).all() and (tab.cutoff_probability == 0.5).all()
    # the high-risk group holds the larger share of node-positive patients (seed 002's Figure 1)
    rate = tab.set_index(["cohort", "risk_group"]).rate
    assert rate["train", "high"] > rate["train", "low"]


def test_empty_risk_group_has_no_rate():
    scores = pd.DataFrame({"cohort": ["train"] * 4 + ["internal"] * 2, "y": [0, 1, 0, 1, 1, 1],
                           "risk_group": ["low", "high", "low", "high", "high", "high"]})
    tab = nomogram.risk_group_table(scores, 1.0, 0.5).set_index(["cohort", "risk_group"])
    assert tab.loc[("internal", "low"), "n"] == 0 and np.isnan(tab.loc[("internal", "low"), "rate"])
    assert np.isnan(tab.loc[("internal", "low"), "rate_ci_low"])
    assert tab.loc[("internal", "high"), "rate_ci_high"] == 1.0  # 2 of 2: the upper end is exactly 1


def test_held_out_labels_and_points_do_not_move_the_cutoff(study):
    model, X, split = study
    scores, cut = nomogram.nomo_scores(model, X, split)
    held = split.index[split.cohort != "train"]
    split2 = split.copy()
    split2.loc[held, "y"] = 1 - split2.loc[held, "y"]  # every held-out label flipped
    X2 = X.copy()
    X2.loc[X.index[held], "tumor_mm"] = X.loc[X.index[held], "tumor_mm"] + 40.0  # and their points moved
    X2.loc[X.index[held], "er"] = "pos"
    scores2, cut2 = nomogram.nomo_scores(model, X2, split2)
    assert cut2 == cut
    train = split.cohort == "train"
    pd.testing.assert_frame_equal(scores2[train.to_numpy()], scores[train.to_numpy()])
    assert not np.allclose(scores2.nomo_score[~train.to_numpy()], scores.nomo_score[~train.to_numpy()])
    # the check can fail: flipping one training label does move the cut-off
    moved = False
    for i in np.flatnonzero(train):
        split3 = split.copy()
        split3.loc[i, "y"] = 1 - split3.loc[i, "y"]
        moved = nomogram.nomo_scores(model, X, split3)[1] != cut
        if moved:
            break
    assert moved


def test_run_risk_writes_both_tables(study, tmp_path):
    model, X, split = study
    save_model(model, tmp_path / "model.pkl")
    cohorts = ["train", "internal", "external"]
    nomogram.run_risk(str(tmp_path / "model.pkl"), X, split, cohorts, str(tmp_path / "s.csv"), str(tmp_path / "g.csv"))
    s = pd.read_csv(tmp_path / "s.csv", dtype={"patient_id": str})
    g = pd.read_csv(tmp_path / "g.csv")
    assert list(s.columns[:6]) == nomogram.SCORE_COLUMNS and len(s) == len(X)
    assert list(g.columns) == nomogram.RISK_GROUP_COLUMNS and list(dict.fromkeys(g.cohort)) == cohorts
    cut = g.cutoff.iloc[0]
    assert ((s.nomo_score >= cut) == (s.risk_group == "high")).all()  # full precision survives the file
    # the cut-off's probability: the model's probability of a training patient scoring exactly the cut-off
    at_cut = s[(s.cohort == "train") & (s.nomo_score == cut)]
    assert len(at_cut) >= 1 and g.cutoff_probability.iloc[0] == pytest.approx(at_cut.probability.iloc[0], abs=1e-12)


def test_no_training_patient_is_an_error(study):
    model, X, split = study
    with pytest.raises(ValueError, match="training cohort"):
        nomogram.nomo_scores(model, X, split.assign(cohort="internal"))


def test_score_fusion_model_from_the_rule_inputs(tmp_path):
    """The rule's own path for seed 002's model (clinical variables + a base model's score): the
    tables as the `nomo_risk` rule reads them, the score entering as out-of-fold on training rows."""
    from axilla.features import load_feature_tables

    rng = np.random.default_rng(8)
    n = 90
    ids = [f"S{i:02d}" for i in range(n)]
    y = rng.integers(0, 2, n)
    cohort = np.where(np.arange(n) < 60, "train", "internal")
    pd.DataFrame({"patient_id": ids, "age": rng.normal(55, 9, n).round(), "er": rng.choice(["neg", "pos"], n)}
                 ).to_csv(tmp_path / "clinical.csv", index=False)
    pd.DataFrame({"patient_id": ids, "cohort": cohort, "y": y}).to_csv(tmp_path / "split.csv", index=False)
    score, oof = 1.5 * (y - 0.5) + rng.normal(0, 1, n), 1.5 * (y - 0.5) + rng.normal(0, 1, n)
    pd.DataFrame({"patient_id": ids, "cohort": cohort, "y": y, "prob": expit(score), "oof_prob": expit(oof),
                  "score": score, "oof_score": np.where(cohort == "train", oof, np.nan)}).to_csv(
        tmp_path / "rad.csv", index=False)
    inputs = {"model": str(tmp_path / "model.pkl"), "clinical": str(tmp_path / "clinical.csv"),
              "split": str(tmp_path / "split.csv"), "score_rad": str(tmp_path / "rad.csv")}
    X, kinds, split = load_feature_tables(inputs, ["clinical"], {"age": "numeric", "er": "categorical"})
    train = (split.cohort == "train").to_numpy()
    model = FeatureModel(kinds=kinds, select={"steps": ["zscore"]}).fit(X[train], y[train])
    save_model(model, inputs["model"])
    nomogram.run_risk(inputs["model"], X, split, ["train", "internal"], str(tmp_path / "s.csv"),
                      str(tmp_path / "g.csv"))
    s = pd.read_csv(tmp_path / "s.csv", dtype={"patient_id": str}).set_index("patient_id")
    assert "points_rad_score" in s.columns
    np.testing.assert_allclose(s.probability, model.predict_proba(X)[:, 1], atol=1e-9)
    # training patients' score points follow their out-of-fold score, the others' the full fit's
    used = np.where(train, oof, score)
    assert abs(np.corrcoef(s.points_rad_score, used)[0, 1]) == pytest.approx(1.0, abs=1e-9)
    assert len(pd.read_csv(tmp_path / "g.csv")) == 4
