"""Deep features: backbones, penultimate features, weight files, fine-tuning without leakage."""

import inspect
import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from axilla import deep

torch.set_num_threads(1)

# FIPS 180-2, appendix B.1: SHA-256("abc")
SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def sha256sum(path) -> str:
    """A file's sha256 from coreutils' `sha256sum`: a reference independent of axilla's hasher."""
    if shutil.which("sha256sum") is None:
        pytest.skip("coreutils sha256sum not installed")
    return subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]


def _images(n, shape, seed, labels=None):
    """Noise images; node-positive ones get a bright centre blob (a learnable signal)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, *shape)).astype(np.float32) * 0.5
    if labels is not None:
        centre = tuple(slice(s // 4, 3 * s // 4) for s in shape)
        for i in np.flatnonzero(labels):
            x[(i, 0, *centre)] += 0.5
    return x


def _torchvision_resnet18_state_dict(seed=0) -> dict:
    """The real torchvision resnet18 key names and shapes (BasicBlock x [2, 2, 2, 2]), random values."""
    g = torch.Generator().manual_seed(seed)
    sd = {}

    def conv(name, cout, cin, k):
        sd[name] = torch.randn(cout, cin, k, k, generator=g) * 0.05

    def bn(prefix, c):
        sd[f"{prefix}.weight"] = torch.rand(c, generator=g) + 0.5
        sd[f"{prefix}.bias"] = torch.randn(c, generator=g) * 0.1
        sd[f"{prefix}.running_mean"] = torch.randn(c, generator=g) * 0.1
        sd[f"{prefix}.running_var"] = torch.rand(c, generator=g) + 0.5
        sd[f"{prefix}.num_batches_tracked"] = torch.tensor(1000)

    conv("conv1.weight", 64, 3, 7)
    bn("bn1", 64)
    inplanes = 64
    for layer, planes in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            p = f"layer{layer}.{block}"
            conv(f"{p}.conv1.weight", planes, inplanes if block == 0 else planes, 3)
            bn(f"{p}.bn1", planes)
            conv(f"{p}.conv2.weight", planes, planes, 3)
            bn(f"{p}.bn2", planes)
            if block == 0 and layer > 1:  # stride-2 blocks project the shortcut
                conv(f"{p}.downsample.0.weight", planes, inplanes, 1)
                bn(f"{p}.downsample.1", planes)
        inplanes = planes
    sd["fc.weight"] = torch.randn(1000, 512, generator=g) * 0.01
    sd["fc.bias"] = torch.zeros(1000)
    return sd


@pytest.fixture(scope="module")
def tv_file(tmp_path_factory):
    sd = _torchvision_resnet18_state_dict()
    path = tmp_path_factory.mktemp("w") / "resnet18_imagenet.pth"
    torch.save(sd, path)
    return path, sd


# --------------------------------------------------------------------------- backbones / features


@pytest.mark.parametrize(
    "name, dims, size, dim",
    [
        ("resnet18", 2, (32, 32), 512),
        ("resnet50", 2, (32, 32), 2048),
        ("densenet121", 2, (32, 32), 1024),
        ("resnet18", 3, (16, 16, 16), 512),
        ("resnet50", 3, (16, 16, 16), 2048),
    ],
)
def test_feature_dims(name, dims, size, dim):
    model = deep.build_backbone(name, dims)
    assert deep.feature_dim(model) == dim
    feats = deep.extract_features(model, _images(3, size, 0), batch_size=2)
    assert feats.shape == (3, dim) and np.isfinite(feats).all()


def test_3d_densenet_is_refused():
    with pytest.raises(ValueError, match="2D only"):
        deep.build_backbone("densenet121", 3)


def test_extraction_deterministic_batch_independent_and_side_effect_free():
    model, _ = deep.prepare_model("resnet18", 2, {"source": "random"}, seed=7, threads=1, device="cpu")
    model.train()  # extraction must switch to eval itself and restore the mode
    before = deep.state_dict_sha256(model)
    x = _images(5, (32, 32), 1)
    f1 = deep.extract_features(model, x, batch_size=1)
    f4 = deep.extract_features(model, x, batch_size=4)
    np.testing.assert_allclose(f1, f4, atol=1e-5)
    assert np.array_equal(f4, deep.extract_features(model, x, batch_size=4))
    assert model.training and deep.state_dict_sha256(model) == before
    # the head's input is what we return: the fc of those features gives the model output
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(model.fc(torch.from_numpy(f4)).numpy(), out, atol=1e-5)


def test_same_seed_same_features_other_seed_other_features():
    x = _images(4, (32, 32), 2)
    feats = []
    for seed in (11, 11, 12):
        m, _ = deep.prepare_model("resnet18", 2, {"source": "random"}, seed=seed, threads=1, device="cpu")
        feats.append(deep.extract_features(m, x))
    assert np.array_equal(feats[0], feats[1])
    assert not np.allclose(feats[0], feats[2])


def test_choose_device():
    assert deep.choose_device() == ("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------- weight files


def test_torchvision_resnet18_keys_all_land(tv_file):
    path, sd = tv_file
    assert len(sd) == 122  # torchvision resnet18: 62 parameters + 60 batch-norm buffers
    model = deep.build_backbone("resnet18", 2)
    rep = deep.load_weights_file(model, path)
    assert rep["n_mapped"] == 120 and rep["missing"] == [] and rep["unexpected"] == []
    assert rep["skipped_head"] == ["fc.weight", "fc.bias"]
    assert rep["first_conv_summed_from_channels"] == 3
    got = model.state_dict()
    assert torch.equal(got["layer3.1.conv2.weight"], sd["layer3.1.conv2.weight"])
    assert torch.equal(got["layer4.0.downsample.0.weight"], sd["layer4.0.downsample.0.weight"])
    assert torch.equal(got["layer2.0.downsample.1.running_var"], sd["layer2.0.downsample.1.running_var"])
    assert torch.allclose(got["conv1.weight"], sd["conv1.weight"].sum(dim=1, keepdim=True))
    for k, v in sd.items():  # every non-head tensor arrived unchanged
        if not k.startswith(("fc.", "conv1.")):
            assert torch.equal(got[k], v), k
    assert got["fc.weight"].shape == (1, 512)  # our own head, not ImageNet's 1000 classes


def test_summed_conv1_equals_rgb_conv_on_replicated_grey():
    w = torch.randn(8, 3, 7, 7)
    x = torch.rand(2, 1, 20, 20)
    np.testing.assert_allclose(
        F.conv2d(x, w.sum(1, keepdim=True), padding=3), F.conv2d(x.repeat(1, 3, 1, 1), w, padding=3), atol=1e-5
    )


def test_imagenet_normalisation_folded_into_stem(tv_file):
    path, sd = tv_file
    rgb = deep.build_backbone("resnet18", 2, in_channels=3)
    rgb.load_state_dict({k: v for k, v in sd.items() if not k.startswith("fc.")}, strict=False)
    grey = deep.build_backbone("resnet18", 2)
    deep.load_weights_file(grey, path, input_norm="imagenet")
    rgb.eval(), grey.eval()
    x = torch.rand(2, 1, 32, 32)
    mean = torch.tensor(deep.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(deep.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        a = rgb.bn1(rgb.conv1((x.repeat(1, 3, 1, 1) - mean) / std))
        b = grey.bn1(grey.conv1(x))
    # equal away from the zero-padding border of the 7x7 stride-2 stem
    np.testing.assert_allclose(a[..., 2:-2, 2:-2], b[..., 2:-2, 2:-2], atol=1e-4)


def test_weight_file_errors(tmp_path, tv_file):
    path, sd = tv_file
    junk = tmp_path / "junk.pth"
    torch.save({"foo.weight": torch.zeros(3)}, junk)
    with pytest.raises(ValueError, match="no tensor .* matches"):
        deep.load_weights_file(deep.build_backbone("resnet18", 2), junk)
    with pytest.raises(ValueError, match="do not fit"):  # 2D weights into a 3D network
        deep.load_weights_file(deep.build_backbone("resnet18", 3), path)
    part = tmp_path / "part.pth"
    torch.save({k: v for k, v in sd.items() if not k.startswith("layer4")}, part)
    with pytest.raises(ValueError, match="partly random"):
        deep.load_weights_file(deep.build_backbone("resnet18", 2), part)
    rep = deep.load_weights_file(deep.build_backbone("resnet18", 2), part, strict=False)
    assert rep["missing"] and all(k.startswith("layer4") for k in rep["missing"])
    with pytest.raises(FileNotFoundError):
        deep.load_weights_file(deep.build_backbone("resnet18", 2), tmp_path / "nope.pth")


def test_nested_prefixed_checkpoint_and_torchvision_densenet_names(tmp_path):
    # MedicalNet-style: {"state_dict": {"module.<key>": ...}} for a 3D ResNet
    src3d = deep.build_backbone("resnet18", 3)
    p = tmp_path / "medicalnet_like.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in src3d.state_dict().items()}}, p)
    dst = deep.build_backbone("resnet18", 3)
    rep = deep.load_weights_file(dst, p)
    assert rep["missing"] == [] and rep["skipped_head"] == ["module.fc.weight", "module.fc.bias"]
    assert torch.equal(dst.state_dict()["layer2.1.conv1.weight"], src3d.state_dict()["layer2.1.conv1.weight"])
    # torchvision DenseNet names: no ".layers" level, legacy "norm.1" spelling, "classifier" head
    src = deep.build_backbone("densenet121", 2, in_channels=3)
    tv = {}
    for k, v in src.state_dict().items():
        if k.startswith("class_layers"):
            continue
        tv[k.replace(".layers.norm1", ".norm.1").replace(".layers.conv2", ".conv2")] = v
    tv["classifier.weight"], tv["classifier.bias"] = torch.zeros(1000, 1024), torch.zeros(1000)
    p2 = tmp_path / "densenet_tv.pth"
    torch.save(tv, p2)
    dst2 = deep.build_backbone("densenet121", 2)
    rep2 = deep.load_weights_file(dst2, p2)
    assert rep2["missing"] == [] and rep2["unexpected"] == []
    k = "features.denseblock3.denselayer5.layers.norm1.weight"
    assert torch.equal(dst2.state_dict()[k], src.state_dict()[k])


def test_sha256sum_reference_gives_the_fips_vector(tmp_path):
    abc = tmp_path / "abc"
    abc.write_bytes(b"abc")
    assert sha256sum(abc) == SHA256_ABC


def test_weights_report_sha256_equals_sha256sum(tv_file):
    path, _ = tv_file
    rep = deep.load_weights_file(deep.build_backbone("resnet18", 2), path)
    assert rep["sha256"] == sha256sum(path)


def test_file_provenance_says_where_weights_came_from(tv_file):
    path, _ = tv_file
    model, prov = deep.prepare_model("resnet18", 2, {"source": "file", "path": str(path)}, seed=0, device="cpu")
    digest = sha256sum(path)
    assert prov["source"] == "file" and prov["sha256"] == prov["file"]["sha256"] == digest
    assert f"(sha256 {digest[:12]}…)" in prov["description"]
    assert f"loaded weights from {path}" in prov["description"]
    assert "120 tensors mapped" in prov["description"] and "summed from 3 channels" in prov["description"]
    assert not model.training


def test_random_provenance_is_explicit():
    _, prov = deep.prepare_model("resnet18", 3, {"source": "random"}, seed=0, device="cpu")
    assert prov["source"] == "random" and "random initialisation" in prov["description"]
    assert "untrained" in prov["description"]


def test_bad_weight_settings():
    with pytest.raises(ValueError, match="unknown weights source"):
        deep.prepare_model("resnet18", 2, {"source": "imagenet"})
    with pytest.raises(ValueError, match="unknown fine-tuning setting"):
        deep.prepare_model("resnet18", 2, {"source": "finetune", "epoch": 3})
    with pytest.raises(ValueError, match="train_images"):
        deep.prepare_model("resnet18", 2, {"source": "finetune"})


# --------------------------------------------------------------------------- fine-tuning

FT = {"source": "finetune", "epochs": 2, "batch_size": 4, "lr": 0.01, "val_fraction": 0.25, "patience": 3}


def _train_set():
    y = np.array([0, 1] * 8)
    return _images(16, (32, 32), 5, y), y


@pytest.fixture(scope="module")
def ft_run():
    x, y = _train_set()
    model, prov = deep.prepare_model("resnet18", 2, FT, x, y, seed=3, threads=1, device="cpu")
    return x, y, model, prov


def test_finetune_sees_training_data_only(ft_run):
    # prepare_model has no way to receive evaluation images: its data parameters are training ones
    params = inspect.signature(deep.prepare_model).parameters
    data_params = {p for p in params if p.endswith(("images", "labels", "groups"))}
    assert data_params == {"train_images", "train_labels", "train_groups"}
    assert not any(w in p for p in params for w in ("test", "eval", "valid", "external"))

    x, y, m1, prov1 = ft_run
    h1 = deep.state_dict_sha256(m1)
    deep.extract_features(m1, _images(6, (32, 32), 100))  # one "test" set ...
    assert deep.state_dict_sha256(m1) == h1  # ... leaves the model unchanged
    m2, prov2 = deep.prepare_model("resnet18", 2, FT, x.copy(), y.copy(), seed=3, threads=1, device="cpu")
    deep.extract_features(m2, _images(9, (32, 32), 200))  # a different "test" set
    assert deep.state_dict_sha256(m2) == h1 == prov1["model_sha256"] == prov2["model_sha256"]
    # the check can fail: other training labels give other weights
    y_other = np.roll(y, 3)
    m3, _ = deep.prepare_model("resnet18", 2, FT, x, y_other, seed=3, threads=1, device="cpu")
    assert deep.state_dict_sha256(m3) != h1
    # and fine-tuning did change the network from its random start
    m0, _ = deep.prepare_model("resnet18", 2, {"source": "random"}, seed=3, device="cpu")
    assert deep.state_dict_sha256(m0) != h1


def test_finetune_provenance_and_record(ft_run):
    prov = ft_run[3]
    ft = prov["finetune"]
    assert prov["source"] == "finetune"
    assert ft["n_train"] == 12 and ft["n_val"] == 4 and 1 <= prov["epochs_run"] <= 2
    assert prov["best_epoch"] in (1, 2) and np.isfinite(prov["best_val_loss"])
    assert [h["epoch"] for h in ft["history"]] == list(range(1, prov["epochs_run"] + 1))
    assert ft["history"][0]["lr"] == pytest.approx(0.01)  # cosine schedule starts at lr
    d = prov["description"]
    assert "fine-tuned from random initialisation on 16 training patients" in d
    assert "best validation loss" in d
    json.dumps(prov)  # provenance goes into the report as JSON


def test_finetune_from_weight_file_3d_init_path(tmp_path):
    src = deep.build_backbone("resnet18", 3)
    p = tmp_path / "own3d.pth"
    torch.save(src.state_dict(), p)
    y = np.array([0, 1] * 4)
    x = _images(8, (16, 16, 16), 9, y)
    spec = {**FT, "epochs": 1, "init": str(p), "val_fraction": 0.0}
    _, prov = deep.prepare_model("resnet18", 3, spec, x, y, seed=0, threads=1, device="cpu")
    assert prov["sha256"] == prov["file"]["sha256"] == sha256sum(p)
    assert f"fine-tuned from weights from {p}" in prov["description"]
    assert "no inner validation split" in prov["description"] and prov["best_epoch"] == 1


def test_inner_split_is_stratified_grouped_and_seeded():
    y = np.array([0] * 10 + [1] * 5)
    tr, va = deep.inner_split(y, 0.2, seed=0)
    assert sorted(y[va].tolist()) == [0, 0, 1] and len(tr) + len(va) == 15
    assert np.array_equal(va, deep.inner_split(y, 0.2, seed=0)[1])
    groups = np.repeat(np.arange(5), 2)  # two images per patient
    yg = np.repeat([0, 0, 1, 1, 1], 2)
    tr, va = deep.inner_split(yg, 0.4, seed=1, groups=groups)
    assert not set(groups[tr]) & set(groups[va])
    assert set(yg[va]) == {0, 1}
    _, va = deep.inner_split(np.array([0, 0, 0, 1]), 0.5, seed=0)  # a lone positive stays in training
    assert 3 not in va


def test_finetune_needs_both_classes():
    x, _ = _train_set()
    with pytest.raises(ValueError, match="both"):
        deep.prepare_model("resnet18", 2, FT, x, np.zeros(16, int), device="cpu")


# --------------------------------------------------------------------------- inputs


def test_make_inputs_2d_3d():
    rng = np.random.default_rng(0)
    imgs2, msks2 = [], []
    for shape in ((50, 60), (1, 40, 40)):  # second one as SimpleITK reads some 2D files
        img = rng.normal(size=shape)
        msk = np.zeros(shape, np.uint8)
        msk[..., 10:20, 15:30] = 1
        imgs2.append(img), msks2.append(msk)
    x2 = deep.make_inputs(imgs2, msks2, 2, (32, 32), margin=4)
    assert x2.shape == (2, 1, 32, 32) and x2.dtype == np.float32
    assert x2.min() == 0 and x2.max() == pytest.approx(1)

    vol = rng.normal(size=(12, 30, 30))
    mv = np.zeros(vol.shape, np.uint8)
    mv[4:7, 10:20, 10:20] = 1
    mv[5, 8:22, 8:22] = 1  # largest slice: 5
    x3 = deep.make_inputs([vol, vol], [mv, mv], 3, (16, 16, 16), margin=2)
    assert x3.shape == (2, 1, 16, 16, 16)
    x2v, info = deep.make_inputs([vol], [mv], 2, (32, 32), margin=2, return_info=True)
    assert info[0]["slice"] == 5 and x2v.shape == (1, 1, 32, 32)
    assert deep.extract_features(deep.build_backbone("resnet18", 3), x3).shape == (2, 512)
    with pytest.raises(ValueError, match="image 1: .*empty"):
        deep.make_inputs([vol, vol], [mv, np.zeros_like(mv)], 3, (16, 16, 16))
