"""Fine-tuning on the training cohort: inner split, augmentation, SGD with early stopping.

Everything random is drawn from one CPU generator seeded once per run, in a fixed order (per
epoch: the shuffle, then per batch: rotation angles, one flip draw per axis, jitter scale and
shift), so a seed gives the same network on any device.
"""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

log = logging.getLogger(__name__)

FINETUNE_DEFAULTS = {
    "epochs": 10,
    "lr": 0.01,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "batch_size": 16,
    "patience": 3,
    "val_fraction": 0.2,
    "init": "random",  # "random", a path to a weights file, or a {"source": "file", ...} dict
    "flip": True,  # random flips along every spatial axis
    "intensity_jitter": 0.1,  # x * U(1 +- j) + U(+- j/2): small contrast/brightness changes
    "rotate_deg": 10.0,  # in-plane rotation by U(+- r) degrees (axial plane for 3D crops)
    "noise_std": 0.0,  # additive Gaussian noise N(0, s^2) per voxel (seed 004: 0.01)
    "augment": "builtin",  # "builtin" (the torch code below) or "monai" (MONAI's random transforms)
}


def check_training_data(images, labels, spatial_dims: int, in_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Training images (N, C, *spatial) and 0/1 labels of both classes, as float32 / arrays."""
    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels)
    if images.ndim != 2 + spatial_dims:
        raise ValueError(
            f"training images must be (N, C, *{spatial_dims} spatial dims), got shape {images.shape}"
        )
    if images.shape[1] != in_channels:
        raise ValueError(f"training images have {images.shape[1]} channels, the model {in_channels}")
    if labels.shape != (len(images),):
        raise ValueError(f"{len(images)} training images but labels of shape {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"training labels must be 0/1, got values {sorted(set(labels.tolist()))[:5]}")
    if len(np.unique(labels)) < 2:
        raise ValueError("fine-tuning needs both node-positive and node-negative training patients")
    if not np.isfinite(images).all():
        raise ValueError("training images contain NaN or infinite values")
    return images, labels


def inner_split(
    labels: np.ndarray, val_fraction: float, seed: int, groups: Sequence | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of the training patients into inner-train / inner-validation indices.

    Whole groups (patients) go to one side. Each class gives round(val_fraction * n) patients to
    validation, at least one and never all of them (a class with one patient stays in training).
    """
    labels = np.asarray(labels)
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    rng = np.random.default_rng(seed)
    uniq = list(dict.fromkeys(groups.tolist()))  # first-seen order: deterministic
    glabel = np.array([labels[groups == g].max() for g in uniq])
    val_groups: set = set()
    if val_fraction > 0:
        for c in np.unique(glabel):
            members = [g for g, gl in zip(uniq, glabel) if gl == c]
            n = len(members)
            if n < 2:
                continue
            k = min(max(int(round(val_fraction * n)), 1), n - 1)
            order = rng.permutation(n)
            val_groups.update(members[i] for i in order[:k])
    is_val = np.array([g in val_groups for g in groups.tolist()], dtype=bool)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate each image of a batch (N, C, H, W) or (N, C, D, H, W) by its angle (radians).

    3D crops turn in the (H, W) plane of every slice: arrays are (z, y, x), and the in-plane
    resolution is finer than the slice spacing, so tilting across slices would mostly blur.
    Bilinear resampling, edge values continue past the border (no black corners to learn from).
    """
    n, spatial = x.shape[0], x.ndim - 2
    if spatial not in (2, 3):
        raise ValueError(f"rotate needs (N, C, H, W) or (N, C, D, H, W), got shape {tuple(x.shape)}")
    c, s = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    theta = torch.zeros(n, spatial, spatial + 1, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = c, -s, s, c
    if spatial == 3:
        theta[:, 2, 2] = 1  # affine_grid's third coordinate is depth
    grid = torch.nn.functional.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _augment(
    x: torch.Tensor, gen: torch.Generator, flip: bool, jitter: float, rotate_deg: float = 0.0, noise_std: float = 0.0
) -> torch.Tensor:
    n, spatial = x.shape[0], x.ndim - 2
    if rotate_deg > 0:
        x = rotate(x, (torch.rand(n, generator=gen) * 2 - 1) * math.radians(rotate_deg))
    if flip:
        for dim in range(2, 2 + spatial):
            sel = torch.rand(n, generator=gen) < 0.5
            x = torch.where(sel.view(-1, *([1] * (x.ndim - 1))), x.flip(dim), x)
    if jitter > 0:
        shape = (n,) + (1,) * (x.ndim - 1)
        scale = 1 + (torch.rand(shape, generator=gen) * 2 - 1) * jitter
        shift = (torch.rand(shape, generator=gen) * 2 - 1) * jitter / 2
        x = x * scale + shift
    if noise_std > 0:  # drawn last: without noise every earlier draw is as before
        x = x + torch.randn(x.shape, generator=gen, dtype=x.dtype) * noise_std
    return x


def monai_augmentation(spatial_dims: int, flip: bool, jitter: float, rotate_deg: float, noise_std: float, seed: int):
    """The same augmentation from MONAI's random transforms (per image, channel first): in-plane
    rotation U(+- rotate_deg) (in the (H, W) plane of every slice of a 3D crop), a flip with
    probability 0.5 along every spatial axis, intensity scale / shift U(+- jitter), U(+- jitter / 2),
    Gaussian noise N(0, noise_std^2); seeded with `seed`."""
    from monai import transforms as mt

    steps = []
    if rotate_deg > 0:
        rad = math.radians(rotate_deg)
        # range_x: about the first spatial axis, i.e. in the (H, W) plane of each slice of a 3D crop
        steps.append(mt.RandRotate(range_x=rad, prob=1.0, mode="bilinear", padding_mode="border", align_corners=False))
    if flip:
        steps += [mt.RandFlip(prob=0.5, spatial_axis=a) for a in range(spatial_dims)]
    if jitter > 0:
        steps += [mt.RandScaleIntensity(factors=jitter, prob=1.0), mt.RandShiftIntensity(offsets=jitter / 2, prob=1.0)]
    if noise_std > 0:
        # sample_std=False: sigma itself (MONAI draws the SD from U(0, sigma) by default)
        steps.append(mt.RandGaussianNoise(prob=1.0, mean=0.0, std=noise_std, sample_std=False))
    return mt.Compose(steps).set_random_state(seed=seed % 2**32)


def _augmenter(s: dict, spatial_dims: int, seed: int):
    """(batch, generator) -> augmented batch, as `s["augment"]` says."""
    flip, jitter, rot, noise = bool(s["flip"]), float(s["intensity_jitter"]), float(s["rotate_deg"]), float(s["noise_std"])
    if s["augment"] == "builtin":
        return lambda xb, gen: _augment(xb, gen, flip, jitter, rot, noise)
    if s["augment"] != "monai":
        raise ValueError(f"augment must be 'builtin' or 'monai', got {s['augment']!r}")
    aug = monai_augmentation(spatial_dims, flip, jitter, rot, noise, seed)
    return lambda xb, _gen: torch.stack([torch.as_tensor(aug(img)).as_subclass(torch.Tensor).float() for img in xb])


def _mean_loss(model, x, y, batch_size, device, loss_fn) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            logits = model(x[s : s + batch_size].to(device)).squeeze(1)
            total += float(loss_fn(logits, y[s : s + batch_size].to(device))) * len(logits)
    return total / len(x)


def _precise_batch_norm(model, x, batch_size: int, device) -> None:
    """Recompute batch-norm running statistics for the current weights (Wu & Johnson 2021).

    With a few dozen images an epoch is only a handful of SGD steps; running averages collected
    while the weights moved do not describe the final weights, and eval-mode outputs blew up
    (validation losses of 1e7 and more on 3D crops). One no-grad pass over the un-augmented
    training images with cumulative averages gives the statistics the network will be used with.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the pass
    model.train()
    with torch.no_grad():
        for xb in x.split(batch_size):
            if len(xb) > 1:
                model(xb.to(device))
    for m, mom in zip(norms, saved):
        m.momentum = mom


def _finetune_settings(settings: dict) -> dict:
    """FINETUNE_DEFAULTS overridden by `settings`, checked; the record keeps this dict."""
    s = {**FINETUNE_DEFAULTS, **settings}
    if isinstance(s["init"], os.PathLike):
        s["init"] = str(s["init"])  # keep the record JSON-serialisable
    if int(s["epochs"]) < 1 or int(s["batch_size"]) < 2 or not 0 <= s["val_fraction"] < 1:
        raise ValueError(
            "fine-tuning needs epochs >= 1, batch_size >= 2 (batch norm) and 0 <= val_fraction < 1; "
            f"got epochs={s['epochs']}, batch_size={s['batch_size']}, val_fraction={s['val_fraction']}"
        )
    return s


@dataclass
class _Best:
    """Early-stopping state: the lowest validation loss so far and the weights that gave it."""

    loss: float = math.inf
    epoch: int | None = None
    state: dict | None = None
    since: int = 0  # epochs since the best one

    def update(self, loss: float, epoch: int, model: torch.nn.Module) -> None:
        if loss < self.loss:
            self.loss, self.epoch, self.since = loss, epoch, 0
            self.state = copy.deepcopy(model.state_dict())
        else:
            self.since += 1


def _train_epoch(model, xtr, ytr, gen, opt, s: dict, device, loss_fn, augment) -> dict:
    """One shuffled pass of augmented SGD steps; the epoch's learning rate and mean training loss."""
    bs = int(s["batch_size"])
    model.train()
    perm = torch.randperm(len(xtr), generator=gen)
    batches = list(perm.split(bs))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()  # batch norm cannot train on one sample; shuffling drops another next time
    lr, seen, total = opt.param_groups[0]["lr"], 0, 0.0
    for idx in batches:
        xb = augment(xtr[idx], gen)
        loss = loss_fn(model(xb.to(device)).squeeze(1), ytr[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
        seen += len(idx)
    return {"lr": lr, "train_loss": total / seen}


def _run_epochs(model, train, val, s: dict, gen, device, seed: int) -> tuple[list[dict], _Best]:
    """Epochs of training until `epochs` or `patience` epochs without a better validation loss."""
    (xtr, ytr), (xva, yva) = train, val
    bs, epochs, patience = int(s["batch_size"]), int(s["epochs"]), int(s["patience"])
    opt = torch.optim.SGD(
        model.parameters(), lr=s["lr"], momentum=s["momentum"], weight_decay=s["weight_decay"]
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    history, best = [], _Best()
    augment = _augmenter(s, xtr.ndim - 2, seed)
    for epoch in range(1, epochs + 1):
        rec = {"epoch": epoch, **_train_epoch(model, xtr, ytr, gen, opt, s, device, loss_fn, augment)}
        sched.step()
        _precise_batch_norm(model, xtr, bs, device)
        if len(xva):
            rec["val_loss"] = _mean_loss(model, xva, yva, bs, device, loss_fn)
            best.update(rec["val_loss"], epoch, model)
        history.append(rec)
        log.info("fine-tune epoch %d: %s", epoch, rec)
        if len(xva) and best.since >= patience:
            break
    return history, best


def finetune(
    model: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    settings: dict,
    seed: int,
    device: str,
    groups: Sequence | None = None,
) -> dict:
    """Fine-tune `model` in place on the training images (BCE with logits on node status).

    SGD with momentum, cosine-annealed learning rate over `epochs`, random flips, small in-plane
    rotations, intensity jitter and Gaussian noise (builtin or MONAI transforms), early stopping on the loss of an inner stratified validation split, best epoch
    restored. Returns the training record.
    """
    s = _finetune_settings(settings)
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.float32))
    tr, va = inner_split(np.asarray(labels), s["val_fraction"], seed, groups)
    if len(tr) < 2:
        raise ValueError(f"fine-tuning needs at least 2 inner-training images, got {len(tr)}")
    train, val = (x[tr], y[tr]), (x[va], y[va])
    model.to(device)
    gen = torch.Generator().manual_seed(seed)  # CPU generator: same shuffles/augmentation on any device
    history, best = _run_epochs(model, train, val, s, gen, device, seed)
    if best.state is not None:
        model.load_state_dict(best.state)
        best_epoch = best.epoch
    else:  # no validation split: keep the last epoch
        best_epoch = history[-1]["epoch"] if history else None
    model.eval()
    return {
        "settings": s,
        "n_train": int(len(tr)),
        "n_val": int(len(va)),
        "epochs_run": len(history),
        "early_stopped": len(history) < int(s["epochs"]),
        "best_epoch": best_epoch,
        "best_val_loss": None if best.state is None else float(best.loss),
        "history": history,
    }
