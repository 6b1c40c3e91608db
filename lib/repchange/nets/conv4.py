"""Networks and the named layers whose outputs are probed.

Every builder returns an ``nn.Module`` with a ``probe_layers`` attribute: an ordered dict
``{name: submodule}`` whose *outputs* are the representations compared by the studies.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

import torch
from torch import nn

__all__ = ["BN_ORDERS", "Conv4", "build"]

BN_ORDERS = ("relu_bn", "bn_relu")


class Conv4(nn.Module):
    """The 4-block conv net of Vinyals et al. (Goerttler & Obermayer's network).

    4 x [Conv3x3(width, padding 1) -> ReLU -> BatchNorm -> MaxPool2] -> flatten -> Linear.
    ``bn_order="relu_bn"`` is the authors' public code (ReLU before BatchNorm, the default);
    ``"bn_relu"`` is the order the paper's text describes.
    Probed layers: ``block1``..``block4`` (outputs flattened to C*H*W) and ``logits``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        *,
        width: int = 64,
        bn_order: Literal["relu_bn", "bn_relu"] = "relu_bn",
    ) -> None:
        super().__init__()
        if bn_order not in BN_ORDERS:
            raise ValueError(f"unknown bn_order {bn_order!r}; choose one of {BN_ORDERS}")
        blocks = []
        channels = in_channels
        size = image_size
        for _ in range(4):
            conv = nn.Conv2d(channels, width, kernel_size=3, padding=1)
            act_norm = [nn.ReLU(), nn.BatchNorm2d(width)]
            if bn_order == "bn_relu":
                act_norm.reverse()
            blocks.append(nn.Sequential(conv, *act_norm, nn.MaxPool2d(2)))
            channels = width
            size //= 2
        if size < 1:
            raise ValueError(f"image_size {image_size} is too small for 4 max-pool halvings (need >= 16)")
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(width * size * size, num_classes)
        self.probe_layers = OrderedDict(
            [*((f"block{i + 1}", b) for i, b in enumerate(self.blocks)), ("logits", self.head)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(torch.flatten(x, 1))


def build(arch: str, *, in_channels: int, num_classes: int, image_size: int, **options: object) -> nn.Module:
    """Build architecture ``arch`` for inputs (in_channels, image_size, image_size)."""
    if arch == "conv4":
        return Conv4(in_channels, num_classes, image_size, **options)  # type: ignore[arg-type]
    raise ValueError(f"unknown architecture {arch!r}; choose one of ['conv4']")
