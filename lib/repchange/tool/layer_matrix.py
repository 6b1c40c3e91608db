"""Any two models, every layer against every layer: a similarity matrix on one probe set::

    table = layer_matrix(resnet, vit, probe, layers_a="stages", layers_b="encoder.layers.*",
                         metrics=("cka_debiased",), view_b="first")
    best_matches(table)          # each layer's best-matching layer on the other side
    plot_matrix(table)           # the heatmap

The two models may differ in architecture, width and output shapes (conv maps against token
sequences); each side's outputs become (probe samples, features) by its own ``view`` (see
:func:`repchange.tool.views.as_samples`). Each layer is factorised once (one centring, one Gram
matrix): n_a + n_b factorisations serve all n_a × n_b pairs. ``model_b`` may be ``model_a`` (a
model's layers against each other). Columns: layer_a, layer_b, metric, alpha, value,
higher_is_better, note (and the null and interval columns with ``null`` / ``bootstrap``).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, Sequence

import pandas as pd
from torch import nn

from repchange.measure.registry import MEASURES
from repchange.measure.metrics import Factors
from repchange.tool.hooks import Selector, resolve_layers
from repchange.tool.probes import Probe, floating_dtype, to_device
from repchange.tool.memory import check_fits, predicted_peak
from repchange.tool.readout import (SmallProbeWarning, factors_or_reason, layer_activations, layer_view_shapes, measure_rows,
                               small_probe_warnings)
from repchange.tool.multiplicity import adjusted
from repchange.tool.request import Request
from repchange.tool.streamed_matrix import streamed_matrix
from repchange.tool.views import Pool, as_samples

__all__ = ["best_matches", "layer_matrix", "measure_pairs", "plot_matrix"]

EXAMPLE_ROWS = 4  # samples of the first batch that find the layers (a forward pass of shapes only)


def layer_matrix(model_a: nn.Module, model_b: nn.Module, probe: Any, *, layers_a: str | Sequence[str] | None = "stages",
                 layers_b: str | Sequence[str] | None = "stages", metrics: Sequence[str] = ("cka_debiased",),
                 alphas: Sequence[float] = (), view_a: str | Pool = "flatten", view_b: str | Pool | None = None,
                 select_a: Selector | Mapping[str, Selector] = None, select_b: Selector | Mapping[str, Selector] = None,
                 bn: str = "eval", batch_size: int = 256, probe_seed: int | None = 0, null: int = 0,
                 bootstrap: int = 0, confidence: float = 0.95, k: int = 10, sigma: float = 1.0,
                 p_adjust: str | None = "bh", streaming: bool = False) -> pd.DataFrame:
    """Every layer of ``model_a`` against every layer of ``model_b`` on ``probe`` (see the module
    docstring; ``view_b`` defaults to ``view_a``). Every input is checked before any activation. With a null,
    ``p_adjust`` adds each p-value adjusted over the matrix's layer pairs × metrics
    (:func:`repchange.tool.multiplicity.adjusted`; None: not added). ``streaming``: minibatch debiased CKA of every
    pair over the probe's batches, memory independent of the probe size (:mod:`repchange.tool.streamed_matrix`;
    metrics ``("cka_debiased",)`` only, no null or bootstrap)."""
    request = Request(metrics=tuple(metrics), alphas=tuple(alphas), view=view_a, view_b=view_b, bn=bn, null=null,
                      bootstrap=bootstrap, confidence=confidence, streaming=streaming, batch_size=batch_size, k=k,
                      sigma=sigma, p_adjust=p_adjust)
    return measure_pairs(model_a, model_b, probe, request, layers_a=layers_a, layers_b=layers_b, select_a=select_a,
                         select_b=select_b, probe_seed=probe_seed)


def measure_pairs(model_a: nn.Module, model_b: nn.Module, probe: Any, request: Request, *,
                  layers_a: str | Sequence[str] | None = "stages", layers_b: str | Sequence[str] | None = "stages",
                  select_a: Selector | Mapping[str, Selector] = None, select_b: Selector | Mapping[str, Selector] = None,
                  probe_seed: int | None = 0, matched: bool = False) -> pd.DataFrame:
    """The rows of a checked ``request`` between layers of ``model_a`` and ``model_b`` on ``probe``: every layer
    pair (the matrix), or, ``matched``, layer i of A against layer i of B (a model against its own other self: the
    per-filter measure and the ``positions`` view are defined there). Columns as :func:`layer_matrix`; p-values
    adjusted over the rows' layer pairs × metrics."""
    if not matched:
        request.check_between_layers()
    view_a, view_b = request.view, request.side_b_view
    device = next(model_a.parameters()).device
    if next(model_b.parameters()).device != device:
        raise ValueError("model_a and model_b lie on different devices; move one with .to(device) first")
    reader = Probe(probe, request.batch_size, probe_seed)
    first_a = to_device(reader.first(model_a, EXAMPLE_ROWS), device, floating_dtype(model_a))
    first_b = to_device(reader.first(model_b, EXAMPLE_ROWS), device, floating_dtype(model_b))
    resolved_a, resolved_b = resolve_layers(model_a, layers_a, first_a), resolve_layers(model_b, layers_b, first_b)
    if matched and len(resolved_a) != len(resolved_b):
        raise ValueError(f"matched layers pair in order: {len(resolved_a)} layers of A {[l.name for l in resolved_a]} "
                         f"against {len(resolved_b)} of B {[l.name for l in resolved_b]}")
    pairs = list(zip(resolved_a, resolved_b)) if matched else [(a, b) for a in resolved_a for b in resolved_b]
    attrs = dict(layers_a=[l.name for l in resolved_a], layers_b=[l.name for l in resolved_b], n=reader.n,
                 model_a=type(model_a).__name__, model_b=type(model_b).__name__)
    if request.streaming:
        if not reader.permuted:
            raise ValueError("streaming=True averages HSIC over batches, so the batches must be a random draw of the "
                             "probe: give probe_seed (not None) and a map-style Dataset, not an IterableDataset")
        table = streamed_matrix(model_a, model_b, reader, resolved_a, resolved_b, select_a=select_a,
                                select_b=select_b, view_a=view_a, view_b=view_b, bn=request.bn, device=device)
        if matched:
            wanted = {(a.name, b.name) for a, b in pairs}
            table = table[[(a, b) in wanted for a, b in zip(table.layer_a, table.layer_b)]].reset_index(drop=True)
        table.attrs.update(attrs, factorisations=0)
        return table
    if reader.n is not None:  # before any activation of the whole probe
        shapes_a = layer_view_shapes(model_a, resolved_a, first_a, select=select_a, bn=request.bn, view=view_a)
        shapes_b = layer_view_shapes(model_b, resolved_b, first_b, select=select_b, bn=request.bn, view=view_b)
        need = predicted_peak(reader.n, shapes_a, {f"B:{k}": v for k, v in shapes_b.items()},
                              [(a.name, f"B:{b.name}") for a, b in pairs], request.metrics,
                              resampled=bool(request.null or request.bootstrap))
        check_fits(need, device, f"{reader.n} probe samples at {len(resolved_a)} × {len(resolved_b)} layers "
                   f"({', '.join(request.metrics)})", "use streaming=True (minibatch debiased CKA, memory independent "
                   "of the probe size), fewer probe samples, fewer layers, a pooled view (view='mean') or metrics "
                   "without (n, n) matrices (cka, cka_debiased, procrustes and pwsm work in feature form where a "
                   "layer is narrower than the probe)")
    acts_a = layer_activations(model_a, reader, resolved_a, select=select_a, bn=request.bn, device=device,
                               what="model A", view=view_a)
    acts_b = acts_a if model_b is model_a and layers_b == layers_a and select_b == select_a and view_b == view_a else \
        layer_activations(model_b, reader, resolved_b, select=select_b, bn=request.bn, device=device, what="model B",
                          view=view_b)
    views_a = {name: as_samples(a, view_a) for name, a in acts_a.items()}
    views_b = views_a if acts_b is acts_a and view_b == view_a else \
        {name: as_samples(b, view_b) for name, b in acts_b.items()}
    n = len(next(iter(views_a.values())))
    if view_a != "positions":  # rows = probe samples
        lines = small_probe_warnings(n, {k: v.shape[1] for k, v in views_a.items()},
                                     {k: v.shape[1] for k, v in views_b.items()},
                                     [(a.name, b.name) for a, b in pairs], request.metrics)
        if lines:
            warnings.warn("n is small for the width at " + "; ".join(lines), SmallProbeWarning, stacklevel=3)
    factors_a = {name: factors_or_reason(v, f"{name} (A)") for name, v in views_a.items()}
    factors_b = factors_a if views_b is views_a else \
        {name: factors_or_reason(v, f"{name} (B)") for name, v in views_b.items()}
    rows = []
    for la, lb in pairs:
        for row in measure_rows(acts_a[la.name], acts_b[lb.name], factors_a[la.name], factors_b[lb.name],
                                request.metrics, request.alphas, k=request.k, sigma=request.sigma, null=request.null,
                                null_metrics=request.null_metrics, bootstrap=request.bootstrap,
                                confidence=request.confidence, seed=probe_seed or 0):
            rows.append(dict(layer_a=la.name, layer_b=lb.name, **row))
    table = pd.DataFrame(rows)
    if request.null and request.p_adjust:
        table = adjusted(table, request.p_adjust, "layers × metrics" if matched else "layer pairs × metrics")
    table.attrs.update(attrs, n=n, factorisations=sum(isinstance(f, Factors) for f in factors_a.values())
                       + (0 if factors_b is factors_a else sum(isinstance(f, Factors) for f in factors_b.values())))
    return table


def _one_metric(table: pd.DataFrame, metric: str | None, alpha: float | None) -> tuple[pd.DataFrame, str]:
    metric = metric or str(table.metric.iloc[0])
    part = table[(table.metric == metric) & (table.alpha.isna() if alpha is None else table.alpha == alpha)]
    if part.empty:
        raise ValueError(f"the table has no rows of metric {metric!r}" + (f" at alpha={alpha}" if alpha is not None else ""))
    return part, metric


def best_matches(table: pd.DataFrame, metric: str | None = None, alpha: float | None = None) -> pd.DataFrame:
    """For each layer of either side, its best-matching layer on the other side (highest similarity or
    lowest distance, as ``higher_is_better`` says): side, layer, best, value. Undefined values are skipped."""
    part, metric = _one_metric(table, metric, alpha)
    higher = MEASURES[metric].higher_is_better
    rows = []
    for side, own, other in (("a", "layer_a", "layer_b"), ("b", "layer_b", "layer_a")):
        order = list(dict.fromkeys(part[own]))
        for layer in order:
            candidates = part[(part[own] == layer) & part.value.notna()]
            if candidates.empty:
                rows.append(dict(side=side, layer=layer, best=None, value=math.nan))
                continue
            pick = candidates.loc[candidates.value.idxmax() if higher else candidates.value.idxmin()]
            rows.append(dict(side=side, layer=layer, best=pick[other], value=float(pick.value)))
    return pd.DataFrame(rows)


def plot_matrix(table: pd.DataFrame, metric: str | None = None, alpha: float | None = None, title: str = "",
                ax: Any = None) -> Any:
    """The layer × layer heatmap of one metric (A's layers as rows, B's as columns, forward order),
    each row's best match outlined; undefined cells are left blank."""
    import matplotlib as mpl

    from repchange.base.plotting import HOUSE_STYLE

    with mpl.rc_context(HOUSE_STYLE):
        return _draw_matrix(table, metric, alpha, title, ax)


def _draw_matrix(table: pd.DataFrame, metric: str | None, alpha: float | None, title: str, ax: Any) -> Any:
    """:func:`plot_matrix`'s drawing: at most the page's width, cells shrinking with more layers."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from repchange.base.plotting import PAGE_WIDTH_IN, wrapped

    part, metric = _one_metric(table, metric, alpha)
    rows, cols = list(dict.fromkeys(part.layer_a)), list(dict.fromkeys(part.layer_b))
    grid = part.pivot_table(index="layer_a", columns="layer_b", values="value", aggfunc="first", dropna=False)
    grid = grid.reindex(index=rows, columns=cols)
    if ax is None:
        cell = min(0.55, (PAGE_WIDTH_IN - 3.2) / max(len(cols), 1))
        fig, ax = plt.subplots(figsize=(cell * len(cols) + 3.2, cell * len(rows) + 2.6), layout="constrained")
    else:
        fig = ax.figure
    measure = MEASURES[metric]
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis" if measure.higher_is_better else "viridis_r",
                      aspect="auto")
    for i, layer in enumerate(rows):
        values = grid.loc[layer].to_numpy(dtype=float)
        if (~pd.isna(values)).any():
            j = int(pd.Series(values).idxmax() if measure.higher_is_better else pd.Series(values).idxmin())
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="white", linewidth=1.6))
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(f"B: {table.attrs.get('model_b', 'model B')}")
    ax.set_ylabel(f"A: {table.attrs.get('model_a', 'model A')}")
    label = metric if alpha is None else f"{metric} α={alpha:g}"
    cbar = fig.colorbar(image, ax=ax)
    cbar.set_label(f"{label} ({'higher' if measure.higher_is_better else 'lower'} = more similar)")
    ax.set_title(wrapped(title or f"{label}, every layer against every layer\n(outlined: each row's best match)", fig))
    return fig
