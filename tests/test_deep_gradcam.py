"""Grad-CAM examples: the heat falls on a planted bright square that a tiny trained network learned
to detect; the PNGs have the promised size and no metadata; 3D crops are shown at the largest-ROI
slice; a randomly initialised network gets no maps, and the provenance says why."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from axilla import deep
from test_deep_pipeline import _cohort

torch.set_num_threads(1)
S, SQ = 32, 10


@pytest.fixture(scope="module")
def square_net():
    """A ResNet18 trained (10 Adam steps, ~5 s on one core) to call images with a bright square positive."""
    rng = np.random.default_rng(0)
    n = 24
    x = rng.normal(0.3, 0.05, (n, 1, S, S)).astype(np.float32)
    y = np.tile([0, 1], n // 2)
    where = rng.integers(0, S - SQ, (n, 2))
    for i in np.flatnonzero(y):
        r, c = where[i]
        x[i, 0, r:r + SQ, c:c + SQ] = 0.9
    torch.manual_seed(0)
    model = deep.build_backbone("resnet18", 2)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # running statistics = the average over all steps
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    X, Y = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
    model.train()
    for _ in range(10):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X)[:, 0], Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), x, y, where


def test_heat_concentrates_on_the_planted_square(square_net):
    model, x, y, where = square_net
    pos = np.flatnonzero(y == 1)[:4]
    before = deep.state_dict_sha256(model)
    heat, prob, layer = deep.gradcam(model, x[pos])
    assert deep.state_dict_sha256(model) == before and not any(m._forward_hooks for m in model.modules())
    assert layer == "layer2"  # 32 px: layer4 is 1 x 1, layer3 2 x 2, layer2 4 x 4
    assert heat.shape == (4, S, S) and heat.min() >= 0 and heat.max() == pytest.approx(1.0)
    assert (prob > 0.5).all()
    for k, i in enumerate(pos):
        r, c = where[i]
        inside = np.zeros((S, S), bool)
        inside[r:r + SQ, c:c + SQ] = True
        # the evidence for "node-positive" is the square (MONAI's default post-processing would flip this)
        assert heat[k][inside].mean() > 1.3 * heat[k][~inside].mean(), k
        assert heat[k].std() > 0.05  # not uniform
    # a batch mixing predicted classes gives each image the map it gets alone
    mixed = np.r_[pos[:2], np.flatnonzero(y == 0)[:2]]
    heat2, prob2, _ = deep.gradcam(model, x[mixed])
    assert (prob2[:2] > 0.5).all() and (prob2[2:] < 0.5).all()
    np.testing.assert_allclose(heat2[:2], heat[:2], atol=1e-5)


def test_examples_png_size_caption_and_no_metadata(square_net, tmp_path):
    model, x, y, _ = square_net
    is_train = np.ones(len(y), bool)
    rec = deep.gradcam_examples(model, x, y, is_train, str(tmp_path), "US tumor", seed=3)
    files = sorted(p.name for p in tmp_path.glob("*.png"))
    assert files == sorted(rec["files"]) and len(files) == 4
    assert sum("node-positive training patient" in f for f in files) == 2
    assert sum("node-negative training patient" in f for f in files) == 2
    assert all(f.startswith("US tumor, ") and "layer layer2" in f and "CNN p " in f for f in files)
    for f in files:
        img = Image.open(tmp_path / f)
        # 32 px crop enlarged 6x to 192 px: grey panel, 8 px gap, heat panel
        assert img.format == "PNG" and img.size == (2 * 192 + 8, 192) and img.mode == "RGB"
        assert not img.info.get("text") and not any(k.lower() in ("software", "comment") for k in img.info)
        a = np.asarray(img, float)
        assert a[:, 200:].std() > 5  # the heat panel is not a flat colour
    # the same seed draws the same patients, another seed may not
    again = deep.gradcam_examples(model, x, y, is_train, str(tmp_path / "again"), "US tumor", seed=3)
    assert again["files"] == rec["files"]
    assert all((tmp_path / f).read_bytes() == (tmp_path / "again" / f).read_bytes() for f in files)


def test_3d_crops_are_shown_at_the_largest_roi_slice(tmp_path):
    torch.manual_seed(0)
    model = deep.build_backbone("resnet18", 3).eval()
    rng = np.random.default_rng(1)
    x = rng.random((4, 1, 16, 16, 16)).astype(np.float32)
    masks = np.zeros_like(x)
    masks[:, 0, 11, 4:12, 4:12] = 1  # slice 11 has the largest area
    masks[:, 0, 5, 6:8, 6:8] = 1
    rec = deep.gradcam_examples(model, x, np.array([0, 1, 0, 1]), np.ones(4, bool), str(tmp_path), "MRI DCE2",
                                seed=0, mask_crops=lambda idx: masks[idx], n_per_class=1)
    assert len(rec["files"]) == 2 and all("crop slice 11 of 16 (largest ROI area)" in f for f in rec["files"])
    assert all(Image.open(tmp_path / f).size == (2 * 192 + 8, 192) for f in rec["files"])


def test_deep_run_writes_examples_only_for_trained_weights(tmp_path):
    import copy

    from test_deep_pipeline import SETTINGS

    from axilla.settings import section

    for source in ("finetune", "random"):
        root = tmp_path / source
        root.mkdir()
        dirs, split = _cohort(root)
        settings = copy.deepcopy(SETTINGS)
        if source == "random":
            settings["weights"] = {"source": "random"}
        else:
            settings["weights"]["epochs"] = 1
        out = root / "gradcam"
        deep.run(dirs, split, "US", "node", section("deep", **settings), "A", 5, 1, str(root / "f.csv"), str(root / "p.json"),
                 out_gradcam=str(out))
        prov = json.loads((root / "p.json").read_text())
        pngs = sorted(out.glob("*.png"))
        assert out.is_dir()
        if source == "random":
            assert pngs == [] and "randomly initialised" in prov["gradcam"]["note"]
        else:
            assert len(pngs) == 4 and sorted(prov["gradcam"]["files"]) == [p.name for p in pngs]
            assert prov["gradcam"]["layer"] == "layer2" and all(p.name.startswith("US node, ") for p in pngs)
            assert not any("P0" in p.name for p in pngs)  # no patient ids in captions
