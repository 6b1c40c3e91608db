"""Views: how a layer's batch-first outputs become the (samples, features) matrix a metric compares.

Conv maps (N, C, H, W) and token sequences (N, T, D) are pooled, flattened or unrolled into positions; token
sequences honour the probe's ``attention_mask``, so padding never enters a comparison. The tool applies a
view to each probe batch as it is read (:func:`repchange.tool.readout.layer_activations`), so dynamically padded
batches of different lengths work and memory grows with the pooled width, not T × D.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from repchange.measure.features import positions_as_samples

__all__ = ["Pool", "VIEWS", "as_samples", "attention_mask", "check_view", "token_mask", "view_name"]

VIEWS = ("flatten", "positions", "mean", "first", "last")
Pool = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]
"""A user's view: ``pool(outputs (N, ...), mask (N, T) bool or None) -> (N, features)``."""


def view_name(view: str | Pool) -> str:
    """A view's name for settings and tables: the string itself, or ``pool:<function name>``."""
    return view if isinstance(view, str) else f"pool:{getattr(view, '__name__', type(view).__name__)}"


def check_view(view: object, name: str = "view") -> None:
    """Raise ValueError unless ``view`` is one of :data:`VIEWS` or a callable ``pool(outputs, mask)``."""
    if not (callable(view) or view in VIEWS):
        raise ValueError(f"{name} must be one of {VIEWS} or a function pool(outputs, mask) -> (N, features), "
                         f"got {view!r}")


def token_mask(mask: torch.Tensor, acts: torch.Tensor) -> torch.Tensor:
    """The (N, T) boolean mask of real tokens for token outputs ``acts`` (N, T, D), checked against their shape."""
    if mask.ndim != 2 or tuple(mask.shape) != tuple(acts.shape[:2]):
        raise ValueError(f"the attention mask has shape {tuple(mask.shape)} but the layer gives {tuple(acts.shape)}: "
                         f"a masked view needs outputs (N, T, D) with the mask's N and T; pass a pool function for "
                         f"layers that change the sequence length")
    real = mask.to(device=acts.device) != 0
    empty = (~real.any(dim=1)).nonzero().flatten()
    if len(empty):
        raise ValueError(f"probe samples {empty.tolist()[:5]} of this batch have no real token (an all-zero "
                         f"attention_mask row): no view of them exists; drop them from the probe")
    return real


def as_samples(acts: torch.Tensor, view: str | Pool = "flatten", mask: torch.Tensor | None = None) -> torch.Tensor:
    """A layer's batch-first outputs as the (samples, features) matrix a metric compares.

    ``flatten``: (N, ...) -> (N, prod); ``positions``: conv maps (N, C, H, W) -> (N·H·W, C) and token
    sequences (N, T, D) -> (N·T, D): positions are samples; ``mean``: the mean over positions ->
    (N, C) or (N, D); ``first`` / ``last``: the first / last token of (N, T, D); a callable
    ``pool(outputs, mask)``: the user's own (N, features). (N, D) outputs are returned as they are by every view.

    ``mask`` (N, T), nonzero at real tokens (a tokenizer's ``attention_mask``), applies to token sequences: ``mean``
    averages the real tokens only, ``first`` / ``last`` take the first / last real token, ``positions`` keeps the
    real tokens' rows; ``flatten`` is refused where the mask marks padding, since it would compare padding positions,
    which are alike in any two models and add similarity that is not there."""
    if acts.ndim <= 2:
        return acts.reshape(len(acts), -1)
    if callable(view):
        pooled = view(acts, mask)
        if not isinstance(pooled, torch.Tensor) or pooled.ndim != 2 or len(pooled) != len(acts):
            raise ValueError(f"the pool function {view_name(view)} must return (N, features) = ({len(acts)}, …); "
                             f"got {type(pooled).__name__} of shape {tuple(getattr(pooled, 'shape', ()))}")
        return pooled
    check_view(view)
    if mask is not None and acts.ndim == 3:
        return _masked(acts, view, token_mask(mask, acts))
    if view == "flatten":
        return acts.reshape(len(acts), -1)
    if view == "positions":
        return positions_as_samples(acts) if acts.ndim == 4 else acts.reshape(-1, acts.shape[-1])
    if view == "mean":
        return acts.mean(dim=(2, 3)) if acts.ndim == 4 else acts.reshape(len(acts), -1, acts.shape[-1]).mean(1)
    if acts.ndim != 3:
        raise ValueError(f"view={view!r} reads token sequences (N, T, D); got outputs of shape {tuple(acts.shape)}")
    return acts[:, 0] if view == "first" else acts[:, -1]


def _masked(acts: torch.Tensor, view: str, real: torch.Tensor) -> torch.Tensor:
    """:func:`as_samples` of token outputs (N, T, D) with ``real`` (N, T) marking real tokens."""
    if view == "flatten":
        if bool(real.all()):  # no padding in this batch: every position is a real token
            return acts.reshape(len(acts), -1)
        raise ValueError("view='flatten' on token sequences with padding would compare padding positions, "
                         "which are alike in any two models: use view='mean' (the mean over real tokens), 'last', "
                         "'first' or 'positions' (real tokens only), or a pool function")
    if view == "positions":
        return acts[real]
    if view == "mean":
        weights = real.to(acts.dtype).unsqueeze(-1)
        return (acts * weights).sum(1) / weights.sum(1)
    rows = torch.arange(len(acts), device=acts.device)
    order = torch.arange(acts.shape[1], device=acts.device)
    index = torch.where(real, order, acts.shape[1]).min(1).values if view == "first" \
        else torch.where(real, order, -1).max(1).values
    return acts[rows, index]


def attention_mask(batch: Any) -> torch.Tensor | None:
    """The ``attention_mask`` of a probe batch given as a mapping (a tokenizer's output), else None."""
    return batch.get("attention_mask") if isinstance(batch, Mapping) else None
