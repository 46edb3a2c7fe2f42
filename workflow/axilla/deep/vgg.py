"""VGG19 (Simonyan & Zisserman 2015, configuration E) with torchvision's module names.

MONAI has no VGG. Parameter names and shapes equal torchvision's `vgg19` (features.<i>,
classifier.0/3/6), so an ImageNet state dict loads tensor for tensor; only the last linear layer
(the head, classifier.6) is ours. The feature vector is the 4096-d input of that head.
"""

from __future__ import annotations

import torch
from torch import nn

# Convolution widths per block, a max-pool after each block (torchvision's cfgs["E"]).
VGG19_BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))


def vgg19_features(in_channels: int = 3) -> nn.Sequential:
    """The 16 3x3 convolutions, each followed by a ReLU, and 5 max-pools: features.0 … features.36."""
    layers: list[nn.Module] = []
    c = in_channels
    for block in VGG19_BLOCKS:
        for width in block:
            # not in-place: Grad-CAM hooks these outputs, and in-place ReLUs break backward hooks
            layers += [nn.Conv2d(c, width, kernel_size=3, padding=1), nn.ReLU()]
            c = width
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class VGG19(nn.Module):
    """Plain VGG19 (no batch norm), 2D. Inputs of at least 32 px per side (five 2x max-pools)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 1, dropout: float = 0.5):
        super().__init__()
        self.features = vgg19_features(in_channels)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation: Kaiming for convolutions, N(0, 0.01) for linear layers
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
