"""Per-filter metrics over bounded memory: the same numbers, a few maps at a time.

:func:`repchange.measure.metrics.filter_procrustes_similarity`, ``filter_cka`` and ``filter_pwsm`` are
vectorised over the leading axes of (..., H, W) maps and make float64 copies, centred copies and a
cross product of the whole stack at once: about six float64 copies of the input. On the paper's nets at
224 pixels that is gigabytes per layer (VGG19's conv1_2 on 30 probe images: 4.3 GB resident for 0.8 GB
of float32 maps), and freeing such blocks returns them to the kernel, so every call pays its page faults
again (a third of the time went to the kernel). Here each metric runs on consecutive chunks of the
flattened leading axes, at most :data:`CHUNK_ELEMENTS` map elements each (at least one map): the
temporaries stay near 50 MiB, the allocator keeps reusing them, and every map is scored by the very same
operations as in one batch, so the values are identical to the bit (each map's SVD, eigendecomposition
and norms never see another map).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from repchange.measure.metrics import FilterWhitened, filter_cka, filter_procrustes_similarity, filter_pwsm

__all__ = ["CHUNK_ELEMENTS", "ChunkedWhitened", "chunk_slices", "cka", "procrustes_similarity", "pwsm"]

CHUNK_ELEMENTS = 2**20  # map elements per chunk: 8 MiB per float64 copy, about six copies live at once


def chunk_slices(shape: torch.Size | tuple[int, ...], elements: int = CHUNK_ELEMENTS) -> list[slice]:
    """Consecutive slices of the flattened leading axes of (..., H, W) maps of ``shape``, each covering at
    most ``elements`` map elements and at least one map."""
    if len(shape) < 2:
        raise ValueError(f"maps must have shape (..., H, W), got {tuple(shape)}")
    count, per_map = math.prod(shape[:-2]), shape[-2] * shape[-1]
    step = max(1, elements // max(per_map, 1))
    return [slice(i, min(i + step, count)) for i in range(0, count, step)]


def _flat(maps: torch.Tensor) -> torch.Tensor:
    maps = torch.as_tensor(maps)
    return maps.reshape(-1, *maps.shape[-2:])


class ChunkedWhitened:
    """One side of :func:`pwsm` whitened once, chunk by chunk (:class:`FilterWhitened` per chunk of
    :func:`chunk_slices`): a source net meets every checkpoint. Holds one float64 copy of the maps."""

    def __init__(self, maps: torch.Tensor, *, alpha: float, centre: str = "rows",
                 elements: int = CHUNK_ELEMENTS) -> None:
        maps = torch.as_tensor(maps)
        self.shape, self.alpha, self.centre, self.elements = tuple(maps.shape), alpha, centre, elements
        flat = _flat(maps)
        self.chunks = [FilterWhitened(flat[s], alpha=alpha, centre=centre) for s in chunk_slices(self.shape, elements)]


def _chunked(metric: Callable[..., torch.Tensor], a: torch.Tensor | ChunkedWhitened, b: torch.Tensor,
             elements: int, **kwargs: object) -> torch.Tensor:
    """``metric`` of (..., H, W) maps ``a`` and ``b``, chunk by chunk; a tensor of the leading shape."""
    b = torch.as_tensor(b)
    shape = a.shape if isinstance(a, ChunkedWhitened) else tuple(torch.as_tensor(a).shape)
    if tuple(b.shape) != tuple(shape) or len(shape) < 2:
        raise ValueError(f"maps must have the same shape (..., H, W): got {tuple(shape)} and {tuple(b.shape)}")
    if isinstance(a, ChunkedWhitened):
        if a.elements != elements:
            raise ValueError(f"a ChunkedWhitened of {a.elements} elements per chunk used with chunks of {elements}")
        sides = zip(a.chunks, (_flat(b)[s] for s in chunk_slices(shape, elements)))
    else:
        flat_a, flat_b = _flat(a), _flat(b)
        sides = ((flat_a[s], flat_b[s]) for s in chunk_slices(shape, elements))
    return torch.cat([metric(x, y, **kwargs) for x, y in sides]).reshape(shape[:-2])


def procrustes_similarity(a: torch.Tensor, b: torch.Tensor, *, centre: str = "rows",
                          elements: int = CHUNK_ELEMENTS) -> torch.Tensor:
    """:func:`repchange.measure.metrics.filter_procrustes_similarity` of (..., H, W) maps in chunks: float64 of the
    leading shape, in [0, 1], NaN for dead maps."""
    return _chunked(filter_procrustes_similarity, a, b, elements, centre=centre)


def cka(a: torch.Tensor, b: torch.Tensor, *, centre: str = "rows", elements: int = CHUNK_ELEMENTS) -> torch.Tensor:
    """:func:`repchange.measure.metrics.filter_cka` of (..., H, W) maps in chunks: float64 of the leading shape."""
    return _chunked(filter_cka, a, b, elements, centre=centre)


def pwsm(a: torch.Tensor | ChunkedWhitened, b: torch.Tensor, *, alpha: float, centre: str = "rows",
         elements: int = CHUNK_ELEMENTS) -> torch.Tensor:
    """:func:`repchange.measure.metrics.filter_pwsm` of (..., H, W) maps in chunks, radians in [0, π/2]; ``a`` may be a
    :class:`ChunkedWhitened` of the same ``alpha``, ``centre`` and chunking (checked by ``filter_pwsm``)."""
    return _chunked(filter_pwsm, a, b, elements, alpha=alpha, centre=centre)
