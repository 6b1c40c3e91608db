"""The shapes of a net's probed maps at an input size, found without computing anything.

The net is built on PyTorch's ``meta`` device (shapes, no storage, no weights read) and one
(1, C, S, S) meta tensor is passed through it, so a check at the door knows every probed layer's
(channels, height, width) at once: e.g. whether the probe images give PWSM enough positions.
"""

from __future__ import annotations

import functools

import torch

from repchange.nets.architectures import build_architecture

__all__ = ["probe_shapes"]


@functools.lru_cache(maxsize=None)
def probe_shapes(arch: str, image_size: int, in_channels: int = 3) -> dict[str, tuple[int, int, int]]:
    """``{probed layer: (C, H, W)}`` of ``arch``'s maps for one ``in_channels`` × ``image_size`` × ``image_size``
    image (no weights are loaded; the head's width does not change them)."""
    shapes: dict[str, tuple[int, int, int]] = {}

    def keep(name: str):
        def hook(module: torch.nn.Module, inputs: tuple, out: torch.Tensor) -> None:
            shapes.setdefault(name, tuple(out.shape[1:]))  # the first call (a ResNet ReLU runs several times)
        return hook

    with torch.device("meta"):
        model = build_architecture(arch, in_channels=in_channels, num_classes=2)
        hooks = [module.register_forward_hook(keep(name)) for name, module in model.probe_layers.items()]
        try:
            model.eval()(torch.empty(1, in_channels, image_size, image_size))
        finally:
            for hook in hooks:
                hook.remove()
    return {name: shapes[name] for name in model.probe_layers}
