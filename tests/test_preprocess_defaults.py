"""Preprocessing cannot silently vanish: a config (a preset) that leaves `preprocess` or a modality
out gets the recommended practice (MRI: N4 + 1 mm isotropic, as seeds 001 and 004; MG / US: a fixed
spacing), the demo config's explicit blocks are untouched, and every image's log line and qc.json
state each step, done or not."""

import json
import logging

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from axilla import settings
from axilla.preprocess import preprocess_image

from conftest import ROOT

DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
NO_PREPROCESS = {k: v for k, v in DEMO.items() if k != "preprocess"}


def test_a_config_without_preprocess_gets_the_recommended_steps():
    st = settings.load(NO_PREPROCESS)
    mri, mg, us = st.preprocess["MRI"], st.preprocess["MG"], st.preprocess["US"]
    assert mri.n4.enabled and mri.n4.backend == "simpleitk" and mri.n4.skip_views == ["ADC"]
    assert mri.spacing == [1.0, 1.0, 1.0] and mri.normalize == "zscore"
    assert mg.spacing == [0.5, 0.5] and mg.flip == "chest_wall_left" and not mg.n4.enabled
    assert us.spacing == [0.25, 0.25] and us.normalize == "zscore"


def test_recommended_block_is_the_demo_configs_own_preprocessing():
    # the demo study states its preprocessing explicitly; the recommended practice is the same,
    # so the demo study's results cannot change (threads is a resource, not a method)
    assert settings.load(DEMO).preprocess == settings.load(NO_PREPROCESS).preprocess
    assert set(SCHEMA["properties"]["preprocess"]["default"]) == {"MG", "MRI", "US"}


def test_a_modality_left_out_gets_its_block_and_a_given_block_is_taken_as_written():
    cfg = {**NO_PREPROCESS, "preprocess": {"MRI": {"spacing": None, "n4": {"enabled": False}}, "US": None}}
    st = settings.load(cfg)
    assert st.preprocess["MRI"].spacing is None and not st.preprocess["MRI"].n4.enabled
    assert st.preprocess["MG"].spacing == [0.5, 0.5]  # left out
    assert st.preprocess["US"].spacing == [0.25, 0.25]  # null = left out
    # a block of its own: its unstated keys are the neutral key defaults (stated in the log)
    partial = settings.load({**NO_PREPROCESS, "preprocess": {"MRI": {"threads": 2}}}).preprocess["MRI"]
    assert partial.threads == 2 and partial.spacing is None and not partial.n4.enabled


def test_every_preset_without_a_preprocess_section_would_get_n4_on_mri():
    for path in sorted((ROOT / "config" / "presets").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text())
        cfg.pop("preprocess", None)
        st = settings.load(cfg)
        for modality, block in st.preprocess.items():
            assert block.spacing is not None, (path.name, modality)
            assert block.n4.enabled == (modality == "MRI"), (path.name, modality)


# --- the record of each image ------------------------------------------------------------------

def _mri(tmp_path, spacing=(0.8, 0.8, 3.0)):
    rng = np.random.default_rng(1)
    shape = (10, 40, 40)
    zz, yy, xx = np.indices(shape, dtype=float)
    body = (np.abs(yy - 20) < 16) & (np.abs(xx - 20) < 16)
    arr = np.where(body, 300.0, 5.0) * np.exp(0.3 * (xx / 39 - 0.5)) + rng.normal(0, 3, shape)
    roi = ((zz - 5) ** 2 / 9 + ((yy - 20) ** 2 + (xx - 20) ** 2) / 36 < 1).astype(np.uint8)
    arr[roi > 0] += 200
    paths = []
    for name, a in (("img", arr.astype(np.float32)), ("roi", roi)):
        im = sitk.GetImageFromArray(a)
        im.SetSpacing(spacing)
        paths.append(str(tmp_path / f"{name}.nrrd"))
        sitk.WriteImage(im, paths[-1])
    return paths


def test_qc_json_and_log_state_every_step(tmp_path, caplog):
    img, roi = _mri(tmp_path)
    mri = settings.load(NO_PREPROCESS).preprocess["MRI"]
    with caplog.at_level(logging.INFO, logger="axilla.preprocess.stage"):
        rec = preprocess_image(img, {"A": roi}, "MRI", "T2", mri, str(tmp_path / "t2"))
    saved = json.loads((tmp_path / "t2" / "qc.json").read_text())
    assert saved["preprocessing"] == rec["preprocessing"]
    p = saved["preprocessing"]
    assert p["n4"] == {"applied": True, "backend": "simpleitk", "shrink": 2, "iterations": [50, 50, 30],
                       "mask": "foreground"}
    assert p["resampling"] == {"applied": True, "spacing": [1.0, 1.0, 1.0], "interpolation": "bspline"}
    assert p["normalisation"] == {"applied": True, "method": "zscore", "region": "foreground"}
    assert p["flip"] == {"applied": False, "setting": "none", "reason": "flip: none"}
    assert p["clipping"]["applied"] is False and p["ring"]["applied"] is False
    # what the record says is what happened to the written image
    out = sitk.ReadImage(str(tmp_path / "t2" / "image.nii.gz"))
    assert np.allclose(out.GetSpacing(), (1.0, 1.0, 1.0))
    assert out.GetSize() == (32, 32, 30)  # 40 x 0.8 mm, 10 x 3 mm
    line = [r.getMessage() for r in caplog.records if "MRI T2" in r.getMessage()][-1]
    assert "N4 (simpleitk" in line and "resampled to (1.0, 1.0, 1.0) mm (bspline)" in line
    assert "normalised (zscore, foreground)" in line and "not applied: flip (flip: none)" in line


def test_skipped_and_switched_off_steps_say_why(tmp_path, caplog):
    img, roi = _mri(tmp_path)
    mri = settings.load(NO_PREPROCESS).preprocess["MRI"]
    off = settings.load({**NO_PREPROCESS, "preprocess": {"MRI": {"normalize": "none"}}}).preprocess["MRI"]
    with caplog.at_level(logging.INFO, logger="axilla.preprocess.stage"):
        adc = preprocess_image(img, {"A": roi}, "MRI", "ADC", mri, str(tmp_path / "adc"))["preprocessing"]
        raw = preprocess_image(img, {"A": roi}, "MRI", "T2", off, str(tmp_path / "raw"))["preprocessing"]
    assert adc["n4"] == {"applied": False, "reason": "view ADC in n4.skip_views"} and adc["resampling"]["applied"]
    assert raw["n4"] == {"applied": False, "reason": "n4.enabled: false"}
    assert raw["resampling"] == {"applied": False, "reason": "spacing: null (native grid kept)"}
    assert raw["normalisation"]["applied"] is False
    assert np.array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "raw" / "image.nii.gz"))),
                          sitk.GetArrayFromImage(sitk.ReadImage(img)))  # nothing done, as stated
    line = [r.getMessage() for r in caplog.records if "MRI T2" in r.getMessage()][-1]
    assert "not applied:" in line and "N4 (n4.enabled: false)" in line and "resampling (spacing: null" in line


def test_mg_flip_is_recorded(tmp_path):
    h, w = 60, 80
    arr = np.full((h, w), 50.0, np.float32)
    arr[:, -10:] = 900.0  # chest wall on the right
    arr[25:35, 30:42] = 400.0
    mask = np.zeros((h, w), np.uint8)
    mask[25:35, 30:42] = 1
    for name, a in (("mg", arr), ("mk", mask)):
        im = sitk.GetImageFromArray(a)
        im.SetSpacing((0.25, 0.25))
        sitk.WriteImage(im, str(tmp_path / f"{name}.nrrd"))
    mg = settings.load(NO_PREPROCESS).preprocess["MG"]
    p = preprocess_image(str(tmp_path / "mg.nrrd"), {"A": str(tmp_path / "mk.nrrd")}, "MG", "CC", mg,
                         str(tmp_path / "o"))["preprocessing"]
    assert p["flip"] == {"applied": True, "setting": "chest_wall_left", "detail": "chest wall was right"}
    assert p["resampling"] == {"applied": True, "spacing": [0.5, 0.5], "interpolation": "linear"}
    assert p["n4"] == {"applied": False, "reason": "n4.enabled: false"}
    out = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "o" / "image.nii.gz")))
    assert out.shape == (30, 40) and out[:, :4].mean() > out[:, -4:].mean()  # now on the left
