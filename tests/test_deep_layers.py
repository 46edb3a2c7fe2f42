"""deep.layer / slices / intensity / interpolation and the papers' augmentation, against numpy
references: the max-ROI slice is numpy's argmax of the per-slice mask area, fc features are the
network's forward output (and W x + b of the penultimate features), a bottleneck has k units,
augmentation stays within its stated range."""

import json

import numpy as np
import pytest
import torch

from axilla import deep
from axilla.deep.backbones import build_backbone, head_layer
from axilla.deep.finetuning import _augment, monai_augmentation
from axilla.deep.heads import StackedHead, attach_head, layer_spec, load_fc
from axilla.deep.inputs import make_inputs, slice_window, view_inputs
from axilla.settings import section

torch.set_num_threads(1)


def _volume(rng, depth=9, areas=(0, 3, 10, 25, 12, 25, 4, 0, 1)):
    """A (depth, 20, 20) image and a mask whose slice z holds areas[z] voxels."""
    img = rng.normal(size=(depth, 20, 20))
    mask = np.zeros((depth, 20, 20), np.uint8)
    for z, a in enumerate(areas[:depth]):
        mask[z].flat[rng.choice(400, a, replace=False)] = 1
    return img, mask


def test_max_roi_slice_is_numpys_argmax_of_the_slice_area():
    rng = np.random.default_rng(0)
    vols = [_volume(np.random.default_rng(i), areas=tuple(rng.integers(0, 60, 9))) for i in range(5)]
    images, masks = [v[0] for v in vols], [v[1] for v in vols]
    vi = view_inputs(images, masks, True, "max_roi", [16, 16], [8, 8, 8])
    want = [int(np.argmax(m.reshape(len(m), -1).sum(1))) for m in masks]
    assert vi.dims == 2 and vi.rows.shape == (5, 1, 16, 16) and vi.slices == [[z] for z in want]
    # the row is that slice's crop: with margin 0 and the box's own size, the box min-max scaled
    z, m = want[0], masks[0][want[0]]
    r, c = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    box = images[0][z][r[0] : r[-1] + 1, c[0] : c[-1] + 1]
    got = view_inputs(images[:1], masks[:1], True, "max_roi", box.shape, [8, 8, 8], 0).rows[0, 0]
    np.testing.assert_allclose(got, (box - box.min()) / (box.max() - box.min()), atol=1e-6)
    # a 2D view ignores slices; volume keeps the 3D network
    assert view_inputs(images, masks, True, "volume", [16, 16], [8, 8, 8]).dims == 3


def test_k_slices_around_the_largest_and_their_features_averaged():
    img, mask = _volume(np.random.default_rng(1))  # areas: largest at z=3 (ties go to the lowest)
    assert slice_window(mask, 3) == [2, 3, 4] and slice_window(mask, 4) == [2, 3, 4, 5]
    edge = np.zeros_like(mask)
    edge[0, 5:9, 5:9] = 1
    assert slice_window(edge, 3) == [0, 1, 2] and slice_window(edge[:2], 3) == [0, 1]
    vi = view_inputs([img, img[:2]], [mask, edge[:2]], True, {"max_roi": 3}, [16, 16], [8, 8, 8])
    assert vi.slices == [[2, 3, 4], [0, 1]] and list(vi.owner) == [0, 0, 0, 1, 1]
    feats = np.arange(10, dtype=float).reshape(5, 2)
    np.testing.assert_array_equal(vi.average(feats), [feats[:3].mean(0), feats[3:].mean(0)])


def test_fc_layer_is_the_forward_output_and_w_x_plus_b():
    torch.manual_seed(0)
    x = np.random.default_rng(0).random((3, 1, 64, 64), dtype=np.float32)
    plain = build_backbone("resnet18", 2, num_classes=1000).eval()
    with torch.no_grad():
        forward = plain(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(deep.extract_features(plain, x, layer="fc"), forward, rtol=1e-5, atol=1e-5)
    stacked = attach_head(build_backbone("resnet18", 2), "fc", "fc").eval()
    head = stacked.fc
    assert isinstance(head, StackedHead) and head.hidden.out_features == 1000
    pen, fc = deep.extract_features(stacked, x), deep.extract_features(stacked, x, layer="fc")
    w, b = head.hidden.weight.detach().numpy(), head.hidden.bias.detach().numpy()
    np.testing.assert_allclose(fc, pen @ w.T + b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k", [8, 128])
def test_bottleneck_has_k_units_relu_of_w_x_plus_b(k):
    assert layer_spec({"bottleneck": k}) == ("bottleneck", k)
    model = attach_head(build_backbone("densenet121", 2), head_layer(build_backbone("densenet121", 2))[0],
                        {"bottleneck": k}).eval()
    head = head_layer(model)[1]
    x = np.random.default_rng(1).random((2, 1, 32, 32), dtype=np.float32)
    pen, bott = deep.extract_features(model, x), deep.extract_features(model, x, layer={"bottleneck": k})
    assert bott.shape == (2, k) and pen.shape == (2, 1024)
    w, b = head.hidden.weight.detach().numpy(), head.hidden.bias.detach().numpy()
    np.testing.assert_allclose(bott, np.maximum(pen @ w.T + b, 0), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, bott @ head.out.weight.detach().numpy().T + head.out.bias.detach().numpy(), rtol=1e-4,
                               atol=1e-5)
    with pytest.raises(ValueError, match="bottleneck"):
        layer_spec({"bottleneck": 0})


def test_fc_head_takes_the_files_imagenet_fc():
    model = attach_head(build_backbone("resnet18", 2), "fc", "fc")
    w, b = torch.randn(1000, 512), torch.randn(1000)
    assert "fc.weight/bias" in load_fc(model.fc, {"fc.weight": w, "fc.bias": b})
    assert torch.equal(model.fc.hidden.weight, w) and torch.equal(model.fc.hidden.bias, b)
    assert "randomly initialised" in load_fc(model.fc, {"fc.weight": torch.randn(10, 512), "fc.bias": b[:10]})


def test_zscore_and_nearest_crops():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 5, (30, 30)).astype(float)  # five grey levels
    mask = np.zeros((30, 30), np.uint8)
    mask[5:20, 8:25] = 1
    z = make_inputs([img], [mask], 2, (24, 24), 2, intensity="zscore")[0, 0]
    assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-4
    near = make_inputs([img], [mask], 2, (40, 40), 0, interpolation="nearest")[0, 0]
    assert set(np.round(np.unique(near) * 4, 5)) <= {0.0, 1.0, 2.0, 3.0, 4.0}  # levels kept (x / 4 after min-max)
    lin = make_inputs([img], [mask], 2, (40, 40), 0)[0, 0]
    assert len(np.unique(lin)) > 5


def _bar_angle(img):
    """Orientation (degrees) of an image's bright structure from its second moments (numpy)."""
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    w = np.clip(img, 0, None)
    my, mx = (w * yy).sum() / w.sum(), (w * xx).sum() / w.sum()
    cyy, cxx, cxy = (w * (yy - my) ** 2).sum(), (w * (xx - mx) ** 2).sum(), (w * (yy - my) * (xx - mx)).sum()
    return np.degrees(0.5 * np.arctan2(2 * cxy, cxx - cyy))


def test_monai_augmentation_within_the_papers_ranges():
    bar = np.zeros((1, 65, 65), np.float32)
    bar[0, 30:35, 8:57] = 1
    rot = monai_augmentation(2, flip=False, jitter=0, rotate_deg=15, noise_std=0, seed=0)
    angles = np.array([_bar_angle(np.asarray(rot(bar))[0]) for _ in range(60)])
    assert np.abs(angles).max() <= 15.5 and np.abs(angles).max() > 10 and (angles < 0).any() and (angles > 0).any()
    noise = monai_augmentation(2, flip=False, jitter=0, rotate_deg=0, noise_std=0.01, seed=1)
    d = np.asarray(noise(bar)) - bar
    assert abs(d.std() - 0.01) < 0.001 and abs(d.mean()) < 0.001
    img = np.random.default_rng(3).random((1, 8, 8)).astype(np.float32)
    flips = monai_augmentation(2, flip=True, jitter=0, rotate_deg=0, noise_std=0, seed=2)
    kinds = []
    for _ in range(400):
        out = np.asarray(flips(img))
        kinds.append(next(i for i, f in enumerate((img, img[:, ::-1], img[:, :, ::-1], img[:, ::-1, ::-1]))
                          if np.array_equal(out, f)))
    assert np.allclose(np.bincount(kinds, minlength=4) / 400, 0.25, atol=0.07)
    # 3D: the rotation turns every axial slice in its own (H, W) plane
    vol = np.zeros((1, 5, 33, 33), np.float32)
    vol[0, 2, 14:19, 4:29] = 1
    out = np.asarray(monai_augmentation(3, False, 0, 15, 0, seed=4)(vol))
    assert np.abs(out[0, [0, 1, 3, 4]]).max() == 0 and abs(_bar_angle(out[0, 2])) <= 15.5


def test_builtin_noise_is_drawn_last_with_the_stated_sd():
    x = torch.zeros(4, 1, 40, 40)
    plain = _augment(x.clone(), torch.Generator().manual_seed(0), True, 0.1, 10.0)
    noisy = _augment(x.clone(), torch.Generator().manual_seed(0), True, 0.1, 10.0, noise_std=0.01)
    assert abs(float((noisy - plain).std()) - 0.01) < 0.001  # same draws before, then N(0, 0.01^2)


def test_run_with_a_bottleneck_and_monai_augmentation(tmp_path):
    from test_deep_pipeline import SETTINGS, _cohort

    dirs, split = _cohort(tmp_path)
    weights = {**SETTINGS["weights"], "epochs": 1, "augment": "monai", "rotate_deg": 15, "noise_std": 0.01}
    s = section("deep", **{**SETTINGS, "weights": weights, "layer": {"bottleneck": 16}, "intensity": "zscore"})
    for name in ("a", "b"):
        deep.run(dirs, split, "US", "node", s, "A", 5, 1, str(tmp_path / f"{name}.csv"), str(tmp_path / f"{name}.json"))
    prov = json.loads((tmp_path / "a.json").read_text())
    assert prov["layer"] == "bottleneck 16" and prov["feature_dim"] == 16
    assert prov["finetune"]["settings"]["augment"] == "monai"
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()  # seeded
