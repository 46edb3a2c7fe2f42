"""The segmentation networks: MONAI U-Net and U-Net++, and a DeepLabV3 written here.

Every network maps a (N, 1, H, W) image to (N, 1, H, W) foreground logits. Widths are small on
purpose: the demo trains them on 2 CPU cores. MONAI has no DeepLabV3, so it is built as in Chen et
al. (2017): a ResNet encoder whose last two stages trade stride for dilation (output stride 8, as
torchvision's `replace_stride_with_dilation`), an atrous spatial pyramid pooling head (1×1, three
dilated 3×3 and an image-pooling branch) and bilinear upsampling of the logits.
"""

from __future__ import annotations

import torch
from monai.networks import nets
from torch import nn
from torch.nn import functional as F

NETWORKS = ("unet", "unetpp", "deeplabv3")


def unet(width: int) -> nn.Module:
    w = width
    return nets.UNet(spatial_dims=2, in_channels=1, out_channels=1, channels=(w, 2 * w, 4 * w, 8 * w),
                     strides=(2, 2, 2), num_res_units=1, norm="batch")


def unetpp(width: int) -> nn.Module:
    w = width
    return _Logits(nets.BasicUNetPlusPlus(spatial_dims=2, in_channels=1, out_channels=1,
                                          features=(w, w, 2 * w, 4 * w, 8 * w, w)))


class _Logits(nn.Module):
    """BasicUNetPlusPlus returns a list (deep supervision heads); keep the final one."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)[-1]


def _dilate(stage: nn.Sequential, dilation: int) -> None:
    """A ResNet stage at stride 1 with dilated 3×3 convolutions (ImageNet weights still map)."""
    for i, block in enumerate(stage):
        for conv in block.modules():
            if not isinstance(conv, nn.Conv2d):
                continue
            conv.stride = (1, 1)
            if conv.kernel_size == (3, 3):
                d = dilation // 2 if i == 0 else dilation  # the first block enters at the old rate
                conv.dilation, conv.padding = (max(d, 1),) * 2, (max(d, 1),) * 2


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLabV3): parallel rates plus global image pooling."""

    def __init__(self, in_ch: int, out_ch: int, rates: tuple[int, ...]):
        super().__init__()

        def branch(k, r):
            return nn.Sequential(nn.Conv2d(in_ch, out_ch, k, padding=0 if k == 1 else r, dilation=r, bias=False),
                                 nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))

        self.branches = nn.ModuleList([branch(1, 1)] + [branch(3, r) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.ReLU(inplace=True))
        self.project = nn.Sequential(nn.Conv2d(out_ch * (len(rates) + 2), out_ch, 1, bias=False),
                                     nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))

    def forward(self, x):
        pooled = F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], dim=1))


def aspp_rates(size: int, stride: int = 8) -> tuple[int, ...]:
    """DeepLabV3's rates (6, 12, 18 on a 33-pixel map) scaled to this input's feature map."""
    side = max(size // stride, 1)
    return tuple(max(1, round(r * side / 33)) + i for i, r in enumerate((6, 12, 18)))


class DeepLabV3(nn.Module):
    """DeepLabV3 on a MONAI ResNet (the torchvision layout of axilla.deep.backbones)."""

    def __init__(self, encoder: nn.Module, size: int, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(encoder.conv1, encoder.bn1, encoder.act, encoder.maxpool)
        self.layers = nn.Sequential(encoder.layer1, encoder.layer2, encoder.layer3, encoder.layer4)
        _dilate(encoder.layer3, 2)
        _dilate(encoder.layer4, 4)
        self.head = nn.Sequential(ASPP(_out_channels(encoder.layer4), width, aspp_rates(size)), nn.Conv2d(width, 1, 1))

    def forward(self, x):
        logits = self.head(self.layers(self.stem(x)))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _out_channels(stage: nn.Sequential) -> int:
    return [m for m in stage.modules() if isinstance(m, nn.BatchNorm2d)][-1].num_features


def deeplabv3(size: int, width: int, encoder: str = "resnet18", weights: dict | None = None) -> tuple[nn.Module, str]:
    """DeepLabV3 and its encoder's initialisation in words. `weights`: a file spec of
    axilla.deep.weights (the cache's ImageNet file; the encoder then keeps ImageNet's widths) or
    None (random, the encoder's stages `width`/64 of the standard widths, so it fits a CPU)."""
    from ..deep.backbones import build_backbone
    from ..deep.weights import load_file_spec

    if weights is None:
        backbone = build_backbone(encoder, 2, in_channels=1, widen_factor=width / 64)
        return DeepLabV3(backbone, size, 4 * width), f"{encoder} encoder (width {width}) at random initialisation"
    backbone = build_backbone(encoder, 2, in_channels=1)
    _, loaded = load_file_spec(backbone, {**weights, "strict": False})
    return DeepLabV3(backbone, size, 4 * width), f"{encoder} encoder from {loaded}"


def build(name: str, size: int, width: int = 16, encoder: str = "resnet18",
          encoder_weights: dict | None = None) -> tuple[nn.Module, str]:
    """(network, its initialisation in words) of one of NETWORKS; `width`: first-stage channels."""
    if name == "unet":
        return unet(width), f"MONAI UNet (width {width}) at random initialisation"
    if name == "unetpp":
        return unetpp(width), f"MONAI BasicUNetPlusPlus (width {width}) at random initialisation"
    if name == "deeplabv3":
        return deeplabv3(size, width, encoder, encoder_weights)
    raise ValueError(f"unknown segmentation network {name!r}; choose one of {', '.join(NETWORKS)}")
