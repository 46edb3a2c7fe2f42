"""Deep features: MONAI backbones, honest weights (file / fine-tuned / random), penultimate features.

The features are the globally pooled activations that feed the final linear layer. Where the
weights come from is recorded in a provenance dict whose `description` says it in plain words.
Fine-tuning sees only the training images and labels it is given: `prepare_model` has no
parameter through which evaluation data could reach it.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import os
import random
import re
from collections.abc import Sequence
from pathlib import Path

import monai
import numpy as np
import torch
from monai.networks import nets

from axilla import roi
from axilla.config import deep_backbone, deep_weights

log = logging.getLogger(__name__)

BACKBONES = ("resnet18", "resnet50", "densenet121")

# Classification heads of the formats we read: torchvision (fc, classifier), MONAI
# (fc, class_layers.out), MedicalNet (conv_seg). Never loaded: features stop before the head.
_SOURCE_HEADS = ("fc.", "classifier.", "class_layers.out.", "conv_seg.")

# First convolution and the batch norm right after it, per architecture (MONAI names).
_STEM = {"resnet": ("conv1.weight", "bn1"), "densenet": ("features.conv0.weight", "features.norm0")}

# torchvision's ImageNet input normalisation (RGB).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------- set-up helpers


def set_determinism(seed: int) -> None:
    """Seed python, numpy and torch and ask torch for deterministic kernels."""
    # cuBLAS needs a fixed workspace to be deterministic; must be set before the first CUDA call.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def choose_device() -> str:
    """'cuda' when a GPU is visible at run time, else 'cpu'."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def state_dict_sha256(model: torch.nn.Module) -> str:
    """Hash of every parameter and buffer (names, dtypes, shapes, values): a model fingerprint."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- backbones


def build_backbone(
    name: str, spatial_dims: int, in_channels: int = 1, num_classes: int = 1, **overrides
) -> torch.nn.Module:
    """A MONAI ResNet18/50 (2D or 3D) or DenseNet121 (2D) with a `num_classes` linear head.

    ResNets use the standard ImageNet stem (7x7 conv with stride 2, then max-pool) and bias-free
    downsample convolutions, i.e. exactly torchvision's architecture, so ImageNet weights map
    one-to-one; MONAI's defaults (stride-1 stem, biased downsample) would not. `overrides` go to
    the MONAI constructor (e.g. shortcut_type="A" for MedicalNet ResNet18 weights).
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    if name in ("resnet18", "resnet50"):
        kw = dict(
            spatial_dims=spatial_dims,
            n_input_channels=in_channels,
            num_classes=num_classes,
            conv1_t_stride=2,
            bias_downsample=False,
            shortcut_type="B",
        )
        kw.update(overrides)
        return getattr(nets, name)(**kw)
    if name == "densenet121":
        if spatial_dims != 2:
            raise ValueError("densenet121 is offered in 2D only; use resnet18/resnet50 for 3D")
        return nets.DenseNet121(
            spatial_dims=2, in_channels=in_channels, out_channels=num_classes, **overrides
        )
    raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")


def _family(model: torch.nn.Module) -> str:
    if isinstance(model, nets.ResNet):
        return "resnet"
    if isinstance(model, nets.DenseNet):
        return "densenet"
    raise TypeError(f"unsupported model type {type(model).__name__}")


def _head(model: torch.nn.Module) -> tuple[str, torch.nn.Linear]:
    """Name and module of the final linear layer (its input is the feature vector)."""
    if _family(model) == "resnet":
        return "fc", model.fc
    return "class_layers.out", model.class_layers.out


def feature_dim(model: torch.nn.Module) -> int:
    """Length of the penultimate feature vector (512 ResNet18, 2048 ResNet50, 1024 DenseNet121)."""
    return int(_head(model)[1].in_features)


def extract_features(
    model: torch.nn.Module,
    images: np.ndarray,
    batch_size: int = 16,
    device: str = "cpu",
    threads: int | None = None,
) -> np.ndarray:
    """Penultimate-layer activations, shape (N, feature_dim), float32.

    A forward pre-hook on the head captures its input, so the model itself is not changed.
    Eval mode (batch norm uses its running statistics) makes each image's features independent
    of the batch it is in; no gradients; the model's train/eval mode is restored afterwards.
    """
    _set_threads(threads)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim < 4:
        raise ValueError(f"images must be (N, C, *spatial), got shape {images.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    _, head = _head(model)
    captured: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                model(torch.from_numpy(images[start : start + batch_size]).to(device))
    finally:
        hook.remove()
        model.train(was_training)
    if not captured:
        return np.zeros((0, feature_dim(model)), dtype=np.float32)
    return torch.cat([c.float().cpu() for c in captured]).numpy()


# Input sizes when none is given: the schema defaults of deep.size_2d / deep.size_3d.
DEFAULT_SIZE = {2: (64, 64), 3: (32, 32, 32)}


def throughput(
    backbone: str,
    spatial_dims: int,
    n_images: int = 32,
    device: str = "cpu",
    *,
    size: Sequence[int] | None = None,
    batch_size: int = 16,
    threads: int | None = None,
) -> float:
    """Images per second of feature extraction (batched inference, randomly initialised network).

    Speed does not depend on the weights' values. One untimed batch first (allocations, cuDNN
    set-up); the GPU is synchronised before the clock stops so queued kernels are counted.
    """
    size = tuple(size or DEFAULT_SIZE.get(spatial_dims, ()))
    if len(size) != spatial_dims:
        raise ValueError(f"size {size} does not match spatial_dims={spatial_dims}")
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    import time

    _set_threads(threads)
    torch.manual_seed(0)
    model = build_backbone(backbone, spatial_dims)
    x = np.random.default_rng(0).random((n_images, 1, *size), dtype=np.float32)
    extract_features(model, x[:batch_size], batch_size=batch_size, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    extract_features(model, x, batch_size=batch_size, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return n_images / (time.perf_counter() - start)


# --------------------------------------------------------------------------- weights from a file


def _unwrap_state_dict(obj) -> dict[str, torch.Tensor]:
    # Checkpoints often nest the weights ({"state_dict": ...} in MedicalNet, {"model": ...}).
    for _ in range(3):
        if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            for key in ("state_dict", "model", "model_state_dict", "net"):
                if isinstance(obj.get(key), dict):
                    obj = obj[key]
                    break
            else:
                break
    if not isinstance(obj, dict) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError("the file holds no state dict (a mapping of names to tensors)")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


_TV_DENSE = re.compile(r"^(features\.denseblock\d+\.denselayer\d+)\.(norm|conv)\.?([12])\.(.+)$")


def _to_monai_key(key: str, family: str) -> str:
    """Source key -> MONAI key. torchvision ResNet names already equal MONAI's (see build_backbone);
    torchvision DenseNet layers lack MONAI's `.layers` level (and old files write norm.1)."""
    key = key.removeprefix("module.")  # saved from DataParallel (MedicalNet does this)
    if family == "densenet":
        m = _TV_DENSE.match(key)
        if m:
            key = f"{m.group(1)}.layers.{m.group(2)}{m.group(3)}.{m.group(4)}"
    return key


def load_weights_file(
    model: torch.nn.Module,
    path: str | os.PathLike,
    *,
    strict: bool = True,
    input_norm: str | None = None,
) -> dict:
    """Load a local state dict (torchvision ImageNet, MedicalNet or MONAI format) into `model`.

    The classification head is never loaded. A 3-channel first convolution is turned into a
    1-channel one by summing over the input-channel axis: our images are grey, and a grey image
    replicated to R=G=B through the summed kernel gives exactly the activations the RGB kernel
    gives, so the pretrained filters keep their meaning. With input_norm="imagenet" the ImageNet
    per-channel normalisation is folded in as well (kernel / std, mean shift moved into the next
    batch norm's running mean), so [0, 1] grey crops are seen as the network saw ImageNet images
    (exact except within the stem's padding border).

    Raises ValueError when nothing matches, when a tensor's shape cannot be mapped, or (strict)
    when a backbone tensor is left without a value. Returns a report dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if input_norm not in (None, "imagenet"):
        raise ValueError(f"input_norm must be None or 'imagenet', got {input_norm!r}")
    family = _family(model)
    stem_conv, stem_bn = _STEM[family]
    head_name, _ = _head(model)
    source = _unwrap_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    target = model.state_dict()

    mapped: dict[str, torch.Tensor] = {}
    skipped_head, unexpected, bad_shape = [], [], []
    summed_from, rgb = None, None
    for key, value in source.items():
        tkey = _to_monai_key(key, family)
        if tkey.startswith(head_name + ".") or key.removeprefix("module.").startswith(_SOURCE_HEADS):
            skipped_head.append(key)
            continue
        if tkey not in target:
            unexpected.append(key)
            continue
        want = target[tkey]
        if tkey == stem_conv and value.shape != want.shape and value.ndim == want.ndim:
            if want.shape[1] == 1 and value.shape[0] == want.shape[0] and value.shape[2:] == want.shape[2:]:
                summed_from, rgb = int(value.shape[1]), value
                if input_norm == "imagenet" and summed_from == 3:
                    value = value / _channel_view(IMAGENET_STD, value)
                value = value.sum(dim=1, keepdim=True)
        if value.shape != want.shape:
            bad_shape.append(f"{key} {tuple(value.shape)} -> {tkey} {tuple(want.shape)}")
            continue
        mapped[tkey] = value.to(want.dtype)

    if not mapped:
        raise ValueError(
            f"no tensor in {path} matches the {family} model: source keys start "
            f"{list(source)[:4]}, model keys start {list(target)[:4]} "
            "(is it a weights file for this architecture and dimensionality?)"
        )
    if input_norm == "imagenet":
        # Grey x replicated to RGB and normalised: sum_c w_c (x - m_c) / s_c
        #   = (sum_c w_c / s_c) * x - sum_{c,k} w_c m_c / s_c.
        # The kernel part is done above; the constant shifts the next batch norm's running mean.
        rm_key = f"{stem_bn}.running_mean"
        if summed_from != 3 or rm_key not in mapped:
            raise ValueError(
                "input_norm='imagenet' needs a 3-channel (RGB) first conv reduced to 1 channel "
                f"and the stem batch norm's running_mean ({rm_key}) in the file"
            )
        offset = (rgb * _channel_view(IMAGENET_MEAN, rgb) / _channel_view(IMAGENET_STD, rgb)).flatten(1).sum(1)
        mapped[rm_key] = mapped[rm_key] + offset.to(mapped[rm_key].dtype)
    if bad_shape:
        raise ValueError(
            f"{len(bad_shape)} tensor(s) in {path} have shapes that do not fit the model "
            f"(wrong architecture or 2D/3D?): " + "; ".join(bad_shape[:5])
        )
    missing = [k for k in target if k not in mapped and not k.startswith(head_name + ".")]
    # Files saved before PyTorch 0.4.1 (MedicalNet among them) carry no num_batches_tracked; the
    # counter only matters for momentum-free batch norm, so it stays at 0 and counts as filled.
    untracked = [k for k in missing if k.endswith(".num_batches_tracked")]
    missing = [k for k in missing if k not in untracked]
    if missing and strict:
        hint = ""
        if all(".downsample." in k for k in missing):
            hint = " (MedicalNet ResNet18/34 use shortcut_type 'A': set architecture: {shortcut_type: A})"
        raise ValueError(
            f"{len(missing)} backbone tensor(s) of the model are not in {path}, e.g. {missing[:5]}; "
            f"the features would come from a partly random network (set strict: false to allow){hint}"
        )
    model.load_state_dict(mapped, strict=False)
    report = {
        "path": str(path),
        "sha256": file_sha256(path),
        "n_mapped": len(mapped),
        "n_source": len(source),
        "skipped_head": skipped_head,
        "unexpected": unexpected,
        "missing": missing,
        "num_batches_tracked_absent": len(untracked),
        "first_conv_summed_from_channels": summed_from,
        "input_norm": input_norm,
    }
    for what in ("unexpected", "missing"):
        if report[what]:
            log.warning("weights %s: %d %s key(s), e.g. %s", path, len(report[what]), what, report[what][:5])
    return report


def _channel_view(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype).view(1, -1, *([1] * (like.ndim - 2)))


# --------------------------------------------------------------------------- fine-tuning

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
}
_FILE_KEYS = {"source", "path", "strict", "input_norm", "architecture"}


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
    x: torch.Tensor, gen: torch.Generator, flip: bool, jitter: float, rotate_deg: float = 0.0
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
    return x


def _mean_loss(model, x, y, batch_size, device, loss_fn) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            logits = model(x[s : s + batch_size].to(device)).squeeze(1)
            total += float(loss_fn(logits, y[s : s + batch_size].to(device))) * len(logits)
    return total / len(x)


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
    rotations and intensity jitter, early stopping on the loss of an inner stratified validation split, best epoch
    restored. Returns the training record.
    """
    s = {**FINETUNE_DEFAULTS, **settings}
    if isinstance(s["init"], os.PathLike):
        s["init"] = str(s["init"])  # keep the record JSON-serialisable
    if int(s["epochs"]) < 1 or int(s["batch_size"]) < 2 or not 0 <= s["val_fraction"] < 1:
        raise ValueError(
            "fine-tuning needs epochs >= 1, batch_size >= 2 (batch norm) and 0 <= val_fraction < 1; "
            f"got epochs={s['epochs']}, batch_size={s['batch_size']}, val_fraction={s['val_fraction']}"
        )
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.float32))
    tr, va = inner_split(np.asarray(labels), s["val_fraction"], seed, groups)
    if len(tr) < 2:
        raise ValueError(f"fine-tuning needs at least 2 inner-training images, got {len(tr)}")
    xtr, ytr, xva, yva = x[tr], y[tr], x[va], y[va]
    bs, epochs, patience = int(s["batch_size"]), int(s["epochs"]), int(s["patience"])

    model.to(device)
    gen = torch.Generator().manual_seed(seed)  # CPU generator: same shuffles/augmentation on any device
    opt = torch.optim.SGD(
        model.parameters(), lr=s["lr"], momentum=s["momentum"], weight_decay=s["weight_decay"]
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    history, best_loss, best_epoch, best_state, since_best = [], math.inf, None, None, 0
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        batches = list(perm.split(bs))
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches.pop()  # batch norm cannot train on one sample; shuffling drops another next time
        lr, seen, total = opt.param_groups[0]["lr"], 0, 0.0
        for idx in batches:
            xb = _augment(xtr[idx], gen, bool(s["flip"]), float(s["intensity_jitter"]), float(s["rotate_deg"]))
            loss = loss_fn(model(xb.to(device)).squeeze(1), ytr[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        sched.step()
        _precise_batch_norm(model, xtr, bs, device)
        rec = {"epoch": epoch, "lr": lr, "train_loss": total / seen}
        if len(va):
            rec["val_loss"] = _mean_loss(model, xva, yva, bs, device, loss_fn)
            if rec["val_loss"] < best_loss:
                best_loss, best_epoch, since_best = rec["val_loss"], epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
        history.append(rec)
        log.info("fine-tune epoch %d: %s", epoch, rec)
        if len(va) and since_best >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:  # no validation split: keep the last epoch
        best_epoch = history[-1]["epoch"] if history else None
    model.eval()
    return {
        "settings": s,
        "n_train": int(len(tr)),
        "n_val": int(len(va)),
        "epochs_run": len(history),
        "early_stopped": len(history) < epochs,
        "best_epoch": best_epoch,
        "best_val_loss": None if best_state is None else float(best_loss),
        "history": history,
    }


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


# --------------------------------------------------------------------------- the one entry point


def _check_train(images, labels, spatial_dims, in_channels):
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


def prepare_model(
    name: str,
    spatial_dims: int,
    weights: dict,
    train_images: np.ndarray | None = None,
    train_labels: np.ndarray | None = None,
    seed: int = 0,
    threads: int | None = 1,
    device: str | None = None,
    *,
    in_channels: int = 1,
    train_groups: Sequence | None = None,
) -> tuple[torch.nn.Module, dict]:
    """Build the backbone and give it the weights `weights` asks for; return (model, provenance).

    weights: {"source": "file", "path": ..., ["strict": true], ["input_norm": "imagenet"],
              ["architecture": {MONAI ResNet overrides}]}
           | {"source": "finetune", **FINETUNE_DEFAULTS overrides}   (init: "random" | path | file dict)
           | {"source": "random"}
    train_images / train_labels (training patients only) are needed for "finetune" and unused
    otherwise; train_groups (patient ids) keeps a patient's images on one side of the inner split.
    The model comes back in eval mode on `device` (default: choose_device()).
    """
    device = device or choose_device()
    _set_threads(threads)
    set_determinism(seed)
    if not isinstance(weights, dict) or "source" not in weights:
        raise ValueError("weights must be a mapping with a 'source' of 'file', 'finetune' or 'random'")
    source = weights["source"]
    prov: dict = {
        "source": source,
        "backbone": name,
        "spatial_dims": spatial_dims,
        "seed": seed,
        "device": device,
        "torch": torch.__version__,
        "monai": monai.__version__,
    }

    def build(file_spec: dict | None = None) -> torch.nn.Module:
        arch = dict((file_spec or {}).get("architecture") or {})
        prov["architecture_overrides"] = arch
        return build_backbone(name, spatial_dims, in_channels=in_channels, **arch)

    def load(model, spec: dict) -> tuple[dict, str]:
        unknown = set(spec) - _FILE_KEYS
        if unknown or "path" not in spec:
            raise ValueError(
                f"file weights need 'path' and accept only {sorted(_FILE_KEYS)}; got {sorted(spec)}"
            )
        rep = load_weights_file(
            model, spec["path"], strict=spec.get("strict", True), input_norm=spec.get("input_norm")
        )
        words = f"weights from {rep['path']} (sha256 {rep['sha256'][:12]}…), {rep['n_mapped']} tensors mapped"
        if rep["first_conv_summed_from_channels"]:
            words += f", first conv summed from {rep['first_conv_summed_from_channels']} channels to 1"
        if rep["input_norm"]:
            words += f", {rep['input_norm']} input normalisation folded in"
        if rep["skipped_head"]:
            words += f", head not loaded ({', '.join(rep['skipped_head'])})"
        if rep["missing"]:
            words += f", {len(rep['missing'])} backbone tensors left at random initialisation"
        if rep["unexpected"]:
            words += f", {len(rep['unexpected'])} file tensors unused"
        return rep, words

    if source == "random":
        if set(weights) - {"source"}:
            raise ValueError(f"random weights take no settings; got {sorted(weights)}")
        model = build()
        prov["description"] = (
            f"random initialisation of {name} ({spatial_dims}D, seed {seed}); no pretrained or "
            "fine-tuned weights, so the features come from an untrained network"
        )
    elif source == "file":
        model = build(weights)
        prov["file"], words = load(model, weights)
        prov["sha256"] = prov["file"]["sha256"]
        prov["description"] = f"{name} ({spatial_dims}D) loaded {words}"
    elif source == "finetune":
        unknown = set(weights) - set(FINETUNE_DEFAULTS) - {"source"}
        if unknown:
            raise ValueError(
                f"unknown fine-tuning setting(s) {sorted(unknown)}; allowed: {sorted(FINETUNE_DEFAULTS)}"
            )
        if train_images is None or train_labels is None:
            raise ValueError("fine-tuning needs train_images and train_labels (training patients only)")
        images, labels = _check_train(train_images, train_labels, spatial_dims, in_channels)
        settings = {k: v for k, v in weights.items() if k != "source"}
        init = settings.get("init", FINETUNE_DEFAULTS["init"])
        if init == "random":
            model = build()
            init_words = "random initialisation"
        else:
            spec = {"source": "file", "path": init} if isinstance(init, (str, os.PathLike)) else dict(init)
            spec.pop("source", None)
            model = build(spec)
            prov["file"], init_words = load(model, spec)
            prov["sha256"] = prov["file"]["sha256"]
        rec = finetune(model, images, labels, settings, seed, device, train_groups)
        prov["finetune"] = rec
        prov.update(
            epochs_run=rec["epochs_run"], best_epoch=rec["best_epoch"], best_val_loss=rec["best_val_loss"]
        )
        n_pat = len(set(train_groups)) if train_groups is not None else len(labels)
        stop = (
            f"early stop at epoch {rec['epochs_run']}, " if rec["early_stopped"] else ""
        )
        if rec["best_val_loss"] is not None:
            tail = (
                f"({stop}best epoch {rec['best_epoch']}, best validation loss "
                f"{rec['best_val_loss']:.3f})"
            )
        else:
            tail = "(no inner validation split; last epoch kept)"
        prov["description"] = (
            f"{name} ({spatial_dims}D) fine-tuned from {init_words} on {n_pat} training patients "
            f"({rec['n_train']} inner-training / {rec['n_val']} inner-validation images) "
            f"for {rec['epochs_run']} epochs {tail}"
        )
    else:
        raise ValueError(f"unknown weights source {source!r}; choose 'file', 'finetune' or 'random'")

    model.to(device).eval()
    prov["feature_dim"] = feature_dim(model)
    prov["model_sha256"] = state_dict_sha256(model)
    return model, prov


# --------------------------------------------------------------------------- Grad-CAM

GRADCAM_EXAMPLES = 2  # training patients per class and view shown in the report
# Candidate target layers, deepest first. Grad-CAM's usual choice is the last convolutional
# stage, but at the small crops of a demo (64 px: layer4 is 2 x 2) its map is a blur over a
# quadrant; the deepest stage with at least _CAM_MIN_CELLS cells along every axis is used (layer4
# from 128 px on) and named in every caption.
_CAM_LAYERS = {
    "resnet": ("layer4", "layer3", "layer2", "layer1"),
    "densenet": ("class_layers.relu", "features.transition3", "features.transition2", "features.transition1"),
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
    names = _CAM_LAYERS[_family(model)]
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
    from .io import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(np.round(rgb * 255).astype(np.uint8), mode="RGB").save(tmp, format="PNG")
    return rgb.shape[1], rgb.shape[0]


def gradcam_examples(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, is_train: np.ndarray, out_dir: str,
                     label: str, seed: int, *, device: str = "cpu", mask_crops=None,
                     n_per_class: int = GRADCAM_EXAMPLES) -> dict:
    """Grad-CAM PNGs of ``n_per_class`` node-positive and node-negative training patients, drawn at
    random (seeded), into ``out_dir``; the file name is the caption. No patient id, no header data.

    3D crops are shown at the axial slice where the ROI is largest: ``mask_crops(indices)`` gives
    the masks cropped like the images (without it, the slice of the largest heat).
    Returns the record for the provenance file.
    """
    rng = np.random.default_rng(seed)
    picks = []
    for cls, word in ((1, "node-positive"), (0, "node-negative")):
        pool = np.flatnonzero(is_train & (np.asarray(y) == cls))
        chosen = sorted(rng.choice(pool, size=min(n_per_class, len(pool)), replace=False).tolist()) if len(pool) else []
        picks += [(int(i), word, j + 1) for j, i in enumerate(chosen)]
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
        crop, h, where = x[i, 0], heat[k], ""
        if crop.ndim == 3:
            area = (masks[k, 0] > 0.5).sum(axis=(1, 2)) if masks is not None else h.sum(axis=(1, 2))
            z = int(np.argmax(area))
            crop, h, where = crop[z], h[z], f", crop slice {z} of {x.shape[2]} (largest ROI area)"
        predicted = "node-positive" if prob[k] >= 0.5 else "node-negative"
        empty = " is zero everywhere" if not heat[k].any() else ""
        name = (f"{label}, {word} training patient {j} (CNN p {prob[k]:.2f}, heat for the predicted class "
                f"{predicted}{empty}, layer {layer}{where})")
        gradcam_png(crop, h, Path(out_dir) / f"{name}.png")
        rec["files"].append(f"{name}.png")
    return rec


# --------------------------------------------------------------------------- inputs from images


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
        img, msk = np.asarray(img), np.asarray(msk)
        info: dict = {}
        if spatial_dims == 2 and img.ndim == 3:
            if img.shape[0] == 1:
                img, msk = img[0], msk[0]
            else:
                img, msk, info["slice"] = roi.largest_slice(img, msk, axis=0)
        if img.ndim != spatial_dims:
            raise ValueError(f"image {i} is {img.ndim}D {img.shape}; a {spatial_dims}D model needs {spatial_dims}D")
        try:
            out[i, 0], crop_info = roi.crop_roi(img, msk, margin, size, keep_aspect=keep_aspect)
        except ValueError as e:
            raise ValueError(f"image {i}: {e}") from None
        infos.append({**info, **crop_info})
    return (out, infos) if return_info else out


# --- file-level entry points of the `deep` and `deep_table` rules ------------------------------

def run(prep_dirs: Sequence[str], split_csv: str, modality: str, view: str, settings: dict, primary_rater: str,
        seed: int, threads: int, out_features: str, out_provenance: str, out_gradcam: str | None = None) -> None:
    """Deep features of one modality × view for every patient.

    The network sees only training-cohort patients while its weights are fitted, so the
    features of evaluation cohorts come from a network trained without them. With
    ``out_gradcam`` (a folder), Grad-CAM examples of training patients when the weights were
    fine-tuned or loaded from a file; for a randomly initialised network the folder stays empty
    and the provenance says why.
    """
    import json
    from pathlib import Path

    import pandas as pd
    import SimpleITK as sitk

    from .io import atomic_path, write_csv

    split = pd.read_csv(split_csv, dtype={"patient_id": str}).set_index("patient_id")
    patients = [Path(d).parent.name for d in prep_dirs]  # .../preprocess/<patient>/<MOD>_<view>
    images, masks = [], []
    for d in prep_dirs:
        images.append(sitk.GetArrayFromImage(sitk.ReadImage(str(Path(d) / "image.nii.gz"))))
        masks.append(sitk.GetArrayFromImage(sitk.ReadImage(str(Path(d) / f"mask-{primary_rater}.nii.gz"))))
    dims = 3 if modality == "MRI" else 2
    size = tuple(settings.get("size_3d" if dims == 3 else "size_2d", (32, 32, 32) if dims == 3 else (64, 64)))
    x = make_inputs(images, masks, dims, size, margin=settings.get("margin", 4))
    cohort = split.loc[patients, "cohort"].to_numpy()
    is_train = cohort == "train"
    y = split.loc[patients, "y"].to_numpy()
    name = deep_backbone(settings, modality)
    weights = deep_weights(settings)
    device = choose_device()
    if settings.get("gpu") and device == "cpu":
        log.warning("deep.gpu is set but no CUDA device is visible to this job; running on the CPU")
    log.info("%s %s: device %s%s", modality, view, device,
             f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else f" ({torch.get_num_threads()} threads)")
    model, prov = prepare_model(name, dims, weights, train_images=x[is_train], train_labels=y[is_train], seed=seed,
                                threads=threads, device=device)
    feats = extract_features(model, x, batch_size=settings.get("batch_size", 16), device=device, threads=threads)
    cols = [f"{modality}_{view}_deep_{i:04d}" for i in range(feats.shape[1])]
    table = pd.DataFrame(feats, columns=cols)
    table.insert(0, "patient_id", patients)
    write_csv(table.sort_values("patient_id"), out_features)
    prov.update(backbone=name, spatial_dims=dims, input_size=list(size), device=device, n_patients=len(patients),
                n_train=int(is_train.sum()))
    if out_gradcam:
        with atomic_path(out_gradcam, directory=True) as tmp:
            if weights.get("source") == "random":
                prov["gradcam"] = {"files": [], "note": "no Grad-CAM: the network is randomly initialised (neither "
                                                        "fine-tuned nor loaded from a file), so its maps explain nothing"}
            else:
                def mask_crops(idx):
                    sel = [masks[i] for i in idx]
                    return make_inputs(sel, sel, dims, size, margin=settings.get("margin", 4))

                prov["gradcam"] = gradcam_examples(model, x, y, is_train, str(tmp), f"{modality} {view}", seed,
                                                   device=device, mask_crops=mask_crops)
    with atomic_path(out_provenance) as tmp:
        tmp.write_text(json.dumps(prov, indent=2, sort_keys=True, default=str) + "\n")
    log.info("%s %s: %s; %d features per patient on %s", modality, view, prov.get("description", ""),
             feats.shape[1], device)


def combine(feature_csvs: Sequence[str], provenance_jsons: Sequence[str], out_table: str, out_provenance: str) -> None:
    """All views' deep features in one per-patient table; the weights used per view."""
    import json
    from pathlib import Path

    import pandas as pd

    from .io import write_csv, write_json

    table = None
    for path in feature_csvs:
        df = pd.read_csv(path, dtype={"patient_id": str})
        table = df if table is None else table.merge(df, on="patient_id", how="outer")
    write_csv(table.sort_values("patient_id"), out_table)
    prov = {}
    for path in provenance_jsons:
        p = json.loads(Path(path).read_text())
        prov[Path(path).stem] = {"backbone": f"{p.get('backbone')} ({p.get('spatial_dims')}D)",
                                 "weights": p.get("description", p.get("source")), "details": p}
    write_json(prov, out_provenance)
