"""Reading layers on a probe set and measuring layer pairs: what the Tracker and the layer matrix share.

:func:`layer_activations` runs a model over a :class:`~repchange.tool.probes.Probe` and keeps the chosen
layers' outputs; :func:`measure_rows` turns one layer pair into table rows (value, direction, why a
value is undefined, and the null and interval columns when asked); :func:`small_probe_warnings`
names the pairs where biased CKA cannot tell related from unrelated features at this n.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch import nn

from repchange.measure.features import extraction_mode
from repchange.measure.registry import ALPHA_METRICS, MEASURES, Sides, biased_cka_chance, evaluate
from repchange.measure.metrics import Factors, UndefinedSimilarity
from repchange.measure.resampling import RESAMPLED_COLUMNS, calibrate
from repchange.tool.hooks import Layer, Selector, Tap
from repchange.tool.probes import Probe, batch_size_of, floating_dtype, to_device
from repchange.tool.views import Pool, as_samples, attention_mask

__all__ = ["CHANCE_WARNING", "SmallProbeWarning", "check_batch_first", "factors_or_reason", "layer_view_shapes",
           "view_shapes", "layer_activations", "measure_rows",
           "small_probe_warnings"]

CHANCE_WARNING = 0.25  # biased CKA of independent features above this: warn that n is too small for the width


class SmallProbeWarning(UserWarning):
    """The probe set is small for the layer's width: biased CKA of unrelated features would be high."""


def layer_activations(model: nn.Module, probe: Probe, layers: list[Layer], *, select: Selector | Mapping[str, Selector]
                      = None, bn: str = "eval", device: torch.device | None = None, what: str | None = None,
                      view: str | Pool = "flatten") -> dict[str, torch.Tensor]:
    """Each layer's outputs on the whole probe, float32, in the probe's order; ``what`` names the model in errors
    (a NaN output, outputs that are not batch-first).

    Token sequences (N, T, D), and any output under a pool function, are turned into (samples, features) by
    ``view`` batch by batch, with the batch's ``attention_mask`` (:func:`repchange.tool.views.as_samples`): dynamically
    padded batches of different T concatenate, and padding never enters. Conv maps (N, C, H, W) are kept whole
    (filter Procrustes reads them); the view applies to them afterwards, with the same result."""
    what = what or type(model).__name__
    device = device or next(model.parameters()).device
    tap = Tap(model, layers, select)
    parts: dict[str, list[torch.Tensor]] = {l.name: [] for l in layers}
    dtype = floating_dtype(model)
    with tap, extraction_mode(model, bn):
        for x in probe.batches(model):
            x = to_device(x, device, dtype)
            size = batch_size_of(x)
            mask = attention_mask(x)
            for name, out in tap(model, x).items():
                check_batch_first(name, out, size, what)
                out = out.detach().float()
                if out.ndim == 3 or (callable(view) and out.ndim > 2):
                    out = as_samples(out, view, mask)
                parts[name].append(out.clone())
    acts = {name: _concatenated(name, p, what) for name, p in parts.items()}
    for name, a in acts.items():
        if not torch.isfinite(a).all():
            raise ValueError(f"layer {name!r} of {what} produced NaN or infinite activations on the probe set")
    return acts


def view_shapes(outputs: Mapping[str, torch.Tensor], view: str | Pool, mask: torch.Tensor | None = None
                ) -> dict[str, tuple[int, int]]:
    """Per layer, (rows per probe sample, features per row) of its outputs (a batch) in ``view``: rows are 1
    except with positions as samples (then the first sample's; a padded one's are fewer than the longest's)."""
    first = None if mask is None else mask[:1]
    return {name: tuple(as_samples(out[:1].float(), view, first if out.ndim == 3 else None).shape)
            for name, out in outputs.items()}


def layer_view_shapes(model: nn.Module, layers: list[Layer], first: Any, *, select: Selector | Mapping[str, Selector]
                      = None, bn: str = "eval", view: str | Pool = "flatten") -> dict[str, tuple[int, int]]:
    """:func:`view_shapes` of ``layers`` of ``model`` on the example batch ``first`` (on the model's device)."""
    tap = Tap(model, layers, select)
    with tap, extraction_mode(model, bn):
        return view_shapes(tap(model, first), view, attention_mask(first))


def check_batch_first(name: str, out: torch.Tensor, size: int, what: str) -> None:
    """Raise ValueError unless layer ``name``'s output ``out`` has the batch's ``size`` samples on its first axis."""
    if out.ndim == 0 or out.shape[0] != size:
        raise ValueError(f"layer {name!r} of {what} gives outputs of shape {tuple(out.shape)} for a batch of {size}: "
                         f"outputs must be batch-first (sequences as (N, T, D); e.g. "
                         f"nn.TransformerEncoder(..., batch_first=True))")


def _concatenated(name: str, parts: list[torch.Tensor], what: str) -> torch.Tensor:
    """The batches of one layer joined along samples; batches of different shapes (variable-length conv inputs,
    sequences under ``view='flatten'``) are named."""
    shapes = sorted({tuple(p.shape[1:]) for p in parts})
    if len(shapes) > 1:
        raise ValueError(f"layer {name!r} of {what} gives outputs of different shapes across probe batches {shapes[:3]}: "
                         f"for token sequences of different lengths choose a pooled view (view='mean', 'last', "
                         f"'first') or a pool function; for images, give the probe one image size")
    return torch.cat(parts)


def small_probe_warnings(n: int, widths_a: Mapping[str, int], widths_b: Mapping[str, int],
                         pairs: Sequence[tuple[str, str]], metrics: Sequence[str]) -> list[str]:
    """One line per layer pair where biased CKA of independent features of these widths on n samples
    (:func:`repchange.measure.registry.biased_cka_chance`) exceeds :data:`CHANCE_WARNING`."""
    if "cka" not in metrics:
        return []
    lines = []
    for a, b in pairs:
        chance = biased_cka_chance(n, widths_a[a], widths_b[b])
        if chance > CHANCE_WARNING:
            lines.append(f"{a if a == b else f'{a} vs {b}'} (widths {widths_a[a]}, {widths_b[b]}: {chance:.2f})")
    if len(lines) > 3:
        lines = lines[:2] + [f"and {len(lines) - 2} more pairs"]
    if lines:
        lines[-1] += (f". Biased CKA between independent iid features of such widths on n = {n} samples is about "
                      f"the number given, so a value near it may say nothing; a permutation null (null=...) shows "
                      f"what these layers give unrelated, or use cka_debiased, a pooled view (view='mean') or "
                      f"more probe samples")
    return lines


def factors_or_reason(x: torch.Tensor, name: str) -> Factors | str:
    """The factors of (samples, features) ``x``, or why every measure of it is undefined (constant)."""
    try:
        return Factors(x, name)
    except UndefinedSimilarity as err:
        return str(err)


def measure_rows(acts_a: torch.Tensor, acts_b: torch.Tensor, fa: Factors | str, fb: Factors | str,
                 metrics: Sequence[str], alphas: Sequence[float], *, k: int = 10, sigma: float = 1.0,
                 null: int = 0, null_metrics: Sequence[str] | None = None, bootstrap: int = 0,
                 confidence: float = 0.95, seed: int = 0) -> Iterator[dict[str, Any]]:
    """The rows (metric, alpha, value, higher_is_better, note and, when asked, the null and interval
    columns) of every metric between one layer pair: activations as extracted (for per-filter
    maps) and their factors in the chosen view (rows = the same probe samples on both sides), or the
    reason a side is undefined (:func:`factors_or_reason`). ``null_metrics`` (None: all) are the metrics
    that get the ``null`` shuffles; the others' null columns are NaN."""
    undefined = next((side for side in (fa, fb) if isinstance(side, str)), None)
    for metric in metrics:
        for alpha in (alphas if metric in ALPHA_METRICS else (math.nan,)):
            if undefined is not None:
                row = dict(metric=metric, alpha=alpha, value=math.nan,
                           higher_is_better=MEASURES[metric].higher_is_better, note=undefined)
                yield row | ({c: math.nan for c in RESAMPLED_COLUMNS} if null or bootstrap else {})
                continue
            sides = Sides(fa, fb, acts_a if metric == "filter_procrustes" else None,
                          acts_b if metric == "filter_procrustes" else None, alpha, k, sigma)
            value, note = evaluate(metric, sides)
            row: dict[str, Any] = dict(metric=metric, alpha=alpha, value=value,
                                       higher_is_better=MEASURES[metric].higher_is_better, note=note)
            if null or bootstrap:
                shuffles = null if null_metrics is None or metric in null_metrics else 0
                cal = calibrate(metric, sides, value, permutations=shuffles, bootstrap=bootstrap,
                                confidence=confidence, seed=seed)
                row.update(cal.columns())
                row["note"] = "; ".join(x for x in (note, cal.note) if x)
            yield row
