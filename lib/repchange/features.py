"""Activations of named layers on a fixed probe set, through forward hooks."""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from .data import Split, normalise

__all__ = ["extract"]


@torch.no_grad()
def extract(
    model: nn.Module,
    layers: Mapping[str, nn.Module],
    probe: Split,
    *,
    batch_size: int = 500,
    flatten: bool = True,
) -> dict[str, torch.Tensor]:
    """Outputs of each module in ``layers`` on the ``probe`` images, in eval mode.

    Returns ``{name: tensor}`` on the CPU in float32, in ``layers`` order: shape (n, C*H*W) with
    ``flatten=True`` (rows = probe samples, in probe order), else the raw (n, C, H, W).
    Raises ValueError if any activation is NaN or infinite (naming the layer).
    """
    device = next(model.parameters()).device
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    handles = []
    for name, module in layers.items():
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor, name: str = name) -> None:
            out = output.detach().float().cpu()
            chunks[name].append(out.flatten(1) if flatten else out)
        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(probe), batch_size):
            model(normalise(probe.images[start : start + batch_size]).to(device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    result = {name: torch.cat(parts) for name, parts in chunks.items()}
    for name, acts in result.items():
        if not torch.isfinite(acts).all():
            raise ValueError(f"layer {name!r} produced NaN or infinite activations on the probe set")
    return result
