"""`deep.layer`: which activations are the features, and the head that makes them.

penultimate        the globally pooled activations that feed the final linear layer (default;
                   512 for ResNet18, 2,048 ResNet50, 1,024 DenseNet121; seeds 000, 001, 003)
fc                 the network's fully connected output: a 1,000-unit layer as ImageNet's head
                   (seed 004's 1,000-d features), followed by a binary classifier for fine-tuning
{bottleneck: k}    a trained k-unit layer with ReLU before the binary classifier (seed 002's 128
                   features per ROI)

fc and bottleneck replace the backbone's head by a `StackedHead` (hidden -> activation -> out);
its keys start with the head's name, so weight files never fill it by accident (their own head is
loaded into `hidden` by `load_fc` where its shape fits).
"""

from __future__ import annotations

import torch

FC_UNITS = 1000  # ImageNet's classes: the width of the FC output torchvision's heads give


def layer_spec(value) -> tuple[str, int | None]:
    """(kind, units) of a `deep.layer` value: ("penultimate", None), ("fc", 1000), ("bottleneck", k)."""
    if value in ("penultimate", None):
        return "penultimate", None
    if value == "fc":
        return "fc", FC_UNITS
    if isinstance(value, dict) and set(value) == {"bottleneck"} and int(value["bottleneck"]) >= 1:
        return "bottleneck", int(value["bottleneck"])
    raise ValueError(f"deep.layer must be penultimate, fc or {{bottleneck: k}} (k >= 1), got {value!r}")


def layer_name(value) -> str:
    kind, units = layer_spec(value)
    return f"bottleneck {units}" if kind == "bottleneck" else kind


class StackedHead(torch.nn.Module):
    """`hidden` (units) -> ReLU (bottleneck) or identity (fc) -> `out` (one logit)."""

    def __init__(self, in_features: int, units: int, relu: bool):
        super().__init__()
        self.in_features = in_features  # the penultimate width, as a plain Linear head has it
        self.hidden = torch.nn.Linear(in_features, units)
        self.act = torch.nn.ReLU() if relu else torch.nn.Identity()
        self.out = torch.nn.Linear(units, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.hidden(x)))


def attach_head(model: torch.nn.Module, head_name: str, layer) -> torch.nn.Module:
    """`model` with its head `head_name` (a Linear) replaced for `layer` (unchanged for penultimate)."""
    kind, units = layer_spec(layer)
    if kind == "penultimate":
        return model
    parent_name, _, attr = head_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, attr)
    setattr(parent, attr, StackedHead(int(old.in_features), units, relu=kind == "bottleneck"))
    return model


def feature_point(head: torch.nn.Module, layer) -> tuple[torch.nn.Module, bool]:
    """(module, True: its input / False: its output) that holds `layer`'s features.

    A plain Linear head's output is the network's forward output: its `fc` features."""
    kind, _ = layer_spec(layer)
    if kind == "penultimate":
        return head, True
    if isinstance(head, StackedHead):
        return head.act, False
    if kind == "fc" and isinstance(head, torch.nn.Linear):
        return head, False
    raise ValueError(f"layer {layer!r} needs a network built for it (its head is a {type(head).__name__})")


def load_fc(head: torch.nn.Module, source: dict) -> str:
    """Put a weight file's own classification layer (torchvision fc / classifier) into an fc
    head's `hidden` where the shapes fit; the load in words for the provenance."""
    if not isinstance(head, StackedHead) or isinstance(head.act, torch.nn.ReLU):
        return ""
    for prefix in ("fc.", "classifier.", "class_layers.out."):
        w, b = source.get(prefix + "weight"), source.get(prefix + "bias")
        if w is not None and b is not None and tuple(w.shape) == tuple(head.hidden.weight.shape):
            with torch.no_grad():
                head.hidden.weight.copy_(w)
                head.hidden.bias.copy_(b)
            return f"the file's {prefix}weight/bias as the {head.hidden.out_features}-unit fc layer"
    return f"fc layer ({head.hidden.out_features} units) randomly initialised: the file has no fitting head"
