"""Study A (Goerttler & Obermayer): the CKA tables behind every figure.

Pre-training tables: the probe set is the first ``n_probe`` images of the fixed, unshuffled
test split. Each epoch's net is compared, layer by layer, with (a) its own random init and
(b) an independently drawn random init of the same architecture (seed
``seed + INDEPENDENT_SEED_OFFSET``): (b) at epoch 0 is the CKA two unrelated random nets
already have on these images -- the baseline every CKA value must be read against.

Fine-tuning tables: the probe set is the first ``n_probe`` images of the fine-tuning eval
split (target data), and each epoch's net is compared with the pre-trained net (fine-tuning
epoch 0), with the random init its pre-training started from, and with an independent init; the
two inits against each other (``chance``) give the probe's chance level.

Training runs come from :mod:`.pretraining` and :mod:`.finetuning`; every table is stored
once per parameter set and code version, and tidy: one row per
(seed, condition, layer, epoch, comparison, metric).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Iterable

import pandas as pd

from repchange.measure.features import BN_MODES, layer_factors
from repchange.measure.metrics import METRIC_CODE, Factors, linear_cka
from repchange.runs.runtime import Runtime
from repchange.runs.table_pool import AssembledTable, TablePart, assembled_tables
from repchange.runs.trainer import OptimiserSpec
from repchange.studies.a.finetuning import TRAINING_CODE as FINETUNING_CODE
from repchange.studies.a.finetuning import FinetuneConfig, finetune, finetune_all, finetuning_splits
from repchange.studies.a.pretraining import TRAINING_CODE as PRETRAINING_CODE
from repchange.studies.a.pretraining import (PretrainConfig, PretrainedRun, evaluated_epochs, ledger_epochs,
                                             matched_epochs, pretrain, pretrain_all)

__all__ = [
    "CkaToInitParams",
    "DegreeSweepParams",
    "FinetuneConfig",
    "FinetuneSweepParams",
    "OptimiserSpec",
    "PretrainConfig",
    "PretrainedRun",
    "SizeSweepParams",
    "cka_to_init",
    "degree_sweep",
    "degree_tables",
    "evaluated_epochs",
    "ledger_epochs",
    "pretraining_stored",
    "pretraining_tables",
    "finetune_sweep",
    "finetune_histories",
    "pretrain",
    "equal_steps_table",
    "size_sweep",
    "size_tables",
    "split_length",
    "training_histories",
]

INDEPENDENT_SEED_OFFSET = 10_000
PRETRAIN_TABLE_CODE = (*PRETRAINING_CODE, "measure.features", *METRIC_CODE, "studies.a.tables")
FINETUNE_TABLE_CODE = (*FINETUNING_CODE, "measure.features", *METRIC_CODE, "studies.a.tables")
CKA_METRICS = (("cka", False), ("cka_debiased", True))


def _similarity_rows(factors: dict[str, Factors], refs: dict[str, dict[str, Factors]],
                     **meta: object) -> list[dict[str, object]]:
    """One row per (layer, comparison, metric) of ``factors`` against each reference's same layer."""
    return [
        dict(meta, layer=layer, comparison=comparison, metric=metric,
             value=linear_cka(rep, ref[layer], debiased=debiased))
        for layer, rep in factors.items()
        for comparison, ref in refs.items()
        for metric, debiased in CKA_METRICS
    ]


@dataclass(frozen=True)
class CkaToInitParams:
    """Figure 1: CKA of every probed layer to the random init, per epoch, for each seed."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    seeds: tuple[int, ...] = (1, 2, 3)
    n_probe: int = 500
    measured_epochs: tuple[int, ...] | None = None  # None: every epoch
    bn: str = "batch"  # BatchNorm at extraction: the probe batch's statistics (the authors' code) or "eval"

    def validate(self) -> None:
        self.pretrain.validate()
        if self.bn not in BN_MODES:
            raise ValueError(f"bn must be one of {BN_MODES}, got {self.bn!r}")
        bad = [e for e in self.measured_epochs or () if not 0 <= e <= self.pretrain.epochs]
        if bad:
            raise ValueError(f"measured_epochs {bad} lie outside 0..{self.pretrain.epochs}")
        if not self.seeds:
            raise ValueError("seeds must name at least one seed")
        if self.n_probe < 4:
            raise ValueError(f"n_probe must be at least 4 (debiased CKA needs n > 3), got {self.n_probe}")


def cka_to_init(params: CkaToInitParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """Tidy table for Figure 1, computed once and then loaded from the store.

    Columns: seed, layer, epoch, comparison (``init`` | ``independent_init``),
    metric (``cka`` | ``cka_debiased``), value, train_loss, train_acc, test_acc.
    """
    params.validate()
    runtime = runtime or Runtime()
    _pretrain_for_tables([params], runtime)
    return _cka_to_init_tables([params], runtime)[0]


def _cka_to_init_tables(tables: list[CkaToInitParams], runtime: Runtime) -> list[pd.DataFrame]:
    """:func:`cka_to_init` of each of ``tables`` (their runs trained), the missing ones' seeds side by side."""
    return assembled_tables([AssembledTable("study_a/cka_to_init", asdict(t), tuple(
        TablePart(_cka_to_init_rows, dict(params=t, seed=seed, runtime=runtime),
                  label=f"d={t.pretrain.degree} n={t.pretrain.train_size} seed {seed}",
                  cost=len(t.measured_epochs or range(t.pretrain.epochs + 1))) for seed in t.seeds),
        code=PRETRAIN_TABLE_CODE) for t in tables], runtime, "CKA tables, pre-training")


def _cka_to_init_rows(params: CkaToInitParams, seed: int, runtime: Runtime) -> pd.DataFrame:
    """One seed's rows of :func:`cka_to_init` (its run is trained if not stored)."""
    ds = runtime.load(params.pretrain.dataset)
    probe = ds.test.subset(slice(0, params.n_probe))
    run = pretrain(replace(params.pretrain, seed=seed), ds, runtime=runtime)
    refs = {
        "init": layer_factors(run.model_at(0), probe, bn=params.bn),
        "independent_init": layer_factors(run.new_model(seed + INDEPENDENT_SEED_OFFSET), probe, bn=params.bn),
    }
    history = run.history.set_index("epoch")
    rows = []
    for epoch in params.measured_epochs or range(run.config.epochs + 1):
        factors = refs["init"] if epoch == 0 else layer_factors(run.model_at(epoch), probe, bn=params.bn)
        hist = history.loc[epoch]
        rows += _similarity_rows(factors, refs, seed=seed, epoch=epoch, train_loss=hist.train_loss,
                                 train_acc=hist.train_acc, test_acc=hist.test_acc)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class DegreeSweepParams:
    """Figures 2 and 3a: pre-training under label randomness degrees ``degrees``, for each seed."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    seeds: tuple[int, ...] = (1, 2, 3)
    degrees: tuple[int, ...] = (0, 1, 2, 4, 9)
    n_probe: int = 500
    bn: str = "batch"

    def validate(self, num_classes: int = 10) -> None:
        if not self.degrees:
            raise ValueError("degrees must name at least one label randomness degree")
        for degree in self.degrees:
            replace(self.pretrain, degree=degree).validate(num_classes)
        CkaToInitParams(self.pretrain, self.seeds, self.n_probe, bn=self.bn).validate()


def _pretrain_for_tables(tables: Iterable[CkaToInitParams], runtime: Runtime) -> None:
    """Train, side by side, every pre-training that the not yet stored ``tables`` need (first checking that their
    probe fits the test split)."""
    missing = [t for t in tables if not runtime.store.has("study_a/cka_to_init", asdict(t), PRETRAIN_TABLE_CODE)]
    for t in missing:  # before any training
        ds = runtime.load(t.pretrain.dataset)
        if t.n_probe > len(ds.test):
            raise ValueError(f"n_probe {t.n_probe} exceeds the {len(ds.test)} test images of {ds.name}")
    pretrain_all([replace(t.pretrain, seed=seed) for t in missing for seed in t.seeds], runtime=runtime)


def degree_tables(params: DegreeSweepParams) -> dict[int, CkaToInitParams]:
    """The :func:`cka_to_init` table behind each degree of :func:`degree_sweep`, by degree: the two extreme
    degrees (what the ledger's claims compare) at every :func:`ledger_epochs` budget, the others at 0 and the
    last epoch (what Figure 3a draws)."""
    ends = {min(params.degrees), max(params.degrees)}
    return {degree: CkaToInitParams(replace(params.pretrain, degree=degree), params.seeds, params.n_probe,
                                    measured_epochs=_sweep_epochs(params.pretrain.epochs, degree in ends), bn=params.bn)
            for degree in params.degrees}


def _sweep_epochs(epochs: int, extreme: bool) -> tuple[int, ...]:
    return ledger_epochs(epochs) if extreme else (0, epochs)


def degree_sweep(params: DegreeSweepParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """Tidy table over label degrees: :func:`cka_to_init` for each degree (epochs: :func:`degree_tables`).

    Columns: those of :func:`cka_to_init` plus ``degree``. The per-epoch training history is in
    :func:`training_histories`. Each degree's pre-training is the same stored run every chapter uses.
    """
    params.validate()
    runtime = runtime or Runtime()
    per_degree = degree_tables(params)
    _pretrain_for_tables(per_degree.values(), runtime)
    tables = _cka_to_init_tables(list(per_degree.values()), runtime)
    return pd.concat([table.assign(degree=degree) for degree, table in zip(per_degree, tables)], ignore_index=True)


def training_histories(params: DegreeSweepParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """Per-epoch loss and accuracies of every (degree, seed) pre-training run (trains what is missing).

    Columns: degree, seed, epoch, train_loss, train_acc, test_loss, test_acc, fit_loss, fit_acc (see
    :mod:`repchange.runs.trainer`). Accuracies are measured against each split's own (partially random) labels.
    """
    params.validate()
    runtime = runtime or Runtime()
    ds = runtime.load(params.pretrain.dataset)
    runs = _degree_runs(params)
    pretrain_all(runs, runtime=runtime)
    return pd.concat([pretrain(cfg, ds, runtime=runtime).history.assign(degree=cfg.degree, seed=cfg.seed)
                      for cfg in runs], ignore_index=True)


def _degree_runs(params: DegreeSweepParams) -> list[PretrainConfig]:
    """Every (degree, seed) pre-training of the sweep, degree-major."""
    return [replace(params.pretrain, degree=d, seed=s) for d in params.degrees for s in params.seeds]


@dataclass(frozen=True)
class SizeSweepParams:
    """Figure 3b: pre-training on ``train_sizes`` images (None = the whole train split) with labels of ``degree``."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    seeds: tuple[int, ...] = (1, 2, 3)
    train_sizes: tuple[int | None, ...] = (64, 256, 1024)
    degree: int = 9
    n_probe: int = 500
    bn: str = "batch"
    equal_steps: bool = True  # also train the smallest size for as many SGD steps as the largest takes

    def validate(self, num_classes: int = 10) -> None:
        if not self.train_sizes:
            raise ValueError("train_sizes must name at least one training-set size")
        for size in self.train_sizes:
            replace(self.pretrain, train_size=size, degree=self.degree).validate(num_classes)
        CkaToInitParams(self.pretrain, self.seeds, self.n_probe, bn=self.bn).validate()


def size_tables(params: SizeSweepParams) -> dict[int | None, CkaToInitParams]:
    """The :func:`cka_to_init` table behind each training-set size of :func:`size_sweep`, by size: the smallest
    and the largest at every :func:`ledger_epochs` budget, the others at 0 and the last epoch."""
    by_size = sorted(params.train_sizes, key=lambda size: float("inf") if size is None else size)  # None: all
    ends = {by_size[0], by_size[-1]}
    return {size: CkaToInitParams(replace(params.pretrain, train_size=size, degree=params.degree), params.seeds,
                                  params.n_probe, measured_epochs=_sweep_epochs(params.pretrain.epochs, size in ends),
                                  bn=params.bn)
            for size in params.train_sizes}


def equal_steps_table(params: SizeSweepParams, n_train: int | None = None) -> CkaToInitParams | None:
    """The :func:`cka_to_init` table of the smallest size trained for as many SGD steps as the largest size takes
    in ``pretrain.epochs`` epochs (:func:`~repchange.studies.a.pretraining.matched_epochs`), measured at 0 and its
    last epoch; None without ``equal_steps``, with one size, or when the smallest already takes as many steps.
    ``n_train``: the split's length, needed when the largest size is None (the whole split)."""
    by_size = sorted(params.train_sizes, key=lambda size: float("inf") if size is None else size)
    small, large = by_size[0], by_size[-1]
    if not params.equal_steps or len(by_size) < 2 or small is None:
        return None
    if large is None:
        if n_train is None:
            raise ValueError("equal_steps with the whole training split needs the split's length (n_train)")
        large = n_train
    epochs = matched_epochs(params.pretrain.epochs, small, large, params.pretrain.optimiser.batch_size)
    if epochs <= params.pretrain.epochs:
        return None
    return CkaToInitParams(replace(params.pretrain, train_size=small, degree=params.degree, epochs=epochs), params.seeds,
                           params.n_probe, measured_epochs=(0, epochs), bn=params.bn)


def split_length(params: SizeSweepParams, runtime: Runtime) -> int | None:
    """The length of the whole training split when ``params`` names it (size None), else None (nothing loaded)."""
    return len(runtime.load(params.pretrain.dataset).train) if None in params.train_sizes else None


def size_sweep(params: SizeSweepParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """Tidy table over training-set sizes: :func:`cka_to_init` for each size (epochs: :func:`size_tables`), and
    the smallest size trained for as many SGD steps as the largest (:func:`equal_steps_table`).

    Columns: those of :func:`cka_to_init` plus ``train_size`` (the number of images actually
    used, so ``None`` appears as the split's length), ``degree`` and ``equal_steps`` (True on the rows of the
    smallest size's equal-steps run; its epochs are its own, longer ones).
    """
    params.validate()
    runtime = runtime or Runtime()
    per_size = size_tables(params)
    n_train = split_length(params, runtime)
    steps = equal_steps_table(params, n_train)
    _pretrain_for_tables([*per_size.values(), *([steps] if steps else [])], runtime)
    computed = _cka_to_init_tables([*per_size.values(), *([steps] if steps else [])], runtime)
    tables = [table.assign(train_size=size if size is not None else n_train, degree=params.degree, equal_steps=False)
              for size, table in zip(per_size, computed)]
    if steps is not None:
        tables.append(computed[-1].assign(train_size=steps.pretrain.train_size, degree=params.degree,
                                          equal_steps=True))
    return pd.concat(tables, ignore_index=True)


@dataclass(frozen=True)
class FinetuneSweepParams:
    """Figures 4 and 5: fine-tuning the clean pre-trained net under every label condition.

    ``finetune`` is the template (pre-training, epochs, sizes, optimiser); its target, degree
    and shift are set per condition: the source domain with each of ``degrees``, the
    ``cross_domain`` data set with each of ``degrees``, and the source domain with each of
    ``shifts`` (an integer s, or ``"seed"``: s = each run's seed, as the authors' code does).
    """

    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    seeds: tuple[int, ...] = (1, 2, 3)
    cross_domain: str = "digits"
    degrees: tuple[int, ...] = (0, 1, 2, 4, 9)
    shifts: tuple[int | str, ...] = ("seed",)
    n_probe: int = 500
    bn: str = "batch"

    def conditions(self) -> list[tuple[str, FinetuneConfig]]:
        """``(domain, config)`` for every condition, domain ``same`` or ``cross``."""
        source = self.finetune.pretrain.dataset
        same = [("same", replace(self.finetune, target=source, degree=d, shift=0)) for d in self.degrees]
        cross = [("cross", replace(self.finetune, target=self.cross_domain, degree=d, shift=0)) for d in self.degrees]
        shift = [("same", replace(self.finetune, target=source, degree=0, shift=s)) for s in self.shifts]
        return same + cross + shift

    def validate(self, num_classes: int = 10) -> None:
        if not self.degrees:
            raise ValueError("degrees must name at least one label randomness degree")
        if any(s != "seed" and (isinstance(s, str) or s < 1) for s in self.shifts):
            raise ValueError(f"label shifts must lie in 1..{num_classes - 1} or be 'seed', got {list(self.shifts)}")
        for _, cfg in self.conditions():
            for seed in self.seeds:
                replace(cfg, pretrain=replace(cfg.pretrain, seed=seed)).validate(num_classes)
        if self.n_probe > self.finetune.eval_size:
            raise ValueError(f"n_probe {self.n_probe} exceeds the fine-tuning eval split ({self.finetune.eval_size} images)")
        CkaToInitParams(self.finetune.pretrain, self.seeds, self.n_probe, bn=self.bn).validate()  # seeds, n_probe, bn


@dataclass(frozen=True)
class _FinetuneCkaParams:
    finetune: FinetuneConfig
    seeds: tuple[int, ...]
    n_probe: int
    bn: str = "batch"
    measured_epochs: tuple[int, ...] | None = None  # None: every fine-tuning epoch


def _finetune_cka_rows(params: _FinetuneCkaParams, seed: int, runtime: Runtime) -> pd.DataFrame:
    """One seed's rows of a condition's table over its fine-tuning epochs (its run is trained if not stored)."""
    cfg = params.finetune
    source = runtime.load(cfg.pretrain.dataset)
    # conformed once here; finetune() then finds the shape already matching
    target = runtime.load(cfg.target).conformed_to(source.image_shape)
    run = finetune(replace(cfg, pretrain=replace(cfg.pretrain, seed=seed)), source, target, runtime=runtime)
    _, eval_split = finetuning_splits(run.config, target)
    probe = eval_split.subset(slice(0, params.n_probe))
    pretrained = layer_factors(run.model_at(0), probe, bn=params.bn)
    refs = {
        "pretrained": pretrained,
        "pretrain_init": layer_factors(run.source.model_at(0), probe, bn=params.bn),
        "independent_init": layer_factors(run.source.new_model(seed + INDEPENDENT_SEED_OFFSET), probe, bn=params.bn),
    }
    shift = run.config.resolved_shift(target.num_classes)
    history = run.history.set_index("epoch")
    rows = []
    for epoch in params.measured_epochs if params.measured_epochs is not None else range(cfg.epochs + 1):
        factors = pretrained if epoch == 0 else layer_factors(run.model_at(epoch), probe, bn=params.bn)
        hist = history.loc[epoch]
        rows += _similarity_rows(factors, refs, seed=seed, shift=shift, epoch=epoch,
                                 train_loss=hist.train_loss, train_acc=hist.train_acc, test_acc=hist.test_acc)
    # the probe's chance level: two unrelated random inits (the pre-training's own and an independent one)
    rows += _similarity_rows(refs["pretrain_init"], {"chance": refs["independent_init"]}, seed=seed, shift=shift, epoch=0)
    return pd.DataFrame(rows)


def finetune_sweep(params: FinetuneSweepParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """Tidy table of every fine-tuning condition, seed, probed layer, at fine-tuning epochs 0 (the
    pre-trained net) and the last (what Figures 4 and 5 and the claims read; measuring the epochs
    between would multiply the table's cost by ``epochs / 2``).

    Columns: domain (``same`` | ``cross``), target, labels (``clean`` | ``random d=..`` |
    ``shift s=..``), degree, shift (the run's s: with ``"seed"`` it differs by seed), seed, layer, epoch, comparison (``pretrained`` |
    ``pretrain_init`` | ``independent_init``; and ``chance`` at epoch 0: the pre-training's init against the
    independent init, the probe's chance level, without training columns), metric (``cka`` | ``cka_debiased``), value,
    train_loss, train_acc, test_acc (accuracies against the condition's own labels).
    Each condition's table is stored separately, so chapters that share conditions share work.
    """
    params.validate()
    runtime = runtime or Runtime()
    # Figures 4 and 5 (and every claim) read the last fine-tuning epoch; epoch 0 is the pre-trained net itself
    conditions = [(domain, _FinetuneCkaParams(cfg, params.seeds, params.n_probe, params.bn,
                                              measured_epochs=(0, cfg.epochs)))
                  for domain, cfg in params.conditions()]
    missing = [t.finetune for _, t in conditions
               if not runtime.store.has("study_a/finetune_cka", asdict(t), FINETUNE_TABLE_CODE)]
    finetune_all([replace(cfg, pretrain=replace(cfg.pretrain, seed=seed)) for cfg in missing for seed in params.seeds],
                 runtime=runtime)
    computed = assembled_tables([AssembledTable("study_a/finetune_cka", asdict(t), tuple(
        TablePart(_finetune_cka_rows, dict(params=t, seed=seed, runtime=runtime),
                  label=f"{t.finetune.target} {t.finetune.labels} seed {seed}") for seed in t.seeds),
        code=FINETUNE_TABLE_CODE) for _, t in conditions], runtime, "CKA tables, fine-tuning")
    tables = [table.assign(domain=domain, target=t.finetune.target, labels=t.finetune.labels, degree=t.finetune.degree)
              for (domain, t), table in zip(conditions, computed)]
    front = ["domain", "target", "labels", "degree", "shift"]
    frame = pd.concat(tables, ignore_index=True)
    return frame[front + [c for c in frame.columns if c not in front]]


def finetune_histories(params: FinetuneSweepParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """Per-epoch loss and accuracies of every fine-tuning run (trains what is missing); test loss and
    accuracy are measured at epochs 0 and last only (NaN between), as the tables need.

    Columns: domain, target, labels, degree, shift, seed, epoch, train_loss, train_acc, test_loss, test_acc.
    """
    params.validate()
    runtime = runtime or Runtime()
    conditions = params.conditions()
    names = {params.finetune.pretrain.dataset, *(cfg.target for _, cfg in conditions)}
    loaded = {name: runtime.load(name) for name in names}  # each once
    finetune_all([replace(cfg, pretrain=replace(cfg.pretrain, seed=seed)) for _, cfg in conditions
                  for seed in params.seeds], runtime=runtime)
    frames = []
    for domain, cfg in conditions:
        for seed in params.seeds:
            run = finetune(replace(cfg, pretrain=replace(cfg.pretrain, seed=seed)), loaded[cfg.pretrain.dataset],
                           loaded[cfg.target], runtime=runtime)
            frames.append(run.history.assign(domain=domain, target=cfg.target, labels=cfg.labels, degree=cfg.degree,
                                             shift=run.config.resolved_shift(loaded[cfg.target].num_classes),
                                             seed=seed))
    return pd.concat(frames, ignore_index=True)


def pretraining_stored(pretraining: CkaToInitParams, degrees: DegreeSweepParams, sizes: SizeSweepParams,
                       runtime: Runtime | None = None) -> bool:
    """Whether the store holds every pre-training table of the ledger for these parameters (Figures 1, 2,
    3a, 3b: the tables and the training runs behind the histories), so reading them trains nothing."""
    runtime = runtime or Runtime()
    steps = equal_steps_table(sizes, split_length(sizes, runtime))
    tables = [pretraining, *degree_tables(degrees).values(), *size_tables(sizes).values(), *([steps] if steps else [])]
    return (all(runtime.store.has("study_a/cka_to_init", asdict(t), PRETRAIN_TABLE_CODE) for t in tables)
            and all(runtime.store.has("study_a/pretrain", cfg, PRETRAINING_CODE) for cfg in _degree_runs(degrees)))


def pretraining_tables(pretraining: CkaToInitParams, degrees: DegreeSweepParams, sizes: SizeSweepParams,
                       runtime: Runtime | None = None) -> dict[str, pd.DataFrame]:
    """The four pre-training tables the ledger reads (trains and computes what the store lacks), named as
    :func:`repchange.studies.claims.pretraining_claims` takes them: ``pretraining`` (:func:`cka_to_init`),
    ``histories`` (:func:`training_histories`), ``degrees`` (:func:`degree_sweep`), ``sizes`` (:func:`size_sweep`)."""
    runtime = runtime or Runtime()
    return dict(pretraining=cka_to_init(pretraining, runtime), histories=training_histories(degrees, runtime),
                degrees=degree_sweep(degrees, runtime), sizes=size_sweep(sizes, runtime))
