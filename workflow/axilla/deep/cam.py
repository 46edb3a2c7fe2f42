"""Grad-CAM (MONAI) of the fine-tuned or loaded network: heat maps and the report's example PNGs.

Named `cam` (class activation maps), not `gradcam`, so that `axilla.deep.gradcam` is always the
function, whatever was imported first.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_path
from .backbones import model_family

GRADCAM_EXAMPLES = 2  # training patients per class and view shown in the report
# Candidate target layers, deepest first. Grad-CAM's usual choice is the last convolutional
# stage, but at the small crops of a demo (64 px: layer4 is 2 x 2) its map is a blur over a
# quadrant; the deepest stage with at least _CAM_MIN_CELLS cells along every axis is used (layer4
# from 128 px on) and named in every caption.
_CAM_LAYERS = {
    "resnet": ("layer4", "layer3", "layer2", "layer1"),
    "densenet": ("class_layers.relu", "features.transition3", "features.transition2", "features.transition1"),
    # VGG19: the ReLU after the last convolution of blocks 5, 4, 3, 2 (before each block's max-pool)
    "vgg": ("features.35", "features.26", "features.17", "features.8"),
}
_CAM_MIN_CELLS = 4


class _TwoLogits(torch.nn.Module):
    """A one-logit binary network as two class scores (-z, z): Grad-CAM can then explain either
    class, and MONAI's default target (the arg-max) is the class the network predicts."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        z = self.net(x)[:, :1]
        return torch.cat([-z, z], dim=1)


def gradcam_layer(model: torch.nn.Module, input_shape: Sequence[int]) -> tuple[str, tuple[int, ...]]:
    """(name, map size) of the deepest candidate layer whose output has >= 4 cells along every
    axis for inputs of shape (C, *spatial); the shallowest candidate if none has."""
    names = _CAM_LAYERS[model_family(model)]
    modules = dict(model.named_modules())
    sizes: dict[str, tuple[int, ...]] = {}
    hooks = [modules[n].register_forward_hook(lambda _m, _a, out, n=n: sizes.__setitem__(n, tuple(out.shape[2:])))
             for n in names]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            p = next(model.parameters())
            model(torch.zeros((1, *input_shape), dtype=p.dtype, device=p.device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for n in names:
        if min(sizes[n]) >= _CAM_MIN_CELLS:
            return n, sizes[n]
    return names[-1], sizes[names[-1]]


def gradcam(model: torch.nn.Module, images: np.ndarray, *, layer: str | None = None,
            device: str = "cpu") -> tuple[np.ndarray, np.ndarray, str]:
    """Grad-CAM (MONAI) of the class each image is predicted as.

    Returns heat maps (N, *spatial) at input resolution, each scaled by its own maximum to [0, 1]
    (0 = no evidence; an all-zero map stays zero), the network's node-positive probabilities and
    the target layer. Runs on a copy of the model, so the caller's model keeps no hooks or
    gradients.
    """
    from monai.visualize import GradCAM

    images = np.ascontiguousarray(images, dtype=np.float32)
    net = copy.deepcopy(model).to(device).eval()
    for prm in net.parameters():
        prm.requires_grad_(True)
    layer = layer or gradcam_layer(net, images.shape[1:])[0]
    # identity post-processing: MONAI's default min-max scaling maps the maximum to 0 (it flips)
    cam = GradCAM(nn_module=_TwoLogits(net), target_layers=f"net.{layer}", postprocessing=lambda m: m)
    x = torch.from_numpy(images).to(device)
    with torch.no_grad():
        prob = torch.sigmoid(net(x)[:, 0]).cpu().numpy()
    heat = np.zeros((len(images), *images.shape[2:]))
    # One call per predicted class: with a per-sample class index MONAI scores logits[:, idx], a
    # B x B block whose sum mixes every sample's classes (for (-z, z) it cancels to zero).
    for c in (0, 1):
        sel = np.flatnonzero((prob >= 0.5) == bool(c))
        if len(sel):
            heat[sel] = cam(x[torch.from_numpy(sel).to(device)], class_idx=c)[:, 0].detach().cpu().numpy()
    peak = heat.reshape(len(heat), -1).max(axis=1)
    heat = heat / np.where(peak > 0, peak, 1.0).reshape(-1, *([1] * (heat.ndim - 1)))
    return heat, prob, layer


def gradcam_png(crop: np.ndarray, heat: np.ndarray, path: str | os.PathLike, min_panel: int = 192) -> tuple[int, int]:
    """Two panels side by side: the input crop (grey) and the crop under the heat map (jet, half
    transparent), each enlarged by an integer factor (nearest neighbour) to >= ``min_panel`` px.
    A plain PNG: no metadata. Returns (width, height)."""
    from matplotlib import colormaps
    from PIL import Image

    crop = np.clip(np.asarray(crop, float), 0, 1)
    k = max(1, math.ceil(min_panel / max(crop.shape)))
    grey = np.repeat(crop[..., None], 3, axis=-1)
    overlay = 0.5 * grey + 0.5 * colormaps["jet"](np.clip(heat, 0, 1))[..., :3]

    def up(a):
        return a.repeat(k, axis=0).repeat(k, axis=1)

    gap = np.ones((crop.shape[0] * k, 8, 3))
    rgb = np.concatenate([up(grey), gap, up(overlay)], axis=1)
    with atomic_path(path) as tmp:
        Image.fromarray(np.round(rgb * 255).astype(np.uint8), mode="RGB").save(tmp, format="PNG")
    return rgb.shape[1], rgb.shape[0]


def _pick_examples(y: np.ndarray, is_train: np.ndarray, seed: int, n_per_class: int) -> list[tuple[int, str, int]]:
    """(index, class word, number within the class) of the seeded random training patients shown."""
    rng = np.random.default_rng(seed)
    picks = []
    for cls, word in ((1, "node-positive"), (0, "node-negative")):
        pool = np.flatnonzero(is_train & (np.asarray(y) == cls))
        chosen = sorted(rng.choice(pool, size=min(n_per_class, len(pool)), replace=False).tolist()) if len(pool) else []
        picks += [(int(i), word, j + 1) for j, i in enumerate(chosen)]
    return picks


def _shown_slice(crop: np.ndarray, heat: np.ndarray, mask, n_slices: int) -> tuple[np.ndarray, np.ndarray, str]:
    """A 3D crop's axial slice of the largest ROI area (of the largest heat without a mask); 2D as is."""
    if crop.ndim != 3:
        return crop, heat, ""
    area = (mask[0] > 0.5).sum(axis=(1, 2)) if mask is not None else heat.sum(axis=(1, 2))
    z = int(np.argmax(area))
    return crop[z], heat[z], f", crop slice {z} of {n_slices} (largest ROI area)"


def gradcam_examples(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, is_train: np.ndarray, out_dir: str,
                     label: str, seed: int, *, device: str = "cpu", mask_crops=None,
                     n_per_class: int = GRADCAM_EXAMPLES) -> dict:
    """Grad-CAM PNGs of ``n_per_class`` node-positive and node-negative training patients, drawn at
    random (seeded), into ``out_dir``; the file name is the caption. No patient id, no header data.

    3D crops are shown at the axial slice where the ROI is largest: ``mask_crops(indices)`` gives
    the masks cropped like the images (without it, the slice of the largest heat).
    Returns the record for the provenance file.
    """
    picks = _pick_examples(y, is_train, seed, n_per_class)
    rec = {"method": "Grad-CAM (monai.visualize.GradCAM) of the class the network predicts", "files": []}
    if not picks:
        rec["note"] = "no training patient to show"
        return rec
    idx = [i for i, _, _ in picks]
    layer, cells = gradcam_layer(model, x.shape[1:])
    heat, prob, _ = gradcam(model, x[idx], layer=layer, device=device)
    masks = mask_crops(idx) if (mask_crops is not None and x.ndim == 5) else None
    rec.update(layer=layer, map_cells=list(cells))
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for k, (i, word, j) in enumerate(picks):
        crop, h, where = _shown_slice(x[i, 0], heat[k], None if masks is None else masks[k], x.shape[2])
        predicted = "node-positive" if prob[k] >= 0.5 else "node-negative"
        empty = " is zero everywhere" if not heat[k].any() else ""
        name = (f"{label}, {word} training patient {j} (CNN p {prob[k]:.2f}, heat for the predicted class "
                f"{predicted}{empty}, layer {layer}{where})")
        gradcam_png(crop, h, Path(out_dir) / f"{name}.png")
        rec["files"].append(f"{name}.png")
    return rec
