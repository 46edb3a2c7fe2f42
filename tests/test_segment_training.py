"""A small segmentation study end to end: networks trained on synthetic discs reach a high Dice
on discs they never saw (checked with an independent Dice), and the stage writes masks on each
image's own grid with the files the report and later stages read."""

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch

from axilla.segment import stage, training
from axilla.settings import section


def discs(n, rng, size=32):
    yy, xx = np.mgrid[:size, :size]
    x, y = [], []
    for _ in range(n):
        cy, cx = rng.uniform(10, size - 10, 2)
        r = rng.uniform(4, 7)
        m = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.float32)
        x.append((1.5 * m + rng.normal(0, 0.4, (size, size))).astype(np.float32)[None])
        y.append(m[None])
    return np.stack(x), np.stack(y)


def dice(a, b):
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def test_a_unet_learns_discs():
    torch.set_num_threads(1)  # the suite runs beside other jobs: one thread is the fastest
    rng = np.random.default_rng(0)
    x, y = discs(24, rng)
    xt, yt = discs(8, rng)
    settings = section("segment", size=32, width=8, epochs=25, patience=25, batch_size=8, lr=0.003)
    model, rec = training.fit("unet", x, y, settings, seed=0)
    pred = training.predict(model, xt) >= 0.5
    assert np.mean([dice(p, t[0] > 0) for p, t in zip(pred, yt)]) > 0.85
    assert rec["n_inner_val"] == 5 and rec["best_epoch"] <= rec["epochs_run"]


def _prep_dirs(tmp_path, n=8):
    """preprocess/<patient>/US_tumor folders: a disc in a non-square image with its own spacing."""
    rng = np.random.default_rng(1)
    dirs = []
    for i in range(n):
        d = tmp_path / "preprocess" / f"P{i}" / "US_tumor"
        d.mkdir(parents=True)
        img, m = discs(1, rng, 40)
        image = sitk.GetImageFromArray(img[0, 0, :, 4:36])  # 40 x 32
        image.SetSpacing((0.3, 0.25))
        image.SetOrigin((1.0, 2.0))
        sitk.WriteImage(image, str(d / "image.nii.gz"))
        for rater in ("A", "B") if i < 3 else ("A",):
            mask = sitk.GetImageFromArray(m[0, 0, :, 4:36].astype(np.uint8))
            mask.CopyInformation(image)
            sitk.WriteImage(mask, str(d / f"mask-{rater}.nii.gz"))
        dirs.append(str(d))
    return dirs


def test_the_stage_writes_masks_on_the_image_grid_and_its_tables(tmp_path):
    dirs = _prep_dirs(tmp_path)
    split = pd.DataFrame({"patient_id": [f"P{i}" for i in range(8)], "cohort": ["train"] * 6 + ["internal"] * 2,
                          "y": 0})
    split.to_csv(tmp_path / "split.csv", index=False)
    settings = section("segment", enabled=True, views=["US_tumor"], models=["unet", "deeplabv3"], folds=2, size=32,
                       width=4, epochs=2, patience=2, reproducible="off", bootstraps=10)
    out = tmp_path / "segmentation" / "US_tumor"
    stage.run(dirs, str(tmp_path / "split.csv"), "US_tumor", settings, "A", 0, 1, str(out))
    ref = sitk.ReadImage(str(tmp_path / "preprocess" / "P7" / "US_tumor" / "image.nii.gz"))
    for path in (out / "P7.nii.gz", out / "unet" / "P7.nii.gz", out / "deeplabv3" / "P0.nii.gz"):
        mask = sitk.ReadImage(str(path))
        assert mask.GetSize() == ref.GetSize() and mask.GetSpacing() == pytest.approx(ref.GetSpacing())
        assert mask.GetOrigin() == pytest.approx(ref.GetOrigin())
    cases = pd.read_csv(out / "cases.csv")
    assert set(cases.model) == {"unet", "deeplabv3", "fused"} and len(cases) == 3 * 8
    raters = pd.read_csv(out / "raters.csv")
    assert set(raters.pair) == {"A-B"} and len(raters) == 3 and (raters.dice == 1).all()  # B drew A's masks here
    runs = json.loads((out / "training.json").read_text())["runs"]
    assert {r["run"] for r in runs} == {"fold1", "fold2", "final"}
    assert all("P6" not in r["trained_on"] and "P7" not in r["trained_on"] for r in runs)
    assert sorted(p.name.split("_")[0] for p in (out / "overlays").glob("*.png")) == ["internal"] * 3 + ["train"] * 3


def test_augmentation_moves_image_and_mask_together_within_its_ranges():
    gen = torch.Generator().manual_seed(0)
    theta = training.augmentation_matrices(4000, gen).double()
    lin = theta[:, :, :2]
    flip_x = torch.linalg.det(lin) < 0  # one flip turns orientation; two flips are a 180° rotation
    scale = torch.linalg.norm(lin, dim=1)  # a rotation keeps the column norms: the crop's sides
    assert 0.47 < flip_x.double().mean() < 0.53
    assert float(scale.min()) >= 0.8 - 1e-6 and float(scale.max()) <= 1 + 1e-6
    # the crop's corners stay inside the image before rotation: |centre| <= 1 - scale on each axis
    centre = (torch.linalg.solve(lin, theta[:, :, 2:])[:, :, 0] * scale).abs()  # lin = flip·rot·diag(scale)
    assert bool((centre <= 1 - scale + 1e-6).all())
    angle = torch.rad2deg(torch.atan2(lin[:, 1, 0] / scale[:, 0], lin[:, 0, 0] / scale[:, 0])).abs()
    angle = torch.minimum(angle, 180 - angle)  # up to the flips
    assert float(angle.max()) <= 15 + 1e-6 and 0.4 < float((angle < 1e-9).double().mean()) < 0.6
    # an image that is its mask stays its mask (bilinear image at 0.5 vs the nearest-neighbour mask)
    x, y = discs(16, np.random.default_rng(2))
    yt = torch.from_numpy(y)
    xa, ya = training.augment(yt.clone(), yt, torch.Generator().manual_seed(1))
    assert np.mean([dice(a[0].numpy() >= 0.5, b[0].numpy() > 0) for a, b in zip(xa, ya)]) > 0.95
    assert set(np.unique(ya.numpy())) <= {0.0, 1.0} and not torch.equal(ya, yt)


def test_deeplabv3_encoder_takes_the_weights_files_tensors(tmp_path):
    """segment.encoder_weights: imagenet hands DeepLabV3 the cache's file: every tensor of the file
    (a ResNet-18 state dict written here) ends up in the encoder, the head stays fresh."""
    import torch

    from axilla.deep.backbones import build_backbone
    from axilla.segment.networks import deeplabv3

    torch.manual_seed(11)
    source = build_backbone("resnet18", 2, in_channels=1)
    for p in source.parameters():
        torch.nn.init.normal_(p)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("fc.")}
    torch.save(state, tmp_path / "resnet18.pt")
    net, words = deeplabv3(64, 8, "resnet18", {"path": str(tmp_path / "resnet18.pt")})
    encoder = {**{f"conv1.{k}": v for k, v in net.stem[0].state_dict().items()},
               **{f"bn1.{k}": v for k, v in net.stem[1].state_dict().items()},
               **{f"layer{i + 1}.{k}": v for i, layer in enumerate(net.layers) for k, v in layer.state_dict().items()}}
    assert set(state) <= set(encoder)
    assert all(torch.equal(encoder[k], v) for k, v in state.items())
    assert "resnet18 encoder from weights from" in words and "tensors mapped" in words
