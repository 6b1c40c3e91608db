"""Activations of named layers on a fixed probe set, through forward hooks."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from torch import nn

from repchange.data.datasets import Split, normalise
from repchange.measure.metrics import Factors

__all__ = ["BN_MODES", "extract", "extraction_mode", "factors_of", "layer_factors",
           "positions_as_samples"]

# How BatchNorm layers normalise while activations are extracted:
#   "batch": with the statistics of each extraction batch (the authors' code of both studies never
#            switches to eval mode); running statistics are left untouched;
#   "eval":  with the running statistics the net learnt (PyTorch's eval mode).
BN_MODES = ("batch", "eval")


def _batch_norm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def extraction_mode(model: nn.Module, bn: str = "batch") -> Iterator[None]:
    """Inference mode with dropout off and BatchNorm as ``bn`` says (see :data:`BN_MODES`); on exit
    the model's running statistics are as they were, and each submodule's own training flag too (a frozen
    BatchNorm left in eval mode inside a training model stays in eval mode)."""
    if bn not in BN_MODES:
        raise ValueError(f"bn must be one of {BN_MODES}, got {bn!r}")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    norms = _batch_norm_layers(model) if bn == "batch" else []
    tracking = [m.track_running_stats for m in norms]
    for m in norms:  # batch statistics, running statistics neither used nor updated
        m.train()
        m.track_running_stats = False
    try:
        with torch.inference_mode():
            yield
    finally:
        for m, track in zip(norms, tracking):
            m.track_running_stats = track
        for m, training in modes:
            m.training = training


def extract(
    model: nn.Module,
    layers: Mapping[str, nn.Module],
    probe: Split,
    *,
    batch_size: int = 500,
    flatten: bool = True,
    bn: str = "batch",
) -> dict[str, torch.Tensor]:
    """Outputs of each module in ``layers`` on the ``probe`` images (dropout off).

    ``bn`` (see :data:`BN_MODES`): ``"batch"`` normalises BatchNorm layers with the statistics
    of each batch of ``batch_size`` probe images (500: a whole 500-image probe set at once), as
    the authors' code does; ``"eval"`` with the learnt running statistics. The model is left
    as it was (mode and running statistics). Runs in inference mode with NCHW inputs
    (``make bench``: channels_last inputs were 0.8-1.05x as fast on the small nets, so not used).

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
    stats = getattr(model, "input_stats", None)
    try:
        with extraction_mode(model, bn):
            for start in range(0, len(probe), batch_size):
                model(normalise(probe.images[start : start + batch_size], stats).to(device))
    finally:
        for handle in handles:
            handle.remove()
    # outside inference mode: ordinary, contiguous (NCHW order) tensors the caller may modify
    result = {name: torch.cat(parts).contiguous() for name, parts in chunks.items()}
    for name, acts in result.items():
        if not torch.isfinite(acts).all():
            raise ValueError(f"layer {name!r} produced NaN or infinite activations on the probe set")
    return result


def positions_as_samples(maps: torch.Tensor) -> torch.Tensor:
    """(n, C, H, W) maps -> (n·H·W, C): every spatial position of every image is a sample,
    channels are features (Behzadi-Khormouji et al.'s convention for shape metrics). (n, p) passes through."""
    if maps.ndim == 2:
        return maps
    if maps.ndim != 4:
        raise ValueError(f"expected (n, C, H, W) or (n, p) activations, got shape {tuple(maps.shape)}")
    return maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1])


def factors_of(activations: Mapping[str, torch.Tensor]) -> dict[str, Factors]:
    """``{layer: Factors}`` for ``{layer: (n, p) activations}``: computed once, shared by all metrics."""
    return {name: Factors(acts, name) for name, acts in activations.items()}


def layer_factors(model: nn.Module, probe: Split, *, bn: str = "batch") -> dict[str, Factors]:
    """:func:`factors_of` the flattened outputs of ``model.probe_layers`` on ``probe`` (``bn``: see :func:`extract`)."""
    return factors_of(extract(model, model.probe_layers, probe, bn=bn))
