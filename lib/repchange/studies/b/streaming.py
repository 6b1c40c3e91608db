"""One Study B table's maps a few probe images at a time, on the run's device: memory bounded by a chunk, not the probe.

A distance table compares every probed layer of a fine-tuned net with its source on the probe images. Held whole,
both nets' maps grow with the probe: VGG19's five probed layers at 224 pixels are 24.5 MB of float32 an image and a
net, so 300 probe images held 15 GB of maps and, with their temporaries, a measured 67 GB a table. Everything a table
reads of them adds up over images: the per-filter distances are per image and filter, and PWSM reads each group's
moments, which sum over images (:class:`repchange.measure.position_moments.PairStream`). So a table reads its probe in
chunks (:func:`chunk_plan`), each net's maps of one chunk at a time, and its memory stays that of one chunk.

The chunk is the extraction batch wherever the maps depend on it: a net with BatchNorm extracted with batch statistics
(``bn="batch"``, the authors' code) normalises each batch by its own statistics, so its chunks are
:data:`EXTRACTION_BATCH` images, as the whole-probe extraction batched them, and its values are the same. Elsewhere
(VGG, or ``bn="eval"``) each image's maps are its own and a chunk holds :data:`CHUNK_BYTES` of both nets' maps. With
one chunk (the default book's small nets at 28 pixels) the source net's maps are kept and serve every checkpoint, and
every number is what the whole-probe code computed, to the bit; with several, the source net is run again per
checkpoint (a forward pass is cheap beside the metrics), the per-filter values are still the same to the bit and PWSM
agrees to about 1e-12 rad (another order of summation; tested).

On a run whose device has CUDA the maps stay there and the metrics run there (float64, as on the CPU).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import torch
from torch import nn

from repchange.base.memory import MEMORY_SHARE, available_bytes, gib
from repchange.data.datasets import Split
from repchange.measure.features import extract
from repchange.nets.probe_shapes import probe_shapes

__all__ = ["CHUNK_BYTES", "CHUNK_ENV", "EXTRACTION_BATCH", "ChunkPlan", "ProbeMaps", "chunk_bytes",
           "chunk_plan", "has_batch_norm", "map_bytes", "predicted_peak_bytes", "table_plan", "tables_at_once",
           "weight_bytes"]

EXTRACTION_BATCH = 500  # images per forward pass of measure.features.extract (its batch statistics, with bn="batch")
CHUNK_BYTES = 2**30  # float32 maps of both nets' probed layers held at once, where the chunk is free to choose
CHUNK_ENV = "REPCHANGE_TABLE_CHUNK_GB"  # another budget, in GiB (less memory a table; the values agree to ~1e-12)


def chunk_bytes() -> int:
    """The chunk budget: ``$REPCHANGE_TABLE_CHUNK_GB`` GiB, else :data:`CHUNK_BYTES`."""
    raw = os.environ.get(CHUNK_ENV, "")
    if not raw:
        return CHUNK_BYTES
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"{CHUNK_ENV} must be a positive number of GiB (e.g. 0.5), got {raw!r}")
    return int(value * 2**30)


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@dataclass(frozen=True)
class ChunkPlan:
    """How a table reads its ``n`` probe images: ``images`` per chunk, and why (``reason``)."""

    n: int
    images: int
    reason: str

    @property
    def slices(self) -> list[slice]:
        return [slice(i, min(i + self.images, self.n)) for i in range(0, self.n, self.images)]

    @property
    def whole(self) -> bool:
        """One chunk holds the whole probe (the source net's maps are then kept for every checkpoint)."""
        return self.images >= self.n


def chunk_plan(model: nn.Module, n: int, bytes_per_image: int, bn: str, *, budget: int | None = None) -> ChunkPlan:
    """The :class:`ChunkPlan` of ``n`` probe images whose maps take ``bytes_per_image`` (float32, one net, every
    probed layer): the extraction batch for a net with BatchNorm at ``bn="batch"``, else as many images as put
    ``budget`` bytes (default: :func:`chunk_bytes`) of both nets' maps in memory at once (at least one)."""
    if bn == "batch" and has_batch_norm(model):
        return ChunkPlan(n, min(n, EXTRACTION_BATCH), f"BatchNorm with batch statistics: the extraction batch "
                                                      f"({EXTRACTION_BATCH} images)")
    budget = chunk_bytes() if budget is None else budget
    images = max(1, budget // max(1, 2 * bytes_per_image))
    return ChunkPlan(n, min(n, images), f"{budget / 2**30:.2f} GiB of both nets' maps")


@functools.lru_cache(maxsize=None)
def _meta_net(arch: str, in_channels: int) -> nn.Module:
    from repchange.nets.architectures import build_architecture

    with torch.device("meta"):
        return build_architecture(arch, in_channels=in_channels, num_classes=2)


def table_plan(arch: str, n: int, image_size: int, in_channels: int, bn: str) -> ChunkPlan:
    """The :class:`ChunkPlan` of a table of ``arch`` on ``n`` probe images of ``in_channels`` × ``image_size`` px,
    read from the net's shapes alone (nothing computed): the same before a table is keyed and when it runs."""
    return chunk_plan(_meta_net(arch, in_channels), n, map_bytes(probe_shapes(arch, image_size, in_channels)), bn)


def tables_at_once(tables: list[tuple[str, str, ChunkPlan, int]], workers: int, device: torch.device) -> int:
    """How many of ``tables`` — (label, arch, plan, bytes per image) — may run side by side on ``device`` (at most
    ``workers``): the most whose largest :func:`predicted_peak_bytes` fit together in :data:`MEMORY_SHARE` of its
    free memory. Raises MemoryError, before any table starts, when not even the largest fits alone, naming what to
    lower."""
    if not tables:
        return max(1, workers)
    needs = sorted(((predicted_peak_bytes(plan, per_image, arch), label, plan) for label, arch, plan, per_image
                    in tables), key=lambda t: -t[0])
    have = available_bytes(device)
    at_once, total = 0, 0
    for need, _, _ in needs[:max(1, workers)]:
        if total + need > MEMORY_SHARE * have:
            break
        at_once, total = at_once + 1, total + need
    if at_once:
        return at_once
    need, label, plan = needs[0]
    lower = ("lower b_probe_size, or extract with extraction_bn 'eval' (then the chunk is free to choose)"
             if plan.reason.startswith("BatchNorm") else
             f"set {CHUNK_ENV} below {chunk_bytes() / 2**30:.2f} (GiB of both nets' maps a chunk)")
    raise MemoryError(f"Study B's distance table of {label} would need about {gib(need)} at its peak ({plan.images} "
                      f"probe images a chunk: {plan.reason}), and {gib(have)} is available on {device}: {lower}")


def map_bytes(shapes: dict[str, tuple[int, int, int]]) -> int:
    """Float32 bytes of one image's maps of layers of (C, H, W) ``shapes``."""
    return 4 * sum(math.prod(s) for s in shapes.values())


@functools.lru_cache(maxsize=None)
def weight_bytes(arch: str) -> int:
    """Float32 bytes of one ``arch`` net's weights (built on the meta device: nothing is allocated)."""
    return 4 * sum(p.numel() for p in _meta_net(arch, 3).parameters())


# Fitted to `make bench` [12] (VGG19 at 224 px, one thread, 2026-12-07): 2.71 GB at 5 images held whole, 3.74 GB at 10,
# 12.09 GB at 43: a process of about 0.55 GB before the nets, and about 5 bytes resident per byte of a chunk's maps of
# both nets (the maps, extraction's join of its batches, the forward's largest activations, float64 means)
PROCESS_BYTES = 55 * 10**7
MAPS_FACTOR = 5.0


def predicted_peak_bytes(plan: ChunkPlan, bytes_per_image: int, arch: str) -> int:
    """The resident memory one distance table of ``plan`` needs at its peak: the process, both nets' weights and
    :data:`MAPS_FACTOR` times a chunk's maps of both nets (``bytes_per_image`` each: :func:`map_bytes`), fitted
    to ``make bench`` part 12 (VGG19 at 224 px)."""
    return int(PROCESS_BYTES + 2 * weight_bytes(arch) + MAPS_FACTOR * 2 * bytes_per_image * plan.images)


class ProbeMaps:
    """One net's (k, C, H, W) float32 maps of its probed layers on the probe, chunk by chunk of ``plan``, on the
    model's device. With one chunk the maps are computed once and kept (:attr:`kept`)."""

    def __init__(self, model: nn.Module, probe: Split, plan: ChunkPlan, *, bn: str) -> None:
        self.model, self.probe, self.plan, self.bn = model, probe, plan, bn
        self.kept: dict[str, torch.Tensor] | None = None

    def chunk(self, part: slice) -> dict[str, torch.Tensor]:
        if self.kept is not None:
            return self.kept
        device = next(self.model.parameters()).device
        maps = extract(self.model, self.model.probe_layers, Split(self.probe.images[part], self.probe.labels[part]),
                       batch_size=EXTRACTION_BATCH, flatten=False, bn=self.bn)  # on the CPU
        if device.type != "cpu":  # back to the device for the metrics (one copy a chunk, beside their SVDs)
            maps = {layer: m.to(device) for layer, m in maps.items()}
        if self.plan.whole:
            self.kept = maps
        return maps

