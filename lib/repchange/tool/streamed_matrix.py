"""The layer × layer matrix of minibatch debiased CKA: memory independent of the probe size.

Per probe batch, each layer's centred Gram matrix (b × b) is built once; the batch adds its unbiased HSIC to
every layer pair's cross term and to each layer's own term (Nguyen et al. 2021's minibatch CKA, the same sums
as :class:`repchange.measure.metrics.MinibatchCKA` for each pair). A batch constant on one side counts exactly
(its centred Gram is zero). The batches must be a random draw of the probe (``probe_seed``).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import pandas as pd
import torch
from torch import nn

from repchange.measure.features import extraction_mode
from repchange.measure.cka import gram_parts, normalised_hsic
from repchange.measure.factors import UndefinedSimilarity
from repchange.measure.hsic import _unbiased_hsic_from_parts, hsic_floor
from repchange.tool.hooks import Layer, Selector, Tap
from repchange.tool.probes import Probe, batch_size_of, floating_dtype, to_device
from repchange.tool.readout import check_batch_first
from repchange.tool.views import Pool, as_samples, attention_mask

__all__ = ["MIN_BATCH", "batch_gram_parts", "streamed_matrix"]

MIN_BATCH = 4  # the unbiased HSIC needs 4 samples; a shorter last batch is left out


def batch_gram_parts(outputs: Mapping[str, torch.Tensor], view: str | Pool, mask: torch.Tensor | None,
                     side: str = "") -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Each layer's zero-diagonal centred Gram parts (:func:`repchange.measure.metrics.gram_parts`) of one probe batch:
    ``outputs`` maps a layer name to its activations (batch first), read in ``view`` with the token ``mask``
    (padded positions left out). NaN or infinite activations are an error naming the layer (and ``side``)."""
    parts = {}
    for name, out in outputs.items():
        x = as_samples(out.detach().float(), view, mask)
        if not torch.isfinite(x).all():
            of = f" of model {side}" if side else ""
            raise ValueError(f"layer {name!r}{of} produced NaN or infinite activations on the probe set")
        parts[name] = gram_parts(x, name)
    return parts


def streamed_matrix(model_a: nn.Module, model_b: nn.Module, reader: Probe, layers_a: list[Layer],
                    layers_b: list[Layer], *, select_a: Selector | Mapping[str, Selector] = None,
                    select_b: Selector | Mapping[str, Selector] = None, view_a: str | Pool = "flatten",
                    view_b: str | Pool = "flatten", bn: str = "eval", device: torch.device | None = None
                    ) -> pd.DataFrame:
    """Minibatch debiased CKA of every layer of A against every layer of B over ``reader``'s batches: columns
    layer_a, layer_b, metric ("cka_debiased"), alpha (NaN), value, higher_is_better, note (why undefined)."""
    device = device or next(model_a.parameters()).device
    tap_a, tap_b = Tap(model_a, layers_a, select_a), Tap(model_b, layers_b, select_b)
    cross = torch.zeros(len(layers_a), len(layers_b), dtype=torch.float64)
    own_a, own_b = torch.zeros(len(layers_a), dtype=torch.float64), torch.zeros(len(layers_b), dtype=torch.float64)
    floor_a, floor_b = torch.zeros_like(own_a), torch.zeros_like(own_b)
    samples = batches = 0
    dtype_a, dtype_b = floating_dtype(model_a), floating_dtype(model_b)
    with tap_a, tap_b, extraction_mode(model_a, bn), extraction_mode(model_b, bn):
        for x in reader.batches(model_a):
            size = batch_size_of(x)
            if size < MIN_BATCH:
                continue
            mask = attention_mask(x)
            outs_a = tap_a(model_a, to_device(x, device, dtype_a))
            outs_b = tap_b(model_b, to_device(x, device, dtype_b))
            for name, out in (*outs_a.items(), *outs_b.items()):
                check_batch_first(name, out, size, "the model")
            pa, pb = batch_gram_parts(outs_a, view_a, mask, "A"), batch_gram_parts(outs_b, view_b, mask, "B")
            for i, la in enumerate(layers_a):
                own_a[i] += float(_unbiased_hsic_from_parts(pa[la.name], pa[la.name]))
                floor_a[i] += hsic_floor(pa[la.name])
                for j, lb in enumerate(layers_b):
                    cross[i, j] += float(_unbiased_hsic_from_parts(pa[la.name], pb[lb.name]))
            for j, lb in enumerate(layers_b):
                own_b[j] += float(_unbiased_hsic_from_parts(pb[lb.name], pb[lb.name]))
                floor_b[j] += hsic_floor(pb[lb.name])
            samples += size
            batches += 1
    if not batches:
        raise ValueError(f"no probe batch of at least {MIN_BATCH} samples: raise batch_size")
    rows: list[dict[str, Any]] = []
    for i, la in enumerate(layers_a):
        for j, lb in enumerate(layers_b):
            try:
                value, note = normalised_hsic(cross[i, j], own_a[i], own_b[j], samples,
                                              f"minibatch CKA over {batches} batches", float(floor_a[i]),
                                              float(floor_b[j])), ""
            except UndefinedSimilarity as err:
                value, note = math.nan, str(err)
            rows.append(dict(layer_a=la.name, layer_b=lb.name, metric="cka_debiased", alpha=math.nan, value=value,
                             higher_is_better=True, note=note))
    return pd.DataFrame(rows)
