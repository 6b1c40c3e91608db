"""The probe set: the fixed samples every measurement sees, in one seeded order, in batches.

A probe is an input tensor (n, ...), a mapping of tensors that share their first axis (keyword
inputs, e.g. ``{"input_ids": ..., "attention_mask": ...}``), a torch ``Dataset`` or ``DataLoader``
(not shuffled; an item is an input, an ``(input, target)`` pair or a mapping of keyword inputs), or a
repchange ``Split`` (uint8 images, normalised with each model's ``input_stats`` when present).

**One seeded permutation before batching.** Probe sets are often stored sorted by class (an
ImageFolder is read class by class). Exact metrics do not care about the order, but streamed
(minibatch) CKA averages HSIC over batches: on a sorted probe each batch holds one or two classes,
and the average is a different quantity from CKA on the whole probe. Every probe is therefore read
in the order of one permutation drawn from ``seed`` (``seed=None`` keeps the given order, and a
streamed measurement refuses it). An iterable dataset cannot be permuted: it is read as it comes,
and streaming refuses it.

**The same samples on every pass.** Every measurement pairs the reference's row i with the model's row i, so each
pass over the probe must yield the same inputs in the same order. A tensor, mapping or Split does by construction; a
Dataset or DataLoader may not (an iterable dataset that shuffles or interleaves its workers, random transforms). Each
complete pass over such a probe is fingerprinted (a hash of its input bytes, in order: the inputs are their own
sample ids) and a pass that differs from the first is refused with :class:`ProbeOrderError`, before its rows are
compared with anything.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator, Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler

from repchange.data.datasets import Split, normalise

__all__ = ["Batch", "Probe", "ProbeOrderError", "batch_size_of", "floating_dtype", "to_device"]


class ProbeOrderError(ValueError):
    """A pass over the probe yielded other inputs, or another order, than its first pass."""

Batch = torch.Tensor | dict[str, torch.Tensor]


def floating_dtype(model: torch.nn.Module) -> torch.dtype | None:
    """The dtype of ``model``'s first floating-point parameter (bf16, fp16, float32, ...); None without one."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), None)


def to_device(batch: Batch, device: torch.device, dtype: torch.dtype | None = None) -> Batch:
    """``batch`` on ``device``; with ``dtype`` (the model's, :func:`floating_dtype`) its floating-point tensors
    cast to it, so a float32 probe feeds a bf16 or fp16 model. Integer tensors (token ids, attention masks) keep
    their dtype."""
    def move(v: torch.Tensor) -> torch.Tensor:
        if dtype is not None and v.is_floating_point() and v.dtype != dtype:
            return v.to(device=device, dtype=dtype)
        return v.to(device)

    if isinstance(batch, Mapping):
        return {k: move(v) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    return move(batch)


def batch_size_of(batch: Batch) -> int:
    """The number of samples in a batch (the first axis of its tensors)."""
    if isinstance(batch, Mapping):
        sizes = {len(v) for v in batch.values() if isinstance(v, torch.Tensor)}
        if len(sizes) != 1:
            raise ValueError(f"the keyword inputs of a probe batch must share their first axis; got sizes "
                             f"{ {k: tuple(v.shape) for k, v in batch.items() if isinstance(v, torch.Tensor)} }")
        return sizes.pop()
    return len(batch)


def _fingerprint(digest: Any, inputs: Batch) -> None:
    """Feed ``inputs``' bytes (each keyword's name first) into ``digest``: a pass's samples, in order."""
    for name, tensor in (sorted(inputs.items()) if isinstance(inputs, Mapping) else [("", inputs)]):
        digest.update(name.encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")


def _slice(inputs: Batch, rows: torch.Tensor) -> Batch:
    if isinstance(inputs, Mapping):
        return {k: v[rows] for k, v in inputs.items()}
    return inputs[rows]


def _item_input(batch: Any) -> Batch:
    if isinstance(batch, (tuple, list)):
        batch = batch[0]
    if isinstance(batch, Mapping):
        tensors = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
        if not tensors:
            raise ValueError("the probe yields mappings without tensors; it must yield keyword inputs as tensors")
        return tensors
    if not isinstance(batch, torch.Tensor):
        raise ValueError(f"the probe yields {type(batch).__name__}; it must yield input tensors, (inputs, targets) "
                         f"pairs or mappings of keyword inputs")
    return batch


class Probe:
    """``probe`` (see the module docstring) read in batches of ``batch_size`` in the order of one
    permutation drawn from ``seed``. ``n``: the number of samples (None for an iterable dataset of
    unknown length); ``permuted``: whether the order was permuted."""

    def __init__(self, probe: Any, batch_size: int = 256, seed: int | None = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size, self.seed = batch_size, seed
        self._split: Split | None = None
        self._tensors: Batch | None = None
        self._loader: DataLoader | None = None
        self._loader_permuted = False
        if isinstance(probe, Split):
            self._split, self.n = probe, len(probe)
        elif isinstance(probe, torch.Tensor):
            if probe.ndim < 2:
                raise ValueError(f"a probe tensor holds one input per row, got shape {tuple(probe.shape)}")
            self._tensors, self.n = probe, len(probe)
        elif isinstance(probe, Mapping):
            tensors = {k: v for k, v in probe.items()}
            bad = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor)]
            if bad or not tensors:
                raise ValueError(f"a probe mapping holds keyword inputs as tensors; {bad or 'nothing'} is not")
            self._tensors, self.n = tensors, batch_size_of(tensors)
        elif isinstance(probe, (Dataset, DataLoader)):
            self._loader, self.n = self._permuted_loader(probe), None
            dataset = self._loader.dataset
            if not isinstance(dataset, IterableDataset) and hasattr(dataset, "__len__"):
                self.n = len(dataset)  # type: ignore[arg-type]
        else:
            raise ValueError(f"probe must be a tensor, a mapping of keyword-input tensors, a torch Dataset, a "
                             f"DataLoader or a repchange Split, got {type(probe).__name__}")
        if self.n == 0:
            raise ValueError("the probe set is empty")
        self.permuted = seed is not None and (self._loader is None or self._loader_permuted)
        self._order = (torch.randperm(self.n, generator=torch.Generator().manual_seed(seed))
                       if self.permuted and self._loader is None else None)

    def _permuted_loader(self, probe: Dataset | DataLoader) -> DataLoader:
        loader = probe if isinstance(probe, DataLoader) else DataLoader(probe, batch_size=self.batch_size)
        if isinstance(loader.sampler, RandomSampler):
            raise ValueError("the probe DataLoader shuffles; every update must see the same samples in the same "
                             "order: build it with shuffle=False (repchange permutes it once, from seed)")
        dataset = loader.dataset
        if isinstance(dataset, IterableDataset) or self.seed is None or not hasattr(dataset, "__len__"):
            return loader  # read as it comes: `permuted` says so, and streaming refuses it
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(self.seed)).tolist()  # type: ignore[arg-type]
        self._loader_permuted = True
        return DataLoader(dataset, batch_size=loader.batch_size or self.batch_size, sampler=order,
                          collate_fn=loader.collate_fn, num_workers=loader.num_workers, pin_memory=loader.pin_memory)

    def batches(self, model: nn.Module | None = None) -> Iterator[Batch]:
        """The probe's input batches in its fixed order; a Split is normalised with ``model.input_stats``."""
        if self._loader is not None:
            digest, rows = hashlib.blake2b(digest_size=16), 0
            for batch in self._loader:
                inputs = _item_input(batch)
                _fingerprint(digest, inputs)
                rows += batch_size_of(inputs)
                yield inputs
            self._check_pass(digest.hexdigest(), rows)
            return
        rows = self._order if self._order is not None else torch.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            chunk = rows[start : start + self.batch_size]
            if self._split is not None:
                yield normalise(self._split.images[chunk], getattr(model, "input_stats", None))
            else:
                yield _slice(self._tensors, chunk)  # type: ignore[arg-type]

    def _check_pass(self, fingerprint: str, rows: int) -> None:
        """Keep the first complete pass's fingerprint; refuse a later pass with another."""
        first = getattr(self, "_first_pass", None)
        if first is None:
            self._first_pass = (fingerprint, rows)
        elif first != (fingerprint, rows):
            raise ProbeOrderError(
                f"the probe yielded other inputs on this pass than on its first ({rows} rows against {first[1]}, "
                f"or the same count in another order or with other values): the measures pair each reference "
                f"row with the same row of the model, so every pass must yield the same samples in the same order. "
                f"An iterable dataset that shuffles or reads with several workers, or random transforms, change it "
                f"from pass to pass: build the probe without them, or read it once into a tensor and pass that")

    def first(self, model: nn.Module | None = None, rows: int | None = None) -> Batch:
        """The first batch, or its first ``rows`` samples (an example input for finding layers)."""
        batch = next(iter(self.batches(model)), None)
        if batch is None:
            raise ValueError("the probe set is empty")
        if rows is not None:
            batch = {k: v[:rows] for k, v in batch.items()} if isinstance(batch, Mapping) else batch[:rows]
        return batch

    def labels(self) -> torch.Tensor | None:
        """A Split's labels in the probe's order (None for other probes)."""
        if self._split is None:
            return None
        return self._split.labels[self._order] if self._order is not None else self._split.labels

