"""Weights from a file: state-dict unwrapping, key mapping onto MONAI, stem folding, provenance.

Reads torchvision (ImageNet: ResNet18/34/50/101, DenseNet121, VGG19), MedicalNet and MONAI state
dicts. Every file is recorded by its
sha256 (`axilla.io.file_sha256`); a model's own fingerprint is `state_dict_sha256`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..io import file_sha256
from .backbones import head_layer, model_family

log = logging.getLogger(__name__)

# Classification heads of the formats we read: torchvision (fc, classifier; VGG's is only the
# last of its three linear layers), MONAI (fc, class_layers.out), MedicalNet (conv_seg). Never
# loaded: features stop before the head.
_SOURCE_HEADS = {"resnet": ("fc.", "classifier.", "class_layers.out.", "conv_seg."),
                 "densenet": ("fc.", "classifier.", "class_layers.out.", "conv_seg."),
                 "vgg": ("classifier.6.",)}

# First convolution and the batch norm right after it, per architecture (MONAI names); VGG has no
# batch norm: its first convolution's bias takes the ImageNet mean shift instead.
_STEM = {"resnet": ("conv1.weight", "bn1"), "densenet": ("features.conv0.weight", "features.norm0"),
         "vgg": ("features.0.weight", None)}

# torchvision's ImageNet input normalisation (RGB).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Keys of a {"source": "file", ...} weights spec.
_FILE_KEYS = {"source", "path", "strict", "input_norm", "architecture"}

_TV_DENSE = re.compile(r"^(features\.denseblock\d+\.denselayer\d+)\.(norm|conv)\.?([12])\.(.+)$")


def state_dict_sha256(model: torch.nn.Module) -> str:
    """Hash of every parameter and buffer (names, dtypes, shapes, values): a model fingerprint."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


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


def _to_monai_key(key: str, family: str) -> str:
    """Source key -> MONAI key. torchvision ResNet names already equal MONAI's (see build_backbone);
    torchvision DenseNet layers lack MONAI's `.layers` level (and old files write norm.1)."""
    key = key.removeprefix("module.")  # saved from DataParallel (MedicalNet does this)
    if family == "densenet":
        m = _TV_DENSE.match(key)
        if m:
            key = f"{m.group(1)}.layers.{m.group(2)}{m.group(3)}.{m.group(4)}"
    return key


def _channel_view(values, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype).view(1, -1, *([1] * (like.ndim - 2)))


@dataclass
class _Mapping:
    """Source tensors sorted into what lands in the model and what does not, and why."""

    mapped: dict[str, torch.Tensor] = field(default_factory=dict)
    skipped_head: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    bad_shape: list[str] = field(default_factory=list)
    summed_from: int | None = None  # input channels of a first conv summed to 1
    rgb: torch.Tensor | None = None  # that conv's kernel as in the file


def _grey_stem(value: torch.Tensor, want: torch.Tensor, input_norm: str | None, m: _Mapping) -> torch.Tensor:
    """A multi-channel first conv summed over its input channels (ImageNet std folded in first)."""
    if value.shape != want.shape and value.ndim == want.ndim:
        if want.shape[1] == 1 and value.shape[0] == want.shape[0] and value.shape[2:] == want.shape[2:]:
            m.summed_from, m.rgb = int(value.shape[1]), value
            if input_norm == "imagenet" and m.summed_from == 3:
                value = value / _channel_view(IMAGENET_STD, value)
            value = value.sum(dim=1, keepdim=True)
    return value


def _map_tensors(source: dict, target: dict, family: str, head_name: str, input_norm: str | None) -> _Mapping:
    """Match every source tensor to a model tensor by name and shape; the head is never taken."""
    stem_conv = _STEM[family][0]
    m = _Mapping()
    for key, value in source.items():
        tkey = _to_monai_key(key, family)
        if tkey.startswith(head_name + ".") or key.removeprefix("module.").startswith(_SOURCE_HEADS[family]):
            m.skipped_head.append(key)
            continue
        if tkey not in target:
            m.unexpected.append(key)
            continue
        want = target[tkey]
        if tkey == stem_conv:
            value = _grey_stem(value, want, input_norm, m)
        if value.shape != want.shape:
            m.bad_shape.append(f"{key} {tuple(value.shape)} -> {tkey} {tuple(want.shape)}")
            continue
        m.mapped[tkey] = value.to(want.dtype)
    return m


def _fold_imagenet_mean(m: _Mapping, stem: tuple[str, str | None]) -> None:
    """Move the ImageNet mean shift of a grey-summed stem into the next batch norm's running mean
    (or, without one, into the first convolution's bias)."""
    # Grey x replicated to RGB and normalised: sum_c w_c (x - m_c) / s_c
    #   = (sum_c w_c / s_c) * x - sum_{c,k} w_c m_c / s_c.
    # The kernel part is done in _grey_stem; the constant shifts the running mean (or bias) here.
    conv, bn = stem
    key, sign = (f"{bn}.running_mean", 1) if bn else (conv.removesuffix(".weight") + ".bias", -1)
    if m.summed_from != 3 or key not in m.mapped:
        raise ValueError(
            "input_norm='imagenet' needs a 3-channel (RGB) first conv reduced to 1 channel "
            f"and {key} in the file"
        )
    rgb = m.rgb
    offset = (rgb * _channel_view(IMAGENET_MEAN, rgb) / _channel_view(IMAGENET_STD, rgb)).flatten(1).sum(1)
    m.mapped[key] = m.mapped[key] + sign * offset.to(m.mapped[key].dtype)


def _missing(target: dict, mapped: dict, head_name: str) -> tuple[list[str], list[str]]:
    """(backbone tensors the file does not fill, absent num_batches_tracked counters)."""
    missing = [k for k in target if k not in mapped and not k.startswith(head_name + ".")]
    # Files saved before PyTorch 0.4.1 (MedicalNet among them) carry no num_batches_tracked; the
    # counter only matters for momentum-free batch norm, so it stays at 0 and counts as filled.
    untracked = [k for k in missing if k.endswith(".num_batches_tracked")]
    return [k for k in missing if k not in untracked], untracked


def _require_matches(m: _Mapping, path: Path, family: str, source: dict, target: dict) -> None:
    if not m.mapped:
        raise ValueError(
            f"no tensor in {path} matches the {family} model: source keys start "
            f"{list(source)[:4]}, model keys start {list(target)[:4]} "
            "(is it a weights file for this architecture and dimensionality?)"
        )


def _require_fitting_shapes(m: _Mapping, path: Path) -> None:
    if m.bad_shape:
        raise ValueError(
            f"{len(m.bad_shape)} tensor(s) in {path} have shapes that do not fit the model "
            f"(wrong architecture or 2D/3D?): " + "; ".join(m.bad_shape[:5])
        )


def _raise_missing(missing: list[str], path: Path) -> None:
    hint = ""
    if all(".downsample." in k for k in missing):
        hint = " (MedicalNet ResNet18/34 use shortcut_type 'A': set architecture: {shortcut_type: A})"
    raise ValueError(
        f"{len(missing)} backbone tensor(s) of the model are not in {path}, e.g. {missing[:5]}; "
        f"the features would come from a partly random network (set strict: false to allow){hint}"
    )


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
    family = model_family(model)
    head_name, _ = head_layer(model)
    source = _unwrap_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    target = model.state_dict()
    m = _map_tensors(source, target, family, head_name, input_norm)
    _require_matches(m, path, family, source, target)
    if input_norm == "imagenet":
        _fold_imagenet_mean(m, _STEM[family])
    _require_fitting_shapes(m, path)
    missing, untracked = _missing(target, m.mapped, head_name)
    if missing and strict:
        _raise_missing(missing, path)
    model.load_state_dict(m.mapped, strict=False)
    return _report(path, m, source, missing, untracked, input_norm)


def _report(path: Path, m: _Mapping, source: dict, missing: list, untracked: list, input_norm) -> dict:
    """The provenance record of a loaded file; unused and missing keys are logged as warnings."""
    report = {
        "path": str(path),
        "sha256": file_sha256(path),
        "n_mapped": len(m.mapped),
        "n_source": len(source),
        "skipped_head": m.skipped_head,
        "unexpected": m.unexpected,
        "missing": missing,
        "num_batches_tracked_absent": len(untracked),
        "first_conv_summed_from_channels": m.summed_from,
        "input_norm": input_norm,
    }
    for what in ("unexpected", "missing"):
        if report[what]:
            log.warning("weights %s: %d %s key(s), e.g. %s", path, len(report[what]), what, report[what][:5])
    return report


def load_file_spec(model: torch.nn.Module, spec: dict) -> tuple[dict, str]:
    """Load a {"path": ..., ["strict"], ["input_norm"], ["architecture"]} spec into `model`;
    return (report, the load said in words for the provenance description)."""
    unknown = set(spec) - _FILE_KEYS
    if unknown or "path" not in spec:
        raise ValueError(
            f"file weights need 'path' and accept only {sorted(_FILE_KEYS)}; got {sorted(spec)}"
        )
    rep = load_weights_file(
        model, spec["path"], strict=spec.get("strict", True), input_norm=spec.get("input_norm")
    )
    return rep, _describe(rep)


def _describe(rep: dict) -> str:
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
    return words
