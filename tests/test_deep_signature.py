"""deep.signature: probability and the backbone comparison (deep.backbones, deep.choose), against
hand-checkable cases: the folds of a constructed cohort, the backbone a stated rule picks from a
constructed table, which network scored which patient (a fake network per fold), the probability
equal to the network's own forward pass recomputed here, and held-out patients that change nothing
of the training patients' signature."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from axilla import deep
from axilla.deep.compare import HELD_OUT, backbones_table, choose, fold_of, inner_cv_auc
from axilla.deep.inputs import ViewInputs
from axilla.deep.oof import oof_probability, predict_proba
from axilla.deep.stage import _fit_and_extract, prepare_model
from axilla.errors import InputError
from axilla.settings import load, section

torch.set_num_threads(1)

WEIGHTS = {"source": "finetune", "epochs": 1, "batch_size": 4, "val_fraction": 0.25, "patience": 1, "rotate_deg": 0.0}


# --------------------------------------------------------------------------- folds and the rule


def test_folds_are_stratified_and_never_hold_a_held_out_patient():
    #          10 training patients (5 +, 5 -), then 4 held out
    is_train = np.array([1] * 10 + [0] * 4, bool)
    y = np.array([1, 0] * 5 + [1, 1, 0, 0])
    fold = fold_of(is_train, y, 5, seed=3)
    assert (fold[~is_train] == HELD_OUT).all()
    for k in range(5):  # 5 of each class in 5 folds: one of each per fold
        members = np.flatnonzero(fold == k)
        assert sorted(y[members]) == [0, 1] and is_train[members].all()
    assert sorted(fold[is_train]) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert (fold_of(is_train, y, 5, seed=3) == fold).all()  # seeded
    with pytest.raises(ValueError, match="lower deep.folds"):
        fold_of(is_train, y, 6, seed=3)  # 5 positives cannot fill 6 folds


def test_max_auc_picks_the_highest_and_the_first_listed_on_a_tie():
    assert choose({"resnet50": 0.70, "resnet101": 0.80, "densenet121": 0.65}) == "resnet101"
    assert choose({"resnet50": 0.80, "resnet101": 0.80, "densenet121": 0.80}) == "resnet50"
    assert choose({"resnet101": 0.80, "resnet50": 0.80}) == "resnet101"  # the order listed, not the name
    assert choose({"resnet50": float("nan"), "densenet121": 0.40}) == "densenet121"
    with pytest.raises(ValueError, match="deep.choose"):
        choose({"resnet50": 0.8}, "min_loss")


def test_inner_cv_auc_by_hand_and_the_table():
    # positives 0.9, 0.4; negatives 0.5, 0.1: 3 of the 4 pairs ordered -> 0.75
    assert inner_cv_auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.5, 0.1])) == 0.75
    t = backbones_table({"US_tumor": {"comparison": [{"backbone": "a", "inner_cv_auc": 0.6, "chosen": False},
                                                     {"backbone": "b", "inner_cv_auc": 0.7, "chosen": True}]},
                         "US_node": {}})
    assert list(t.columns) == ["view", "backbone", "inner_cv_auc", "chosen"]
    assert t.values.tolist() == [["US_tumor", "a", 0.6, False], ["US_tumor", "b", 0.7, True]]
    assert backbones_table({"US_node": {}}) is None


# --------------------------------------------------------------------------- who scores whom


class _Marker(torch.nn.Module):
    """A 'network' whose logit is its fit's number: the probability says which fit scored a patient."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        return torch.full((len(x), 1), float(self.k))


def test_each_training_patient_is_scored_by_the_fold_network_that_did_not_see_it():
    is_train = np.array([1] * 12 + [0] * 6, bool)
    y = np.array([0, 1] * 9)
    fold = fold_of(is_train, y, 3, seed=0)
    owner = np.repeat(np.arange(18), 2)  # two slices per patient
    rows = np.zeros((36, 1, 8, 8), np.float32)
    seen = []

    def fit(name, mask):
        seen.append(mask.copy())
        return _Marker(len(seen) - 1)

    p = oof_probability(fit, "x", rows, owner, fold, 3, 4, "cpu", 1)
    assert len(seen) == 3 and np.isnan(p[~is_train]).all()
    for mask in seen:
        assert not mask[~is_train].any()  # held-out patients are in no fold's training set
    scorer = np.round(np.log(p[is_train] / (1 - p[is_train]))).astype(int)
    for i, k in zip(np.flatnonzero(is_train), scorer):
        assert not seen[k][i]  # scored by a network that did not train on it
        assert seen[k].sum() == 8  # ... trained on the other two folds' 8 patients


# --------------------------------------------------------------------------- the real networks


def _view(n=18, size=16, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array([0, 1] * (n // 2))
    x = (rng.normal(size=(n, 1, size, size)) + 1.5 * y[:, None, None, None]).astype(np.float32)
    return ViewInputs(2, (size, size), x, np.arange(n), x, None, "test"), y


def test_predict_proba_is_the_sigmoid_of_the_forward_pass():
    vi, _ = _view()
    model, _ = prepare_model("resnet18", 2, {"source": "random"}, seed=1)
    p = predict_proba(model, vi.rows, batch_size=5)
    with torch.no_grad():
        ref = 1 / (1 + np.exp(-model.eval()(torch.from_numpy(vi.rows)).numpy()[:, 0].astype(np.float64)))
    assert p.shape == (18,) and ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(p, ref, rtol=1e-6)


def test_probability_signature_equals_the_fold_and_full_networks_recomputed_here():
    vi, y = _view()
    is_train = np.array([True] * 12 + [False] * 6)
    s = section("deep", backbone={"US": "resnet18"}, signature="probability", folds=3, batch_size=8,
                reproducible="off", weights=WEIGHTS)
    pids = [f"P{i:02d}" for i in range(18)]
    model, prov, feats = _fit_and_extract(s, "US", vi, is_train, y, 7, 1, "cpu", pids)
    sig = feats[:, 0]
    assert feats.shape == (18, 1) and ((sig >= 0) & (sig <= 1)).all()
    fold = np.array([HELD_OUT if v == "held-out" else v for v in prov["signature"]["fold"].values()])
    assert (fold[~is_train] == HELD_OUT).all() and set(fold[is_train]) == {0, 1, 2}

    def forward(net, idx):
        with torch.no_grad():
            return torch.sigmoid(net.eval()(torch.from_numpy(vi.rows[idx]))[:, 0]).double().numpy()

    for k in range(3):  # the fold network, fine-tuned here on the other folds' training patients
        fit = is_train & (fold != k)
        net, _ = prepare_model("resnet18", 2, dict(WEIGHTS), train_images=vi.rows[fit], train_labels=y[fit], seed=7,
                               threads=1)
        np.testing.assert_allclose(sig[fold == k], forward(net, fold == k), rtol=1e-5)
    full, _ = prepare_model("resnet18", 2, dict(WEIGHTS), train_images=vi.rows[is_train],
                            train_labels=y[is_train], seed=7, threads=1)
    np.testing.assert_allclose(sig[~is_train], forward(full, ~is_train), rtol=1e-5)
    assert "comparison" not in prov  # one backbone: nothing compared


def test_backbone_comparison_picks_by_the_rule_and_reports_every_candidate(tmp_path):
    vi, y = _view()
    is_train = np.array([True] * 12 + [False] * 6)
    s = section("deep", backbones={"US": ["resnet18", "resnet34"]}, folds=2, batch_size=8, reproducible="off",
                weights=WEIGHTS)
    _, prov, feats = _fit_and_extract(s, "US", vi, is_train, y, 7, 1, "cpu", [f"P{i:02d}" for i in range(18)])
    rows = prov["comparison"]
    assert [r["backbone"] for r in rows] == ["resnet18", "resnet34"]
    aucs = {r["backbone"]: r["inner_cv_auc"] for r in rows}
    want = "resnet34" if aucs["resnet34"] > aucs["resnet18"] else "resnet18"  # max_auc, a tie: the first
    assert [r["backbone"] for r in rows if r["chosen"]] == [want] == [prov["backbone"]]
    assert feats.shape[1] == 512  # signature: features, so the penultimate layer of either ResNet
    paths = []
    for view in ("US_tumor", "US_node"):
        (tmp_path / f"{view}.json").write_text(json.dumps({**prov, "description": "x"} if view == "US_tumor" else
                                                          {"backbone": "resnet18", "description": "y"}))
        pd.DataFrame({"patient_id": ["P00"], f"{view}_deep_0000": [0.0]}).to_csv(tmp_path / f"{view}.csv", index=False)
        paths.append(view)
    deep.combine([str(tmp_path / f"{v}.csv") for v in paths], [str(tmp_path / f"{v}.json") for v in paths],
                 str(tmp_path / "deep.csv"), str(tmp_path / "w.json"), out_backbones=str(tmp_path / "backbones.csv"))
    table = pd.read_csv(tmp_path / "backbones.csv")
    assert table.view.tolist() == ["US_tumor", "US_tumor"] and table.chosen.tolist() == [r["chosen"] for r in rows]


def test_held_out_patients_change_nothing_of_the_training_patients_signature(tmp_path):
    from test_deep_pipeline import SETTINGS, _cohort

    s = section("deep", **{**SETTINGS, "signature": "probability", "folds": 3,
                           "weights": {**SETTINGS["weights"], "epochs": 1}})
    out = {}
    for tamper in (False, True):
        root = tmp_path / str(tamper)
        root.mkdir()
        dirs, split = _cohort(root, tamper)  # tamper: every evaluation image and label replaced
        deep.run(dirs, split, "US", "node", s, "A", 5, 1, str(root / "f.csv"), str(root / "f.json"))
        out[tamper] = pd.read_csv(root / "f.csv", dtype={"patient_id": str}).set_index("patient_id")
    assert list(out[False].columns) == ["US_node_dl_sig"]
    train = [f"P{i:02d}" for i in range(12)]
    pd.testing.assert_frame_equal(out[False].loc[train], out[True].loc[train])
    assert not np.allclose(out[False].drop(index=train), out[True].drop(index=train))


def test_a_probability_signature_needs_fine_tuned_networks():
    config = {"study": "s", "views": {"US": ["tumor"]}, "models": {"m": {"features": ["deep"]}},
              "deep": {"signature": "probability", "weights": {"source": "random"}}}
    with pytest.raises(InputError, match="needs fine-tuned networks"):
        load(config)
    config["deep"] = {"backbones": {"US": ["resnet18", "resnet34"]}, "weights": {"source": "file", "path": "x.pt"}}
    with pytest.raises(InputError, match=r"deep.backbones \(US\)"):
        load(config)
    assert section("deep").candidates("US") == ["resnet18"] and not section("deep").out_of_fold("US")
