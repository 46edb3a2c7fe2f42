"""Every backbone takes a state dict in its pretrained file's key layout tensor for tensor.

torchvision is not installed here, so each torchvision ImageNet state dict is written out from the
published architecture (torchvision.models.resnet / densenet / vgg: layer lists, names, shapes;
DenseNet121 with the legacy `norm.1` names its ImageNet file carries), random values. The
parameter counts are torchvision's documented `num_params` of each ImageNet weights entry, an
independent check that the written-out dict is the real layout. Every tensor of axilla's network
but its own 1-unit head must be filled (no missing, no unexpected key), with equal values.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from axilla import deep
from axilla.deep.backbones import head_layer, model_family
from conftest import ROOT
from test_deep_weights import ARCH, _reference_state_dict

torch.set_num_threads(1)

# torchvision's meta["num_params"] of the IMAGENET1K_V1 weights (parameters, no buffers)
NUM_PARAMS = {"resnet18": 11689512, "resnet34": 21797672, "resnet50": 25557032, "resnet101": 44549160,
              "densenet121": 7978856, "vgg19": 143667240}
HEADS = {"resnet": ("fc.weight", "fc.bias"), "densenet": ("classifier.weight", "classifier.bias"),
         "vgg": ("classifier.6.weight", "classifier.6.bias")}
VGG19_CONV = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M")  # torchvision cfgs["E"]


def _params(sd: dict) -> int:
    """Parameters only: batch-norm running statistics and counters are buffers."""
    return sum(v.numel() for k, v in sd.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))


def vgg19_torchvision(seed=0) -> dict:
    """torchvision vgg19's state dict: features.<i> convs of cfg E (ReLU / max-pool between), 3 linears."""
    g = torch.Generator().manual_seed(seed)
    sd, i, cin = {}, 0, 3
    for v in VGG19_CONV:
        if v == "M":
            i += 1
            continue
        sd[f"features.{i}.weight"] = torch.randn(v, cin, 3, 3, generator=g) / math.sqrt(9 * cin)
        sd[f"features.{i}.bias"] = torch.randn(v, generator=g) * 0.1
        i, cin = i + 2, v  # conv, ReLU
    for j, (cout, c) in zip((0, 3, 6), ((4096, 512 * 7 * 7), (4096, 4096), (1000, 4096))):
        sd[f"classifier.{j}.weight"] = torch.randn(cout, c, generator=g) / math.sqrt(c)
        sd[f"classifier.{j}.bias"] = torch.randn(cout, generator=g) * 0.1
    return sd


def densenet121_torchvision(seed=0) -> dict:
    """torchvision densenet121 (growth 32, blocks 6/12/24/16, bottleneck 4 x 32) as its ImageNet
    file names it: legacy `norm.1` / `conv.1` / `norm.2` / `conv.2` inside each dense layer."""
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def bn(key, c):
        sd[f"{key}.weight"], sd[f"{key}.bias"] = torch.rand(c, generator=g) + 0.5, torch.randn(c, generator=g) * 0.1
        sd[f"{key}.running_mean"], sd[f"{key}.running_var"] = torch.randn(c, generator=g) * 0.1, torch.rand(c, generator=g) + 0.5

    sd["features.conv0.weight"] = torch.randn(64, 3, 7, 7, generator=g) / 12
    bn("features.norm0", 64)
    c = 64
    for b, n in enumerate((6, 12, 24, 16), start=1):
        for layer in range(1, n + 1):
            p = f"features.denseblock{b}.denselayer{layer}"
            bn(f"{p}.norm.1", c)
            sd[f"{p}.conv.1.weight"] = torch.randn(128, c, 1, 1, generator=g) / math.sqrt(c)
            bn(f"{p}.norm.2", 128)
            sd[f"{p}.conv.2.weight"] = torch.randn(32, 128, 3, 3, generator=g) / 34
            c += 32
        if b < 4:
            bn(f"features.transition{b}.norm", c)
            sd[f"features.transition{b}.conv.weight"] = torch.randn(c // 2, c, 1, 1, generator=g) / math.sqrt(c)
            c //= 2
    bn("features.norm5", c)
    sd["classifier.weight"], sd["classifier.bias"] = torch.randn(1000, c, generator=g) * 0.01, torch.zeros(1000)
    return sd


def torchvision_state_dict(name: str) -> dict:
    if name in ARCH:
        return _reference_state_dict(name, 2, in_channels=3, shortcut="B", head="fc", bn_counter=False)
    return densenet121_torchvision() if name == "densenet121" else vgg19_torchvision()


def _source_key(name: str, key: str) -> str:
    """axilla's key -> the torchvision file's key: DenseNet's layers lack MONAI's `.layers` level."""
    if name == "densenet121":
        for ours, theirs in (("layers.norm1", "norm.1"), ("layers.conv1", "conv.1"), ("layers.norm2", "norm.2"),
                             ("layers.conv2", "conv.2")):
            key = key.replace(ours, theirs)
    return key


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (state dict, its file), each written once (VGG19's is 575 MB)."""
    files = {}

    def get(name):
        if name not in files:
            sd = torchvision_state_dict(name)
            path = tmp_path_factory.mktemp("tv") / f"{name}.pth"
            torch.save(sd, path)
            files[name] = sd, path
        return files[name]

    return get


@pytest.mark.parametrize("name", deep.BACKBONES)
def test_torchvision_imagenet_layout_fills_every_tensor(saved, name):
    sd, path = saved(name)
    assert _params(sd) == NUM_PARAMS[name]
    model = deep.build_backbone(name, 2)
    rep = deep.load_weights_file(model, path)
    family = model_family(model)
    assert rep["missing"] == [] and rep["unexpected"] == []
    assert sorted(rep["skipped_head"]) == sorted(HEADS[family])
    assert rep["first_conv_summed_from_channels"] == 3
    head = head_layer(model)[0]
    stem = {"resnet": "conv1.weight", "densenet": "features.conv0.weight", "vgg": "features.0.weight"}[family]
    for key, value in model.state_dict().items():
        if key.startswith(head + ".") or key.endswith("num_batches_tracked"):
            continue
        src = sd[_source_key(name, key)]
        if key == stem:
            src = src.sum(dim=1, keepdim=True)
        assert torch.equal(value, src), key
    assert deep.feature_dim(model) == {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048,
                                       "densenet121": 1024, "vgg19": 4096}[name]


@pytest.mark.parametrize("name, shortcut", [("resnet18", "A"), ("resnet34", "A"), ("resnet50", "B"),
                                            ("resnet101", "B")])
def test_3d_resnets_take_medicalnet_checkpoints(tmp_path, name, shortcut):
    sd = _reference_state_dict(name, 3, in_channels=1, shortcut=shortcut, head="conv_seg", prefix="module.",
                               bn_counter=False)
    path = tmp_path / f"medicalnet_{name}.pth"
    torch.save({"state_dict": sd}, path)
    model = deep.build_backbone(name, 3, shortcut_type=shortcut)
    rep = deep.load_weights_file(model, path)
    assert rep["missing"] == [] and rep["unexpected"] == []
    assert all(k.startswith("module.conv_seg.") for k in rep["skipped_head"])
    for key, value in model.state_dict().items():
        if not key.startswith("fc.") and not key.endswith("num_batches_tracked"):
            assert torch.equal(value, sd["module." + key]), key


def _vgg19_reference_features(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """torchvision vgg19's forward written with torch.nn.functional from the layer list: the
    4096-d input of classifier.6 (eval mode: dropout is the identity)."""
    i = 0
    for v in VGG19_CONV:
        if v == "M":
            x, i = F.max_pool2d(x, 2, 2), i + 1
        else:
            x, i = F.relu(F.conv2d(x, sd[f"features.{i}.weight"], sd[f"features.{i}.bias"], padding=1)), i + 2
    x = torch.flatten(F.adaptive_avg_pool2d(x, (7, 7)), 1)
    x = F.relu(F.linear(x, sd["classifier.0.weight"], sd["classifier.0.bias"]))
    return F.relu(F.linear(x, sd["classifier.3.weight"], sd["classifier.3.bias"]))


def test_vgg19_features_equal_the_reference_forward_on_grey_input(saved):
    """The grey (summed-kernel) network computes what the RGB reference computes on R = G = B;
    with input_norm imagenet its first layer equals the normalised RGB one away from the border."""
    sd, path = saved("vgg19")
    model = deep.build_backbone("vgg19", 2)
    deep.load_weights_file(model, path)
    x = np.random.default_rng(0).random((2, 1, 64, 64), dtype=np.float32)
    ours = deep.extract_features(model, x)
    with torch.no_grad():
        ref = _vgg19_reference_features(sd, torch.from_numpy(x).repeat(1, 3, 1, 1)).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)
    normed = deep.build_backbone("vgg19", 2)
    deep.load_weights_file(normed, path, input_norm="imagenet")
    mean, std = torch.tensor(deep.IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(deep.IMAGENET_STD).view(1, 3, 1, 1)
    rgb = (torch.from_numpy(x).repeat(1, 3, 1, 1) - mean) / std
    with torch.no_grad():
        first = normed.features[0](torch.from_numpy(x))
        want = F.conv2d(rgb, sd["features.0.weight"], sd["features.0.bias"], padding=1)
    torch.testing.assert_close(first[..., 1:-1, 1:-1], want[..., 1:-1, 1:-1], rtol=1e-4, atol=1e-4)


def test_vgg19_gradcam_uses_the_last_block_with_room():
    torch.manual_seed(0)
    model = deep.build_backbone("vgg19", 2)
    assert deep.gradcam_layer(model, (1, 64, 64)) == ("features.35", (4, 4))
    assert deep.gradcam_layer(model, (1, 32, 32))[0] == "features.26"  # block 5 would be 2 x 2
    x = np.random.default_rng(1).random((2, 1, 64, 64), dtype=np.float32)
    heat, prob, layer = deep.gradcam(model, x)
    assert heat.shape == (2, 64, 64) and layer == "features.35" and np.isfinite(heat).all()


def test_two_d_only_backbones_refuse_3d():
    for name in ("densenet121", "vgg19"):
        with pytest.raises(ValueError, match="2D only"):
            deep.build_backbone(name, 3)


def test_schema_offers_every_backbone():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert tuple(schema["$defs"]["backbone"]["enum"]) == deep.BACKBONES
