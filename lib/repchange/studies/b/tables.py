"""Study B's tables: feature dynamics of a source net while it is fine-tuned (Figs. 2-4).

:func:`dynamics` compares each checkpoint's probed ReLU maps on the target's probe images with
the source net's (epoch 0) under every metric; :func:`filter_agreement` correlates the per-filter
metrics (its chance level: :func:`filter_agreement_chance`); :func:`baseline` measures two
independently trained source nets against each other, the level "unrelated" reaches;
:func:`last_checkpoint_distances` is the dynamics at the last checkpoint alone. The runs they read
are :mod:`repchange.studies.b.runs`'; missing ones are trained first. Each run's table is stored
once; the missing ones are computed side by side in the worker pool, one thread each
(:mod:`repchange.runs.table_pool`), with the same numbers as one after another.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
import torch

from repchange.data import datasets as data_mod
from repchange.base.devices import resolve_device
from repchange.measure import filter_chunks
from repchange.measure.features import BN_MODES, extract
from repchange.measure.metrics import ALPHAS, CENTRINGS, METRIC_CODE
from repchange.measure.position_moments import ReferenceMoments
from repchange.nets.probe_shapes import probe_shapes
from repchange.nets.receptive_field import ReceptiveField, receptive_fields
from repchange.runs.parallel import Job, workers
from repchange.runs.runtime import Runtime
from repchange.runs.table_pool import (
    TableJob,
    beside_training,
    missing_tables,
    stored_table,
    stored_tables,
    table_runtime,
    tables_beside_training,
)
from repchange.runs.trainer import OptimiserSpec, load_checkpoint
from repchange.studies.b.layer_distances import (
    AGREEMENT_ALPHA,
    AGREEMENT_PAIRINGS,
    LayerDistances,
    filter_distances,
    filter_r_rows,
)
from repchange.studies.b.runs import (
    DEFAULT_TARGETS,
    SMALL_ARCHS,
    SOURCE_CLASSES,
    SPLIT_SEED,
    TARGETS,
    TRAINING_CODE,
    _ARCH_COST,
    FinetuneBConfig,
    SourceConfig,
    _new_net,
    finetune_b,
    is_folder_target,
    model_at,
    target_splits,
    train_all,
    train_source,
    train_sources,
)
from repchange.studies.b.streaming import ChunkPlan, ProbeMaps, table_plan, tables_at_once

# the tables' own code (studies.b.tables) included: until 2026-12-07 it was left out, and an edit to how a table's
# rows are computed would have kept its key (runs.table_pool.check_keyed now refuses that)
TABLE_CODE = (*TRAINING_CODE, "measure.features", *METRIC_CODE, "measure.filter_chunks", "measure.position_moments",
              "studies.b.streaming", "studies.b.layer_distances", "studies.b.tables")

__all__ = ["AGREEMENT_IMAGES_PER_CLASS", "DynamicsParams", "agreement_images", "baseline", "checkpoint_maps", "describe",
           "dynamics", "dynamics_params", "filter_agreement", "filter_agreement_chance", "filter_r", "independent_twin",
           "input_shape", "last_checkpoint_distances", "positions_shortfall", "run_config"]


@dataclass(frozen=True)
class DynamicsParams:
    """Figures 2-4: every probed layer at every checkpoint against the source net."""

    finetune: FinetuneBConfig = field(default_factory=FinetuneBConfig)
    archs: tuple[str, ...] = ("vgg_small", "resnet_small", "densenet_small")
    targets: tuple[str, ...] = DEFAULT_TARGETS
    seeds: tuple[int, ...] = (1,)  # source-net seeds (the paper: one run per model and data set)
    alphas: tuple[float, ...] = ALPHAS
    n_probe: int = 200
    bn: str = "batch"  # BatchNorm at extraction: batch statistics (the authors' code) or "eval"
    procrustes_centre: str = "rows"  # per-filter Procrustes: centre rows (the authors' code) or "columns" (scipy)
    lr_by_target: tuple[tuple[str, float], ...] = ()  # fine-tuning learning rate of named targets (paper: Fruits 1e-3)

    def validate(self) -> None:
        if self.bn not in BN_MODES:
            raise ValueError(f"bn must be one of {BN_MODES}, got {self.bn!r}")
        if self.procrustes_centre not in CENTRINGS:
            raise ValueError(f"procrustes_centre must be one of {CENTRINGS}, got {self.procrustes_centre!r}")
        unknown = [t for t, _ in self.lr_by_target if t not in TARGETS and not is_folder_target(t)]
        if unknown:
            raise ValueError(f"lr_by_target names unknown targets {unknown}; choose from {sorted(TARGETS)}")
        if not self.archs or not self.targets or not self.seeds:
            raise ValueError("archs, targets and seeds must each name at least one entry")
        for arch in self.archs:
            for target in self.targets:
                replace(self.finetune, source=replace(self.finetune.source, arch=arch), target=target).validate()
        if any(not 0.0 <= a <= 1.0 for a in self.alphas):
            raise ValueError(f"alphas must lie in [0, 1], got {list(self.alphas)}")
        if self.n_probe < 2 or (self.finetune.eval_size is not None and self.n_probe > self.finetune.eval_size):
            raise ValueError(f"n_probe must lie in 2..eval_size ({self.finetune.eval_size}), got {self.n_probe}")
        problem = positions_shortfall(self.archs, self.n_probe, self.alphas, self.finetune.image_size)
        if problem:
            raise ValueError(problem)


def positions_shortfall(archs: tuple[str, ...] | list[str], n_probe: int, alphas: tuple[float, ...] | list[float],
                        image_size: int = FinetuneBConfig.image_size) -> str | None:
    """What is wrong, or None: PWSM below alpha 1 whitens each layer's channels over the probe's positions (every
    position of every probe image a sample), so it needs at least as many positions as channels in every probed
    layer. Read from the layers' shapes (:func:`repchange.nets.probe_shapes.probe_shapes`; the small nets at 28 px,
    the torchvision nets at ``image_size``), before anything runs."""
    if all(a >= 1 for a in alphas):
        return None
    for arch in archs:
        size = 28 if arch in SMALL_ARCHS else image_size
        for layer, (channels, height, width) in probe_shapes(arch, size).items():
            if n_probe * height * width < channels:
                need = -(-channels // (height * width))
                return (f"b_probe_size ({n_probe}) gives {n_probe * height * width:,} positions in {arch}'s {layer} "
                        f"({channels} channels of {height} × {width} at {size} px), but PWSM at b_alphas below 1 needs "
                        f"at least {channels:,}: raise b_probe_size to at least {need} (and b_finetune_eval_size with "
                        f"it), or keep only alpha 1 in b_alphas")
    return None


def _run_label(cfg: FinetuneBConfig) -> str:
    return f"{cfg.source.arch} seed {cfg.source.seed} on {cfg.target}"


def dynamics(params: DynamicsParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """Tidy table: arch, target, seed, layer, epoch, cls (``all`` or a class index), metric, value, dead_fraction,
    train_acc, test_acc.

    Metrics (distances to the source net, 0 = unchanged): ``pwsm_alpha_<a>`` (angular shape
    metric on positions-as-samples, radians; NaN for a class whose images give fewer positions
    than the layer has channels when alpha < 1) and ``procrustes_filter`` (1 - nan-mean per-filter
    Procrustes similarity; ``dead_fraction`` = share of (image, filter) maps that were all zero).
    Each (arch, target) table is stored once.
    """
    params.validate()
    runtime = runtime or Runtime()
    keys = {cfg: _distances_key(cfg, params, runtime) for cfg in _runs(params)}
    jobs = {cfg: (_dynamics_table, dict(cfg=cfg, params=params, runtime=runtime)) for cfg in keys}
    return _tidy(_stored_tables("study_b/dynamics", keys, jobs, runtime, "Study B distance tables",
                                train=lambda missing: train_all(missing, runtime=runtime)))


def _dynamics_table(cfg: FinetuneBConfig, params: DynamicsParams, runtime: Runtime) -> pd.DataFrame:
    """One run's :func:`dynamics` rows (without arch, target, seed)."""
    run_dir, probe, source, checkpoints = _run_maps(cfg, params, runtime)
    history = pd.read_csv(run_dir / "history.csv").set_index("epoch")
    rows = []
    references: dict[str, ReferenceMoments] = {}  # the source's moments per layer, built at the first checkpoint
    for epoch, now in checkpoints:
        distances = _distances(source, now, probe.labels, params, references=references)
        for layer, layer_distances in distances.items():
            rows += [dict(layer=layer, epoch=epoch, **row, train_acc=history.loc[epoch, "train_acc"],
                          test_acc=history.loc[epoch, "test_acc"]) for row in layer_distances.rows()]
            references[layer] = layer_distances.reference  # finished by rows()
    return pd.DataFrame(rows)


def _distances(source: ProbeMaps, now: ProbeMaps, labels: torch.Tensor, params: DynamicsParams, *,
               per_class: bool = True, references: dict[str, ReferenceMoments] | None = None
               ) -> dict[str, LayerDistances]:
    """Each probed layer's :class:`LayerDistances` of ``now``'s maps to ``source``'s, one chunk of probe images at a
    time; ``references``: the source's moments of layers already seen (the others are built in this pass)."""
    distances: dict[str, LayerDistances] = {}
    for part in now.plan.slices:
        maps = now.chunk(part)
        for layer, src in (maps if now is source else source.chunk(part)).items():
            if layer not in distances:
                distances[layer] = LayerDistances(labels, params.alphas, per_class=per_class,
                                                  centre=params.procrustes_centre,
                                                  reference=(references or {}).get(layer))
            distances[layer].add(src, maps[layer])
        del maps, src  # this chunk's maps go before the next chunk's are made
    return distances


def last_checkpoint_distances(params: DynamicsParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """Each run's last checkpoint against its source net, all probes together, under every metric of
    :func:`dynamics`: the rows of its table at the last epoch with ``cls == "all"``, computed alone (one
    checkpoint, one group), for comparisons of extraction settings that read nothing else (the deviations
    page). Columns: arch, target, seed, layer, epoch, metric, alpha, value, dead_fraction."""
    params.validate()
    runtime = runtime or Runtime()
    keys = {cfg: _distances_key(cfg, params, runtime) for cfg in _runs(params)}
    jobs = {cfg: (_last_checkpoint_table, dict(cfg=cfg, params=params, runtime=runtime)) for cfg in keys}
    return _tidy(_stored_tables("study_b/last_checkpoint_distances", keys, jobs, runtime,
                                "Study B last-checkpoint distances",
                                train=lambda missing: train_all(missing, runtime=runtime)))


def _distances_key(cfg: FinetuneBConfig, params: DynamicsParams, runtime: Runtime) -> dict[str, object]:
    """The store key of one run's :func:`dynamics` table, and of its :func:`last_checkpoint_distances` table."""
    return dict(finetune=asdict(cfg), alphas=params.alphas, n_probe=params.n_probe, bn=params.bn,
                centre=params.procrustes_centre, **_reading(cfg, params, runtime))


def _last_checkpoint_table(cfg: FinetuneBConfig, params: DynamicsParams, runtime: Runtime) -> pd.DataFrame:
    """One run's :func:`last_checkpoint_distances` rows (without arch, target, seed). Where the store serves the run's
    :func:`dynamics` table (the chapter computed it), they are its rows at the last epoch with ``cls == "all"``: the
    very numbers a computation alone gives (the "all" group is summed apart from the classes; tested), without
    extracting the maps again."""
    key = _distances_key(cfg, params, runtime)
    if runtime.store.has("study_b/dynamics", key, TABLE_CODE):
        table = runtime.store.table("study_b/dynamics", key, _not_stored, code=TABLE_CODE)
        rows = table[(table.epoch == max(cfg.checkpoints)) & (table.cls.astype(str) == "all")]
        return rows.drop(columns=["cls", "train_acc", "test_acc"]).reset_index(drop=True)
    _, probe, source, checkpoints = _run_maps(cfg, params, runtime, from_epoch=max(cfg.checkpoints))
    epoch, now = next(checkpoints)
    return pd.DataFrame([dict(layer=layer, epoch=epoch, **row)
                         for layer, d in _distances(source, now, probe.labels, params, per_class=False).items()
                         for row in d.rows()]).drop(columns="cls")


def _not_stored() -> pd.DataFrame:
    raise RuntimeError("a table the store said it serves was not there")


def _stored_tables(kind: str, keys: dict, jobs: dict, runtime: Runtime, desc: str,
                   train: Callable[[list[FinetuneBConfig]], None]) -> list[pd.DataFrame]:
    """Each run's table of ``kind`` (``keys``: run config → store key; ``jobs``: run config → (function,
    kwargs) that computes its table), labelled with arch, target and seed. For the tables the store lacks,
    ``train`` first trains what they read; then they are computed side by side on one thread each
    (:func:`repchange.runs.table_pool.stored_tables`): the per-filter decompositions are many small
    eigendecompositions and SVDs, which gain nothing from a second thread and lose much on a busy machine.
    Where the runs train on a GPU, each table starts on the CPU's pool as soon as its run is trained, beside the next
    one's training (:func:`repchange.runs.table_pool.tables_beside_training`)."""
    on = table_runtime(runtime)
    table_jobs = {cfg: TableJob(kind, key, jobs[cfg][0], {**jobs[cfg][1], "runtime": on}, code=TABLE_CODE,
                                label=_run_label(cfg), cost=_ARCH_COST.get(cfg.source.arch, 1.0))
                  for cfg, key in keys.items()}
    missing = missing_tables(list(table_jobs.values()), runtime.store)
    lacking = {id(job) for job in missing}
    todo = [cfg for cfg, job in table_jobs.items() if id(job) in lacking]
    beside = beside_training(runtime)
    slots = max(1, workers() - 1) if beside else None  # beside the training, one core feeds the device
    at_once = _tables_at_once(todo, jobs, on, slots)
    if missing and at_once < min(slots or workers(), len(missing)):
        desc = f"{desc} ({at_once} at once: the memory they need)"
    if beside and todo:
        tables_beside_training([(Job(train, dict(missing=[cfg]), label=_run_label(cfg)), [table_jobs[cfg]])
                                for cfg in todo], runtime, desc, n_workers=at_once)
        tables = [stored_table(job, runtime.store) for job in table_jobs.values()]
    else:
        train(todo)
        tables = stored_tables(list(table_jobs.values()), runtime, desc, missing=missing, n_workers=at_once)
    return [_labelled(table, cfg) for cfg, table in zip(table_jobs, tables)]


def _tables_at_once(missing: list[FinetuneBConfig], jobs: dict, on: Runtime, slots: int | None = None) -> int:
    """How many missing tables may run side by side (:func:`repchange.studies.b.streaming.tables_at_once`) on the
    runtime ``on`` they are computed under: one with CUDA (they run in this process, on the device), else as many
    workers (at most ``slots``) as their memory allows; refused, before training or any table, where not even one
    fits."""
    device = resolve_device(on.device)
    return tables_at_once([(_run_label(cfg), cfg.source.arch, _plan(cfg, jobs[cfg][1]["params"]),
                            probe_shapes(cfg.source.arch, *input_shape(cfg))) for cfg in missing],
                          1 if device.type == "cuda" else (slots or workers()), device)


def _train_with_twins(missing: list[FinetuneBConfig], twins: dict[FinetuneBConfig, SourceConfig],
                      runtime: Runtime) -> None:
    """Train the source nets of ``missing`` runs and their independent twins (the baseline and chance tables)."""
    train_sources([source for cfg in missing for source in (cfg.source, twins[cfg])], runtime=runtime)


def _reading(cfg: FinetuneBConfig, params: DynamicsParams, runtime: Runtime) -> dict[str, object]:
    """The key entries of how a table reads its maps (their float order): the device its metrics run on (the run's,
    CUDA or the CPU) and the probe images a chunk (:func:`_plan`)."""
    return dict(table_device=resolve_device(table_runtime(runtime).device).type, chunk_images=_plan(cfg, params).images)


def input_shape(cfg: FinetuneBConfig) -> tuple[int, int]:
    """(image size, channels) of the run's probe images: the small nets' 1-channel 28-px images, the torchvision
    nets' 3-channel ``image_size`` ones."""
    return (28, 1) if cfg.source.arch in SMALL_ARCHS else (cfg.image_size, 3)


def _plan(cfg: FinetuneBConfig, params: DynamicsParams) -> ChunkPlan:
    """How a table of the run reads its probe (:func:`repchange.studies.b.streaming.table_plan`)."""
    return table_plan(cfg.source.arch, params.n_probe, *input_shape(cfg), params.bn)


def _run_maps(cfg: FinetuneBConfig, params: DynamicsParams, runtime: Runtime, from_epoch: int = 0
              ) -> tuple[Path, data_mod.Split, ProbeMaps, Iterator[tuple[int, ProbeMaps]]]:
    """The run's folder (trained if not stored), its probe set, the source net's probed maps
    (:class:`~repchange.studies.b.streaming.ProbeMaps`, chunk by chunk, on the run's device) and a lazy
    ``(epoch, maps)`` over the checkpoints from ``from_epoch`` on (epoch 0 is the source itself: the same net)."""
    run_dir = finetune_b(cfg, runtime=runtime)
    probe, classes = _probe(cfg, params.n_probe, runtime.data_root)
    device = resolve_device(runtime.device)
    source_model = model_at(cfg, run_dir, 0, classes).to(device)
    plan = _plan(cfg, params)
    source = ProbeMaps(source_model, probe, plan, bn=params.bn)

    def maps_at(epoch: int) -> ProbeMaps:
        return source if epoch == 0 else ProbeMaps(model_at(cfg, run_dir, epoch, classes).to(device), probe, plan,
                                                   bn=params.bn)

    return run_dir, probe, source, ((e, maps_at(e)) for e in cfg.checkpoints if e >= from_epoch)


# Per-filter distances of the agreement: means over the first this-many probe images of each class (probe
# order). One eigendecomposition per image and filter makes the per-filter PWSM ~5x the Procrustes' cost;
# 16 images per class keep the default book's agreement tables to about the time they took before.
AGREEMENT_IMAGES_PER_CLASS = 16
AGREEMENT_PAIRINGS_DOC = """``pairing``: ``pwsm_alpha_0.5`` — per-filter PWSM at partial whitening α = 0.5 (the
paper's Eq. 1 on one filter's map; the paper's text pairs PWSM with Procrustes); ``cka`` — per-filter linear
CKA (the authors' code's pairing). Every distance uses the same maps, samples axis (the H rows) and
centring as the per-filter Procrustes distance."""


def filter_agreement(params: DynamicsParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """The paper's metric agreement (Sec. 4, "mean value for Pearson's r as 0.83"): for each (layer,
    epoch > 0, class) one Pearson r *across the layer's filters* between the per-filter Procrustes
    distance to the source net and a second per-filter distance to it, each a mean over the class's
    first :data:`AGREEMENT_IMAGES_PER_CLASS` probe images. The second distance is given by ``pairing``
    (below).

    Columns: arch, target, seed, layer, epoch, cls, pairing, r, n_filters (filters with both distances
    finite; r is NaN below 3 or where either distance is constant over the filters).
    """ + AGREEMENT_PAIRINGS_DOC
    params.validate()
    runtime = runtime or Runtime()
    keys = {cfg: dict(finetune=asdict(cfg), n_probe=params.n_probe, bn=params.bn, centre=params.procrustes_centre,
                      pairings=AGREEMENT_PAIRINGS, images_per_class=AGREEMENT_IMAGES_PER_CLASS,
                      **_reading(cfg, params, runtime)) for cfg in _runs(params)}
    jobs = {cfg: (_agreement_table, dict(cfg=cfg, params=params, runtime=runtime)) for cfg in keys}
    return _tidy(_stored_tables("study_b/filter_agreement", keys, jobs, runtime, "Study B filter agreement",
                                train=lambda missing: train_all(missing, runtime=runtime)))


def _agreement_table(cfg: FinetuneBConfig, params: DynamicsParams, runtime: Runtime) -> pd.DataFrame:
    """One run's :func:`filter_agreement` rows (without arch, target, seed)."""
    _, probe, source, checkpoints = _run_maps(cfg, params, runtime, from_epoch=1)
    keep = _kept(probe.labels)
    whitened: dict[tuple[int, str], filter_chunks.ChunkedWhitened] = {}  # with one chunk: the source side, once
    rows = []
    for epoch, now in checkpoints:
        distances = _agreement_distances(source, now, keep, params.procrustes_centre, whitened)
        rows += [dict(layer=layer, epoch=epoch, **r) for layer, d in distances.items()
                 for r in filter_r_rows(d, probe.labels[keep])]
    return pd.DataFrame(rows)


def _kept(labels: torch.Tensor) -> torch.Tensor:
    """A (n,) mask of the agreement's probe images (:func:`agreement_images`)."""
    keep = torch.zeros(len(labels), dtype=torch.bool)
    keep[agreement_images(labels)] = True
    return keep


def _agreement_distances(source: ProbeMaps, now: ProbeMaps, keep: torch.Tensor, centre: str,
                         whitened: dict[tuple[int, str], filter_chunks.ChunkedWhitened] | None = None
                         ) -> dict[str, dict[str, np.ndarray]]:
    """Each layer's per-filter distances (:func:`~repchange.studies.b.layer_distances.filter_distances`, (k, C) each)
    of ``now`` to ``source`` on the probe images of mask ``keep``, one chunk at a time. ``whitened``: the source's
    whitened maps per (chunk, layer), filled and reused when the source's maps are kept (one chunk)."""
    parts: dict[str, list[dict[str, np.ndarray]]] = {}
    for part in now.plan.slices:
        maps = now.chunk(part)
        mask = keep[part].to(next(iter(maps.values())).device)
        for layer, src in (maps if now is source else source.chunk(part)).items():
            side = None
            if whitened is not None and source.kept is not None:
                side = whitened.get((part.start, layer))
                if side is None:
                    side = whitened[(part.start, layer)] = filter_chunks.ChunkedWhitened(
                        src[mask], alpha=AGREEMENT_ALPHA, centre=centre)
            parts.setdefault(layer, []).append(filter_distances(src[mask], maps[layer][mask], centre, side))
        del maps, src  # this chunk's maps go before the next chunk's are made
    return {layer: {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
            for layer, chunks in parts.items()}


def _twins_and_keys(params: DynamicsParams, extra: Callable[[FinetuneBConfig], dict]
                    ) -> tuple[dict[FinetuneBConfig, SourceConfig], dict[FinetuneBConfig, dict]]:
    """Each run's independently trained twin (:func:`independent_twin`; a torchvision source has none, and its run is
    left out) and the store key of the run's twin table: the run, the twin, the probe settings and ``extra(run)``."""
    twins, keys = {}, {}
    for cfg in _runs(params):
        if cfg.source.pretrained_elsewhere:
            continue
        twin = twins[cfg] = independent_twin(cfg.source, params.seeds)
        keys[cfg] = dict(source=asdict(cfg.source), twin=asdict(twin), target=cfg.target, eval_size=cfg.eval_size,
                         n_probe=params.n_probe, bn=params.bn, centre=params.procrustes_centre, **extra(cfg))
    return twins, keys


def filter_agreement_chance(params: DynamicsParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """The chance level of :func:`filter_agreement`: the same r's between each source net and its
    independently trained twin (:func:`independent_twin`, as :func:`baseline`), on each run's probe images, per
    (layer, class). Small nets only. Columns: arch, target, seed, layer, cls, pairing, r, n_filters."""
    params.validate()
    runtime = runtime or Runtime()
    twins, keys = _twins_and_keys(params, lambda cfg: dict(pairings=AGREEMENT_PAIRINGS,
                                                           images_per_class=AGREEMENT_IMAGES_PER_CLASS,
                                                           **_reading(cfg, params, runtime)))
    if not keys:
        return pd.DataFrame(columns=["arch", "target", "seed", "layer", "cls", "pairing", "r", "n_filters"])
    jobs = {cfg: (_chance_table, dict(cfg=cfg, twin=twin, params=params, runtime=runtime))
            for cfg, twin in twins.items()}
    return _tidy(_stored_tables("study_b/filter_agreement_chance", keys, jobs, runtime, "Study B agreement chance",
                                train=lambda missing: _train_with_twins(missing, twins, runtime)))


def _chance_table(cfg: FinetuneBConfig, twin: SourceConfig, params: DynamicsParams, runtime: Runtime) -> pd.DataFrame:
    """One run's :func:`filter_agreement_chance` rows (without arch, target, seed)."""
    probe, source, other = _source_and_twin_maps(cfg, twin, params, runtime)
    keep = _kept(probe.labels)
    return pd.DataFrame([dict(layer=layer, **r) for layer, d in
                         _agreement_distances(source, other, keep, params.procrustes_centre).items()
                         for r in filter_r_rows(d, probe.labels[keep])])


def _source_and_twin_maps(cfg: FinetuneBConfig, twin: SourceConfig, params: DynamicsParams, runtime: Runtime
                          ) -> tuple[data_mod.Split, ProbeMaps, ProbeMaps]:
    """The run's probe set and the probed maps (chunk by chunk, on the run's device) of its source net and of that
    net's independently trained ``twin`` on it (both trained if not stored)."""
    probe, _ = _probe(cfg, params.n_probe, runtime.data_root)
    device = resolve_device(runtime.device)
    models = []
    for source in (cfg.source, twin):
        run_dir = train_source(source, runtime=runtime)
        models.append(load_checkpoint(_new_net(source.arch, source.seed, len(SOURCE_CLASSES)), run_dir,
                                      source.epochs).to(device))
    plan = _plan(cfg, params)
    return probe, *(ProbeMaps(model, probe, plan, bn=params.bn) for model in models)


def agreement_images(labels: torch.Tensor, per_class: int | None = AGREEMENT_IMAGES_PER_CLASS) -> torch.Tensor:
    """Indices of the first ``per_class`` probe images of each class (None: all of them), in probe order."""
    keep = [torch.nonzero(labels == c).flatten()[:per_class] for c in labels.unique().tolist()]
    return torch.sort(torch.cat(keep)).values


def filter_r(src: torch.Tensor, now: torch.Tensor, labels: torch.Tensor, centre: str,
             src_whitened: filter_chunks.ChunkedWhitened | None = None) -> list[dict[str, object]]:
    """Per class of ``labels`` and pairing (see :func:`filter_agreement`): Pearson r across filters of the
    per-filter Procrustes distance and the pairing's distance, each the mean over the class's images of
    (n, C, H, W) maps. Each distance is computed once for every image and filter, then averaged per class."""
    return filter_r_rows(filter_distances(src, now, centre, src_whitened), labels)


def _runs(params: DynamicsParams) -> list[FinetuneBConfig]:
    """One fine-tuning config per (arch, target, seed) of ``params``, in that order."""
    return [run_config(params, a, t, s) for a in params.archs for t in params.targets for s in params.seeds]


def _probe(cfg: FinetuneBConfig, n_probe: int, data_root: str | None) -> tuple[data_mod.Split, int]:
    """``n_probe`` evaluation images of the run's target, stratified over its classes (seed 42), and its
    number of classes."""
    _, ev, classes = target_splits(cfg, data_root)
    if n_probe < 1:
        raise ValueError(f"n_probe must be at least 1, got {n_probe}")
    if n_probe > len(ev):
        raise ValueError(f"n_probe={n_probe} exceeds the {len(ev)} evaluation images of {cfg.target}")
    return ev.stratified(n_probe, SPLIT_SEED), classes


def _labelled(frame: pd.DataFrame, cfg: FinetuneBConfig) -> pd.DataFrame:
    return frame.assign(arch=cfg.source.arch, target=cfg.target, seed=cfg.source.seed)


def _tidy(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The per-run tables as one frame, arch / target / seed first."""
    frame = pd.concat(tables, ignore_index=True)
    front = ["arch", "target", "seed"]
    return frame[front + [c for c in frame.columns if c not in front]]


def dynamics_params(*, archs: list[str], targets: list[str], seeds: list[int], source_epochs: int,
                    source_size: int, finetune_epochs: int, finetune_checkpoints: list[int],
                    finetune_size: int | None, finetune_eval_size: int | None, finetune_lr: float,
                    finetune_batch_size: int, n_probe: int, alphas: list[float] = ALPHAS,
                    weights: str | None = "imagenet", bn: str = "batch", procrustes_centre: str = "rows",
                    lr_by_target: dict[str, float] | None = None) -> DynamicsParams:
    """The :class:`DynamicsParams` of a Study B notebook's parameters cell (the same in every chapter, so
    all chapters share the stored runs and tables); validated."""
    source = replace(SourceConfig(), epochs=source_epochs, train_size=source_size, weights=weights)
    finetune = FinetuneBConfig(source=source, epochs=finetune_epochs, checkpoints=tuple(finetune_checkpoints),
                               train_size=finetune_size, eval_size=finetune_eval_size,
                               optimiser=OptimiserSpec("adam", lr=finetune_lr, batch_size=finetune_batch_size,
                                                       grad_clip=0.5))
    params = DynamicsParams(finetune=finetune, archs=tuple(archs), targets=tuple(targets), seeds=tuple(seeds),
                            alphas=tuple(float(a) for a in alphas), n_probe=n_probe, bn=bn,
                            procrustes_centre=procrustes_centre,
                            lr_by_target=tuple(sorted((lr_by_target or {}).items())))
    params.validate()
    return params


def describe(params: DynamicsParams, targets: list[str] | None = None) -> dict[str, str]:
    """Provenance of a Study B table: data (source → targets), source and fine-tuning settings, probes."""
    ft, src = params.finetune, params.finetune.source
    small = [a for a in params.archs if a in SMALL_ARCHS]
    source = f"first {src.train_size} Fashion-MNIST images of classes 0-4 × {src.epochs} epochs" if small else \
        f"published weights ({src.weights}), {ft.image_size} px inputs"
    overrides = "".join(f"; lr {lr:g} on {t}" for t, lr in params.lr_by_target)
    origin = "Fashion-MNIST source" if small else f"{src.weights} weights"
    return dict(data=f"{origin} → {', '.join(targets or params.targets)}", source=source,
                fine_tuning=f"{ft.train_size or 'all'} images × {ft.epochs} epochs, Adam lr {ft.optimiser.lr:g}, "
                            f"batch {ft.optimiser.batch_size}, clip {ft.optimiser.grad_clip}{overrides}",
                checkpoints=list(ft.checkpoints),
                probe=f"{params.n_probe} eval images of each target, stratified over classes",
                extraction=f"BatchNorm {params.bn}, Procrustes centring {params.procrustes_centre}")


def run_config(params: DynamicsParams, arch: str, target: str, seed: int | None = None) -> FinetuneBConfig:
    """The fine-tuning config of one (arch, target, seed) run of ``params`` (seed: the first by default)."""
    seed = params.seeds[0] if seed is None else seed
    cfg = replace(params.finetune, source=replace(params.finetune.source, arch=arch, seed=seed), target=target)
    lr = dict(params.lr_by_target).get(target)
    if lr is not None:
        cfg = replace(cfg, optimiser=replace(cfg.optimiser, lr=lr))
    cfg.validate()
    return cfg


def checkpoint_maps(cfg: FinetuneBConfig, layers: list[str] | None, n_probe: int, runtime: Runtime | None = None,
                    bn: str = "batch", epochs: list[int] | None = None, filters: dict[str, list[int]] | None = None
                    ) -> tuple[data_mod.Split, dict[int, dict[str, torch.Tensor]], dict[str, ReceptiveField]]:
    """The probe images, the (n, C, H, W) maps of ``layers`` (default: all probed) at each of ``epochs`` (default:
    every checkpoint) of the run (trained if not stored), and each layer's receptive-field geometry. All are held at
    once: at the paper's sizes ask only for the epochs you compare (ResNet50, 300 probe images: 2.8 GB an epoch), and
    with ``filters`` ({layer: filter indices}) only those filters' maps are kept, (n, len, H, W), as each epoch is
    read."""
    runtime = runtime or Runtime()
    run_dir = finetune_b(cfg, runtime=runtime)
    probe, classes = _probe(cfg, n_probe, runtime.data_root)
    unsaved = sorted(set(epochs or []) - set(cfg.checkpoints))
    if unsaved:
        raise ValueError(f"epochs {unsaved} are not checkpoints of the run; it saved {list(cfg.checkpoints)}")
    maps, fields = {}, {}
    for epoch in cfg.checkpoints if epochs is None else sorted(epochs):
        model = model_at(cfg, run_dir, epoch, classes)
        names = list(model.probe_layers) if layers is None else list(layers)
        unknown = [n for n in names if n not in model.probe_layers]
        if unknown:
            raise ValueError(f"{cfg.source.arch} has no probed layer(s) {unknown}; it has {list(model.probe_layers)}")
        chosen = {n: model.probe_layers[n] for n in names}
        maps[epoch] = extract(model, chosen, probe, flatten=False, bn=bn)
        if filters is not None:
            maps[epoch] = {n: m[:, list(filters[n])].clone() if n in filters else m for n, m in maps[epoch].items()}
        if not fields:
            fields = receptive_fields(model, chosen)
    return probe, maps, fields


INDEPENDENT_SEED_OFFSET = 1000  # with one seed s, its independent source net is trained with seed s + 1000


def independent_twin(source: SourceConfig, seeds: tuple[int, ...]) -> SourceConfig:
    """An independently trained source net of the same kind (architecture, data, recipe) as ``source``: the source
    net of the run's next seed (cyclically) when the run has two or more ``seeds`` — trained anyway, so the
    baseline costs no training — else one trained with seed + :data:`INDEPENDENT_SEED_OFFSET`.

    With two seeds the two baselines of a (layer, target) are one pair of nets seen from each side: the
    baseline is a reference level, not a unit of any claim."""
    seeds = tuple(seeds)
    if len(seeds) < 2 or source.seed not in seeds:
        return replace(source, seed=source.seed + INDEPENDENT_SEED_OFFSET)
    return replace(source, seed=seeds[(seeds.index(source.seed) + 1) % len(seeds)])


def baseline(params: DynamicsParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """The distance an *unrelated* net has: each probed layer of the source net against the same layer
    of an independently trained source net (same architecture, data and recipe: :func:`independent_twin`), on
    each target's probe images, all probes together. Small nets only (a torchvision source has no
    independent twin here). Columns: arch, target, seed, layer, metric, value, dead_fraction.

    A fine-tuned layer whose distance to its source stays below this level is still closer to its
    source than a differently seeded net of the same kind is.
    """
    params.validate()
    runtime = runtime or Runtime()
    twins, keys = _twins_and_keys(params, lambda cfg: dict(source_size=cfg.source.train_size, alphas=params.alphas,
                                                           **_reading(cfg, params, runtime)))
    if not keys:
        return pd.DataFrame(columns=["arch", "target", "seed", "layer", "metric", "value", "dead_fraction"])
    jobs = {cfg: (_baseline_table, dict(cfg=cfg, twin=twin, params=params, runtime=runtime))
            for cfg, twin in twins.items()}
    return _tidy(_stored_tables("study_b/baseline", keys, jobs, runtime, "Study B baseline",
                                train=lambda missing: _train_with_twins(missing, twins, runtime)))


def _baseline_table(cfg: FinetuneBConfig, twin: SourceConfig, params: DynamicsParams, runtime: Runtime
                    ) -> pd.DataFrame:
    """One run's :func:`baseline` rows (without arch, target, seed)."""
    probe, source, other = _source_and_twin_maps(cfg, twin, params, runtime)
    return pd.DataFrame([dict(layer=layer, metric=row["metric"], value=row["value"], dead_fraction=row["dead_fraction"])
                         for layer, d in _distances(source, other, probe.labels, params, per_class=False).items()
                         for row in d.rows()])
