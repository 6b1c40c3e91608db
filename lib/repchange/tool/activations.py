"""Compare activations computed elsewhere, matched by sample ids: the order of the samples is checked, not assumed.

Every measure compares row i of X with row i of Y, so two activation files written by two runs (two data loaders,
two shuffles, two machines) must list the same samples in the same order. A mismatch gives no error, only a wrong
number: two representations of the same images in different orders read as unrelated. Where each side comes with
its samples' ids, :func:`compare_activations` checks them before any measure and names the first mismatch:

* ids that repeat on a side, or sides of other lengths than their activations: refused;
* ids that one side has and the other lacks: refused, naming some of each;
* the same ids in another order: refused, naming the first position where they differ, unless ``align=True``
  (an explicit choice) reorders B's rows to A's ids.

Without ids the rows are taken as they are (the caller vouches for the order). Rows: the layers both sides name,
each measure at each alpha: ``layer, metric, alpha, value, higher_is_better, note`` (as the Tracker's).
"""

from __future__ import annotations

from typing import Any, Hashable, Mapping, Sequence

import pandas as pd
import torch

from repchange.measure.registry import MEASURES, check_metrics
from repchange.tool.readout import factors_or_reason, measure_rows

__all__ = ["SampleOrderError", "compare_activations", "matching_rows"]

SHOWN = 3  # ids named in an error message, at most


class SampleOrderError(ValueError):
    """The two sides' sample ids do not pair their rows (see the module docstring)."""


def _as_ids(ids: Sequence[Hashable] | torch.Tensor, name: str, n: int) -> list[Hashable]:
    values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    if len(values) != n:
        raise SampleOrderError(f"{name} has {len(values)} ids for {n} rows of activations: one id per row")
    seen: set[Hashable] = set()
    repeated = [v for v in values if v in seen or seen.add(v)]
    if repeated:
        raise SampleOrderError(f"{name} repeats ids {repeated[:SHOWN]}{' …' if len(repeated) > SHOWN else ''}: "
                               f"each sample must appear once")
    return values


def matching_rows(ids_a: Sequence[Hashable] | torch.Tensor, ids_b: Sequence[Hashable] | torch.Tensor, n_a: int,
                  n_b: int, *, align: bool = False) -> torch.Tensor | None:
    """B's row for each of A's rows: None where the ids already pair the rows in order, else (with ``align``) the
    index that reorders B to A's ids. Raises :class:`SampleOrderError` naming the first mismatch."""
    a, b = _as_ids(ids_a, "ids_a", n_a), _as_ids(ids_b, "ids_b", n_b)
    if a == b:
        return None
    in_a, in_b = set(a), set(b)
    only_a, only_b = [v for v in a if v not in in_b], [v for v in b if v not in in_a]
    if only_a or only_b:
        raise SampleOrderError(f"the sides hold different samples: {len(only_a)} of A's ids are not in B "
                               f"(e.g. {only_a[:SHOWN]}) and {len(only_b)} of B's are not in A (e.g. {only_b[:SHOWN]}); "
                               f"compare activations of the same samples")
    if not align:
        first = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        differing = sum(x != y for x, y in zip(a, b))
        raise SampleOrderError(f"the sides hold the same {len(a)} samples in another order: row {first} is "
                               f"{a[first]!r} in A and {b[first]!r} in B ({differing} rows differ); pass align=True "
                               f"to reorder B's rows to A's ids, or write both in one order")
    where = {v: i for i, v in enumerate(b)}
    return torch.tensor([where[v] for v in a])


def compare_activations(acts_a: Mapping[str, Any], acts_b: Mapping[str, Any], *,
                        ids_a: Sequence[Hashable] | torch.Tensor | None = None,
                        ids_b: Sequence[Hashable] | torch.Tensor | None = None, align: bool = False,
                        metrics: Sequence[str] = ("cka", "procrustes"), alphas: Sequence[float] = (),
                        k: int = 10, sigma: float = 1.0) -> pd.DataFrame:
    """Every ``metric`` between the layers both ``{layer: (n, p) samples × features}`` mappings name (tensors or
    arrays; rows are samples), with the samples matched by ``ids_a`` / ``ids_b`` where given (both or neither; see the
    module docstring). Checked before any measure: the metrics, the ids, and a shared layer."""
    check_metrics(metrics, alphas)
    maps = [m for m in metrics if MEASURES[m].needs_maps]
    if maps:
        raise ValueError(f"{maps} read (samples, channels, H, W) maps; compare_activations takes (samples, features) "
                         f"matrices: choose from {[m for m in MEASURES if not MEASURES[m].needs_maps]}")
    if (ids_a is None) != (ids_b is None):
        raise SampleOrderError("give ids_a and ids_b together (the sample ids of each side's rows), or neither")
    shared = [layer for layer in acts_a if layer in acts_b]
    if not shared:
        raise ValueError(f"the sides name no layer in common: A {sorted(acts_a)}, B {sorted(acts_b)}")
    tensors_a = {layer: torch.as_tensor(acts_a[layer]) for layer in shared}
    tensors_b = {layer: torch.as_tensor(acts_b[layer]) for layer in shared}
    flat = [layer for layer in shared if tensors_a[layer].ndim != 2 or tensors_b[layer].ndim != 2]
    if flat:
        raise ValueError(f"activations must be (samples, features) matrices; layers {flat} are not (flatten or pool "
                         f"them first, e.g. x.flatten(1) or x.mean(dim=(2, 3)))")
    n_a = {len(tensors_a[layer]) for layer in shared}
    n_b = {len(tensors_b[layer]) for layer in shared}
    if len(n_a) != 1 or len(n_b) != 1:
        raise ValueError(f"every layer of a side must hold the same samples: row counts A {sorted(n_a)}, B {sorted(n_b)}")
    order = None
    if ids_a is not None and ids_b is not None:
        order = matching_rows(ids_a, ids_b, n_a.pop(), n_b.pop(), align=align)
    elif n_a != n_b:
        raise SampleOrderError(f"A has {n_a.pop()} rows and B {n_b.pop()}: the same samples on both sides, or give "
                               f"ids_a and ids_b")
    rows = []
    for layer in shared:
        x, y = tensors_a[layer], tensors_b[layer] if order is None else tensors_b[layer][order]
        fa, fb = factors_or_reason(x, f"{layer} (A)"), factors_or_reason(y, f"{layer} (B)")
        for row in measure_rows(x, y, fa, fb, metrics, alphas, k=k, sigma=sigma):
            rows.append(dict(layer=layer, **row))
    return pd.DataFrame(rows)
