"""Image/mask geometry: one-voxel shifts are realigned with a warning, other extents refused, ROI checks."""

import json
import logging

import numpy as np
import pytest
import SimpleITK as sitk

from axilla.errors import InputError
from axilla.preprocess import geometry_mismatch, preprocess_image
from axilla.settings import section
from imaging_helpers import blob_volume

SETTINGS = section("preprocess.MRI", normalize="zscore")  # no resampling: the mask grid is the image grid


def _write(tmp_path, arr, name, spacing=(0.8, 0.8, 2.0), origin=(1.0, 2.0, 3.0)):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    sitk.WriteImage(img, str(tmp_path / name))
    return str(tmp_path / name)


def _centroid_mm(mask_img):
    idx = np.argwhere(sitk.GetArrayFromImage(mask_img) > 0)[:, ::-1].astype(float)
    return np.mean([mask_img.TransformContinuousIndexToPhysicalPoint(list(i)) for i in idx], axis=0)


def test_one_voxel_origin_shift_is_realigned_with_warning(tmp_path, caplog):
    img, mask = blob_volume()
    ip = _write(tmp_path, img.astype(np.float32), "img.nii.gz")
    shifted = _write(tmp_path, mask, "mask_shifted.nii.gz", origin=(1.8, 2.0, 3.0))  # +1 voxel in x
    assert geometry_mismatch(sitk.ReadImage(ip), sitk.ReadImage(shifted)) == pytest.approx(1.0)
    with caplog.at_level(logging.WARNING):
        qc = preprocess_image(ip, {"A": shifted}, "MRI", "T2", SETTINGS, str(tmp_path / "out"))
    assert any("mask_shifted.nii.gz" in r.getMessage() and "resampled onto the image grid" in r.getMessage()
               for r in caplog.records)
    assert any("differ by 1 voxels" in w for w in qc["warnings"])
    out = sitk.ReadImage(str(tmp_path / "out" / "mask-A.nii.gz"))
    assert out.GetOrigin() == (1.0, 2.0, 3.0)
    # Same place in space: the ROI moved one voxel along x on the image grid, nothing lost
    # (the lesion is away from the border).
    assert np.array_equal(sitk.GetArrayFromImage(out), np.roll(mask, 1, axis=2))
    np.testing.assert_allclose(_centroid_mm(out), _centroid_mm(sitk.ReadImage(shifted)), atol=1e-9)
    assert json.loads((tmp_path / "out" / "qc.json").read_text())["warnings"] == qc["warnings"]


def test_identical_grid_gives_no_warning(tmp_path):
    img, mask = blob_volume()
    ip = _write(tmp_path, img.astype(np.float32), "img.nii.gz")
    mp = _write(tmp_path, mask, "mask.nii.gz")
    qc = preprocess_image(ip, {"A": mp}, "MRI", "T2", SETTINGS, str(tmp_path / "out"))
    assert qc["warnings"] == [] and qc["roi_voxels"]["A"] == mask.sum()


@pytest.mark.parametrize("what", ["spacing", "size", "origin"])
def test_different_physical_extent_is_refused_naming_both_files(tmp_path, what):
    img, mask = blob_volume()
    ip = _write(tmp_path, img.astype(np.float32), "img.nii.gz")
    if what == "spacing":
        mp = _write(tmp_path, mask, "other.nii.gz", spacing=(1.6, 0.8, 2.0))
    elif what == "size":
        mp = _write(tmp_path, mask[:, :, :40], "other.nii.gz")
    else:
        mp = _write(tmp_path, mask, "other.nii.gz", origin=(1.0, 2.0, 9.0))  # 3 slices
    with pytest.raises(InputError) as e:
        preprocess_image(ip, {"A": mp}, "MRI", "T2", SETTINGS, str(tmp_path / "out"))
    msg = str(e.value)
    assert "other.nii.gz" in msg and "img.nii.gz" in msg and "different physical extents" in msg
    assert not (tmp_path / "out").exists()


def test_empty_and_too_small_rois_are_errors(tmp_path):
    img, mask = blob_volume()
    ip = _write(tmp_path, img.astype(np.float32), "img.nii.gz")
    empty = _write(tmp_path, np.zeros_like(mask), "empty.nii.gz")
    with pytest.raises(InputError, match="empty.nii.gz: mask is empty"):
        preprocess_image(ip, {"A": empty}, "MRI", "T2", SETTINGS, str(tmp_path / "o1"))
    tiny = np.zeros_like(mask)
    tiny[6, 20, 20:24] = 1
    tp = _write(tmp_path, tiny, "tiny.nii.gz")
    with pytest.raises(InputError, match=r"tiny.nii.gz: ROI has 4 voxels .*min_roi_voxels = 20"):
        preprocess_image(ip, {"A": tp}, "MRI", "T2", SETTINGS, str(tmp_path / "o2"))
    ok = preprocess_image(ip, {"A": tp}, "MRI", "T2", section("preprocess.MRI", min_roi_voxels=4), str(tmp_path / "o3"))
    assert ok["roi_voxels"] == {"A": 4}


def test_border_touching_roi_is_a_qc_warning(tmp_path):
    img, mask = blob_volume()
    ip = _write(tmp_path, img.astype(np.float32), "img.nii.gz")
    edge = mask.copy()
    edge[5:8, 18:22, 0:3] = 1  # reaches x = 0
    mp = _write(tmp_path, edge, "edge.nii.gz")
    qc = preprocess_image(ip, {"A": mp}, "MRI", "T2", SETTINGS, str(tmp_path / "out"))
    assert qc["warnings"] == ["rater A: ROI touches the image border along x"]


def test_raster_mask_takes_image_spacing(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    g = rng.integers(50, 200, (30, 40), dtype=np.uint8)
    Image.fromarray(g).save(tmp_path / "us.png", dpi=(254, 254))
    m = np.zeros((30, 40), np.uint8)
    m[10:20, 10:25] = 255
    Image.fromarray(np.stack([m] * 3, -1)).save(tmp_path / "us_mask.png", dpi=(72, 72))  # wrong dpi ignored
    qc = preprocess_image(str(tmp_path / "us.png"), {"A": str(tmp_path / "us_mask.png")}, "US", "tumor",
                          section("preprocess.MRI"), str(tmp_path / "out"))
    assert qc["warnings"] == [] and qc["roi_voxels"]["A"] == 150
    np.testing.assert_allclose(qc["spacing"], [0.1, 0.1], rtol=1e-3)
    assert qc["roi_mm"]["A"] == pytest.approx(150 * qc["spacing"][0] * qc["spacing"][1])


def test_rule_extra_args_from_manifest():
    import pandas as pd

    from axilla.preprocess import index_rows, rule_extra_args

    images = pd.DataFrame({"patient_id": ["P1", "P1", "P1"], "modality": ["US", "MRI", "MRI"],
                           "view": ["tumor", "DCE0", "DCE2"], "image": ["u.png", "pre dir", "post"],
                           "pixel_spacing": ["0.1,0.1", None, None]})
    cfg = section("preprocess.MRI", dce={"subtract": True, "pre_view": "DCE0"})
    assert rule_extra_args(index_rows(images), "P1", "US", "tumor", section("preprocess.US")) == "--pixel-spacing 0.1,0.1"
    assert rule_extra_args(index_rows(images), "P1", "MRI", "DCE2", cfg) == "--pre-image 'pre dir'"
    assert rule_extra_args(index_rows(images), "P1", "MRI", "DCE0", cfg) == ""  # the pre-contrast view itself
    with pytest.raises(ValueError, match="pre_view DCE0: patient P2 has no such image"):
        rule_extra_args(index_rows(images), "P2", "MRI", "DCE2", cfg)
