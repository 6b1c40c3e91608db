"""Study A (Goerttler & Obermayer): CKA of conv4 layers to their random init, and its tables.

The probe set is the first ``n_probe`` images of the fixed, unshuffled test split. Each
epoch's net is compared, layer by layer, with (a) its own random init and (b) an
independently drawn random init of the same architecture (seed ``seed + INDEPENDENT_SEED_OFFSET``):
(b) at epoch 0 is the CKA two unrelated random nets already have on these images -- the
baseline every CKA value must be read against. Training runs come from :mod:`.pretraining`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import pandas as pd
from tqdm.auto import tqdm

from .. import data as data_mod
from ..features import layer_factors
from ..metrics import linear_cka
from ..store import Store
from ..train import progress_enabled
from .pretraining import TRAINING_CODE, PretrainConfig, PretrainedRun, pretrain

__all__ = [
    "CkaToInitParams",
    "DegreeSweepParams",
    "PretrainConfig",
    "PretrainedRun",
    "cka_to_init",
    "degree_sweep",
    "pretrain",
    "training_histories",
]

INDEPENDENT_SEED_OFFSET = 10_000
TABLE_CODE = (*TRAINING_CODE, "features", "metrics", "experiments.study_a")


@dataclass(frozen=True)
class CkaToInitParams:
    """Figure 1: CKA of every probed layer to the random init, per epoch, for each seed."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    seeds: tuple[int, ...] = (1, 2, 3)
    n_probe: int = 500
    measured_epochs: tuple[int, ...] | None = None  # None: every epoch

    def validate(self) -> None:
        self.pretrain.validate()
        bad = [e for e in self.measured_epochs or () if not 0 <= e <= self.pretrain.epochs]
        if bad:
            raise ValueError(f"measured_epochs {bad} lie outside 0..{self.pretrain.epochs}")
        if not self.seeds:
            raise ValueError("seeds must name at least one seed")
        if self.n_probe < 4:
            raise ValueError(f"n_probe must be at least 4 (debiased CKA needs n > 3), got {self.n_probe}")


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
                "init": layer_factors(run.model_at(0), probe),
                "independent_init": layer_factors(run.new_model(seed + INDEPENDENT_SEED_OFFSET), probe),
            }
            history = run.history.set_index("epoch")
            epochs = params.measured_epochs or range(run.config.epochs + 1)
            for epoch in tqdm(epochs, desc=f"CKA seed {seed}", disable=not progress_enabled(), leave=False):
                factors = refs["init"] if epoch == 0 else layer_factors(run.model_at(epoch), probe)
                hist = history.loc[epoch]
                for layer, rep in factors.items():
                    for comparison, ref in refs.items():
                        for metric, debiased in (("cka", False), ("cka_debiased", True)):
                            rows.append(dict(
                                seed=seed, layer=layer, epoch=epoch, comparison=comparison, metric=metric,
                                value=linear_cka(rep, ref[layer], debiased=debiased),
                                train_loss=hist.train_loss, train_acc=hist.train_acc, test_acc=hist.test_acc,
                            ))
        return pd.DataFrame(rows)

    return store.table("study_a/cka_to_init", asdict(params), compute, code=TABLE_CODE)


@dataclass(frozen=True)
class DegreeSweepParams:
    """Figures 2 and 3a: pre-training under label randomness degrees ``degrees``, for each seed."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    seeds: tuple[int, ...] = (1, 2, 3)
    degrees: tuple[int, ...] = (0, 1, 2, 4, 9)
    n_probe: int = 500

    def validate(self, num_classes: int = 10) -> None:
        if not self.degrees:
            raise ValueError("degrees must name at least one label randomness degree")
        for degree in self.degrees:
            replace(self.pretrain, degree=degree).validate(num_classes)
        CkaToInitParams(self.pretrain, self.seeds, self.n_probe).validate()


def degree_sweep(params: DegreeSweepParams, *, store: Store | None = None, device: str = "auto",
                 data_root: str | None = None, download: bool = False) -> pd.DataFrame:
    """Tidy table over label degrees: :func:`cka_to_init` at epochs 0 and final for each degree.

    Columns: those of :func:`cka_to_init` plus ``degree``. The per-epoch training history is in
    :func:`training_histories`. Each degree's pre-training is the same stored run every chapter uses.
    """
    params.validate()
    tables = []
    for degree in params.degrees:
        per_degree = CkaToInitParams(replace(params.pretrain, degree=degree), params.seeds, params.n_probe,
                                     measured_epochs=(0, params.pretrain.epochs))
        table = cka_to_init(per_degree, store=store, device=device, data_root=data_root, download=download)
        tables.append(table.assign(degree=degree))
    return pd.concat(tables, ignore_index=True)


def training_histories(params: DegreeSweepParams, *, store: Store | None = None, device: str = "auto",
                       data_root: str | None = None, download: bool = False) -> pd.DataFrame:
    """Per-epoch loss and accuracies of every (degree, seed) pre-training run (trains what is missing).

    Columns: degree, seed, epoch, train_loss, train_acc, test_loss, test_acc. Accuracies are
    measured against each split's own (partially random) labels.
    """
    params.validate()
    ds = data_mod.load(params.pretrain.dataset, root=data_root, download=download)
    frames = []
    for degree in params.degrees:
        for seed in params.seeds:
            run = pretrain(replace(params.pretrain, degree=degree, seed=seed), ds, store=store, device=device)
            frames.append(run.history.assign(degree=degree, seed=seed))
    return pd.concat(frames, ignore_index=True)
