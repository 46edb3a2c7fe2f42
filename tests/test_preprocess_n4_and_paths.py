"""N4 against a known bias field; breast1 (real MRI) through every preprocessing path; DCE; MG flip; threads."""

import json
import os

import numpy as np
import pytest
import SimpleITK as sitk

from axilla.preprocess import (chest_wall_side, foreground_mask, main,
                               n4_correct, preprocess_image)
from axilla.roi import peritumoral_ring
from axilla.settings import section

from conftest import TEST_DATA

BREAST1 = TEST_DATA / "pyradiomics"  # vendored: tests/data/README.md
IMG, LBL = str(BREAST1 / "breast1_image.nrrd"), str(BREAST1 / "breast1_label.nrrd")


def _biased_phantom():
    """Homogeneous block (100 + 1 % noise) in air, times a smooth bias field of +-40 %."""
    rng = np.random.default_rng(0)
    shape = (20, 32, 32)
    zz, yy, xx = np.indices(shape, dtype=float)
    obj = np.zeros(shape, bool)
    obj[3:17, 4:28, 4:28] = True
    truth = np.where(obj, 100.0, 1.0) + rng.normal(0, 1.0, shape) * obj
    bias = np.exp(0.35 * (xx / 31 - 0.5) * 2 + 0.2 * ((yy / 31 - 0.5) * 2) ** 2)
    img = sitk.GetImageFromArray((truth * bias).astype(np.float32))
    img.SetSpacing((3.0, 3.0, 3.0))
    core = np.zeros(shape, bool)
    core[5:15, 6:26, 6:26] = True  # the homogeneous region, away from the edges
    return img, core


def _cv(arr, region):
    v = arr[region]
    return v.std() / v.mean()


@pytest.mark.parametrize("backend", ["simpleitk", "ants"])
def test_n4_halves_cv_in_homogeneous_region(backend):
    img, core = _biased_phantom()
    before = _cv(sitk.GetArrayFromImage(img), core)
    out = n4_correct(img, section("preprocess.MRI", n4=dict(enabled=True, backend=backend, shrink=2, iterations=[50, 50, 30])).n4,
                     foreground_mask(img))
    after = _cv(sitk.GetArrayFromImage(out), core)
    assert before > 0.1
    assert after <= 0.5 * before, (before, after)
    assert out.GetSpacing() == img.GetSpacing() and out.GetOrigin() == img.GetOrigin()


PATHS = {
    "defaults_sitk_n4": dict(spacing=[1, 1, 1], n4={"enabled": True}),
    "ants_n4_nomask_spline": dict(spacing=[1, 1, 1], n4={"enabled": True, "backend": "ants", "mask": "none",
                                                         "spline_distance": 40, "iterations": [20, 20]}),
    "linear_minmax_image_clip": dict(spacing=[1, 1, 1], interpolation="linear", normalize="minmax",
                                     normalize_region="image", clip_percentiles=[1, 99]),
    "nearest_none": dict(spacing=[1, 1, 1], interpolation="nearest", normalize="none"),
    "bspline_zscore_image_ring": dict(spacing=[1, 1, 1], interpolation="bspline", normalize_region="image",
                                      ring_mm=3),
    "native_grid_clip_zscore": dict(clip_percentiles=[0.5, 99.5]),
}


@pytest.mark.parametrize("name", sorted(PATHS))
def test_breast1_every_path(tmp_path, name):
    cfg = PATHS[name]
    qc = preprocess_image(IMG, {"A": LBL}, "MRI", "T2", section("preprocess.MRI", **cfg), str(tmp_path / "o"))
    out = sitk.ReadImage(str(tmp_path / "o" / "image.nii.gz"))
    m = sitk.ReadImage(str(tmp_path / "o" / "mask-A.nii.gz"))
    src = sitk.ReadImage(IMG)
    want = tuple(float(s) for s in cfg["spacing"]) if "spacing" in cfg else src.GetSpacing()
    # NIfTI headers hold geometry in float32: exact to that precision on disk
    np.testing.assert_allclose([out.GetSpacing(), m.GetSpacing()], [want, want], rtol=1e-7)
    np.testing.assert_allclose([out.GetOrigin(), m.GetOrigin()], [src.GetOrigin()] * 2, rtol=1e-7)
    assert out.GetDirection() == src.GetDirection() == m.GetDirection()
    a = sitk.GetArrayFromImage(out).astype(np.float64)
    mk = sitk.GetArrayFromImage(m)
    assert np.isfinite(a).all() and 0 < mk.sum() == qc["roi_voxels"]["A"]
    # ROI volume preserved by nearest-neighbour resampling to within 15 %
    raw_mm3 = sitk.GetArrayFromImage(sitk.ReadImage(LBL)).astype(bool).sum() * np.prod(src.GetSpacing())
    assert qc["roi_mm"]["A"] == pytest.approx(raw_mm3, rel=0.15)
    region = a.ravel() if cfg.get("normalize_region") == "image" else a[sitk.GetArrayFromImage(
        foreground_mask(out)).astype(bool)]
    norm = cfg.get("normalize", "zscore")
    if norm == "minmax":
        assert a.min() == pytest.approx(0, abs=1e-6) and a.max() == pytest.approx(1, abs=1e-6)
    elif norm == "zscore" and cfg.get("normalize_region") == "image":
        assert a.mean() == pytest.approx(0, abs=1e-4) and a.std() == pytest.approx(1, abs=1e-4)
    elif norm == "zscore" and "clip_percentiles" not in cfg:
        # Otsu's partition is invariant to the positive affine map, so it finds the same voxels
        assert region.mean() == pytest.approx(0, abs=1e-3) and region.std() == pytest.approx(1, abs=1e-3)
    elif norm == "none":
        assert a.min() >= 0 and a.max() <= 248 * 1.0001  # nearest neighbour: original values
    if "clip_percentiles" in cfg:  # the tails are clipped onto plateaus at both bounds
        assert (a == a.max()).sum() > 1 and (a == a.min()).sum() > 1
    if cfg.get("ring_mm"):
        ring = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "o" / "ring-A.nii.gz"))).astype(bool)
        assert ring.any() and not (ring & (mk > 0)).any()
        assert np.array_equal(ring, peritumoral_ring(mk, out.GetSpacing()[::-1], 3))
    assert (tmp_path / "o" / "qc.png").stat().st_size > 200
    assert json.loads((tmp_path / "o" / "qc.json").read_text())["steps"] == qc["steps"]


def test_peritumoral_ring_by_hand():
    m = np.zeros((1, 9, 9), np.uint8)
    m[0, 4, 4] = 1
    ring = peritumoral_ring(m, (1.0, 0.5, 0.5), 1.0)  # in-plane 0.5 mm: ring within 2 voxels
    yy, xx = np.indices((9, 9))
    d = np.hypot(yy - 4, xx - 4) * 0.5
    assert np.array_equal(ring[0], (d > 0) & (d <= 1.0))


def _dce_4d(tmp_path):
    base, mask = sitk.ReadImage(IMG), sitk.ReadImage(LBL)
    pre = sitk.GetArrayFromImage(base).astype(np.float32)
    phases = [pre, pre + 50 * (sitk.GetArrayFromImage(mask) > 0), pre * 1.5]
    img4 = sitk.JoinSeries([sitk.GetImageFromArray(p.astype(np.float32)) for p in phases])
    img4.SetSpacing(base.GetSpacing() + (1.0,))
    img4.SetOrigin(base.GetOrigin() + (0.0,))
    sitk.WriteImage(img4, str(tmp_path / "dce.nii.gz"))
    return str(tmp_path / "dce.nii.gz"), phases


def test_dce_phase_pick_and_subtraction(tmp_path):
    path, phases = _dce_4d(tmp_path)
    none = {"normalize": "none"}
    preprocess_image(path, {"A": LBL}, "MRI", "DCE2", section("preprocess.MRI", **none), str(tmp_path / "p2"))
    got = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "p2" / "image.nii.gz")))
    assert np.allclose(got, phases[2])
    sub = section("preprocess.MRI", **none, dce={"phase": 1, "subtract": True})
    qc = preprocess_image(path, {"A": LBL}, "MRI", "DCE1", sub, str(tmp_path / "s1"))
    got = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "s1" / "image.nii.gz")))
    assert np.allclose(got, phases[1] - phases[0])  # 50 inside the ROI, 0 outside
    assert qc["steps"][0] == "DCE phase 1 of 3 minus pre-contrast phase 0"
    # separate pre-contrast image (pre_view) instead of a 4D series
    pre3 = sitk.GetImageFromArray(phases[0])
    pre3.CopyInformation(sitk.ReadImage(IMG))
    sitk.WriteImage(pre3, str(tmp_path / "pre.nrrd"))
    sep = section("preprocess.MRI", **none, dce={"subtract": True, "pre_view": "DCE0"})
    preprocess_image(IMG, {"A": LBL}, "MRI", "DCE2", sep, str(tmp_path / "sep"), pre_image_path=str(tmp_path / "pre.nrrd"))
    got = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "sep" / "image.nii.gz")))
    assert np.allclose(got, 0)


def _mammogram(chest_left: bool):
    """Breast as a half-disc attached to one image edge; lesion mask inside it."""
    yy, xx = np.indices((60, 80))
    x_from_wall = xx if chest_left else 79 - xx
    breast = np.hypot(yy - 30, x_from_wall) < 50
    img = np.where(breast, 800.0, 30.0) + np.random.default_rng(0).normal(0, 5, (60, 80))
    mask = (np.hypot(yy - 30, x_from_wall - 25) < 6).astype(np.uint8)
    return img.astype(np.float32), mask


def test_mg_flip_puts_chest_wall_left(tmp_path):
    for left in (True, False):
        img, mask = _mammogram(left)
        im = sitk.GetImageFromArray(img)
        im.SetSpacing((0.1, 0.1))
        mk = sitk.GetImageFromArray(mask)
        mk.CopyInformation(im)
        sitk.WriteImage(im, str(tmp_path / f"mg{left}.nrrd"))
        sitk.WriteImage(mk, str(tmp_path / f"mk{left}.nrrd"))
        assert chest_wall_side(im) == ("left" if left else "right")
        s = section("preprocess.MG", flip="chest_wall_left", normalize="none")
        qc = preprocess_image(str(tmp_path / f"mg{left}.nrrd"), {"A": str(tmp_path / f"mk{left}.nrrd")}, "MG", "CC",
                              s, str(tmp_path / f"o{left}"))
        out = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / f"o{left}" / "image.nii.gz")))
        om = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / f"o{left}" / "mask-A.nii.gz")))
        ref_img, ref_mask = _mammogram(True)
        assert np.allclose(out, ref_img if left else ref_img[:, ::-1][:, ::-1] * 0 + img[:, ::-1])
        assert np.array_equal(om, ref_mask)
        assert any("flipped" in s for s in qc["steps"]) == (not left)


def test_threads_reach_itk(tmp_path):
    import SimpleITK as sitk

    main(["--image", IMG, "--mask", f"A={LBL}", "--modality", "MRI", "--view", "T2", "--threads", "3",
          "--settings", json.dumps({"spacing": [1, 1, 1], "n4": {"enabled": True}}), "--out", str(tmp_path / "o"),
          "--log", str(tmp_path / "log.txt")])
    assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == 3
    assert os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] == "3"
    assert "N4 (simpleitk" in (tmp_path / "log.txt").read_text()
