"""Training one segmentation network (seed 003): DiceCE loss, Adam, augmentation, early stopping.

Only the images and masks passed in are seen: the caller (axilla.segment.folds) decides which
patients those are. A share of them (`val_fraction`) is held out as the inner validation split
whose loss stops training (`patience` epochs without a lower loss, never before epoch 2 × patience:
the first epochs' validation loss is noise while batch-norm statistics settle); the best epoch's
weights are kept.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch.nn import functional as F
from monai.losses import DiceCELoss

from ..deep.backbones import set_determinism
from ..settings import Segment
from .networks import build


def augmentation_matrices(n: int, gen: torch.Generator, max_angle: float = np.pi / 12,
                          min_scale: float = 0.8) -> torch.Tensor:
    """(n, 2, 3) affine maps from output to input coordinates (normalised, [-1, 1]) of n random
    augmentations: a flip of each axis (p = 0.5 each), a rotation within ±15° (p = 0.5) and a crop of
    80–100 % of each side at a random position, resized back to the full side."""
    u = torch.rand(n, 8, generator=gen, dtype=torch.float64)
    flip = torch.where(u[:, :2] < 0.5, -1.0, 1.0)  # (x, y) signs
    angle = torch.where(u[:, 2] < 0.5, (2 * u[:, 3] - 1) * max_angle, torch.zeros(n, dtype=torch.float64))
    scale = min_scale + (1 - min_scale) * u[:, 4:6]  # crop side / image side, per axis (x, y)
    centre = (2 * u[:, 6:8] - 1) * (1 - scale)  # the crop stays inside the image
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # output -> input
    crop = torch.cat([torch.diag_embed(scale), centre[:, :, None]], dim=2)  # resized crop -> rotated image
    return (flip[:, :, None] * (rot @ crop)).float()


def augment(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch's images (bilinear) and masks (nearest) under one random augmentation each (border
    padding), all in one resampling: flips, rotation and crop compose into one affine map. Not
    MONAI's dictionary transforms: per image they took 46 ms a batch of 8 at 64 x 64 (210 ms under
    strict kernels), more than the U-Net's whole training step (29 ms); this takes 3.3 ms."""
    grid = F.affine_grid(augmentation_matrices(len(x), gen), list(x.shape), align_corners=False)
    return (F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False),
            F.grid_sample(y, grid, mode="nearest", padding_mode="border", align_corners=False))


def inner_split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(inner-training, inner-validation) indices; no validation split under 5 images."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(val_fraction * n)) if n >= 5 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _batches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=gen)
    parts = list(order.split(batch_size))
    if len(parts) > 1 and len(parts[-1]) == 1:  # batch norm cannot train on one image
        parts[-2] = torch.cat(parts[-2:])
        parts.pop()
    return parts


def _epoch(model, x, y, opt, loss_fn, batch_size, gen, device) -> float:
    """One pass over tensors `x`, `y` (on the CPU: the seeded generator draws there)."""
    model.train()
    total = 0.0
    for idx in _batches(len(x), batch_size, gen):
        xb, yb = augment(x[idx], y[idx], gen)
        xb, yb = xb.to(device), yb.to(device)
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
    return total / len(x)


@torch.no_grad()
def _val_loss(model, x, y, loss_fn) -> float:
    model.eval()
    return float(loss_fn(model(x), y))


def fit(name: str, x: np.ndarray, y: np.ndarray, settings: Segment, seed: int, device: str = "cpu",
        encoder_weights: dict | None = None) -> tuple[torch.nn.Module, dict]:
    """Network `name` trained on images `x` and masks `y` ((N, 1, S, S) float32); (model, record)."""
    set_determinism(seed)
    model, words = build(name, settings.size, settings.width, settings.encoder, encoder_weights)
    model.to(device)
    tr, va = inner_split(len(x), settings.val_fraction, seed)
    loss_fn = DiceCELoss(sigmoid=True)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x[tr]), torch.from_numpy(y[tr])  # converted once, not every epoch
    xv, yv = torch.from_numpy(x[va]).to(device), torch.from_numpy(y[va]).to(device)
    best, best_state, best_epoch, stale, start = np.inf, None, 0, 0, time.perf_counter()
    for epoch in range(1, settings.epochs + 1):
        train_loss = _epoch(model, xt, yt, opt, loss_fn, settings.batch_size, gen, device)
        score = _val_loss(model, xv, yv, loss_fn) if len(va) else train_loss
        if score < best - 1e-6:
            best, best_state, best_epoch, stale = score, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            stale += 1
        if stale >= settings.patience and epoch >= 2 * settings.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return model, {"network": name, "init": words, "epochs_run": epoch, "best_epoch": best_epoch,
                   "best_loss": round(best, 6), "monitored": "inner-validation DiceCE" if len(va) else "training DiceCE",
                   "n_inner_train": len(tr), "n_inner_val": len(va), "seconds": round(time.perf_counter() - start, 2)}


@torch.no_grad()
def predict(model: torch.nn.Module, x: np.ndarray, batch_size: int = 32, device: str = "cpu") -> np.ndarray:
    """(N, S, S) foreground probabilities of images `x` ((N, 1, S, S))."""
    model.eval()
    out = [torch.sigmoid(model(torch.from_numpy(x[i:i + batch_size]).to(device))).cpu().numpy()[:, 0]
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out) if out else np.zeros((0,) + x.shape[2:], np.float32)
