"""Weight files in the formats people actually have: torchvision ImageNet (2D) and MedicalNet (3D).

torchvision and MedicalNet are not installed here, so the state dicts are written out from their
architecture definitions (torchvision.models.resnet, MedicalNet models/resnet.py): the real key
names and shapes with random values. Every tensor of MONAI's backbone must be filled from them.
"""

import math

import numpy as np
import pytest
import torch

from axilla import deep
from test_deep import sha256sum

torch.set_num_threads(1)

# (block, blocks per layer, expansion) as in torchvision.models.resnet / MedicalNet's resnet.py
ARCH = {"resnet18": ("basic", (2, 2, 2, 2), 1), "resnet34": ("basic", (3, 4, 6, 3), 1),
        "resnet50": ("bottleneck", (3, 4, 6, 3), 4), "resnet101": ("bottleneck", (3, 4, 23, 3), 4)}


def _reference_state_dict(name, dims, *, in_channels, shortcut, head, prefix="", bn_counter=True, seed=0):
    """Keys/shapes of a torchvision (dims=2, head 'fc') or MedicalNet (dims=3, head 'conv_seg') ResNet."""
    g = torch.Generator().manual_seed(seed)
    block, layers, expansion = ARCH[name]
    sd = {}

    def conv(key, cout, cin, k):
        sd[prefix + key] = torch.randn(cout, cin, *([k] * dims), generator=g) / math.sqrt(cin * k**dims)

    def bn(key, c):
        sd[f"{prefix}{key}.weight"] = torch.rand(c, generator=g) + 0.5
        sd[f"{prefix}{key}.bias"] = torch.randn(c, generator=g) * 0.1
        sd[f"{prefix}{key}.running_mean"] = torch.randn(c, generator=g) * 0.1
        sd[f"{prefix}{key}.running_var"] = torch.rand(c, generator=g) + 0.5
        if bn_counter:
            sd[f"{prefix}{key}.num_batches_tracked"] = torch.tensor(1000)

    conv("conv1.weight", 64, in_channels, 7)
    bn("bn1", 64)
    inplanes = 64
    for li, (planes, n) in enumerate(zip((64, 128, 256, 512), layers), start=1):
        stride = 1 if li == 1 else 2
        for b in range(n):
            p = f"layer{li}.{b}"
            cin = inplanes if b == 0 else planes * expansion
            if block == "basic":
                conv(f"{p}.conv1.weight", planes, cin, 3)
                bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2.weight", planes, planes, 3)
                bn(f"{p}.bn2", planes)
            else:
                conv(f"{p}.conv1.weight", planes, cin, 1)
                bn(f"{p}.bn1", planes)
                conv(f"{p}.conv2.weight", planes, planes, 3)
                bn(f"{p}.bn2", planes)
                conv(f"{p}.conv3.weight", planes * expansion, planes, 1)
                bn(f"{p}.bn3", planes * expansion)
            if b == 0 and (stride != 1 or inplanes != planes * expansion) and shortcut == "B":
                conv(f"{p}.downsample.0.weight", planes * expansion, inplanes, 1)
                bn(f"{p}.downsample.1", planes * expansion)
        inplanes = planes * expansion
    if head == "fc":  # torchvision: ImageNet classifier
        sd[prefix + "fc.weight"] = torch.randn(1000, 512 * expansion, generator=g) * 0.01
        sd[prefix + "fc.bias"] = torch.zeros(1000)
    else:  # MedicalNet: segmentation decoder (ConvTranspose3d, BN, ReLU, Conv3d, BN, ReLU, Conv3d)
        sd[prefix + "conv_seg.0.weight"] = torch.randn(512 * expansion, 32, 2, 2, 2, generator=g)
        sd[prefix + "conv_seg.0.bias"] = torch.zeros(32)
        bn("conv_seg.1", 32)
        sd[prefix + "conv_seg.3.weight"] = torch.randn(32, 32, 3, 3, 3, generator=g)
        bn("conv_seg.4", 32)
        sd[prefix + "conv_seg.6.weight"] = torch.randn(2, 32, 1, 1, 1, generator=g)
    return sd


def _assert_every_tensor_filled(model, sd, prefix="", summed_conv1=False):
    got = model.state_dict()
    for k, v in got.items():
        if k.startswith("fc."):
            continue
        src = sd.get(prefix + k)
        if src is None:
            assert k.endswith("num_batches_tracked"), f"{k} has no source tensor"
            continue
        if k == "conv1.weight" and summed_conv1:
            src = src.sum(dim=1, keepdim=True)
        assert v.shape == src.shape, k
        assert torch.equal(v, src.to(v.dtype)), k


@pytest.mark.parametrize("name, n_keys, n_heads", [("resnet18", 122, 2), ("resnet50", 320, 2)])
def test_torchvision_imagenet_resnets_map_onto_monai(tmp_path, name, n_keys, n_heads):
    sd = _reference_state_dict(name, 2, in_channels=3, shortcut="B", head="fc")
    # torchvision's own counts: resnet18 62 parameters + 60 BN buffers, resnet50 161 + 159
    assert len(sd) == n_keys
    path = tmp_path / f"{name}_imagenet.pth"
    torch.save(sd, path)
    model = deep.build_backbone(name, 2)
    assert len(model.state_dict()) == n_keys  # same architecture, our 1-class head in place of fc
    rep = deep.load_weights_file(model, path)
    assert rep["n_mapped"] == n_keys - n_heads and rep["missing"] == [] and rep["unexpected"] == []
    assert rep["skipped_head"] == ["fc.weight", "fc.bias"] and rep["first_conv_summed_from_channels"] == 3
    _assert_every_tensor_filled(model, sd, summed_conv1=True)
    assert model.fc.weight.shape == (1, 512 * ARCH[name][2])


def test_torchvision_resnet50_features_equal_rgb_network_on_grey_input(tmp_path):
    """The summed first conv makes the 1-channel network compute what the RGB one computes on R=G=B."""
    sd = _reference_state_dict("resnet50", 2, in_channels=3, shortcut="B", head="fc", seed=4)
    path = tmp_path / "r50.pth"
    torch.save(sd, path)
    rgb = deep.build_backbone("resnet50", 2, in_channels=3)
    rgb.load_state_dict({k: v for k, v in sd.items() if not k.startswith("fc.")}, strict=False)
    grey = deep.build_backbone("resnet50", 2)
    deep.load_weights_file(grey, path)
    x = np.random.default_rng(0).random((2, 1, 48, 48), dtype=np.float32)
    f_grey = deep.extract_features(grey, x)
    f_rgb = deep.extract_features(rgb, np.repeat(x, 3, axis=1))
    np.testing.assert_allclose(f_grey, f_rgb, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bn_counter", [True, False])
def test_medicalnet_resnet18_checkpoint(tmp_path, bn_counter):
    # MedicalNet ResNet18/34: shortcut type A (parameter-free), saved from DataParallel inside a
    # training checkpoint; older files have no num_batches_tracked buffers
    sd = _reference_state_dict(
        "resnet18", 3, in_channels=1, shortcut="A", head="conv_seg", prefix="module.", bn_counter=bn_counter
    )
    assert not any("downsample" in k for k in sd)
    path = tmp_path / "resnet_18.pth"
    torch.save({"ecpoch": 199, "batch_id": 0, "state_dict": sd, "optimizer": {"param_groups": [{"lr": 0.1}]}}, path)

    with pytest.raises(ValueError, match="shortcut_type 'A'"):  # default shortcut B wants downsample weights
        deep.load_weights_file(deep.build_backbone("resnet18", 3), path)
    model = deep.build_backbone("resnet18", 3, shortcut_type="A")
    rep = deep.load_weights_file(model, path)
    assert rep["missing"] == [] and rep["unexpected"] == []
    assert sorted(rep["skipped_head"]) == sorted(k for k in sd if k.startswith("module.conv_seg"))
    assert rep["first_conv_summed_from_channels"] is None  # MedicalNet is 1-channel already
    assert rep["num_batches_tracked_absent"] == (0 if bn_counter else 17)  # stem + 8 blocks x 2
    _assert_every_tensor_filled(model, sd, prefix="module.")


def test_medicalnet_resnet50_through_prepare_model(tmp_path):
    sd = _reference_state_dict("resnet50", 3, in_channels=1, shortcut="B", head="conv_seg", prefix="module.")
    path = tmp_path / "resnet_50_23dataset.pth"
    torch.save({"state_dict": sd}, path)
    model, prov = deep.prepare_model("resnet50", 3, {"source": "file", "path": str(path)}, seed=0, device="cpu")
    _assert_every_tensor_filled(model, sd, prefix="module.")
    assert prov["sha256"] == sha256sum(path) and prov["file"]["missing"] == []
    n_backbone = sum(not k.startswith("module.conv_seg") for k in sd)
    assert f"{n_backbone} tensors mapped" in prov["description"]
    feats = deep.extract_features(model, np.random.default_rng(1).random((2, 1, 16, 16, 16), dtype=np.float32))
    assert feats.shape == (2, 2048) and np.isfinite(feats).all()


def test_2d_imagenet_file_refused_by_3d_network(tmp_path):
    sd = _reference_state_dict("resnet50", 2, in_channels=3, shortcut="B", head="fc")
    path = tmp_path / "r50.pth"
    torch.save(sd, path)
    with pytest.raises(ValueError, match="do not fit the model"):
        deep.load_weights_file(deep.build_backbone("resnet50", 3), path)
