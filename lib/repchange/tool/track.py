"""Track how the representations of any PyTorch model change while it trains::

    tracker = Tracker(model, probe_images, layers="stages")  # reference: the model as it is now
    for epoch in range(1, epochs + 1):
        train_one_epoch(model)
        tracker.update(epoch)
    tracker.table  # step, layer, metric, alpha, value, higher_is_better, note (+ any keyword given to update)

**Layers** are module paths, glob patterns, ``name@k`` or "stages": see :mod:`repchange.tool.hooks`;
``select=`` reads modules that return tuples or model-output objects. **Probes** are tensors,
mappings of keyword inputs, Datasets, DataLoaders or Splits, read in one seeded order: see
:mod:`repchange.tool.probes`.

**Metrics** (each layer's output as (samples, features) by ``view``: ``flatten``, ``positions``,
``mean``, ``first`` or ``last`` token, or a ``pool(outputs, mask)`` function; token sequences honour the probe's
``attention_mask``; see :func:`repchange.tool.views.as_samples`), named in
:data:`repchange.measure.registry.MEASURES`: ``cka`` and ``cka_debiased`` (linear CKA), ``rbf_cka``,
``mutual_knn`` (k nearest neighbours), ``procrustes`` (angular Procrustes distance, radians),
``pwsm`` at each of ``alphas`` (radians), ``filter_procrustes`` (Study B's per-filter Procrustes
similarity, averaged over probe images and filters). The ``higher_is_better`` column says which
are similarities; a value with no definition on the inputs (a dead layer, a self-HSIC estimate
<= 0 at small n) is NaN with the reason in ``note``, never a bare NaN.

**Calibration**: ``null=N`` adds a permutation null of N shuffles of the probe rows (null mean, sd,
band, one-sided p-value, calibrated score z) to every value; ``bootstrap=B`` a percentile interval
over probe samples for debiased CKA (:mod:`repchange.measure.resampling`). Biased CKA at a layer whose
width dwarfs the probe set warns (:class:`SmallProbeWarning`).

**Memory**: by default the reference activations are held (on the model's device) and every
metric is exact on the whole probe set. ``streaming=True`` computes debiased CKA batch by batch
(Nguyen et al. 2021), so no activations of the whole probe are held: the reference's per-batch Gram parts
(n × batch_size floats per layer) are kept where they take less than a copy of the model (or a tenth of free
memory), and each update then runs the model alone; otherwise a copy of the reference runs beside it. A probe set
that would not fit stops before any work with that advice.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from repchange.measure.features import extraction_mode
from repchange.measure.registry import MEASURES, Sides, resampled
from repchange.measure.metrics import Factors, MinibatchCKA, UndefinedSimilarity
from repchange.measure.resampling import RESAMPLED_COLUMNS
from repchange.base.files import atomic_write
from repchange.tool.hooks import Layer, Selector, Tap, resolve_layers, stage_ends
from repchange.tool.probes import Probe, batch_size_of, floating_dtype, to_device
from repchange.tool.streamed_matrix import batch_gram_parts
from repchange.tool import memory
from repchange.tool.memory import ProbeTooLarge, check_fits, predicted_peak
from repchange.tool.request import Request
from repchange.tool.readout import (SmallProbeWarning, check_batch_first, factors_or_reason, layer_activations, measure_rows,
                               layer_view_shapes, small_probe_warnings, view_shapes)
from repchange.tool.multiplicity import adjusted
from repchange.tool.sequential import ChangeMonitor
from repchange.tool.distributed import barrier, is_measuring_rank, unwrapped
from repchange.tool.views import Pool, as_samples, attention_mask, view_name

__all__ = ["METRICS", "Layer", "ProbeTooLarge", "SmallProbeWarning", "Tracker", "final_values", "logged_values",
           "plot_table", "resolve_layers", "stage_ends"]

METRICS = tuple(MEASURES)
EXAMPLE_ROWS = 4  # samples of the first probe batch that find the layers and their widths
# ---------------------------------------------------------------------------------------------
# Tracker


@dataclass(frozen=True)
class _Settings:
    layers: list[str]
    reference_layers: list[str] | None
    metrics: list[str]
    alphas: list[float]
    view: str  # its name (a pool function: pool:<name>)
    bn: str
    streaming: bool
    probe_size: int | None
    probe_seed: int | None
    null: int
    null_metrics: list[str]
    bootstrap: int
    model: str


class Tracker:
    """Record how the chosen layers of ``model`` move away from a reference while it trains.

    ``model``: any ``nn.Module``; its device (of its first parameter) is where activations and
    metrics are computed. ``probe``: see :mod:`repchange.tool.probes` (read in the order of one
    permutation drawn from ``probe_seed``). ``layers``: see :mod:`repchange.tool.hooks`. ``metrics``:
    names from :data:`METRICS`; "pwsm" is computed at each of ``alphas``; ``k`` (mutual_knn) and
    ``sigma`` (rbf_cka, a multiple of the median distance). ``reference``: None (the model as it is
    now), a state dict, a checkpoint path, or another module: with the same layer names, or
    ``reference_layers`` paired with ``layers`` in order (a teacher against a student; widths may
    differ). ``select`` / ``reference_select``: read outputs that are not tensors (see
    :mod:`repchange.tool.hooks`). ``view``: how an output becomes (samples, features). ``bn``: "eval"
    (running statistics, the default) or "batch" (probe-batch statistics, as the papers' code).
    ``null``, ``bootstrap``, ``confidence``: see the module docstring; ``null_metrics`` limits the
    null to some of the metrics (Procrustes and PWSM redo an SVD per shuffle; the CKA family and
    mutual k-NN re-index cached matrices). ``out``: a folder where
    ``track.csv`` is rewritten after every update (and the reference weights kept, so a restarted
    run resumes); ``name`` puts it under the run store (``runs/track/<name>``). ``p_adjust``: with a null,
    :attr:`table` adds each p-value adjusted over every p-value of the table so far (steps × layers × metrics;
    "bh", "by", "holm" or None, see :mod:`repchange.tool.multiplicity`). ``monitor``: a
    :class:`~repchange.tool.sequential.ChangeMonitor`; each update then also reads its measure on a fresh random
    subsample of the probe and tests, per layer and however often one looks, whether the layer changed by more than
    its ``delta`` (:attr:`changes`; :mod:`repchange.tool.sequential`).
    """

    def __init__(self, model: nn.Module, probe: Any, *, layers: str | Sequence[str] | None = "stages",
                 metrics: Sequence[str] = ("cka", "procrustes"), alphas: Sequence[float] = (),
                 reference: Mapping[str, torch.Tensor] | str | os.PathLike | nn.Module | None = None,
                 reference_layers: str | Sequence[str] | None = None, select: Selector | Mapping[str, Selector] = None,
                 reference_select: Selector | Mapping[str, Selector] = None, view: str | Pool = "flatten", bn: str = "eval",
                 batch_size: int = 256, streaming: bool = False, null: int = 0,
                 null_metrics: Sequence[str] | None = None, bootstrap: int = 0,
                 confidence: float = 0.95, probe_seed: int | None = 0, k: int = 10, sigma: float = 1.0,
                 out: str | os.PathLike | None = None, name: str | None = None, p_adjust: str | None = "bh",
                 monitor: ChangeMonitor | None = None) -> None:
        model = unwrapped(model)  # a DDP wrapper's forward is a collective; layer names are the model's own
        if isinstance(reference, nn.Module):
            reference = unwrapped(reference)
        self.request = Request(metrics=tuple(metrics), alphas=tuple(alphas), view=view, bn=bn, null=null,
                               null_metrics=None if null_metrics is None else tuple(null_metrics),
                               bootstrap=bootstrap, confidence=confidence, streaming=streaming,
                               batch_size=batch_size, k=k, sigma=sigma, p_adjust=p_adjust)
        if reference_layers is not None and not isinstance(reference, nn.Module):
            raise ValueError("reference_layers name layers of another model: pass that model as reference=")
        r = self.request
        self.model, self.metrics, self.alphas = model, r.metrics, r.alphas
        self.view, self.bn, self.streaming = r.view, r.bn, r.streaming
        self.null, self.bootstrap, self.confidence, self.seed = r.null, r.bootstrap, r.confidence, probe_seed or 0
        self.null_metrics = r.metrics if r.null_metrics is None else r.null_metrics
        self.k, self.sigma, self.p_adjust = r.k, r.sigma, r.p_adjust
        self.device = next(model.parameters()).device
        self.probe = Probe(probe, batch_size, probe_seed)
        if streaming and not self.probe.permuted:
            raise ValueError("streaming=True averages HSIC over batches, so the batches must be a random draw of "
                             "the probe: give probe_seed (not None) and a map-style Dataset, not an IterableDataset")
        n = self.probe.n
        if monitor is not None and (streaming or view == "positions"):
            raise ValueError("monitor= reads its measure on random subsamples of the probe's samples, from the held "
                             "reference activations: it needs streaming=False and a view whose rows are probe samples "
                             "(not 'positions')")
        if monitor is not None and n is not None:
            monitor.rows_for(n)  # a subsample the probe cannot give is refused before any work
        first = to_device(self.probe.first(model, EXAMPLE_ROWS), self.device, floating_dtype(model))  # finds layers and widths
        self.layers = resolve_layers(model, layers, first)
        self._select = select
        self._tap = Tap(model, self.layers, select)
        widths, shapes, shapes_now = self._widths(model, self._tap, first)
        self.widths = widths  # features per probe sample of each layer in the chosen view
        self.reference_layers = self.layers
        if reference_layers is not None:
            assert isinstance(reference, nn.Module)
            ref_first = to_device(self.probe.first(reference, EXAMPLE_ROWS), self.device, floating_dtype(reference))
            self.reference_layers = resolve_layers(reference, reference_layers, ref_first)
            if len(self.reference_layers) != len(self.layers):
                raise ValueError(f"reference_layers pairs with layers in order: {len(self.reference_layers)} "
                                 f"reference layers {[l.name for l in self.reference_layers]} against "
                                 f"{len(self.layers)} layers {[l.name for l in self.layers]}")
        self._ref_select = reference_select if reference_layers is not None or reference_select is not None \
            else select
        if "filter_procrustes" in self.metrics:
            flat = [name for name, shape in shapes.items() if len(shape) != 3]
            if flat:
                raise ValueError(f"filter_procrustes needs (N, C, H, W) outputs; layers {flat} give other shapes")
        if not streaming and n is not None:  # before any activation of the whole probe
            ref_shapes = shapes_now
            if reference_layers is not None:
                ref_shapes = layer_view_shapes(reference, self.reference_layers, ref_first, select=self._ref_select,
                                               bn=bn, view=view)
            pairs = [(r.name, l.name) for r, l in zip(self.reference_layers, self.layers)]
            need = predicted_peak(n, ref_shapes, shapes_now, pairs, self.metrics, resampled=bool(null or bootstrap))
            check_fits(need, self.device, f"{n} probe samples at layers {[l.name for l in self.layers]} "
                       f"({', '.join(self.metrics)})",
                       "use streaming=True (minibatch debiased CKA, memory independent of the probe size), fewer "
                       "probe samples, fewer layers, a pooled view (view='mean') or metrics without (n, n) matrices "
                       "(cka, cka_debiased, procrustes and pwsm work in feature form where a layer is narrower than "
                       "the probe)")

        self.out = Path(out) if out is not None else (_store_root() / "track" / name if name else None)
        self._settings = _Settings([l.name for l in self.layers],
                                   None if reference_layers is None else [l.name for l in self.reference_layers],
                                   list(self.metrics), list(self.alphas), view_name(view), bn, streaming, n,
                                   probe_seed, null,
                                   list(self.null_metrics), bootstrap, type(model).__name__)
        self._reference_factors: dict[str, Factors | str] = {}  # built at the first update, kept for the rest
        self.monitor = monitor
        self._changes: list[dict[str, Any]] = []
        if monitor is not None:
            monitor.start([l.name for l in self.layers])
        self.measuring = is_measuring_rank()  # under torch.distributed, rank 0 measures and the others wait
        if not self.measuring:
            self._rows: list[dict[str, Any]] = []
            self._reference_model, self._reference_acts = None, None
            return
        self._rows = self._resume() if self.out else []
        if monitor is not None and self.out is not None:
            self._resume_changes()
        reference = self._saved_reference(reference)
        keep_parts = streaming and self._parts_serve(model)
        self._reference_model = self._reference(reference) if reference is not None or (streaming and not keep_parts) \
            else model
        self._reference_acts = None if streaming else self._activations(self._reference_model, "the reference")
        self._reference_parts = self._streamed_reference() if keep_parts else None
        if keep_parts:  # the reference's Gram parts serve every update: no copy of the model is kept
            self._reference_model = None
        if self._reference_acts is not None and n is not None and view != "positions":  # rows = probe samples
            ref_widths = {r.name: as_samples(self._reference_acts[r.name][:1], view).shape[1]
                          for r in self.reference_layers}
            pairs = [(r.name, l.name) for r, l in zip(self.reference_layers, self.layers)]
            lines = small_probe_warnings(n, ref_widths, widths, pairs, self.metrics)
            if lines:
                warnings.warn("n is small for the width at " + "; ".join(lines), SmallProbeWarning, stacklevel=2)

    def _widths(self, model: nn.Module, tap: Tap, first: Any
                ) -> tuple[dict[str, int], dict[str, tuple[int, ...]], dict[str, tuple[int, int]]]:
        """From one pass over the example rows: each layer's features per sample in the chosen view, its per-sample
        output shape, and its (rows per sample, features per row) for the memory guard (:func:`view_shapes`)."""
        with tap, extraction_mode(model, self.bn):
            outputs = tap(model, first)
        for name, out in outputs.items():
            check_batch_first(name, out, batch_size_of(first), type(model).__name__)
        shapes = {name: tuple(out.shape[1:]) for name, out in outputs.items()}
        viewed = view_shapes(outputs, self.view, attention_mask(first))
        widths = {name: viewed[name][1] if self.view != "positions" else out[0].numel()
                  for name, out in outputs.items()}
        return widths, shapes, viewed

    # -- reference and resume -------------------------------------------------------------------

    def _saved_reference(self, reference: Any) -> Any:
        """With an ``out`` folder and no reference, the model's weights now are saved there once and
        reused on a restart, so a resumed run compares against the same reference."""
        if self.out is None or reference is not None:
            return reference
        path = self.out / "reference.pt"
        if not path.exists():
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda p: torch.save(self.model.state_dict(), p))
        return path

    def _reference(self, reference: Any) -> nn.Module:
        if isinstance(reference, nn.Module):
            Tap(reference, self.reference_layers)  # the layers must exist in the reference
            return reference
        ref = copy.deepcopy(self.model)
        if reference is not None:
            state = torch.load(reference, map_location=self.device, weights_only=True) \
                if isinstance(reference, (str, os.PathLike)) else reference
            try:
                ref.load_state_dict(state)
            except RuntimeError as err:
                raise ValueError(f"the reference weights do not fit the model: {str(err).splitlines()[0]}") from None
        return ref

    def _resume(self) -> list[dict[str, Any]]:
        table, meta = self.out / "track.csv", self.out / "track.json"
        if not table.exists():
            return []
        saved = json.loads(meta.read_text()) if meta.exists() else {}
        if saved != asdict(self._settings):
            differ = sorted(k for k in asdict(self._settings) if saved.get(k) != asdict(self._settings)[k])
            raise ValueError(f"{self.out} holds a tracking with other settings (differ: {differ}); "
                             f"pass another folder, or delete this one to start afresh")
        rows = pd.read_csv(table, keep_default_na=False, na_values=[""])
        if "note" in rows:
            rows["note"] = rows["note"].fillna("")
        return rows.to_dict("records")

    # -- measuring ------------------------------------------------------------------------------

    def _activations(self, model: nn.Module, what: str) -> dict[str, torch.Tensor]:
        is_reference = model is self._reference_model and model is not self.model
        layers = self.reference_layers if is_reference else self.layers
        return layer_activations(model, self.probe, layers, select=self._ref_select if is_reference else self._select,
                                 bn=self.bn, device=self.device, what=what, view=self.view)

    def _batch_parts(self, outputs: Mapping[str, torch.Tensor], layers: list[Layer], mask: torch.Tensor | None
                     ) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Each layer's zero-diagonal centred Gram parts of one probe batch, in the chosen view."""
        return batch_gram_parts({layer.name: outputs[layer.name] for layer in layers}, self.view, mask)

    def _parts_bytes(self) -> int:
        n, b = self.probe.n or 0, self.probe.batch_size
        return 8 * len(self.reference_layers) * ((n // b) * b * b + (n % b) ** 2)

    def _parts_serve(self, model: nn.Module) -> bool:
        """Whether the reference's Gram parts (n × batch_size floats per layer) take less memory than a copy of the
        model, or under a tenth of what is free: then they are kept instead of a copy."""
        copy_bytes = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
        need = self._parts_bytes()
        return need <= copy_bytes or need <= 0.1 * memory.available_bytes(self.device)

    def _streamed_reference(self) -> list[dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
        """The reference's Gram parts of every probe batch of at least 4 samples, computed once (n × batch_size
        floats per layer), so that no copy of the model is kept and each update runs one model (see
        :meth:`_parts_serve`)."""
        check_fits(self._parts_bytes(), self.device, f"the reference's Gram parts of {self.probe.n} probe samples in "
                   f"batches of {self.probe.batch_size} at {len(self.reference_layers)} layers",
                   "use a smaller batch_size (the parts grow with n × batch_size) or fewer layers")
        reference, parts = self._reference_model, []
        tap, dtype = Tap(reference, self.reference_layers, self._ref_select), floating_dtype(reference)
        with tap, extraction_mode(reference, self.bn):
            for x in self.probe.batches(self.model):
                if batch_size_of(x) >= 4:  # the unbiased HSIC needs 4 samples; a short last batch is left out
                    outputs = tap(reference, to_device(x, self.device, dtype))
                    parts.append(self._batch_parts(outputs, self.reference_layers, attention_mask(x)))
        return parts

    def _streamed(self) -> dict[str, tuple[float, str]]:
        """Minibatch debiased CKA of each layer against the reference: its kept Gram parts, or its copy run on the
        same batches. Every context is entered here, around the one loop (a context held inside interleaved
        generators would leave inference mode on when they finish out of order)."""
        acc = {l.name: MinibatchCKA(debiased=True) for l in self.layers}
        pairs = list(zip(self.reference_layers, self.layers))
        kept, reference = self._reference_parts, self._reference_model
        dtype = floating_dtype(self.model)
        with contextlib.ExitStack() as stack:
            stack.enter_context(self._tap)
            stack.enter_context(extraction_mode(self.model, self.bn))
            if kept is None:
                ref_tap = stack.enter_context(Tap(reference, self.reference_layers, self._ref_select))
                stack.enter_context(extraction_mode(reference, self.bn))
                ref_dtype = floating_dtype(reference)
            index = 0
            for x in self.probe.batches(self.model):
                if batch_size_of(x) < 4:
                    continue  # as in _streamed_reference
                mask = attention_mask(x)
                cur = self._batch_parts(self._tap(self.model, to_device(x, self.device, dtype)), self.layers, mask)
                ref = kept[index] if kept is not None else self._batch_parts(
                    ref_tap(reference, to_device(x, self.device, ref_dtype)), self.reference_layers, mask)
                index += 1
                for r, l in pairs:
                    acc[l.name].update_parts(ref[r.name], cur[l.name])  # a constant batch counts exactly
        values = {}
        for name, a in acc.items():
            try:
                values[name] = (a.value, "")
            except UndefinedSimilarity as err:
                values[name] = (math.nan, str(err))
        return values

    def _pair_label(self, r: Layer) -> dict[str, str]:
        return {"reference_layer": r.name} if self._settings.reference_layers is not None else {}

    def update(self, step: int | float, **info: Any) -> pd.DataFrame:
        """Measure every layer and metric against the reference now; return the new rows
        (step, layer, metric, alpha, value, higher_is_better, note and ``info``) and append them to
        :attr:`table` (and to ``out``). Rows of an earlier update at the same step are replaced.

        Under ``torch.distributed`` every rank calls it at the same steps: rank 0 measures, then every rank passes
        a barrier; the other ranks return no rows (:mod:`repchange.tool.distributed`)."""
        if not self.measuring:
            barrier()
            return pd.DataFrame(columns=self.table.columns)
        try:
            return self._measured(step, info)
        finally:
            barrier()

    def _measured(self, step: int | float, info: dict[str, Any]) -> pd.DataFrame:
        rows = []
        if self.streaming:
            streamed = self._streamed()
            for r, l in zip(self.reference_layers, self.layers):
                value, note = streamed[l.name]
                rows.append(dict(step=step, layer=l.name, **self._pair_label(r), metric="cka_debiased",
                                 alpha=math.nan, value=value, higher_is_better=True, note=note, **info))
        else:
            current = self._activations(self.model, f"the model at step {step}")
            looked: dict[str, tuple[Factors | str, Factors | str]] = {}
            for r, l in zip(self.reference_layers, self.layers):
                ref, cur = self._reference_acts[r.name], current[l.name]
                if r.name not in self._reference_factors:  # its decompositions serve every later update
                    self._reference_factors[r.name] = self._factors(ref, f"{r.name} (reference)")
                fa, fb = self._reference_factors[r.name], self._factors(cur, l.name)
                looked[l.name] = (fa, fb)
                for row in measure_rows(ref, cur, fa, fb, self.metrics, self.alphas, k=self.k, sigma=self.sigma,
                                        null=self.null, null_metrics=self.null_metrics, bootstrap=self.bootstrap,
                                        confidence=self.confidence, seed=self.seed):
                    rows.append(dict(step=step, layer=l.name, **self._pair_label(r), **row, **info))
            if self.monitor is not None:
                self._look(step, looked)
        self._rows = [r for r in self._rows if r["step"] != step] + rows
        if self.out is not None:
            self._save()
        return pd.DataFrame(rows)

    def _look(self, step: int | float, sides: dict[str, tuple[Factors | str, Factors | str]]) -> None:
        """The monitor's look at ``step``: its measure on this look's subsample of the probe, per layer (``sides``:
        layer -> reference and current factors). A look at a step seen before replaces it (the looks are replayed)."""
        monitor = self.monitor
        assert monitor is not None
        earlier = [c for c in self._changes if c["step"] != step]
        if len(earlier) != len(self._changes):
            self._replay(earlier)
        look = len({c["step"] for c in earlier})
        for layer, (fa, fb) in sides.items():
            value = math.nan  # undefined at this layer or on this draw: the e-process keeps its value
            if isinstance(fa, Factors) and isinstance(fb, Factors):
                rows = torch.randperm(fa.n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + look))
                rows = rows[:monitor.rows_for(fa.n)].to(fa._raw.device)
                alpha = monitor.alpha_pwsm if monitor.metric == "pwsm" else math.nan
                try:
                    sides_now = Sides(fa, fb, alpha=alpha, k=self.k, sigma=self.sigma)
                    value = resampled(monitor.metric, sides_now)(rows, rows)
                except UndefinedSimilarity:
                    pass
            self._changes.append(dict(monitor.observe(step, layer, value), value=value))

    def _replay(self, changes: list[dict[str, Any]]) -> None:
        """Start the monitor afresh and feed it ``changes`` (earlier looks' values, in order)."""
        assert self.monitor is not None
        self.monitor.start([l.name for l in self.layers])
        self._changes = [dict(self.monitor.observe(c["step"], c["layer"], c["value"]), value=c["value"])
                         for c in changes]

    def _resume_changes(self) -> None:
        """A restarted run's monitor: the saved settings must be this monitor's; its saved looks are replayed."""
        assert self.monitor is not None and self.out is not None
        settings = dict(metric=self.monitor.metric, delta=self.monitor.delta, alpha=self.monitor.alpha,
                        subsample=self.monitor.subsample, alpha_pwsm=self.monitor.alpha_pwsm)
        meta, table = self.out / "monitor.json", self.out / "changes.csv"
        if meta.exists() and json.loads(meta.read_text()) != settings:
            raise ValueError(f"{self.out} holds a monitor with other settings ({meta.read_text().strip()}); pass "
                             f"another folder, or the same monitor settings")
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write(meta, lambda p: p.write_text(json.dumps(settings)))
        if table.exists():
            self._replay(pd.read_csv(table, dtype={"layer": str}).to_dict("records"))

    @property
    def changes(self) -> pd.DataFrame:
        """The monitor's looks: step, layer, metric, change (this look's measure as a share of its range away from
        "the same"; NaN where undefined), e_value, threshold, alarm, first_alarm, value (the measure on the
        subsample). Empty without a monitor."""
        columns = ["step", "layer", "metric", "change", "e_value", "threshold", "alarm", "first_alarm", "value"]
        return pd.DataFrame(self._changes, columns=columns)

    def _factors(self, acts: torch.Tensor, name: str) -> Factors | str:
        return factors_or_reason(as_samples(acts, self.view), name)

    def _save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write(self.out / "track.json", lambda p: p.write_text(json.dumps(asdict(self._settings), indent=1)))
        atomic_write(self.out / "track.csv", lambda p: self.table.to_csv(p, index=False))
        if self.monitor is not None:
            atomic_write(self.out / "changes.csv", lambda p: self.changes.to_csv(p, index=False))

    @property
    def table(self) -> pd.DataFrame:
        """Every update's rows: step, layer, metric, alpha (NaN except for pwsm), value, higher_is_better,
        note ("" or why the value is undefined), the null and interval columns when asked, info columns."""
        columns = ["step", "layer", "metric", "alpha", "value", "higher_is_better", "note"]
        if self.null or self.bootstrap:
            columns += list(RESAMPLED_COLUMNS)
        table = pd.DataFrame(self._rows, columns=None if self._rows else columns)
        return adjusted(table, self.p_adjust) if self.null and self.p_adjust and self._rows else table


def logged_values(rows: pd.DataFrame, prefix: str = "repchange") -> dict[str, float]:
    """``{"repchange/<metric>[_alpha]/<layer>": value}`` (and ``.../p_value``) of one update's defined rows,
    as a training framework's logger takes them."""
    values = {}
    for row in rows.itertuples(index=False):
        if pd.isna(row.value):
            continue
        metric = row.metric if pd.isna(row.alpha) else f"{row.metric}_alpha_{row.alpha:g}"
        values[f"{prefix}/{metric}/{row.layer}"] = float(row.value)
        if "p_value" in rows and not pd.isna(row.p_value):
            values[f"{prefix}/{metric}/{row.layer}/p_value"] = float(row.p_value)
    return values


def final_values(table: pd.DataFrame, metric: str = "cka", alpha: float | None = None) -> pd.Series:
    """``{layer: value}`` of ``metric`` (at ``alpha`` for pwsm) at the table's last step, in layer order."""
    part = table[(table.metric == metric) & (table.alpha.isna() if alpha is None else table.alpha == alpha)]
    if part.empty:
        raise ValueError(f"the table has no rows of metric {metric!r}" + (f" at alpha={alpha}" if alpha is not None else ""))
    last = part[part.step == part.step.max()] if "step" in part else part
    return last.set_index("layer").value.reindex(list(dict.fromkeys(part.layer)))


def plot_table(table: pd.DataFrame, title: str = "") -> Any:
    """One panel per metric (and α): the value per layer in forward order; with a ``step``
    column of several steps, one line per layer over the steps instead. Where the table has a
    permutation null (``null_low``, ``null_high``), its central band is shaded under each curve:
    a value inside it is what unrelated representations of these layers give."""
    import matplotlib as mpl

    from repchange.base.plotting import HOUSE_STYLE

    keys = table[["metric", "alpha"]].drop_duplicates().itertuples(index=False)
    panels = [(m, a) for m, a in keys]
    with mpl.rc_context(HOUSE_STYLE):
        return _plot_panels(table, panels, title)


def _plot_panels(table: pd.DataFrame, panels: list, title: str) -> Any:
    """:func:`plot_table`'s drawing: panels two to a row, page-wide, the legend below them."""
    from repchange.base.plotting import legend_below, panel_grid, wrapped

    fig, axes = panel_grid(len(panels), panel_height=3.2, extra_height=1.4 if title else 1.0)
    order = list(dict.fromkeys(table.layer))
    banded = {"null_low", "null_high"} <= set(table.columns)
    for ax, (metric, alpha) in zip(axes, panels):
        part = table[(table.metric == metric) & (table.alpha.isna() if pd.isna(alpha) else table.alpha == alpha)]
        label = metric if pd.isna(alpha) else f"{metric} α={alpha:g}"
        if "step" in part and part.step.nunique() > 1:
            for layer in order:
                rows = part[part.layer == layer].sort_values("step")
                line, = ax.plot(rows.step, rows.value, marker="o", ms=3, label=layer)
                if banded and rows.null_low.notna().any():
                    ax.fill_between(rows.step, rows.null_low, rows.null_high, color=line.get_color(), alpha=0.15,
                                    linewidth=0)
            ax.set_xlabel("step")
        else:
            rows = part.set_index("layer").reindex(order)
            ax.plot(range(len(order)), rows.value.to_numpy(), marker="o")
            if banded and rows.null_low.notna().any():
                ax.fill_between(range(len(order)), rows.null_low.to_numpy(dtype=float),
                                rows.null_high.to_numpy(dtype=float), color="0.6", alpha=0.3, linewidth=0,
                                label="permutation null (central 95 %)")
            ax.set_xticks(range(len(order)), order, rotation=45, ha="right")
            ax.set_xlabel("layer")
        higher = MEASURES[metric].higher_is_better if metric in MEASURES else True
        direction = ("1 = unchanged" if higher else "radians, 0 = unchanged") if metric != "mutual_knn" else \
            "share of shared neighbours"
        ax.set_title(label)
        ax.set_ylabel(direction)
        ax.grid(alpha=0.3)
    legend_below(fig, axes[0], ncol=4, title="shaded: the permutation null's central 95 %" if banded else None)
    if title:
        fig.suptitle(wrapped(title, fig))
    return fig


def _store_root() -> Path:
    from repchange.base.files import default_root

    return default_root()
