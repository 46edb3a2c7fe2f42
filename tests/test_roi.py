"""ROI crops: largest slice, bounding box + margin, padding, resize, [0, 1] scaling, errors."""

import numpy as np
import pytest

from axilla import roi


def _volume():
    rng = np.random.default_rng(0)
    img = rng.normal(100, 20, (10, 40, 50))
    msk = np.zeros(img.shape, np.uint8)
    msk[3, 10:14, 10:14] = 1  # 16 voxels
    msk[6, 5:15, 20:30] = 1  # 100 voxels: the largest
    msk[7, 8:12, 22:26] = 2  # any nonzero label is ROI
    return img, msk


def test_largest_slice_picks_largest_area():
    img, msk = _volume()
    im2, m2, idx = roi.largest_slice(img, msk, axis=0)
    assert idx == 6
    assert np.array_equal(im2, img[6]) and m2.sum() == 100
    # along another axis: x columns 20..29 each hold 10 (slice 6) + 4 (slice 7, x 22..25) voxels
    _, _, idx_x = roi.largest_slice(img, msk, axis=2)
    assert idx_x == 22


def test_crop_box_holds_mask_plus_margin():
    img, msk = _volume()
    crop, info = roi.crop_roi(img, msk, margin=2, out_size=None)
    assert info["bbox"] == [[3, 8], [5, 15], [10, 30]]
    assert info["box"] == [[1, 10], [3, 17], [8, 32]]
    assert crop.shape == (9, 14, 24)
    # the crop is the image region itself (before scaling): compare after the same min-max
    region = img[1:10, 3:17, 8:32]
    expect = (region - region.min()) / (region.max() - region.min())
    np.testing.assert_allclose(crop, expect, atol=1e-6)


def test_crop_pads_with_image_minimum_outside_the_image():
    img = np.arange(100, dtype=float).reshape(10, 10) + 5  # min 5
    msk = np.zeros_like(img)
    msk[0:2, 8:10] = 1  # touches the top-right corner
    crop, info = roi.crop_roi(img, msk, margin=3, out_size=None)
    assert info["box"] == [[-3, 5], [5, 13]]
    assert info["pad"] == [[3, 0], [0, 3]]
    assert info["pad_value"] == 5.0
    assert crop.shape == (8, 8)
    assert np.all(crop[:3] == 0) and np.all(crop[:, -3:] == 0)  # padding = min -> 0 after scaling


def test_fractional_margin_rounds_up():
    img, msk = _volume()
    _, info = roi.crop_roi(img, msk, margin=1.2, out_size=None)
    assert info["margin"] == [2, 2, 2]


def test_resize_and_minmax_range_2d_and_3d():
    img, msk = _volume()
    c3, info = roi.crop_roi(img, msk, margin=2, out_size=(16, 16, 16))
    assert c3.shape == (16, 16, 16) and c3.dtype == np.float32
    assert c3.min() == 0.0 and c3.max() == pytest.approx(1.0)
    assert info["scale"]["max"] > info["scale"]["min"]
    c2 = roi.crop_to_mask(img[6], msk[6], margin=4, out_size=(32, 32))
    assert c2.shape == (32, 32) and c2.min() == 0.0 and c2.max() == pytest.approx(1.0)


def test_keep_aspect_gives_box_with_output_aspect():
    img = np.random.default_rng(1).normal(size=(60, 60))
    msk = np.zeros_like(img)
    msk[20:24, 10:40] = 1  # 4 x 30 box
    _, info = roi.crop_roi(img, msk, 0, (32, 32), keep_aspect=True)
    (y0, y1), (x0, x1) = info["box"]
    assert y1 - y0 == x1 - x0 == 30
    assert y0 <= 20 and y1 >= 24


def test_constant_crop_gives_zeros():
    img = np.full((20, 20), 7.0)
    msk = np.zeros_like(img)
    msk[5:10, 5:10] = 1
    crop = roi.crop_to_mask(img, msk, margin=1, out_size=(8, 8))
    assert crop.shape == (8, 8) and not crop.any()


def test_empty_mask_is_a_clear_error():
    img = np.zeros((5, 8, 8))
    with pytest.raises(ValueError, match="ROI mask is empty"):
        roi.crop_to_mask(img, np.zeros_like(img), 2, (4, 4, 4))
    with pytest.raises(ValueError, match="ROI mask is empty"):
        roi.largest_slice(img, np.zeros_like(img))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ"):
        roi.crop_to_mask(np.zeros((5, 5)), np.ones((5, 6)), 0, (4, 4))
