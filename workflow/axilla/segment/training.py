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
from monai import transforms as mt
from monai.losses import DiceCELoss

from ..deep.backbones import set_determinism
from ..settings import Segment
from .networks import build


def augmentation(size: int, seed: int) -> mt.Compose:
    """Random flips, rotations (±15°) and crops (80–100 % of the side, resized back), seeded."""
    keys, modes = ("image", "mask"), ("bilinear", "nearest")
    aug = mt.Compose([
        mt.RandFlipd(keys, prob=0.5, spatial_axis=1),
        mt.RandFlipd(keys, prob=0.5, spatial_axis=0),
        mt.RandRotated(keys, range_x=np.pi / 12, prob=0.5, mode=modes, padding_mode="border"),
        mt.RandScaleCropd(keys, roi_scale=0.8, max_roi_scale=1.0, random_size=True),
        mt.Resized(keys, spatial_size=(size, size), mode=modes),
    ])
    aug.set_random_state(seed=seed)
    return aug


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


def _epoch(model, x, y, aug, opt, loss_fn, batch_size, gen, device) -> float:
    model.train()
    total = 0.0
    for idx in _batches(len(x), batch_size, gen):
        pairs = [aug({"image": torch.from_numpy(x[i]), "mask": torch.from_numpy(y[i])}) for i in idx.tolist()]
        xb = torch.stack([torch.as_tensor(p["image"]) for p in pairs]).to(device)
        yb = torch.stack([torch.as_tensor(p["mask"]) for p in pairs]).to(device)
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
    return total / len(x)


@torch.no_grad()
def _val_loss(model, x, y, loss_fn, device) -> float:
    model.eval()
    return float(loss_fn(model(torch.from_numpy(x).to(device)), torch.from_numpy(y).to(device)))


def fit(name: str, x: np.ndarray, y: np.ndarray, settings: Segment, seed: int, device: str = "cpu",
        encoder_weights: dict | None = None) -> tuple[torch.nn.Module, dict]:
    """Network `name` trained on images `x` and masks `y` ((N, 1, S, S) float32); (model, record)."""
    set_determinism(seed)
    model, words = build(name, settings.size, settings.width, settings.encoder, encoder_weights)
    model.to(device)
    tr, va = inner_split(len(x), settings.val_fraction, seed)
    loss_fn = DiceCELoss(sigmoid=True)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    aug, gen = augmentation(settings.size, seed), torch.Generator().manual_seed(seed)
    best, best_state, best_epoch, stale, start = np.inf, None, 0, 0, time.perf_counter()
    for epoch in range(1, settings.epochs + 1):
        train_loss = _epoch(model, x[tr], y[tr], aug, opt, loss_fn, settings.batch_size, gen, device)
        score = _val_loss(model, x[va], y[va], loss_fn, device) if len(va) else train_loss
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
