"""Study A (Goerttler & Obermayer): conv4 pre-training and CKA to the random init.

Protocol (the authors' code): SGD lr 1e-3, momentum 0.9, batch 32, no augmentation, inputs
in [-1, 1]. The probe set is the first ``n_probe`` images of the fixed, unshuffled test split.
Each epoch's net is compared, layer by layer, with (a) its own random init and (b) an
independently drawn random init of the same architecture (seed ``seed + INDEPENDENT_SEED_OFFSET``):
(b) at epoch 0 is the CKA two unrelated random nets already have on these images -- the
baseline every CKA value must be read against.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import data as data_mod
from ..features import extract
from ..labels import partially_random
from ..metrics import cka_from_grams, centred_gram
from ..models import BN_ORDERS, build
from ..store import Store
from ..train import OptimiserSpec, load_checkpoint, progress_enabled, train

__all__ = ["CkaToInitParams", "PretrainConfig", "PretrainedRun", "cka_to_init", "pretrain"]

INDEPENDENT_SEED_OFFSET = 10_000
TRAINING_CODE = ("data", "labels", "models", "train")
TABLE_CODE = (*TRAINING_CODE, "features", "metrics", "experiments.study_a")


@dataclass(frozen=True)
class PretrainConfig:
    """One conv4 pre-training run. ``train_size=None`` uses the whole train split."""

    dataset: str = "fashion_mnist"
    seed: int = 1
    epochs: int = 10
    degree: int = 0
    train_size: int | None = 4096
    eval_size: int = 2000
    bn_order: str = "relu_bn"
    width: int = 64
    optimiser: OptimiserSpec = field(default_factory=OptimiserSpec)

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


def pretrain(cfg: PretrainConfig, ds: data_mod.DataSet, *, store: Store | None = None,
             device: str = "auto") -> PretrainedRun:
    """Train (or load from the store) one pre-training run, with a checkpoint at every epoch."""
    cfg.validate(ds.num_classes)
    if ds.name != cfg.dataset:
        raise ValueError(f"config asks for data set {cfg.dataset!r} but {ds.name!r} was passed")
    store = store or Store()
    info = dict(image_shape=ds.image_shape, num_classes=ds.num_classes)

    def produce(run_dir: Path) -> None:
        train_split, eval_split = _training_splits(cfg, ds)
        run = PretrainedRun(cfg, run_dir, pd.DataFrame(), **info)
        model = run.new_model(cfg.seed)
        train(model, train_split, eval_split, epochs=cfg.epochs, optimiser=cfg.optimiser, seed=cfg.seed,
              run_dir=run_dir, checkpoint_epochs=range(cfg.epochs + 1), device=device,
              desc=f"pre-train {cfg.dataset} seed {cfg.seed} d={cfg.degree}")

    run_dir = store.get_or_run("study_a/pretrain", cfg, produce, code=TRAINING_CODE)
    return PretrainedRun(cfg, run_dir, pd.read_csv(run_dir / "history.csv"), **info)


@dataclass(frozen=True)
class CkaToInitParams:
    """Figure 1: CKA of every probed layer to the random init, per epoch, for each seed."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    seeds: tuple[int, ...] = (1, 2, 3)
    n_probe: int = 500

    def validate(self) -> None:
        self.pretrain.validate()
        if not self.seeds:
            raise ValueError("seeds must name at least one seed")
        if self.n_probe < 4:
            raise ValueError(f"n_probe must be at least 4 (debiased CKA needs n > 3), got {self.n_probe}")


def _layer_grams(model: torch.nn.Module, probe: data_mod.Split) -> dict[str, torch.Tensor]:
    return {name: centred_gram(acts) for name, acts in extract(model, model.probe_layers, probe).items()}


def cka_to_init(params: CkaToInitParams, *, store: Store | None = None, device: str = "auto",
                data_root: str | None = None, download: bool = False) -> pd.DataFrame:
    """Tidy table for Figure 1, computed once and then loaded from the store.

    Columns: seed, layer, epoch, comparison (``init`` | ``independent_init``),
    metric (``cka`` | ``cka_debiased``), value, train_loss, train_acc, test_acc.
    """
    params.validate()
    store = store or Store()

    def compute() -> pd.DataFrame:
        ds = data_mod.load(params.pretrain.dataset, root=data_root, download=download)
        if params.n_probe > len(ds.test):
            raise ValueError(f"n_probe {params.n_probe} exceeds the {len(ds.test)} test images of {ds.name}")
        probe = ds.test.subset(slice(0, params.n_probe))
        rows = []
        for seed in params.seeds:
            run = pretrain(replace(params.pretrain, seed=seed), ds, store=store, device=device)
            refs = {
                "init": _layer_grams(run.model_at(0), probe),
                "independent_init": _layer_grams(run.new_model(seed + INDEPENDENT_SEED_OFFSET), probe),
            }
            history = run.history.set_index("epoch")
            epochs = range(run.config.epochs + 1)
            for epoch in tqdm(epochs, desc=f"CKA seed {seed}", disable=not progress_enabled(), leave=False):
                grams = _layer_grams(run.model_at(epoch), probe)
                hist = history.loc[epoch]
                for layer, gram in grams.items():
                    for comparison, ref in refs.items():
                        for metric, debiased in (("cka", False), ("cka_debiased", True)):
                            rows.append(dict(
                                seed=seed, layer=layer, epoch=epoch, comparison=comparison, metric=metric,
                                value=cka_from_grams(gram, ref[layer], debiased=debiased),
                                train_loss=hist.train_loss, train_acc=hist.train_acc, test_acc=hist.test_acc,
                            ))
        return pd.DataFrame(rows)

    return store.table("study_a/cka_to_init", asdict(params), compute, code=TABLE_CODE)
