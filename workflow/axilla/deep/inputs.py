"""Network inputs from images and masks: ROI crops stacked into (N, 1, *size). No torch needed."""

from __future__ import annotations

from collections.abc import Sequence

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
) -> np.ndarray | tuple[np.ndarray, list[dict]]:
    """Stack ROI crops into a model input (N, 1, *size), float32 in [0, 1].

    3D model: the 3D box around the mask. 2D model: the 2D box; a 3D image (e.g. MRI for a 2D
    network) is first reduced to its largest-mask slice along z, and a 2D image stored with a
    leading singleton axis (as SimpleITK reads some PNG/DICOM) is squeezed.
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    size = tuple(int(v) for v in size)
    if len(size) != spatial_dims:
        raise ValueError(f"size {size} does not match spatial_dims={spatial_dims}")
    if len(images) != len(masks):
        raise ValueError(f"{len(images)} images but {len(masks)} masks")
    out = np.zeros((len(images), 1, *size), dtype=np.float32)
    infos = []
    for i, (img, msk) in enumerate(zip(images, masks)):
        img, msk, info = _to_model_dims(np.asarray(img), np.asarray(msk), spatial_dims, i)
        try:
            out[i, 0], crop_info = roi.crop_roi(img, msk, margin, size, keep_aspect=keep_aspect)
        except ValueError as e:
            raise ValueError(f"image {i}: {e}") from None
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
