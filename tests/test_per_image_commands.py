"""The per-image rules' commands (`python -m axilla.preprocess` / `axilla.radiomics`), run the
way the rules run them: a fresh interpreter, arguments on the command line, a log file."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=ENV, capture_output=True, text=True)


@pytest.fixture()
def us_image(tmp_path):
    """A 2D speckled image at 0.2 mm with a disc ROI from two raters (B one pixel wider)."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:120, :100]
    disc = (yy - 60) ** 2 + (xx - 50) ** 2
    img = 100 + 40 * (disc < 20 ** 2) + rng.gamma(2.0, 10.0, size=(120, 100))
    paths = {}
    for name, arr, pixel in (("image", img.astype(np.float32), sitk.sitkFloat32),
                             ("A", (disc < 20 ** 2).astype(np.uint8), sitk.sitkUInt8),
                             ("B", (disc < 21 ** 2).astype(np.uint8), sitk.sitkUInt8)):
        im = sitk.Cast(sitk.GetImageFromArray(arr), pixel)
        im.SetSpacing((0.2, 0.2))
        im.SetOrigin((5.0, -3.0))
        paths[name] = str(tmp_path / f"{name}.nii.gz")
        sitk.WriteImage(im, paths[name])
    return paths


def test_preprocess_then_radiomics(tmp_path, us_image):
    out, log = tmp_path / "prep" / "US_tumor", tmp_path / "logs" / "prep.log"
    r = _run("axilla.preprocess", "--image", us_image["image"], "--mask", f"A={us_image['A']}",
             "--mask", f"B={us_image['B']}", "--modality", "US", "--view", "tumor",
             "--settings", json.dumps({"spacing": [0.4, 0.4], "normalize": "zscore"}),
             "--out", str(out), "--log", str(log), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    image = sitk.ReadImage(str(out / "image.nii.gz"))
    assert image.GetSpacing() == pytest.approx((0.4, 0.4))
    assert image.GetSize() == (50, 60)
    assert image.GetOrigin() == pytest.approx((5.0, -3.0))
    # z-scored over the Otsu foreground (the air is left out); Otsu's split survives the affine map
    fg = sitk.GetArrayFromImage(sitk.OtsuThreshold(image, 0, 1, 128)).astype(bool)
    arr = sitk.GetArrayFromImage(image)[fg]
    assert 0.2 < fg.mean() < 0.9
    assert abs(arr.mean()) < 1e-3 and abs(arr.std() - 1) < 1e-3
    assert sorted(p.name for p in out.glob("mask-*.nii.gz")) == ["mask-A.nii.gz", "mask-B.nii.gz"]
    assert "resampled to (0.4, 0.4) mm" in log.read_text()

    csv_out, log2 = tmp_path / "rad" / "US_tumor.csv", tmp_path / "logs" / "rad.log"
    r = _run("axilla.radiomics", "--prep", str(out), "--params", str(ROOT / "resources/radiomics/US.yaml"),
             "--modality", "US", "--view", "tumor", "--out", str(csv_out), "--log", str(log2), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "GLCM is symmetrical" not in r.stderr  # pyradiomics' per-image notice stays off the console
    rows = list(csv.DictReader(open(csv_out)))
    raters = {row["rater"] for row in rows}
    assert raters == {"A", "B"}
    area = {row["rater"]: float(row["value"]) for row in rows if row["feature"] == "US_tumor_original_shape2D_PixelSurface"}
    # B's disc is one pixel wider in radius: its area is larger, both near pi r^2 in mm^2
    assert area["A"] == pytest.approx(np.pi * 4.0 ** 2, rel=0.05)
    assert area["B"] > area["A"]


def test_missing_argument_is_a_usage_error(tmp_path):
    r = _run("axilla.radiomics", "--prep", "x", cwd=tmp_path)
    assert r.returncode == 2
    assert "the following arguments are required: --params, --modality, --view, --out" in r.stderr


def test_failure_lands_in_the_log(tmp_path):
    log = tmp_path / "p.log"
    r = _run("axilla.preprocess", "--image", str(tmp_path / "missing.nii.gz"), "--mask", "A=missing_mask.nii.gz",
             "--modality", "US", "--view", "tumor", "--out", str(tmp_path / "o"), "--log", str(log), cwd=tmp_path)
    assert r.returncode != 0
    assert "missing.nii.gz" in log.read_text()
    assert not (tmp_path / "o").exists()  # nothing complete-looking left behind
