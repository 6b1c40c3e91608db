"""Study A's fine-tuning runs: a clean pre-trained conv4 trained further on a target task.

Protocol (the authors' code): fine-tuning starts from the final checkpoint of a pre-training
run and keeps its head (all layers train, same SGD settings). The target's *test* split
provides both fine-tuning sets: images ``0 .. train_size-1`` to train and the next
``eval_size`` to evaluate and probe (CIFAR-10: 0-4999 / 5000-9999). A target of another
image shape is resized to the source's (:meth:`repchange.data.datasets.DataSet.conformed_to`).
Target labels are clean, partially random of degree ``degree`` (drawn from ``[seed, 2]``
for training and ``[seed, 3]`` for evaluation) or shifted by ``shift`` -- a fixed s, or
``"seed"``: s = the run's seed mod D, as the authors' code does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd
import torch

from repchange.data import datasets as data_mod
from repchange.data.labels import partially_random, shifted
from repchange.runs.parallel import Job, run_jobs
from repchange.runs.runtime import Runtime
from repchange.runs.trainer import OptimiserSpec, load_checkpoint, train
from repchange.studies.a.pretraining import TRAINING_CODE as PRETRAINING_CODE
from repchange.studies.a.pretraining import PretrainConfig, PretrainedRun, pretrain, pretrain_all

__all__ = ["FinetuneConfig", "FinetunedRun", "condition_label", "finetune", "finetune_all", "finetuning_splits"]

TRAINING_CODE = (*PRETRAINING_CODE, "studies.a.finetuning")


def condition_label(degree: int = 0, shift: int | str = 0) -> str:
    """The one name of a fine-tuning label condition in every table, figure and chapter: ``clean``,
    ``random d=<degree>`` or ``shift s=<shift>`` (``shift s=seed``)."""
    if shift:
        return f"shift s={shift}"
    return f"random d={degree}" if degree else "clean"


@dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tuning run of the pre-training ``pretrain`` (its seed is the run's seed)."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    target: str = "fashion_mnist"
    degree: int = 0
    shift: int | str = 0  # 0: no shift; s in 1..D-1; "seed": s = seed mod D (the authors' code)
    epochs: int = 10
    train_size: int = 500
    eval_size: int = 500
    optimiser: OptimiserSpec = field(default_factory=OptimiserSpec)

    @property
    def seed(self) -> int:
        return self.pretrain.seed

    def resolved_shift(self, num_classes: int) -> int:
        """The label shift s of this run (``"seed"``: the seed mod ``num_classes``)."""
        return self.seed % num_classes if self.shift == "seed" else int(self.shift)

    @property
    def labels(self) -> str:
        """``clean``, ``random d=<degree>`` or ``shift s=<shift>`` (``shift s=seed``): :func:`condition_label`."""
        return condition_label(self.degree, self.shift)

    @property
    def label(self) -> str:
        """Short name for progress lines."""
        return f"fine-tune {self.pretrain.dataset}->{self.target} seed {self.seed} {self.labels}"

    def validate(self, num_classes: int | None = None) -> None:
        """Raise ValueError naming the first bad field (before any data is loaded or trained)."""
        self.pretrain.validate()
        if self.target not in data_mod.available():
            raise ValueError(f"unknown target data set {self.target!r}; choose one of {data_mod.available()}")
        if self.epochs < 1:
            raise ValueError(f"fine-tuning epochs must be at least 1, got {self.epochs}")
        if self.train_size < 1 or self.eval_size < 1:
            raise ValueError(f"fine-tuning train_size and eval_size must be positive, got "
                             f"{self.train_size} and {self.eval_size}")
        if self.degree and self.shift:
            raise ValueError(f"choose partially random labels (degree {self.degree}) or shifted labels "
                             f"(shift {self.shift}), not both")
        if isinstance(self.shift, str) and self.shift != "seed":
            raise ValueError(f"label shift must be an integer or 'seed', got {self.shift!r}")
        if num_classes is not None:
            if self.shift == "seed" and self.seed % num_classes == 0:
                raise ValueError(f"shift 'seed' gives s = {self.seed} mod {num_classes} = 0 (no shift) for seed "
                                 f"{self.seed}; use seeds that are not multiples of {num_classes} or a fixed shift")
            if not 0 <= self.degree <= num_classes - 1:
                raise ValueError(f"label randomness degree {self.degree} is out of range: it must lie in "
                                 f"0..{num_classes - 1} for {self.target} ({num_classes} classes)")
            if not 0 <= self.resolved_shift(num_classes) <= num_classes - 1:
                raise ValueError(f"label shift {self.shift} is out of range: it must lie in 1..{num_classes - 1} "
                                 f"(0 = no shift) for {self.target} ({num_classes} classes)")


@dataclass(frozen=True)
class FinetunedRun:
    """A finished fine-tuning: its files, its pre-training, and how to rebuild its nets."""

    config: FinetuneConfig
    run_dir: Path
    history: pd.DataFrame
    source: PretrainedRun

    def model_at(self, epoch: int) -> torch.nn.Module:
        """The net after ``epoch`` fine-tuning epochs (0 = the pre-trained net)."""
        return load_checkpoint(self.source.new_model(self.config.seed), self.run_dir, epoch)


def finetuning_splits(cfg: FinetuneConfig, target: data_mod.DataSet) -> tuple[data_mod.Split, data_mod.Split]:
    """(train, eval) splits of the target's test split, with the configured labels.

    ``target`` must already have the source's image shape. The eval split's first images are
    the probe set of every fine-tuning similarity table.
    """
    need = cfg.train_size + cfg.eval_size
    if need > len(target.test):
        raise ValueError(
            f"fine-tuning needs {cfg.train_size} + {cfg.eval_size} = {need} images of the {target.name} test split, "
            f"which has {len(target.test)}; lower train_size or eval_size"
        )
    train_split = target.test.subset(slice(0, cfg.train_size))
    eval_split = target.test.subset(slice(cfg.train_size, need))
    d = target.num_classes
    if cfg.shift:
        s = cfg.resolved_shift(d)
        return (train_split.with_labels(shifted(train_split.labels, s, d)),
                eval_split.with_labels(shifted(eval_split.labels, s, d)))
    return (train_split.with_labels(partially_random(train_split.labels, cfg.degree, d, seed=[cfg.seed, 2])),
            eval_split.with_labels(partially_random(eval_split.labels, cfg.degree, d, seed=[cfg.seed, 3])))


def finetune(cfg: FinetuneConfig, source: data_mod.DataSet, target: data_mod.DataSet,
             runtime: Runtime | None = None) -> FinetunedRun:
    """Fine-tune (or load from the store) one run, with a checkpoint at every epoch.

    ``source`` is the pre-training data set (its pre-training comes from the store, or is
    trained once), ``target`` the fine-tuning data set in its own shape.
    """
    cfg.validate(target.num_classes)
    if (source.name, target.name) != (cfg.pretrain.dataset, cfg.target):
        raise ValueError(f"config asks for {cfg.pretrain.dataset!r} -> {cfg.target!r} but "
                         f"{source.name!r} -> {target.name!r} was passed")
    if target.num_classes != source.num_classes:
        raise ValueError(f"the pre-trained head has {source.num_classes} outputs but {target.name} has "
                         f"{target.num_classes} classes; the protocol keeps the head, so they must match")
    runtime = runtime or Runtime()
    pretrained = pretrain(cfg.pretrain, source, runtime)
    target = target.conformed_to(source.image_shape)

    def produce(run_dir: Path) -> None:
        train_split, eval_split = finetuning_splits(cfg, target)
        model = pretrained.model_at(cfg.pretrain.epochs)
        # test accuracy where the tables read it (epochs 0 and last); every epoch's weights are kept
        train(model, train_split, eval_split, epochs=cfg.epochs, optimiser=cfg.optimiser, seed=cfg.seed,
              run_dir=run_dir, checkpoint_epochs=range(cfg.epochs + 1), eval_epochs=(0, cfg.epochs),
              device=runtime.device,
              desc=cfg.label)

    run_dir = runtime.store.get_or_run("study_a/finetune", cfg, produce, code=TRAINING_CODE)
    return FinetunedRun(cfg, run_dir, pd.read_csv(run_dir / "history.csv"), pretrained)


def _finetune_job(cfg: FinetuneConfig, runtime: Runtime) -> None:
    """One fine-tuning in a worker process (its pre-training must already be stored)."""
    finetune(cfg, runtime.load(cfg.pretrain.dataset), runtime.load(cfg.target), runtime)


def finetune_all(cfgs: Iterable[FinetuneConfig], runtime: Runtime | None = None) -> None:
    """Train every fine-tuning the store lacks, side by side: first the pre-trainings they start
    from, then the fine-tunings (:func:`repchange.runs.parallel.run_jobs`)."""
    runtime = runtime or Runtime()
    missing = runtime.store.missing("study_a/finetune", cfgs, TRAINING_CODE)
    for cfg in missing:
        cfg.validate()
    pretrain_all([c.pretrain for c in missing], runtime)
    run_jobs([Job(_finetune_job, dict(cfg=c, runtime=runtime), label=c.label, cost=c.epochs * c.train_size)
              for c in missing], device=runtime.device, desc="fine-tuning runs")
