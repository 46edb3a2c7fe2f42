"""Fusion of hand-made probability maps: mean vs majority vote, then the largest component with
its holes filled (axilla.segment.fusion)."""

import numpy as np
import pytest

from axilla.segment.fusion import fuse, postprocess, single


def maps():
    """Three networks' maps over regions whose fused value is known by hand."""
    p = np.zeros((3, 40, 40))
    p[:, 5:25, 5:25] = [[[0.9]], [[0.9]], [[0.9]]]     # all agree: in both fusions
    p[:, 12:16, 12:16] = 0.0                             # a hole inside it: filled
    p[:, 5:25, 25:30] = [[[0.6]], [[0.6]], [[0.1]]]      # mean 0.433: out; 2 of 3 votes: in
    p[:, 30:35, 5:10] = [[[0.95]], [[0.95]], [[0.9]]]    # a separate small blob: not the largest component
    p[:, 30:35, 20:30] = [[[1.0]], [[0.2]], [[0.2]]]     # mean 0.467, 1 vote: out in both
    return list(p)


def test_mean_fusion_keeps_the_agreed_region_with_its_hole_filled():
    expected = np.zeros((40, 40), np.uint8)
    expected[5:25, 5:25] = 1
    assert np.array_equal(fuse(maps(), "mean", 0.5), expected)


def test_vote_fusion_adds_the_two_of_three_region():
    expected = np.zeros((40, 40), np.uint8)
    expected[5:25, 5:30] = 1
    assert np.array_equal(fuse(maps(), "vote", 0.5), expected)


def test_postprocess_of_nothing_is_empty_and_a_single_network_gets_the_same_postprocessing():
    assert not postprocess(np.zeros((8, 8))).any()
    one = single(maps()[0], 0.5)
    assert one[30:35, 5:10].sum() == 0 and one[14, 14] == 1  # blob dropped, hole filled


def test_unknown_fusion_is_refused():
    with pytest.raises(ValueError, match="mean, vote"):
        fuse(maps(), "max")
