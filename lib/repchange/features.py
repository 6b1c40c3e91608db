"""Activations of named layers on a fixed probe set, through forward hooks."""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from .data import Split, normalise
from .metrics import Factors

__all__ = ["extract", "factors_of", "layer_factors", "positions_as_samples"]


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
            model(normalise(probe.images[start : start + batch_size], getattr(model, "input_stats", None)).to(device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    result = {name: torch.cat(parts) for name, parts in chunks.items()}
    for name, acts in result.items():
        if not torch.isfinite(acts).all():
            raise ValueError(f"layer {name!r} produced NaN or infinite activations on the probe set")
    return result


def positions_as_samples(maps: torch.Tensor) -> torch.Tensor:
    """(n, C, H, W) maps -> (n·H·W, C): every spatial position of every image is a sample,
    channels are features (Study B's convention for shape metrics). (n, p) passes through."""
    if maps.ndim == 2:
        return maps
    if maps.ndim != 4:
        raise ValueError(f"expected (n, C, H, W) or (n, p) activations, got shape {tuple(maps.shape)}")
    return maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1])


def factors_of(activations: Mapping[str, torch.Tensor]) -> dict[str, Factors]:
    """``{layer: Factors}`` for ``{layer: (n, p) activations}``: computed once, shared by all metrics."""
    return {name: Factors(acts, name) for name, acts in activations.items()}


def layer_factors(model: nn.Module, probe: Split) -> dict[str, Factors]:
    """:func:`factors_of` the flattened outputs of ``model.probe_layers`` on ``probe``."""
    return factors_of(extract(model, model.probe_layers, probe))
