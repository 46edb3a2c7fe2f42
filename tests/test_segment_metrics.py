"""Segmentation metrics (axilla.segment.metrics, on MONAI's) against hand-computed overlaps and
distances, and the bootstrap CI against a hand-countable case."""

import numpy as np
import pytest

from axilla.segment.metrics import bootstrap_ci, case_metrics


def square(top, left, side, shape=(64, 64)):
    m = np.zeros(shape, np.uint8)
    m[top:top + side, left:left + side] = 1
    return m


def disc(cy, cx, r, shape=(96, 96)):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)


def test_overlap_metrics_of_two_shifted_squares():
    # 10 x 10 squares shifted by 5 columns: 50 shared pixels of 100 each
    m = case_metrics(square(10, 10, 10), square(10, 15, 10))
    assert m["dice"] == pytest.approx(2 * 50 / 200)
    assert m["iou"] == pytest.approx(50 / 150)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)


def test_precision_and_recall_of_a_prediction_inside_the_truth():
    truth, pred = square(10, 10, 20), square(15, 15, 10)  # 100 predicted pixels, all inside 400 true ones
    m = case_metrics(pred, truth)
    assert m["precision"] == pytest.approx(1.0) and m["recall"] == pytest.approx(100 / 400)
    assert m["dice"] == pytest.approx(200 / 500) and m["iou"] == pytest.approx(100 / 400)


@pytest.mark.parametrize("shift", [2, 5])
def test_hd95_of_shifted_squares_is_the_shift_in_mm(shift):
    # a quarter of each outline (the leading edge) lies exactly `shift` from the other square
    assert case_metrics(square(20, 10, 20), square(20, 10 + shift, 20))["hd95"] == pytest.approx(shift)
    assert case_metrics(square(20, 10, 20), square(20, 10 + shift, 20), spacing=(0.5, 0.5))["hd95"] == \
        pytest.approx(0.5 * shift)


def test_hd95_of_shifted_discs_is_the_shift():
    # boundary points at angle t lie |shift cos t| apart: the 95th percentile is 0.997 x shift
    hd = case_metrics(disc(48, 40, 20), disc(48, 46, 20))["hd95"]
    assert hd == pytest.approx(6, abs=0.5)


def test_empty_masks_follow_the_documented_conventions():
    empty, truth = np.zeros((30, 40), np.uint8), square(5, 5, 10, (30, 40))
    both = case_metrics(empty, empty)
    assert (both["dice"], both["iou"], both["precision"], both["recall"], both["hd95"]) == (1, 1, 1, 1, 0)
    miss = case_metrics(empty, truth, spacing=(2.0, 1.0))
    assert (miss["dice"], miss["precision"], miss["recall"], miss["empty"]) == (0, 0, 0, True)
    assert miss["hd95"] == pytest.approx(np.hypot(60, 40))  # the image diagonal in mm


def test_bootstrap_ci_brackets_the_mean_and_collapses_for_constant_values():
    assert bootstrap_ci([0.7] * 9, 200, 0) == pytest.approx((0.7, 0.7))
    low, high = bootstrap_ci([0.0, 1.0] * 20, 500, 0)
    assert low < 0.5 < high and high - low == pytest.approx(2 * 1.96 * 0.5 / np.sqrt(40), abs=0.06)
    assert all(np.isnan(bootstrap_ci([0.5], 0, 0)))
