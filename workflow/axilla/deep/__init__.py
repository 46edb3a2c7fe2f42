"""Deep features: MONAI backbones, honest weights (file / fine-tuned / random), penultimate features.

backbones    network construction, feature heads, feature extraction, throughput, determinism
weights      weights files: unwrapping, key mapping onto MONAI, stem folding, provenance
finetuning   fine-tuning on the training cohort only (inner split, augmentation, early stopping)
cam          Grad-CAM maps and the report's example PNGs
heads        deep.layer: penultimate / fc / bottleneck features and the head they need
inputs       ROI crops -> network inputs, deep.slices (numpy only)
reproducible deep.reproducible: strict (the same features on any x86-64 CPU) / off; no torch import
cost         strict's measured cost (make bench)
stage        `prepare_model` and `run`, the `deep` rule's entry point
frozen       features of a new cohort from a frozen study's bundled network (the `apply_deep` rule)
table        `combine`, the `deep_table` rule's entry point (no torch)

Names are re-exported lazily: `deep_table` runs in the stats environment, which has no torch, and
`from axilla.deep import combine` must not import it.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "backbones": ("BACKBONES", "DEFAULT_SIZE", "build_backbone", "choose_device", "extract_features",
                  "feature_dim", "set_determinism", "throughput"),
    "weights": ("IMAGENET_MEAN", "IMAGENET_STD", "load_weights_file", "state_dict_sha256"),
    "finetuning": ("FINETUNE_DEFAULTS", "finetune", "inner_split", "rotate"),
    "cam": ("GRADCAM_EXAMPLES", "gradcam", "gradcam_examples", "gradcam_layer", "gradcam_png"),
    "inputs": ("make_inputs", "view_inputs"),
    "heads": ("StackedHead", "layer_spec"),
    "stage": ("prepare_model", "run"),
    "table": ("combine",),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
