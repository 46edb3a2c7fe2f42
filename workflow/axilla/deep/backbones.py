"""Backbones (MONAI ResNets and DenseNet, axilla's VGG19), their feature heads, penultimate-layer
features and the run-time set-up.

The features are the globally pooled activations that feed the final linear layer.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence

import numpy as np
import torch
from monai.networks import nets

from .heads import feature_point
from .vgg import VGG19

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "densenet121", "vgg19")
RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101")  # 2D and 3D; the others 2D only

# Input sizes when none is given: the schema defaults of deep.size_2d / deep.size_3d.
DEFAULT_SIZE = {2: (64, 64), 3: (32, 32, 32)}


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


def set_threads(threads: int | None) -> None:
    """torch's intra-op threads (at least 1); None leaves torch's choice."""
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))


def build_backbone(
    name: str, spatial_dims: int, in_channels: int = 1, num_classes: int = 1, **overrides
) -> torch.nn.Module:
    """A MONAI ResNet18/34/50/101 (2D or 3D), a MONAI DenseNet121 (2D) or axilla's VGG19 (2D)
    with a `num_classes` linear head.

    ResNets use the standard ImageNet stem (7x7 conv with stride 2, then max-pool) and bias-free
    downsample convolutions, i.e. exactly torchvision's architecture, so ImageNet weights map
    one-to-one; MONAI's defaults (stride-1 stem, biased downsample) would not. `overrides` go to
    the constructor (e.g. shortcut_type="A" for MedicalNet ResNet18/34 weights).
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    if name in BACKBONES and name not in RESNETS and spatial_dims != 2:
        raise ValueError(f"{name} is offered in 2D only; use {'/'.join(RESNETS)} for 3D")
    if name in RESNETS:
        kw = dict(spatial_dims=spatial_dims, n_input_channels=in_channels, num_classes=num_classes,
                  conv1_t_stride=2, bias_downsample=False, shortcut_type="B")
        kw.update(overrides)
        return getattr(nets, name)(**kw)
    if name == "densenet121":
        return nets.DenseNet121(spatial_dims=2, in_channels=in_channels, out_channels=num_classes, **overrides)
    if name == "vgg19":
        return VGG19(in_channels=in_channels, num_classes=num_classes, **overrides)
    raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")


def model_family(model: torch.nn.Module) -> str:
    """'resnet', 'densenet' or 'vgg': the key of the per-architecture tables (stem, head, Grad-CAM layers)."""
    if isinstance(model, nets.ResNet):
        return "resnet"
    if isinstance(model, nets.DenseNet):
        return "densenet"
    if isinstance(model, VGG19):
        return "vgg"
    raise TypeError(f"unsupported model type {type(model).__name__}")


_HEADS = {"resnet": "fc", "densenet": "class_layers.out", "vgg": "classifier.6"}


def head_layer(model: torch.nn.Module) -> tuple[str, torch.nn.Linear]:
    """Name and module of the final linear layer (its input is the feature vector)."""
    name = _HEADS[model_family(model)]
    return name, model.get_submodule(name)


def feature_dim(model: torch.nn.Module) -> int:
    """Length of the penultimate feature vector (512 ResNet18/34, 2048 ResNet50/101, 1024 DenseNet121,
    4096 VGG19)."""
    return int(head_layer(model)[1].in_features)


def extract_features(
    model: torch.nn.Module,
    images: np.ndarray,
    batch_size: int = 16,
    device: str = "cpu",
    threads: int | None = None,
    layer="penultimate",
) -> np.ndarray:
    """The activations of `layer` (axilla.deep.heads: penultimate, fc, {bottleneck: k}), (N, width) float32.

    A forward hook (pre-hook: the head's input) captures them, so the model itself is not changed.
    Eval mode (batch norm uses its running statistics) makes each image's features independent
    of the batch it is in; no gradients; the model's train/eval mode is restored afterwards.
    """
    set_threads(threads)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim < 4:
        raise ValueError(f"images must be (N, C, *spatial), got shape {images.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    module, want_input = feature_point(head_layer(model)[1], layer)
    captured: list[torch.Tensor] = []
    if want_input:
        hook = module.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
    else:
        hook = module.register_forward_hook(lambda _m, _a, out: captured.append(out.detach()))
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
        return np.zeros((0, feature_dim(model) if want_input else 0), dtype=np.float32)
    return torch.cat([c.float().cpu() for c in captured]).numpy()


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
    set_threads(threads)
    torch.manual_seed(0)
    model = build_backbone(backbone, spatial_dims)
    x = np.random.default_rng(0).random((n_images, 1, *size), dtype=np.float32)
    extract_features(model, x[:batch_size], batch_size=batch_size, device=device)
    _synchronise(device)
    start = time.perf_counter()
    extract_features(model, x, batch_size=batch_size, device=device)
    _synchronise(device)
    return n_images / (time.perf_counter() - start)


def _synchronise(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
