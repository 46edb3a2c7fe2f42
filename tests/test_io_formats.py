"""Readers: every supported format, geometry exact after reading and after resampling, grey and spacing rules."""

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from axilla.errors import InputError
from axilla.io import LUMA, read_image, spacing_source
from axilla.preprocess import interpolator, resample, select_label
from imaging_helpers import write_dicom_2d, write_dicom_series

# Axis flips/permutation: exactly representable in every header (NIfTI's quaternion included).
DIRECTION = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)
SPACING = (0.75, 0.5, 2.5)
ORIGIN = (-10.5, 20.25, 5.0)


def _geom(img):
    return img.GetSize(), img.GetSpacing(), img.GetOrigin(), img.GetDirection()


def test_dicom_series_folder(tmp_path):
    vol = np.arange(4 * 6 * 5, dtype=np.uint16).reshape(4, 6, 5) * 7
    write_dicom_series(tmp_path / "series", vol, spacing_xy=SPACING[:2], slice_step=SPACING[2], origin=ORIGIN)
    img = read_image(tmp_path / "series")
    assert img.GetSize() == (5, 6, 4)
    assert img.GetSpacing() == SPACING and img.GetOrigin() == ORIGIN
    assert img.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    assert np.array_equal(sitk.GetArrayFromImage(img), vol)
    assert img.GetMetaDataKeys() == ("axilla:spacing_source",)  # no DICOM header field survives


def test_single_dicom_2d_spacing_from_imager_pixel_spacing(tmp_path):
    arr = (np.arange(20 * 30).reshape(20, 30) % 4000).astype(np.uint16)
    write_dicom_2d(tmp_path / "mg.dcm", arr, ImagerPixelSpacing=[0.1, 0.2])  # [row, column]
    img = read_image(tmp_path / "mg.dcm")
    assert img.GetDimension() == 2 and img.GetSize() == (30, 20)
    assert img.GetSpacing() == (0.2, 0.1) and spacing_source(img) == "file"
    assert np.array_equal(sitk.GetArrayFromImage(img), arr)


def test_single_dicom_without_spacing_needs_a_value(tmp_path):
    write_dicom_2d(tmp_path / "us.dcm", np.ones((8, 9)), modality="US")
    with pytest.raises(InputError, match="no pixel spacing"):
        read_image(tmp_path / "us.dcm")
    assert read_image(tmp_path / "us.dcm", fallback_spacing=(0.3, 0.3)).GetSpacing() == (0.3, 0.3)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_itk_formats_keep_geometry_exactly(tmp_path, suffix):
    arr = np.random.default_rng(1).normal(0, 1, (4, 6, 5)).astype(np.float32)
    src = sitk.GetImageFromArray(arr)
    src.SetSpacing(SPACING)
    src.SetOrigin(ORIGIN)
    src.SetDirection(DIRECTION)
    sitk.WriteImage(src, str(tmp_path / f"x{suffix}"))
    img = read_image(tmp_path / f"x{suffix}")
    assert _geom(img) == _geom(src)
    assert np.array_equal(sitk.GetArrayFromImage(img), arr)


def test_rgb_png_to_luma_with_spacing_from_dpi(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "us.png", dpi=(254, 127))  # 0.1 mm x 0.2 mm pixels
    img = read_image(tmp_path / "us.png")
    assert img.GetSize() == (12, 10)
    np.testing.assert_allclose(img.GetSpacing(), (0.1, 0.2), rtol=1e-3)  # pHYs stores whole pixels per metre
    assert spacing_source(img) == "file"
    expected = rgb.astype(np.float64) @ np.array(LUMA)
    np.testing.assert_allclose(sitk.GetArrayFromImage(img), expected, atol=1e-4)
    assert LUMA == (0.299, 0.587, 0.114)


def test_grey_rgb_export_keeps_values_and_row_spacing_wins(tmp_path):
    g = np.arange(60, dtype=np.uint8).reshape(6, 10)
    Image.fromarray(np.stack([g] * 3, axis=-1)).save(tmp_path / "mg.png", dpi=(100, 100))
    img = read_image(tmp_path / "mg.png", pixel_spacing=(0.07, 0.07), fallback_spacing=(1.0, 1.0))
    assert img.GetSpacing() == (0.07, 0.07) and spacing_source(img) == "row"
    assert np.array_equal(sitk.GetArrayFromImage(img), g.astype(np.float32))


def test_png_without_spacing_is_refused_not_guessed(tmp_path):
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(InputError, match="a.png: no pixel spacing.*pixel_spacing"):
        read_image(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png", fallback_spacing=(0.25, 0.25))
    assert img.GetSpacing() == (0.25, 0.25) and spacing_source(img) == "config"


@pytest.mark.parametrize("suffix,exact", [(".tif", True), (".jpg", False)])
def test_tiff_and_jpeg(tmp_path, suffix, exact):
    g = (np.indices((16, 20)).sum(0) * 6).astype(np.uint8)
    Image.fromarray(g).save(tmp_path / f"a{suffix}", dpi=(508, 508))  # 0.05 mm
    img = read_image(tmp_path / f"a{suffix}")
    np.testing.assert_allclose(img.GetSpacing(), (0.05, 0.05), rtol=1e-6)
    arr = sitk.GetArrayFromImage(img).astype(np.float64)
    assert arr.shape == g.shape
    if exact:
        assert np.array_equal(arr, g)
    else:  # lossy
        assert np.abs(arr - g).mean() < 3


def test_resampling_keeps_origin_direction_and_sets_spacing_exactly():
    src = sitk.GetImageFromArray(np.random.default_rng(3).normal(size=(10, 12, 14)).astype(np.float32))
    src.SetSpacing((0.664062, 0.664062, 2.1))
    src.SetOrigin(ORIGIN)
    src.SetDirection(DIRECTION)
    for name in ("bspline", "linear", "nearest", "lanczos"):
        out = resample(src, (1.0, 1.0, 1.0), interpolator(name, 3))
        assert out.GetSpacing() == (1.0, 1.0, 1.0)
        assert out.GetOrigin() == ORIGIN and out.GetDirection() == DIRECTION
        assert out.GetSize() == (9, 8, 21)  # round(14*0.664), round(12*0.664), round(10*2.1)


def test_multilabel_mask_picks_configured_label(tmp_path):
    m = np.zeros((5, 6), np.uint8)
    m[1, 1], m[2:4, 2:5] = 1, 2
    img = sitk.GetImageFromArray(m)
    assert sitk.GetArrayFromImage(select_label(img, 2, "m.png")).sum() == 6
    with pytest.raises(InputError, match=r"m.png: mask holds several labels \(1, 2\): name the ROI's label"):
        select_label(img, None, "m.png")  # not silently their union
    binary = sitk.GetImageFromArray((m > 0).astype(np.uint8) * 255)
    assert sitk.GetArrayFromImage(select_label(binary, None, "m.png")).tolist() == (m > 0).astype(int).tolist()
    with pytest.raises(InputError, match=r"m.png: mask has no voxel with the ROI label 3 \(labels present: 1, 2\)"):
        select_label(img, 3, "m.png")
