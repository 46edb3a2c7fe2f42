"""Network inputs from images and masks: ROI crops stacked into (N, 1, *size). No torch needed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import roi


def make_inputs(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    spatial_dims: int,
    size: Sequence[int],
    margin: int | float | Sequence[float] = 0,
    *,
    keep_aspect: bool = False,
    return_info: bool = False,
    intensity: str = "minmax",
    interpolation: str = "linear",
) -> np.ndarray | tuple[np.ndarray, list[dict]]:
    """Stack ROI crops into a model input (N, 1, *size), float32: min-max scaled to [0, 1]
    (intensity="minmax", seed 003) or to zero mean and unit SD per crop ("zscore").

    3D model: the 3D box around the mask. 2D model: the 2D box; a 3D image (e.g. MRI for a 2D
    network) is first reduced to its largest-mask slice along z, and a 2D image stored with a
    leading singleton axis (as SimpleITK reads some PNG/DICOM) is squeezed.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    size = tuple(int(v) for v in size)
    if len(size) != spatial_dims:
        raise ValueError(f"size {size} does not match spatial_dims={spatial_dims}")
    if intensity not in ("minmax", "zscore"):
        raise ValueError(f"intensity must be 'minmax' or 'zscore', got {intensity!r}")
    if len(images) != len(masks):
        raise ValueError(f"{len(images)} images but {len(masks)} masks")
    out = np.zeros((len(images), 1, *size), dtype=np.float32)
    infos = []
    for i, (img, msk) in enumerate(zip(images, masks)):
        img, msk, info = _to_model_dims(np.asarray(img), np.asarray(msk), spatial_dims, i)
        try:
            out[i, 0], crop_info = roi.crop_roi(img, msk, margin, size, keep_aspect=keep_aspect,
                                                interpolation=interpolation)
        except ValueError as e:
            raise ValueError(f"image {i}: {e}") from None
        if intensity == "zscore":  # of the [0, 1] crop: the same as of the raw one (affine invariance)
            sd = float(out[i, 0].std())
            out[i, 0] = (out[i, 0] - out[i, 0].mean()) / sd if sd > 0 else 0.0
        infos.append({**info, **crop_info})
    return (out, infos) if return_info else out


def _to_model_dims(img: np.ndarray, msk: np.ndarray, spatial_dims: int, i: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Image and mask with the model's number of axes: 3D -> 2D by a singleton squeeze or the
    largest-mask slice (recorded as info["slice"])."""
    info: dict = {}
    if spatial_dims == 2 and img.ndim == 3:
        if img.shape[0] == 1:
            img, msk = img[0], msk[0]
        else:
            img, msk, info["slice"] = roi.largest_slice(img, msk, axis=0)
    if img.ndim != spatial_dims:
        raise ValueError(f"image {i} is {img.ndim}D {img.shape}; a {spatial_dims}D model needs {spatial_dims}D")
    return img, msk, info


def slice_window(mask3d: np.ndarray, k: int) -> list[int]:
    """k consecutive axial (axis 0) slices centred on the largest-ROI slice (ties: the lowest
    index), shifted to stay inside the volume; all slices when it has fewer than k."""
    area = (np.asarray(mask3d) != 0).sum(axis=(1, 2))
    if not area.any():
        raise ValueError("the ROI mask is empty")
    n, k = len(area), min(int(k), len(area))
    start = min(max(int(np.argmax(area)) - (k - 1) // 2, 0), n - k)
    return list(range(start, start + k))


def slice_inputs(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], k: int, size: Sequence[int],
                 margin=0, **crop) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """2D inputs of k slices around each 3D image's largest-ROI slice (deep.slices: {max_roi: k}).

    Every slice is cropped at the largest slice's ROI box, so the k crops show one region.
    Returns (inputs (sum of k_i, 1, *size), the image index of each row, the slices per image)."""
    rows, boxes, owner, chosen = [], [], [], []
    for i, (img, msk) in enumerate(zip(images, masks)):
        img, msk = np.asarray(img), np.asarray(msk)
        if img.ndim != 3 or img.shape != msk.shape:
            raise ValueError(f"image {i}: slices need a 3D image and mask of one shape, got {img.shape}, {msk.shape}")
        zs = slice_window(msk, k)
        z0 = int(np.argmax((msk != 0).sum(axis=(1, 2))))
        rows += [img[z] for z in zs]
        boxes += [msk[z0]] * len(zs)
        owner += [i] * len(zs)
        chosen.append(zs)
    return make_inputs(rows, boxes, 2, size, margin, **crop), np.asarray(owner), chosen


@dataclass
class ViewInputs:
    """One view's network inputs: `rows` (one per image, or k per image for {max_roi: k}),
    `owner` (the image of each row), `per_image` (one input per image: Grad-CAM's)."""

    dims: int
    size: tuple
    rows: np.ndarray
    owner: np.ndarray
    per_image: np.ndarray
    slices: list | None  # the slices each 3D image gave a 2D network
    shape: str  # the input in words

    def average(self, feats: np.ndarray) -> np.ndarray:
        """Per-row features -> one row per image (the mean over its slices)."""
        if len(self.rows) == len(self.per_image):
            return feats
        return np.stack([feats[self.owner == i].mean(axis=0) for i in range(len(self.per_image))])


def view_inputs(images, masks, volume: bool, slices, size_2d, size_3d, margin=0, **crop) -> ViewInputs:
    """The inputs `deep.slices` asks for: a 3D view (volume=True) as volumes, its largest-ROI
    slice (max_roi) or k slices around it ({max_roi: k}); a 2D view as its images."""
    if not volume or slices == "volume":
        dims = 3 if volume else 2
        size = tuple(size_3d if volume else size_2d)
        x = make_inputs(images, masks, dims, size, margin, **crop)
        return ViewInputs(dims, size, x, np.arange(len(x)), x, None, f"{dims}D crops {'x'.join(map(str, size))}")
    size = tuple(size_2d)
    if slices == "max_roi":
        x, info = make_inputs(images, masks, 2, size, margin, return_info=True, **crop)
        return ViewInputs(2, size, x, np.arange(len(x)), x, [[d["slice"]] for d in info],
                          f"2D crops {'x'.join(map(str, size))} of the largest-ROI axial slice")
    k = int(slices["max_roi"])
    rows, owner, chosen = slice_inputs(images, masks, k, size, margin, **crop)
    per_image = make_inputs(images, masks, 2, size, margin, **crop)
    return ViewInputs(2, size, rows, owner, per_image, chosen,
                      f"2D crops {'x'.join(map(str, size))} of {k} axial slices around the largest-ROI one, "
                      "features averaged")
