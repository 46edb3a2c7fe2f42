"""Fusing the networks' probability maps, and the post-processing every mask gets.

`mean`: the mean probability at or above the threshold; `vote`: more than half of the networks'
thresholded masks. Then the largest connected component (a tumour is one lesion) with its holes
filled; an empty mask stays empty.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

METHODS = ("mean", "vote")


def postprocess(mask: np.ndarray) -> np.ndarray:
    """The largest connected component (face connectivity) of `mask`, holes filled, as uint8."""
    labels, n = ndimage.label(mask > 0)
    if n == 0:
        return np.zeros(mask.shape, np.uint8)
    sizes = np.bincount(labels.ravel())[1:]
    largest = labels == (int(np.argmax(sizes)) + 1)  # ties: the first label
    return ndimage.binary_fill_holes(largest).astype(np.uint8)


def fuse(probabilities, method: str = "mean", threshold: float = 0.5) -> np.ndarray:
    """One binary mask (uint8, post-processed) from the networks' probability maps of an image."""
    stack = np.stack([np.asarray(p, dtype=float) for p in probabilities])
    if method == "mean":
        raw = stack.mean(axis=0) >= threshold
    elif method == "vote":
        raw = (stack >= threshold).sum(axis=0) * 2 > len(stack)
    else:
        raise ValueError(f"unknown fusion {method!r}; choose one of {', '.join(METHODS)}")
    return postprocess(raw)


def single(probability, threshold: float = 0.5) -> np.ndarray:
    """One network's mask, post-processed like the fused one (so the comparison is fair)."""
    return postprocess(np.asarray(probability) >= threshold)
