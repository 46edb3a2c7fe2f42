"""The pretrained-weights cache: fetch from a local HTTP server, hash checks, offline use, validate.

A generated ResNet18 state dict in torchvision's key layout is served from http.server on
127.0.0.1 (a thread, an ephemeral port) under a registry written in the test, its hash taken with
coreutils' sha256sum (independent of axilla's hasher). Nothing here touches the network.
"""

import functools
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from axilla import weights as wc
from axilla.errors import InputError
from axilla.settings import section
from conftest import ROOT
from test_deep import sha256sum
from test_deep_weights import _reference_state_dict
from test_validate_catalogue import _run

torch.set_num_threads(1)
PRESETS = sorted((ROOT / "config" / "presets").glob("*.yaml"))


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on 127.0.0.1: (folder, base URL); the server stops afterwards."""
    root = tmp_path / "www"
    root.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache named by AXILLA_WEIGHTS, as a user sets it."""
    d = tmp_path / "cache"
    monkeypatch.setenv("AXILLA_WEIGHTS", str(d))
    return d


def _tv_resnet18(path: Path) -> dict:
    sd = _reference_state_dict("resnet18", 2, in_channels=3, shortcut="B", head="fc")
    torch.save(sd, path)
    return sd


def _registry(tmp_path, monkeypatch, entries: dict) -> Path:
    """A registry file of `entries`, made the default (axilla.weights.REGISTRY) for this test."""
    path = tmp_path / "weights.yaml"
    path.write_text(yaml.safe_dump(entries))
    monkeypatch.setattr(wc, "REGISTRY", path)
    return path


@pytest.fixture
def published(served, tmp_path, monkeypatch):
    """resnet18 in torchvision's layout on the server, named as torchvision names its files (the
    sha256 prefix in the name), and a registry pinning that prefix: (state dict, digest, registry)."""
    root, base = served
    tmp = tmp_path / "r18.pth"
    sd = _tv_resnet18(tmp)
    digest = sha256sum(tmp)
    name = f"resnet18-{digest[:8]}.pth"
    tmp.rename(root / name)
    reg = _registry(tmp_path, monkeypatch, {"resnet18": {
        "weights": "imagenet", "architecture": "resnet18", "dims": 2, "layout": "torchvision",
        "input_norm": None, "url": f"{base}/{name}", "file": name, "sha256_prefix": digest[:8]}})
    return sd, digest, reg


def _cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_fetch_downloads_verifies_and_records_the_digest(published, cache):
    sd, digest, reg = published
    assert wc.main(["fetch", "resnet18"]) == 0
    file = cache / f"resnet18-{digest[:8]}.pth"
    assert sha256sum(file) == digest
    assert _cache_files(cache) == sorted([file.name, "index.json"])  # no temporary left
    assert json.loads((cache / "index.json").read_text())["resnet18"]["sha256"] == digest
    assert wc.main(["verify"]) == 0


def test_corrupt_download_is_refused_and_leaves_nothing(published, served, cache, capsys):
    _, digest, _ = published
    root, _ = served
    served_file = root / f"resnet18-{digest[:8]}.pth"
    data = bytearray(served_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in transit
    served_file.write_bytes(bytes(data))
    assert wc.main(["fetch", "resnet18"]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and f"pinned {digest[:8]}" in err
    assert [n for n in _cache_files(cache) if not n.startswith(".")] == []
    assert not any(cache.glob(".*"))  # not even the temporary file


def test_missing_file_on_the_server_writes_nothing(published, served, cache):
    _, digest, _ = published
    (served[0] / f"resnet18-{digest[:8]}.pth").unlink()
    assert wc.main(["fetch", "resnet18"]) == 1  # HTTP 404
    assert _cache_files(cache) == []


def test_filled_cache_works_offline(published, served, cache, monkeypatch):
    """After one fetch the server is gone: verify, fetch (a no-op) and loading need no network."""
    sd, digest, _ = published
    assert wc.main(["fetch", "resnet18"]) == 0
    import urllib.request

    def offline(*a, **k):
        raise AssertionError("the network was used")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    assert wc.main(["verify", "resnet18"]) == 0
    assert wc.main(["fetch", "resnet18"]) == 0
    from axilla import deep

    model, prov = deep.prepare_model("resnet18", 2, {"source": "file", "path": "imagenet"})
    assert prov["cache"]["name"] == "resnet18" and prov["cache"]["sha256"] == digest
    assert prov["sha256"] == digest and "cache entry resnet18" in prov["description"]
    got = model.state_dict()
    assert torch.equal(got["conv1.weight"], sd["conv1.weight"].sum(dim=1, keepdim=True))
    for k, v in sd.items():
        if not k.startswith(("fc.", "conv1.")):
            assert torch.equal(got[k], v), k
    x = np.random.default_rng(0).random((8, 1, 32, 32), dtype=np.float32)
    _, prov = deep.prepare_model("resnet18", 2, {"source": "finetune", "init": "imagenet", "epochs": 1},
                                 train_images=x, train_labels=np.array([0, 1] * 4))
    assert "fine-tuned from imagenet weights (cache entry resnet18)" in prov["description"]
    assert prov["sha256"] == digest


def test_corrupted_cache_file_is_reported_with_the_fetch_command_and_replaced(published, cache):
    _, digest, _ = published
    assert wc.main(["fetch", "resnet18"]) == 0
    file = cache / f"resnet18-{digest[:8]}.pth"
    file.write_bytes(file.read_bytes()[:-100])  # truncated on disk
    entry = wc.load_registry()["resnet18"]
    with pytest.raises(wc.CacheError, match="python -m axilla.weights fetch resnet18"):
        wc.verify(entry)
    from axilla import deep

    x, y = np.zeros((4, 1, 32, 32), np.float32), np.array([0, 1, 0, 1])
    with pytest.raises(wc.CacheError, match="corrupt"):  # the deep stage never loads it
        deep.prepare_model("resnet18", 2, {"source": "finetune", "init": "imagenet"}, train_images=x, train_labels=y)
    assert wc.main(["fetch", "resnet18"]) == 0  # fetched again
    assert sha256sum(file) == digest


def test_register_a_local_medicalnet_file(tmp_path, monkeypatch, cache):
    """No URL: the user's file is registered with the digest they recorded, then loads by word."""
    _registry(tmp_path, monkeypatch, {"medicalnet_resnet18": {
        "weights": "medicalnet", "architecture": "resnet18", "dims": 3, "layout": "medicalnet",
        "overrides": {"shortcut_type": "A"}, "input_norm": None, "url": None, "file": "medicalnet_resnet18.pth"}})
    sd = _reference_state_dict("resnet18", 3, in_channels=1, shortcut="A", head="conv_seg", prefix="module.",
                               bn_counter=False)
    src = tmp_path / "resnet_18.pth"
    torch.save({"state_dict": sd}, src)
    digest = sha256sum(src)
    assert wc.main(["fetch", "medicalnet_resnet18"]) == 1  # nothing to download from
    assert wc.main(["register", str(src), "--name", "medicalnet_resnet18", "--sha256", "0" * 64]) == 1
    assert _cache_files(cache) == []  # refused: not the recorded digest
    assert wc.main(["register", str(src), "--name", "medicalnet_resnet18", "--sha256", digest]) == 0
    assert wc.main(["verify", "medicalnet_resnet18"]) == 0
    from axilla import deep

    model, prov = deep.prepare_model("resnet18", 3, {"source": "file", "path": "pretrained"})
    assert prov["file"]["missing"] == [] and prov["architecture_overrides"] == {"shortcut_type": "A"}
    assert prov["sha256"] == digest
    assert torch.equal(model.state_dict()["layer3.1.conv2.weight"], sd["module.layer3.1.conv2.weight"])


def test_a_file_placed_by_hand_must_be_registered(tmp_path, monkeypatch, cache):
    _registry(tmp_path, monkeypatch, {"medicalnet_resnet18": {
        "weights": "medicalnet", "architecture": "resnet18", "dims": 3, "layout": "medicalnet",
        "url": None, "file": "medicalnet_resnet18.pth"}})
    cache.mkdir()
    (cache / "medicalnet_resnet18.pth").write_bytes(b"x")
    with pytest.raises(wc.CacheError, match="register .*medicalnet_resnet18.pth --name medicalnet_resnet18"):
        wc.verify(wc.load_registry()["medicalnet_resnet18"])


# --------------------------------------------------------------------------- validate


def _deep(**weights):
    return section("deep", weights=weights)


def test_init_imagenet_with_an_empty_cache_stops_validate_with_the_fetch_command(tiny_cohort, cache):
    with pytest.raises(InputError) as e:
        _run(tiny_cohort, deep=_deep(source="finetune", init="imagenet"))
    msg = str(e.value)
    assert "config deep.weights.init: imagenet" in msg and "US network (resnet18, 2D)" in msg
    assert "python -m axilla.weights fetch resnet18" in msg and str(cache) in msg
    assert not (tiny_cohort / "out").exists()  # stopped before writing anything


def test_validate_passes_with_the_file_in_the_cache(tiny_cohort, published, cache):
    assert wc.main(["fetch", "resnet18"]) == 0
    _run(tiny_cohort, deep=_deep(source="finetune", init="imagenet"))
    assert (tiny_cohort / "out" / "qc.csv").exists()


def test_validate_names_weights_that_do_not_exist_for_the_network(tiny_cohort, cache):
    with pytest.raises(InputError, match="no medicalnet weights for a 2D resnet18"):
        _run(tiny_cohort, deep=_deep(source="file", path="medicalnet"))
    with pytest.raises(InputError, match="weights file nowhere.pth not found"):
        _run(tiny_cohort, deep=_deep(source="finetune", init="nowhere.pth"))


def test_imagenet_on_a_3d_network_points_to_pretrained(cache):
    deep = section("deep", weights={"source": "finetune", "init": "imagenet"})
    problems = wc.weights_problems(deep, {"MRI": ["T2"]})
    assert len(problems) == 1 and "no imagenet weights for a 3D resnet18" in problems[0].message
    problems = wc.weights_problems(section("deep", backbone={"MRI": "vgg19"}), {"MRI": ["T2"]})
    assert "2D only" in problems[0].message


# --------------------------------------------------------------------------- the shipped registry and presets


def test_shipped_registry_pins_torchvisions_file_names():
    reg = wc.load_registry()
    imagenet = {e.architecture: e for e in reg.values() if e.weights == "imagenet"}
    from axilla import deep

    assert sorted(imagenet) == sorted(deep.BACKBONES)
    for arch, e in imagenet.items():
        assert e.dims == 2 and e.layout == "torchvision" and e.input_norm == "imagenet"
        assert e.url == f"https://download.pytorch.org/models/{e.file}"
        assert e.file.startswith(f"{arch}-") and e.file == f"{arch}-{e.sha256_prefix}.pth"
        assert len(e.sha256_prefix) == 8 and e.pins() == [e.sha256_prefix]
    for e in reg.values():
        if e.weights == "medicalnet":
            assert e.url is None and e.dims == 3 and e.how_to_get().endswith(f"register PATH --name {e.name}")
    assert wc.entry_for("pretrained", "resnet50", 3, reg).name == "medicalnet_resnet50"
    assert wc.entry_for("pretrained", "vgg19", 2, reg).name == "vgg19"


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_quick_runs_of_presets_need_no_cache(preset, tmp_path, monkeypatch):
    """The presets name pretrained weights; config/quick.yaml (the demo-cohort runs and the tests)
    overrides them with random initialisation explicitly, so an empty cache is no problem."""
    from axilla import settings
    from test_presets import with_quick

    monkeypatch.setenv("AXILLA_WEIGHTS", str(tmp_path / "empty"))
    cfg = with_quick(yaml.safe_load(preset.read_text()))
    st = settings.load(cfg)
    assert st.deep.weights.get("init") == "random"
    assert wc.weights_problems(st.deep, st.views) == []


def test_command_line_entry_point(tmp_path):
    out = subprocess.run([sys.executable, "-m", "axilla.weights", "--cache", str(tmp_path), "list"],
                         capture_output=True, text=True, check=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT / "workflow"), "PATH": "/usr/bin:/bin"}).stdout
    assert f"cache: {tmp_path}" in out and "vgg19" in out and "missing" in out
    assert "medicalnet_resnet18" in out and "no URL: register a local file" in out


def test_report_weights_table_gives_the_files_sha256(tmp_path):
    from axilla.report.provenance import weights_table

    rec = {"US_tumor": {"backbone": "resnet18 (2D)", "weights": "w", "details": {"description": "d", "sha256": "ab" * 32}},
           "US_node": {"backbone": "resnet18 (2D)", "weights": "w", "details": {"description": "d"}}}
    path = tmp_path / "deep_weights.json"
    path.write_text(json.dumps(rec))
    assert weights_table(str(path)).set_index("view")["weights_sha256"].to_dict() == {"US_tumor": "ab" * 32, "US_node": ""}
    rec["US_tumor"]["details"].pop("sha256")  # random / fine-tuned from random: no file, no column
    path.write_text(json.dumps(rec))
    assert "weights_sha256" not in weights_table(str(path))
