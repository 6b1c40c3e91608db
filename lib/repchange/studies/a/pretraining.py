"""Study A's training runs: conv4 pre-training on (partially random) labels, stored by config.

Protocol (the authors' code): SGD lr 1e-3, momentum 0.9, batch 32, no augmentation, inputs
in [-1, 1]; a checkpoint after every epoch (runs over 32 epochs: at :func:`checkpoint_epochs`). Test accuracy and training fit (eval mode, every
training image) are measured at :func:`evaluated_epochs`: every second epoch and each budget of
:func:`ledger_epochs` -- an evaluation pass costs about a third of a training epoch per image, and
measuring both at every epoch added 74 % to a 1,024-image run's training time. The training split is the first ``train_size``
images of the train split, the per-epoch test accuracy uses the first ``eval_size`` test
images; partially random labels are drawn once per split from ``[seed, 0]`` (train) and
``[seed, 1]`` (test). This module is part of every training run's code version: editing it
invalidates stored trainings, editing the figure tables in ``studies.a.tables`` does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd
import torch

from repchange.data import datasets as data_mod
from repchange.data.labels import partially_random
from repchange.nets.conv4 import BN_ORDERS, build
from repchange.runs.parallel import Job, run_jobs
from repchange.runs.runtime import Runtime
from repchange.runs.trainer import OptimiserSpec, load_checkpoint, train

__all__ = ["BUDGET_EPOCHS", "PretrainConfig", "PretrainedRun", "checkpoint_epochs", "evaluated_epochs", "ledger_epochs",
           "matched_epochs", "pretrain", "pretrain_all"]

# Training budgets (pre-training epochs) at which the sweeps are measured besides the last epoch, so the
# ledger can be read at each budget (:mod:`repchange.studies.budget`): 10 is the book's earlier default.
BUDGET_EPOCHS = (5, 10, 20, 40, 80)


def ledger_epochs(epochs: int) -> tuple[int, ...]:
    """The epochs a sweep table measures for a run of ``epochs`` epochs: 0, each of :data:`BUDGET_EPOCHS`
    below ``epochs``, and ``epochs``. E.g. 16 → (0, 5, 10, 16); 10 → (0, 5, 10)."""
    return (0, *(b for b in BUDGET_EPOCHS if b < epochs), epochs)


def evaluated_epochs(epochs: int) -> tuple[int, ...]:
    """The epochs at which a run of ``epochs`` epochs measures test accuracy and training fit: 0, every second
    epoch (up to 32 epochs; beyond, every ⌈epochs/16⌉-th), and each of :func:`ledger_epochs` (so every budget the
    ledger is read at). E.g. 16 → 0, 2, 4, 5, 6, …, 16; 256 → 0, 5, 10, 16, 20, 32, 40, 48, …, 256."""
    stride = 2 if epochs <= 32 else math.ceil(epochs / 16)
    return tuple(sorted({*range(0, epochs + 1, stride), *ledger_epochs(epochs)}))


def checkpoint_epochs(epochs: int) -> tuple[int, ...]:
    """The epochs a run keeps a checkpoint of: every epoch up to 32 epochs (Figure 1 and the explorer read any),
    beyond that the :func:`evaluated_epochs` (a run on a few images for many epochs keeps ~20, not thousands)."""
    return tuple(range(epochs + 1)) if epochs <= 32 else evaluated_epochs(epochs)


def matched_epochs(epochs: int, size: int, reference: int, batch_size: int = 32) -> int:
    """Epochs on ``size`` images that take as many SGD steps as ``epochs`` epochs on ``reference`` images, with
    batches of ``batch_size`` (the last batch of an epoch may be partial): ``epochs · ⌈reference/b⌉ / ⌈size/b⌉``,
    rounded. E.g. 16 epochs on 1,024 images (512 steps) ↔ 256 epochs on 64."""
    if min(epochs, size, reference, batch_size) < 1:
        raise ValueError(f"epochs, sizes and batch size must be positive, got {epochs}, {size}, {reference}, {batch_size}")
    return max(1, round(epochs * math.ceil(reference / batch_size) / math.ceil(size / batch_size)))

TRAINING_CODE = ("data.datasets", "data.labels", "nets.conv4", "base.devices", "runs.trainer", "studies.a.pretraining")


@dataclass(frozen=True)
class PretrainConfig:
    """One conv4 pre-training run. ``train_size=None`` uses the whole train split."""

    dataset: str = "fashion_mnist"
    seed: int = 1
    epochs: int = 16
    degree: int = 0
    train_size: int | None = 1024
    eval_size: int = 1000
    bn_order: str = "relu_bn"
    width: int = 64
    optimiser: OptimiserSpec = field(default_factory=OptimiserSpec)

    @property
    def label(self) -> str:
        """Short name for progress lines: data set, seed, degree (and size when not the default)."""
        size = "" if self.train_size == 1024 else f" n={self.train_size or 'all'}"
        return f"pre-train {self.dataset} seed {self.seed} d={self.degree}{size}"

    def validate(self, num_classes: int | None = None) -> None:
        """Raise ValueError naming the first bad field (before any data is loaded or trained)."""
        if self.dataset not in data_mod.available():
            raise ValueError(f"unknown data set {self.dataset!r}; choose one of {data_mod.available()}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.train_size is not None and self.train_size < 1:
            raise ValueError(f"train_size must be positive or None (all), got {self.train_size}")
        if self.eval_size < 1:
            raise ValueError(f"eval_size must be positive, got {self.eval_size}")
        if self.bn_order not in BN_ORDERS:
            raise ValueError(f"unknown bn_order {self.bn_order!r}; choose one of {BN_ORDERS}")
        if num_classes is not None and not 0 <= self.degree <= num_classes - 1:
            raise ValueError(
                f"label randomness degree {self.degree} is out of range: it must lie in 0..{num_classes - 1} "
                f"for {self.dataset} ({num_classes} classes)"
            )


@dataclass(frozen=True)
class PretrainedRun:
    """A finished pre-training: where its files are and how to rebuild its nets."""

    config: PretrainConfig
    run_dir: Path
    history: pd.DataFrame
    image_shape: tuple[int, int, int]
    num_classes: int

    def new_model(self, seed: int) -> torch.nn.Module:
        """A fresh conv4 of this run's shape, initialised from ``seed``."""
        torch.manual_seed(seed)
        c, h, _ = self.image_shape
        return build("conv4", in_channels=c, num_classes=self.num_classes, image_size=h,
                     width=self.config.width, bn_order=self.config.bn_order)

    def model_at(self, epoch: int) -> torch.nn.Module:
        return load_checkpoint(self.new_model(self.config.seed), self.run_dir, epoch)


def _training_splits(cfg: PretrainConfig, ds: data_mod.DataSet) -> tuple[data_mod.Split, data_mod.Split]:
    train_split = ds.train if cfg.train_size is None else ds.train.subset(slice(0, cfg.train_size))
    if cfg.train_size is not None and len(train_split) < cfg.train_size:
        raise ValueError(f"train_size {cfg.train_size} exceeds the {len(ds.train)} training images of {ds.name}")
    eval_split = ds.test.subset(slice(0, cfg.eval_size))
    train_split = train_split.with_labels(
        partially_random(train_split.labels, cfg.degree, ds.num_classes, seed=[cfg.seed, 0]))
    eval_split = eval_split.with_labels(
        partially_random(eval_split.labels, cfg.degree, ds.num_classes, seed=[cfg.seed, 1]))
    return train_split, eval_split


def pretrain(cfg: PretrainConfig, ds: data_mod.DataSet, runtime: Runtime | None = None) -> PretrainedRun:
    """Train (or load from the store) one pre-training run, with a checkpoint at each :func:`checkpoint_epochs`."""
    cfg.validate(ds.num_classes)
    if ds.name != cfg.dataset:
        raise ValueError(f"config asks for data set {cfg.dataset!r} but {ds.name!r} was passed")
    runtime = runtime or Runtime()
    info = dict(image_shape=ds.image_shape, num_classes=ds.num_classes)

    def produce(run_dir: Path) -> None:
        train_split, eval_split = _training_splits(cfg, ds)
        run = PretrainedRun(cfg, run_dir, pd.DataFrame(), **info)
        model = run.new_model(cfg.seed)
        evaluated = evaluated_epochs(cfg.epochs)
        train(model, train_split, eval_split, epochs=cfg.epochs, optimiser=cfg.optimiser, seed=cfg.seed,
              run_dir=run_dir, checkpoint_epochs=checkpoint_epochs(cfg.epochs), eval_epochs=evaluated,
              fit_epochs=[e for e in evaluated if e > 0], device=runtime.device, desc=cfg.label)

    run_dir = runtime.store.get_or_run("study_a/pretrain", cfg, produce, code=TRAINING_CODE)
    return PretrainedRun(cfg, run_dir, pd.read_csv(run_dir / "history.csv"), **info)


def _pretrain_job(cfg: PretrainConfig, runtime: Runtime) -> None:
    """One pre-training in a worker process (module-level, so a spawned worker can import it)."""
    pretrain(cfg, runtime.load(cfg.dataset), runtime)


def pretrain_all(cfgs: Iterable[PretrainConfig], runtime: Runtime | None = None) -> None:
    """Train every config the store lacks, side by side (:func:`repchange.runs.parallel.run_jobs`)."""
    runtime = runtime or Runtime()
    missing = runtime.store.missing("study_a/pretrain", cfgs, TRAINING_CODE)
    for cfg in missing:
        cfg.validate()
    run_jobs([Job(_pretrain_job, dict(cfg=c, runtime=runtime), label=c.label, cost=c.epochs * (c.train_size or 60_000))
              for c in missing], device=runtime.device, desc="pre-training runs")
