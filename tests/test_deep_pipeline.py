"""The `deep` rule's entry point on files: no leakage from evaluation cohorts, determinism, provenance;
augmentation geometry; the throughput probe for the benchmark."""

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch

from axilla import deep
from axilla.deep.finetuning import _augment
from axilla.settings import section

torch.set_num_threads(1)

SETTINGS = {
    "backbone": {"US": "resnet18"},
    "size_2d": [32, 32],
    "margin": 2,
    "batch_size": 8,
    # in-process: torch is already imported, so strict's pins cannot apply (tests/test_deep_strict.py)
    "reproducible": "off",
    "weights": {"source": "finetune", "epochs": 2, "batch_size": 4, "lr": 0.01, "val_fraction": 0.25,
                "patience": 2, "rotate_deg": 10.0},
}
N_TRAIN, N_EVAL = 12, 6


def _write_case(root, pid, img, rng):
    d = root / "preprocess" / pid / "US_node"
    d.mkdir(parents=True)
    mask = np.zeros(img.shape, np.uint8)
    r0, c0 = rng.integers(4, 12, 2)
    mask[r0 : r0 + 20, c0 : c0 + 22] = 1
    sitk.WriteImage(sitk.GetImageFromArray(img.astype(np.float32)), str(d / "image.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(d / "mask-A.nii.gz"))
    return str(d)


def _cohort(root, tamper=False):
    """12 training + 6 evaluation patients; tamper=True replaces every evaluation image and label."""
    rng = np.random.default_rng(0)
    pids = [f"P{i:02d}" for i in range(N_TRAIN + N_EVAL)]
    cohort = ["train"] * N_TRAIN + ["internal"] * 3 + ["external"] * 3
    y = np.array([0, 1] * ((N_TRAIN + N_EVAL) // 2))
    dirs = []
    for i, pid in enumerate(pids):
        img = rng.normal(size=(40, 44)) + 2.0 * y[i] * (np.arange(44) > 22)
        if tamper and cohort[i] != "train":
            img = np.random.default_rng(100 + i).normal(size=(40, 44)) * 5
        dirs.append(_write_case(root, pid, img, np.random.default_rng(i)))
    if tamper:
        y = np.where(np.array(cohort) == "train", y, 1 - y)
    split = root / "split.csv"
    pd.DataFrame({"patient_id": pids, "cohort": cohort, "y": y}).to_csv(split, index=False)
    return dirs, str(split)


def _run(root, tamper=False, seed=5):
    root.mkdir()
    dirs, split = _cohort(root, tamper)
    out, prov = root / "US_node.csv", root / "US_node.json"
    deep.run(dirs, split, "US", "node", section("deep", **SETTINGS), "A", seed, 1, str(out), str(prov))
    return pd.read_csv(out, dtype={"patient_id": str}).set_index("patient_id"), json.loads(prov.read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("deep")
    return {
        "a": _run(base / "a"),
        "again": _run(base / "again"),
        "tampered": _run(base / "tampered", tamper=True),
    }


def test_evaluation_cohorts_do_not_reach_the_fine_tuned_network(runs):
    (fa, pa), (ft, pt) = runs["a"], runs["tampered"]
    train = [f"P{i:02d}" for i in range(N_TRAIN)]
    evaluation = [f"P{i:02d}" for i in range(N_TRAIN, N_TRAIN + N_EVAL)]
    assert pa["source"] == "finetune" and pa["n_train"] == N_TRAIN and pa["n_patients"] == N_TRAIN + N_EVAL
    # same fitted weights, same training history, same training-cohort features ...
    assert pa["model_sha256"] == pt["model_sha256"]
    assert pa["finetune"]["history"] == pt["finetune"]["history"]
    pd.testing.assert_frame_equal(fa.loc[train], ft.loc[train], check_exact=True)
    # ... while the evaluation features did change with their images (the comparison can fail)
    assert not np.allclose(fa.loc[evaluation].to_numpy(), ft.loc[evaluation].to_numpy())


def test_same_seed_same_features_and_weights(runs):
    (fa, pa), (fb, pb) = runs["a"], runs["again"]
    pd.testing.assert_frame_equal(fa, fb, check_exact=True)
    assert pa["model_sha256"] == pb["model_sha256"]


def test_feature_table_and_provenance_content(runs, tmp_path):
    feats, prov = runs["a"]
    assert feats.shape == (N_TRAIN + N_EVAL, 512) and list(feats.index) == sorted(feats.index)
    assert feats.columns[0] == "US_node_deep_0000" and feats.columns[-1] == "US_node_deep_0511"
    assert np.isfinite(feats.to_numpy()).all()
    assert prov["backbone"] == "resnet18" and prov["spatial_dims"] == 2 and prov["input_size"] == [32, 32]
    assert prov["device"] == deep.choose_device() and prov["feature_dim"] == 512
    ft = prov["finetune"]
    assert ft["settings"]["rotate_deg"] == 10.0 and ft["n_train"] + ft["n_val"] == N_TRAIN
    assert prov["epochs_run"] == len(ft["history"]) and prov["best_epoch"] in (1, 2)
    assert f"on {N_TRAIN} training patients" in prov["description"]
    # the per-study table and weights summary the report shows
    csv, js = tmp_path / "a.csv", tmp_path / "a.json"
    feats.to_csv(csv)
    js.write_text(json.dumps(prov))
    deep.combine([str(csv)], [str(js)], str(tmp_path / "deep.csv"), str(tmp_path / "deep_weights.json"))
    summary = json.loads((tmp_path / "deep_weights.json").read_text())
    assert summary["a"]["backbone"] == "resnet18 (2D)" and summary["a"]["weights"] == prov["description"]
    assert pd.read_csv(tmp_path / "deep.csv").shape == (N_TRAIN + N_EVAL, 513)


def test_deep_table_entry_point_imports_without_torch():
    # deep_table runs in the stats environment, which has no torch or MONAI
    code = ("import sys; sys.modules['torch'] = sys.modules['monai'] = None\n"
            "from axilla.deep import combine, make_inputs\n"
            "assert not any(m.startswith(('torch', 'monai')) for m in sys.modules if sys.modules[m] is not None)")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- augmentation


def test_rotate_quarter_turn_equals_rot90_and_zero_is_identity():
    x2 = torch.rand(2, 1, 8, 8)
    angle = torch.full((2,), math.pi / 2)
    # affine_grid maps output to input: +90° here is a counter-clockwise array rotation
    torch.testing.assert_close(deep.rotate(x2, angle), torch.rot90(x2, 1, dims=(2, 3)), atol=1e-5, rtol=0)
    torch.testing.assert_close(deep.rotate(x2, torch.zeros(2)), x2, atol=1e-6, rtol=0)
    x3 = torch.rand(1, 1, 3, 6, 6)  # 3D: each axial slice turns, slices stay where they are
    torch.testing.assert_close(deep.rotate(x3, angle[:1]), torch.rot90(x3, 1, dims=(3, 4)), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="rotate needs"):
        deep.rotate(torch.rand(2, 8, 8), angle)


def test_augmentation_is_seeded_and_small():
    x = torch.rand(4, 1, 16, 16)
    a = _augment(x, torch.Generator().manual_seed(1), True, 0.1, 10.0)
    b = _augment(x, torch.Generator().manual_seed(1), True, 0.1, 10.0)
    c = _augment(x, torch.Generator().manual_seed(2), True, 0.1, 10.0)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # without flips, a <=10° turn and <=10 % jitter keep each image close to the original
    d = _augment(x, torch.Generator().manual_seed(1), False, 0.1, 10.0)
    corr = [np.corrcoef(d[i].flatten(), x[i].flatten())[0, 1] for i in range(4)]
    assert min(corr) > 0.3 and not torch.equal(d, x)


# --------------------------------------------------------------------------- throughput


def test_throughput_reports_images_per_second():
    ips = deep.throughput("resnet18", 2, n_images=4, size=(32, 32), batch_size=2, threads=1)
    assert 0 < ips < 1e6 and math.isfinite(ips)
    with pytest.raises(ValueError, match="does not match"):
        deep.throughput("resnet18", 3, size=(32, 32))
