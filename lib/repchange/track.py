"""Track how the representations of any PyTorch model change while it trains.

    tracker = Tracker(model, probe_images, layers="stages")  # reference: the model as it is now
    for epoch in range(1, epochs + 1):
        train_one_epoch(model)
        tracker.update(epoch)
    tracker.table  # step, layer, metric, alpha, value (+ any keyword given to update)

**Layers** are module paths, glob patterns, ``name@k`` or "stages": see :mod:`repchange.hooks`.

**Metrics** (each layer's output flattened to (n, features) unless ``view="positions"``):
``cka`` and ``cka_debiased`` (linear CKA, 1 = same), ``procrustes`` (angular Procrustes
distance, radians, 0 = same), ``pwsm`` at each of ``alphas`` (partial-whitening shape metric,
radians), ``filter_procrustes`` (Study B's per-filter Procrustes similarity of (H, W) maps,
averaged over probe images and filters; 1 = same).

**Memory**: by default the reference activations are held (on the model's device) and every
metric is exact on the whole probe set. ``streaming=True`` computes debiased CKA batch by batch
(Nguyen et al. 2021) against a reference model run beside it, so memory does not grow with the
probe set; a probe set that would not fit stops before any work with that advice.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from repchange.core.data import Split, normalise
from repchange.core.features import BN_MODES, extraction_mode, positions_as_samples
from repchange.core.metrics import (
    Factors,
    MinibatchCKA,
    filter_procrustes_similarity,
    linear_cka,
    procrustes_angle,
    pwsm,
)
from repchange.core.store import atomic_write
from repchange.hooks import Layer, Tap, resolve_layers, stage_ends

__all__ = ["METRICS", "Layer", "ProbeTooLarge", "Tracker", "final_values", "plot_table", "resolve_layers",
           "stage_ends"]

METRICS = ("cka", "cka_debiased", "procrustes", "pwsm", "filter_procrustes")
VIEWS = ("flatten", "positions")
MEMORY_SHARE = 0.8  # of the memory available, the most the held activations may take


class ProbeTooLarge(ValueError):
    """The probe set's activations would not fit in memory."""


# ---------------------------------------------------------------------------------------------
# Probe


def _probe_batches(probe: Any, batch_size: int, stats: Any) -> tuple[Callable[[], Iterator[torch.Tensor]], int | None]:
    """(a function yielding the probe's input batches in a fixed order, the number of probe samples)."""
    if isinstance(probe, Split):
        images = probe.images
        return (lambda: (normalise(images[s : s + batch_size], stats) for s in range(0, len(images), batch_size)),
                len(images))
    if isinstance(probe, torch.Tensor):
        if probe.ndim < 2:
            raise ValueError(f"a probe tensor holds one input per row, got shape {tuple(probe.shape)}")
        return (lambda: (probe[s : s + batch_size] for s in range(0, len(probe), batch_size))), len(probe)
    if isinstance(probe, Dataset):
        probe = DataLoader(probe, batch_size=batch_size, shuffle=False)
    if isinstance(probe, DataLoader):
        if isinstance(probe.sampler, RandomSampler):
            raise ValueError("the probe DataLoader shuffles; every update must see the same samples in the same "
                             "order: build it with shuffle=False")

        def first(batch: Any) -> torch.Tensor:
            if isinstance(batch, (tuple, list)):
                batch = batch[0]
            if not isinstance(batch, torch.Tensor):
                raise ValueError(f"the probe DataLoader yields {type(batch).__name__}; it must yield input tensors "
                                 f"or (inputs, targets) pairs")
            return batch

        n = len(probe.dataset) if hasattr(probe.dataset, "__len__") else None  # type: ignore[arg-type]
        return (lambda: (first(b) for b in probe)), n
    raise ValueError(f"probe must be a tensor, a torch Dataset, a DataLoader or a repchange Split, "
                     f"got {type(probe).__name__}")


def _available_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].strip().split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return 1 << 62  # unknown: do not refuse


def _held_bytes(n: int, widths: Mapping[str, int]) -> int:
    """Memory for exact metrics: two float32 copies of each layer's (n, p) outputs plus their
    float64 factors (centred features when p <= n, else two (n, n) Gram matrices)."""
    return sum(2 * 4 * n * p + 2 * 8 * (n * p if p <= n else n * n) for p in widths.values())


def _gib(b: float) -> str:
    return f"{b / 2**30:.1f} GiB"


# ---------------------------------------------------------------------------------------------
# Tracker


@dataclass(frozen=True)
class _Settings:
    layers: list[str]
    metrics: list[str]
    alphas: list[float]
    view: str
    bn: str
    streaming: bool
    probe_size: int | None
    model: str


class Tracker:
    """Record how the chosen layers of ``model`` move away from a reference while it trains.

    ``model``: any ``nn.Module``; its device (of its first parameter) is where activations and
    metrics are computed. ``probe``: input tensor (n, ...), torch ``Dataset`` or ``DataLoader``
    (not shuffled; the first element of each item is the input) or a repchange ``Split`` (uint8
    images, normalised with ``model.input_stats`` when present). ``layers``: see the module
    docstring. ``metrics``: names from :data:`METRICS`; "pwsm" is computed at each of ``alphas``.
    ``reference``: None (the model as it is now), a state dict, a checkpoint path, or another
    module with the same layer names. ``bn``: "eval" (running statistics, the default) or "batch"
    (probe-batch statistics, as the papers' code). ``out``: a folder where ``track.csv`` is
    rewritten after every update (and the reference weights kept, so a restarted run resumes);
    ``name`` puts it under the run store (``runs/track/<name>``).
    """

    def __init__(self, model: nn.Module, probe: Any, *, layers: str | Sequence[str] | None = "stages",
                 metrics: Sequence[str] = ("cka", "procrustes"), alphas: Sequence[float] = (),
                 reference: Mapping[str, torch.Tensor] | str | os.PathLike | nn.Module | None = None,
                 view: str = "flatten", bn: str = "eval", batch_size: int = 256, streaming: bool = False,
                 out: str | os.PathLike | None = None, name: str | None = None) -> None:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown or not metrics:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
        if ("pwsm" in metrics) != bool(alphas):
            raise ValueError("metric 'pwsm' needs alphas (e.g. alphas=(0.0, 0.5)), and alphas need 'pwsm'")
        bad_alpha = [a for a in alphas if not 0 <= a <= 1]
        if bad_alpha:
            raise ValueError(f"alphas must lie in [0, 1], got {bad_alpha}")
        if view not in VIEWS or bn not in BN_MODES:
            raise ValueError(f"view must be one of {VIEWS} and bn one of {BN_MODES}, got {view!r} and {bn!r}")
        if streaming and set(metrics) != {"cka_debiased"}:
            raise ValueError("streaming=True computes only metrics=('cka_debiased',): minibatch CKA is unbiased "
                             "only with the debiased HSIC, and Procrustes/PWSM need the whole probe set at once")
        if batch_size < (4 if streaming else 1):
            raise ValueError(f"batch_size must be at least {4 if streaming else 1}, got {batch_size}")
        self.model, self.metrics, self.alphas = model, tuple(metrics), tuple(float(a) for a in alphas)
        self.view, self.bn, self.streaming = view, bn, streaming
        self.device = next(model.parameters()).device
        self._batches, n = _probe_batches(probe, batch_size, getattr(model, "input_stats", None))
        first = next(iter(self._batches()), None)
        if first is None:
            raise ValueError("the probe set is empty")
        self.layers = resolve_layers(model, layers, first.to(self.device))
        self._tap = Tap(model, self.layers)
        with self._tap, extraction_mode(model, bn):
            outputs = self._tap(model, first.to(self.device))
        widths = {name: out[0].numel() for name, out in outputs.items()}
        if "filter_procrustes" in self.metrics:
            flat = [name for name, out in outputs.items() if out.ndim != 4]
            if flat:
                raise ValueError(f"filter_procrustes needs (N, C, H, W) outputs; layers {flat} give other shapes")
        if not streaming and n is not None:
            need, have = _held_bytes(n, widths), _available_bytes(self.device)
            if need > MEMORY_SHARE * have:
                raise ProbeTooLarge(
                    f"{n} probe samples at layers {[l.name for l in self.layers]} need about {_gib(need)} for exact "
                    f"metrics, and {_gib(have)} is available on {self.device}: use streaming=True (minibatch CKA, "
                    f"memory independent of the probe size), fewer probe samples, or fewer layers")

        self.out = Path(out) if out is not None else (_store_root() / "track" / name if name else None)
        self._settings = _Settings([l.name for l in self.layers], list(self.metrics), list(self.alphas), view, bn,
                                   streaming, n, type(model).__name__)
        self._rows: list[dict[str, Any]] = self._resume() if self.out else []
        reference = self._saved_reference(reference)
        self._reference_model = self._reference(reference) if streaming or reference is not None else model
        self._reference_acts = None if streaming else self._activations(self._reference_model, "the reference")

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
            Tap(reference, self.layers)  # the same layer names must exist
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
        return pd.read_csv(table).to_dict("records")

    # -- measuring ------------------------------------------------------------------------------

    def _activations(self, model: nn.Module, what: str) -> dict[str, torch.Tensor]:
        tap = self._tap if model is self.model else Tap(model, self.layers)
        parts: dict[str, list[torch.Tensor]] = {l.name: [] for l in self.layers}
        with tap, extraction_mode(model, self.bn):
            for x in self._batches():
                for name, out in tap(model, x.to(self.device)).items():
                    parts[name].append(out.float().clone())
        acts = {name: torch.cat(p) for name, p in parts.items()}
        for name, a in acts.items():
            if not torch.isfinite(a).all():
                raise ValueError(f"layer {name!r} of {what} produced NaN or infinite activations on the probe set")
        return acts

    def _view(self, acts: torch.Tensor) -> torch.Tensor:
        if self.view == "positions" and acts.ndim == 4:
            return positions_as_samples(acts)
        return acts.flatten(1)

    def _exact(self, layer: str, ref: torch.Tensor, cur: torch.Tensor) -> Iterator[tuple[str, float, float]]:
        fx, fy = Factors(self._view(ref), f"{layer} (reference)"), Factors(self._view(cur), layer)
        for metric in self.metrics:
            if metric == "cka":
                yield metric, math.nan, linear_cka(fx, fy)
            elif metric == "cka_debiased":
                yield metric, math.nan, linear_cka(fx, fy, debiased=True)
            elif metric == "procrustes":
                yield metric, math.nan, procrustes_angle(fx, fy)
            elif metric == "pwsm":
                for alpha in self.alphas:
                    yield metric, alpha, pwsm(fx, fy, alpha=alpha)
            else:  # filter_procrustes
                yield metric, math.nan, float(torch.nanmean(filter_procrustes_similarity(ref, cur)))

    def _streamed(self) -> dict[str, float]:
        acc = {l.name: MinibatchCKA(debiased=True) for l in self.layers}
        ref_tap = Tap(self._reference_model, self.layers)
        with self._tap, ref_tap, extraction_mode(self.model, self.bn), \
                extraction_mode(self._reference_model, self.bn):
            for x in self._batches():
                x = x.to(self.device)
                if len(x) < 4:
                    continue  # the unbiased HSIC needs 4 samples; a short last batch is left out
                cur, ref = self._tap(self.model, x), ref_tap(self._reference_model, x)
                for name in acc:
                    a, b = ref[name].flatten(1).float(), cur[name].flatten(1).float()
                    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
                        raise ValueError(f"layer {name!r} produced NaN or infinite activations on the probe set")
                    acc[name].update(a, b)
        return {name: a.value for name, a in acc.items()}

    def update(self, step: int | float, **info: Any) -> pd.DataFrame:
        """Measure every layer and metric against the reference now; return the new rows
        (step, layer, metric, alpha, value and ``info``) and append them to :attr:`table`
        (and to ``out``). Rows of an earlier update at the same step are replaced."""
        rows = []
        if self.streaming:
            for name, value in self._streamed().items():
                rows.append(dict(step=step, layer=name, metric="cka_debiased", alpha=math.nan, value=value, **info))
        else:
            current = self._activations(self.model, f"the model at step {step}")
            for layer in self.layers:
                for metric, alpha, value in self._exact(layer.name, self._reference_acts[layer.name],
                                                        current[layer.name]):
                    rows.append(dict(step=step, layer=layer.name, metric=metric, alpha=alpha, value=value, **info))
        self._rows = [r for r in self._rows if r["step"] != step] + rows
        if self.out is not None:
            self._save()
        return pd.DataFrame(rows)

    def _save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write(self.out / "track.json", lambda p: p.write_text(json.dumps(asdict(self._settings), indent=1)))
        atomic_write(self.out / "track.csv", lambda p: self.table.to_csv(p, index=False))

    @property
    def table(self) -> pd.DataFrame:
        """Every update's rows: step, layer, metric, alpha (NaN except for pwsm), value, and info columns."""
        columns = ["step", "layer", "metric", "alpha", "value"]
        return pd.DataFrame(self._rows, columns=None if self._rows else columns)


def final_values(table: pd.DataFrame, metric: str = "cka", alpha: float | None = None) -> pd.Series:
    """``{layer: value}`` of ``metric`` (at ``alpha`` for pwsm) at the table's last step, in layer order."""
    part = table[(table.metric == metric) & (table.alpha.isna() if alpha is None else table.alpha == alpha)]
    if part.empty:
        raise ValueError(f"the table has no rows of metric {metric!r}" + (f" at alpha={alpha}" if alpha is not None else ""))
    last = part[part.step == part.step.max()] if "step" in part else part
    return last.set_index("layer").value.reindex(list(dict.fromkeys(part.layer)))


def plot_table(table: pd.DataFrame, title: str = "") -> Any:
    """One panel per metric (and α): the value per layer in forward order; with a ``step``
    column of several steps, one line per layer over the steps instead."""
    import matplotlib.pyplot as plt

    keys = table[["metric", "alpha"]].drop_duplicates().itertuples(index=False)
    panels = [(m, a) for m, a in keys]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    order = list(dict.fromkeys(table.layer))
    for ax, (metric, alpha) in zip(axes[0], panels):
        part = table[(table.metric == metric) & (table.alpha.isna() if pd.isna(alpha) else table.alpha == alpha)]
        label = metric if pd.isna(alpha) else f"{metric} α={alpha:g}"
        if "step" in part and part.step.nunique() > 1:
            for layer in order:
                rows = part[part.layer == layer].sort_values("step")
                ax.plot(rows.step, rows.value, marker="o", ms=3, label=layer)
            ax.set_xlabel("step")
            ax.legend(fontsize=7)
        else:
            values = part.set_index("layer").value.reindex(order)
            ax.plot(range(len(order)), values.to_numpy(), marker="o")
            ax.set_xticks(range(len(order)), order, rotation=45, ha="right", fontsize=8)
            ax.set_xlabel("layer")
        direction = "1 = unchanged" if metric.startswith("cka") or metric == "filter_procrustes" else \
            "radians, 0 = unchanged"
        ax.set_title(label, fontsize=10)
        ax.set_ylabel(direction, fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _store_root() -> Path:
    from repchange.core.store import default_root

    return default_root()
