"""One Study B table's maps a few probe images at a time, on the run's device: memory bounded by a chunk, not the probe.

A distance table compares every probed layer of a fine-tuned net with its source on the probe images. Held whole,
both nets' maps grow with the probe: VGG19's five probed layers at 224 pixels are 24.5 MB of float32 an image and a
net, so 300 probe images held 15 GB of maps and, with their temporaries, about 67 GB a table. Everything a table
reads of them adds up over images: the per-filter distances are per image and filter, and PWSM reads each group's
moments, which sum over images (:class:`repchange.measure.position_moments.PairStream`). So a table reads its probe in
chunks (:func:`chunk_plan`) of :data:`CHUNK_BYTES` of both nets' maps, and its memory stays that of one chunk (VGG19
at 300 probe images: 6.7 GB measured, ``make bench`` [12]).

A forward pass is the extraction batch wherever the maps depend on it: a net with BatchNorm extracted with batch
statistics (``bn="batch"``, the authors' code) normalises each pass by its own statistics, so it still runs its
passes over :data:`EXTRACTION_BATCH` images, as the whole-probe extraction batched them, and writes each pass's maps
to a temporary file as they come; its chunks are read back from there (the very maps). Elsewhere (VGG, or
``bn="eval"``) each image's maps are its own and each chunk is its own pass. With one chunk (the default book's small
nets at 28 pixels) the source net's maps are kept and serve every checkpoint, and every number is what the
whole-probe code computed, to the bit; with several, the source net is run again per checkpoint (a forward pass is
cheap beside the metrics), the per-filter values are still the same to the bit and PWSM agrees to about 1e-12 rad
(another order of summation; tested).

On a run whose device has CUDA the nets run there and the metrics too (float64, as on the CPU).
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import torch
from torch import nn

from repchange.base.memory import MEMORY_SHARE, available_bytes, gib
from repchange.data.datasets import Split, normalise
from repchange.measure.features import extract, extraction_mode
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
    """How a table reads its ``n`` probe images: ``images`` per chunk, ``batch`` images per forward pass (the
    extraction batch; a chunk never crosses one), and why (``reason``). Where a chunk is smaller than its batch
    (:attr:`spilled`), each batch's maps are written to a temporary file as the forward pass makes them and read
    back a chunk at a time."""

    n: int
    images: int
    reason: str
    batch: int = 0  # 0: each chunk is its own forward pass

    @property
    def slices(self) -> list[slice]:
        batch = self.batch or self.images
        return [slice(i, min(i + self.images, b + batch, self.n)) for b in range(0, self.n, batch)
                for i in range(b, min(b + batch, self.n), self.images)]

    @property
    def whole(self) -> bool:
        """One chunk holds the whole probe (the source net's maps are then kept for every checkpoint)."""
        return self.images >= self.n

    @property
    def spilled(self) -> bool:
        return bool(self.batch) and self.images < min(self.batch, self.n)


def chunk_plan(model: nn.Module, n: int, bytes_per_image: int, bn: str, *, budget: int | None = None) -> ChunkPlan:
    """The :class:`ChunkPlan` of ``n`` probe images whose maps take ``bytes_per_image`` (float32, one net, every
    probed layer): chunks of as many images as put ``budget`` bytes (default: :func:`chunk_bytes`) of both nets'
    maps in memory at once (at least one). A net with BatchNorm at ``bn="batch"`` normalises each forward pass by its
    own statistics: its forward passes stay the extraction batches (:data:`EXTRACTION_BATCH` images), and a chunk
    smaller than its batch is read back from the batch's spilled maps (the same maps, to the bit)."""
    budget = chunk_bytes() if budget is None else budget
    images = min(n, max(1, budget // max(1, 2 * bytes_per_image)))
    reason = f"{budget / 2**30:.2f} GiB of both nets' maps"
    if bn == "batch" and has_batch_norm(model):
        batch = min(n, EXTRACTION_BATCH)
        return ChunkPlan(n, min(images, batch), f"{reason}, from forward passes of {batch} images (BatchNorm with "
                                                f"batch statistics: the extraction batch)", batch)
    return ChunkPlan(n, images, reason)


@functools.lru_cache(maxsize=None)
def _meta_net(arch: str, in_channels: int) -> nn.Module:
    from repchange.nets.architectures import build_architecture

    with torch.device("meta"):
        return build_architecture(arch, in_channels=in_channels, num_classes=2)


def table_plan(arch: str, n: int, image_size: int, in_channels: int, bn: str) -> ChunkPlan:
    """The :class:`ChunkPlan` of a table of ``arch`` on ``n`` probe images of ``in_channels`` × ``image_size`` px,
    read from the net's shapes alone (nothing computed): the same before a table is keyed and when it runs."""
    return chunk_plan(_meta_net(arch, in_channels), n, map_bytes(probe_shapes(arch, image_size, in_channels)), bn)


def tables_at_once(tables: list[tuple[str, str, ChunkPlan, dict[str, tuple[int, int, int]]]], workers: int,
                   device: torch.device) -> int:
    """How many of ``tables`` — (label, arch, plan, the probed maps' (C, H, W) shapes) — may run side by side on ``device`` (at most
    ``workers``): the most whose largest :func:`predicted_peak_bytes` fit together in :data:`MEMORY_SHARE` of its
    free memory. Raises MemoryError, before any table starts, when not even the largest fits alone, naming what to
    lower."""
    if not tables:
        return max(1, workers)
    needs = sorted(((predicted_peak_bytes(plan, shapes, arch), label, plan) for label, arch, plan, shapes in tables),
                   key=lambda t: -t[0])
    have = available_bytes(device)
    at_once, total = 0, 0
    for need, _, _ in needs[:max(1, workers)]:
        if total + need > MEMORY_SHARE * have:
            break
        at_once, total = at_once + 1, total + need
    if at_once:
        return at_once
    need, label, plan = needs[0]
    lower = f"set {CHUNK_ENV} below {chunk_bytes() / 2**30:.2f} (GiB of both nets' maps a chunk)"
    if plan.batch:
        lower += ", lower b_probe_size, or extract with extraction_bn 'eval' (no forward pass of a whole batch)"
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
FORWARD_FACTOR = 4.0  # a spilled batch's forward pass: resident bytes per byte of its largest probed map (bench [12])


def predicted_peak_bytes(plan: ChunkPlan, shapes: dict[str, tuple[int, int, int]], arch: str) -> int:
    """The resident memory one distance table of ``plan`` needs at its peak: the process, both nets' weights and
    :data:`MAPS_FACTOR` times a chunk's maps of both nets (of the probed (C, H, W) ``shapes``: :func:`map_bytes` an
    image), and for a spilled plan :data:`FORWARD_FACTOR` times a whole batch's largest map; fitted to ``make bench``
    part 12 (VGG19, ResNet50 and DenseNet121 at 224 px)."""
    need = PROCESS_BYTES + 2 * weight_bytes(arch) + MAPS_FACTOR * 2 * map_bytes(shapes) * plan.images
    if plan.spilled:  # one net's forward pass of a whole batch (its largest map), its maps going to disk as they come
        need += FORWARD_FACTOR * 4 * max(math.prod(s) for s in shapes.values()) * plan.batch
    return int(need)


class ProbeMaps:
    """One net's (k, C, H, W) float32 maps of its probed layers on the probe, chunk by chunk of ``plan``, on the
    model's device. With one chunk the maps are computed once and kept (:attr:`kept`); with a spilled plan each
    forward pass's maps go to a temporary file as they are made (in ``$TMPDIR``) and each chunk is read back."""

    def __init__(self, model: nn.Module, probe: Split, plan: ChunkPlan, *, bn: str) -> None:
        self.model, self.probe, self.plan, self.bn = model, probe, plan, bn
        self.kept: dict[str, torch.Tensor] | None = None
        self._spill: _Spill | None = None

    def chunk(self, part: slice) -> dict[str, torch.Tensor]:
        if self.kept is not None:
            return self.kept
        device = next(self.model.parameters()).device
        if self.plan.spilled:
            start = part.start - part.start % self.plan.batch
            if self._spill is None or self._spill.start != start:
                self._spill = None  # the previous batch's files go first
                self._spill = _Spill(self.model, self.probe, slice(start, min(start + self.plan.batch, self.plan.n)),
                                     self.bn)
            maps = self._spill.read(part)
        else:
            maps = extract(self.model, self.model.probe_layers, Split(self.probe.images[part], self.probe.labels[part]),
                           batch_size=EXTRACTION_BATCH, flatten=False, bn=self.bn)  # on the CPU
        if device.type != "cpu":  # back to the device for the metrics (one copy a chunk, beside their SVDs)
            maps = {layer: m.to(device) for layer, m in maps.items()}
        if self.plan.whole:
            self.kept = maps
        return maps


class _Spill:
    """The probed maps of one forward pass over the probe images ``batch``, each layer written to its own file as
    the pass makes it (float32, images first), read back a few images at a time; the files go with the object."""

    def __init__(self, model: nn.Module, probe: Split, batch: slice, bn: str) -> None:
        self.start = batch.start
        self.folder = Path(tempfile.mkdtemp(prefix="repchange-maps-"))
        weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)
        self.shapes: dict[str, tuple[int, ...]] = {}
        names = list(model.probe_layers)
        self.files = {name: self.folder / f"{i}.f32" for i, name in enumerate(names)}

        def hook(name: str):
            def write(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
                out = output.detach().float().cpu().contiguous()
                if not torch.isfinite(out).all():
                    raise ValueError(f"layer {name!r} produced NaN or infinite activations on the probe set")
                self.shapes[name] = tuple(out.shape[1:])
                out.numpy().tofile(self.files[name])
            return write

        handles = [model.probe_layers[name].register_forward_hook(hook(name)) for name in names]
        device = next(model.parameters()).device
        try:
            with extraction_mode(model, bn):
                model(normalise(probe.images[batch], getattr(model, "input_stats", None)).to(device))
        finally:
            for handle in handles:
                handle.remove()

    def read(self, part: slice) -> dict[str, torch.Tensor]:
        """The (k, C, H, W) maps of probe images ``part`` (within this batch), fresh CPU tensors."""
        out = {}
        for name, path in self.files.items():
            per_image = math.prod(self.shapes[name])
            rows = np.fromfile(path, dtype=np.float32, count=(part.stop - part.start) * per_image,
                               offset=4 * per_image * (part.start - self.start))
            out[name] = torch.from_numpy(rows).reshape(-1, *self.shapes[name])
        return out
