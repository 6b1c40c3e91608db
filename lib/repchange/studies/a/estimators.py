"""Study A's claims under other estimators: the final-epoch similarity tables of every run the ledger
reads, measured with biased and debiased linear CKA, angular Procrustes and mutual k-NN alignment,
with BatchNorm at extraction in batch or eval mode.

Nothing is trained: the runs are the stored ones of the chapters (the same parameters give the same
run keys). Only the comparisons the claims read are measured, at the last epoch: pre-training
(Fig. 1: to the own init; chance: the init against an independent init), the extreme label
degrees (Fig. 3a) and training-set sizes (Fig. 3b), and every fine-tuning condition (Figs. 4–5: to
the pre-trained net and to an independent init). The tables have the columns of
:mod:`repchange.studies.a.tables`' so :func:`repchange.studies.claims.study_a_claims` reads them
with ``metric=`` any of :data:`ESTIMATORS`; every value is a similarity (higher = more alike).
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace

import pandas as pd

from repchange.core import progress
from repchange.core.features import BN_MODES, layer_factors
from repchange.core.metrics import Factors, linear_cka, mutual_knn, procrustes_angle
from repchange.core.runtime import Runtime
from repchange.studies.a.finetuning import finetune, finetuning_splits
from repchange.studies.a.tables import (
    FINETUNE_TABLE_CODE, INDEPENDENT_SEED_OFFSET, CkaToInitParams, DegreeSweepParams, FinetuneSweepParams,
    SizeSweepParams, equal_steps_table, pretrain, split_length)

__all__ = ["ESTIMATORS", "KNN_K", "chance_levels", "estimator_tables", "similarities"]

ESTIMATORS = {
    "cka": "biased linear CKA (the paper's)",
    "cka_debiased": "debiased linear CKA",
    "procrustes": "angular Procrustes, as the similarity cos θ",
    "mutual_knn": "mutual k-NN alignment, k = 10 (Huh et al. 2024)",
}
KNN_K = 10
GRID_CODE = (*FINETUNE_TABLE_CODE, "studies.a.estimators")


def similarities(x: Factors, y: Factors, k: int = KNN_K) -> dict[str, float]:
    """Every estimator of :data:`ESTIMATORS` between two representations (cached factors)."""
    return {"cka": linear_cka(x, y), "cka_debiased": linear_cka(x, y, debiased=True),
            "procrustes": math.cos(procrustes_angle(x, y)), "mutual_knn": mutual_knn(x, y, k=k)}


def _rows(final: dict[str, Factors], refs: dict[str, dict[str, Factors]], **meta: object) -> list[dict]:
    return [dict(meta, layer=layer, comparison=comparison, metric=metric, value=value)
            for layer, rep in final.items() for comparison, ref in refs.items()
            for metric, value in similarities(rep, ref[layer]).items()]


def _pretraining_table(params: CkaToInitParams, runtime: Runtime, with_chance: bool = False) -> pd.DataFrame:
    """Final epoch against the own init (and, ``with_chance``, the init against an independent init at
    epoch 0), per seed; one stored table per pre-training config."""

    def compute() -> pd.DataFrame:
        ds = runtime.load(params.pretrain.dataset)
        probe = ds.test.subset(slice(0, params.n_probe))
        rows = []
        for seed in progress.counted(params.seeds, f"estimators, pre-training d={params.pretrain.degree}",
                                     lambda s: f"seed {s}"):
            run = pretrain(replace(params.pretrain, seed=seed), ds, runtime=runtime)
            init = layer_factors(run.model_at(0), probe, bn=params.bn)
            final = layer_factors(run.model_at(run.config.epochs), probe, bn=params.bn)
            rows += _rows(final, {"init": init}, seed=seed, epoch=run.config.epochs)
            if with_chance:
                independent = layer_factors(run.new_model(seed + INDEPENDENT_SEED_OFFSET), probe, bn=params.bn)
                rows += _rows(init, {"independent_init": independent}, seed=seed, epoch=0)
        return pd.DataFrame(rows)

    key = dict(table=asdict(params), with_chance=with_chance, k=KNN_K)
    return runtime.store.table("study_a/estimators_pretraining", key, compute, code=GRID_CODE)


def _finetuning_table(sweep: FinetuneSweepParams, domain: str, cfg, runtime: Runtime) -> pd.DataFrame:
    """One fine-tuning condition: the final epoch against the pre-trained net and an independent init."""

    def compute() -> pd.DataFrame:
        source = runtime.load(cfg.pretrain.dataset)
        target = runtime.load(cfg.target).conformed_to(source.image_shape)
        rows = []
        for seed in progress.counted(sweep.seeds, f"estimators, fine-tuning {cfg.target} {cfg.labels}",
                                     lambda s: f"seed {s}"):
            run = finetune(replace(cfg, pretrain=replace(cfg.pretrain, seed=seed)), source, target, runtime=runtime)
            _, eval_split = finetuning_splits(run.config, target)
            probe = eval_split.subset(slice(0, sweep.n_probe))
            refs = {"pretrained": layer_factors(run.model_at(0), probe, bn=sweep.bn),
                    "independent_init": layer_factors(run.source.new_model(seed + INDEPENDENT_SEED_OFFSET), probe,
                                                      bn=sweep.bn)}
            final = layer_factors(run.model_at(cfg.epochs), probe, bn=sweep.bn)
            rows += _rows(final, refs, seed=seed, epoch=cfg.epochs, shift=run.config.resolved_shift(target.num_classes))
        return pd.DataFrame(rows).assign(domain=domain, target=cfg.target, labels=cfg.labels, degree=cfg.degree)

    key = dict(finetune=asdict(cfg), seeds=sweep.seeds, n_probe=sweep.n_probe, bn=sweep.bn, k=KNN_K)
    return runtime.store.table("study_a/estimators_finetuning", key, compute, code=GRID_CODE)


def estimator_tables(pretraining: CkaToInitParams, degrees: DegreeSweepParams, sizes: SizeSweepParams,
                     finetuning: FinetuneSweepParams, bn: str, runtime: Runtime | None = None) -> dict[str, pd.DataFrame]:
    """The four similarity tables of :func:`repchange.studies.claims.study_a_claims` (``pretraining``,
    ``degrees``, ``sizes``, ``finetuning``; ``histories`` is estimator-free) at the last epoch, every
    estimator in the ``metric`` column, BatchNorm at extraction ``bn``. The parameters are the chapters'
    (their own ``bn`` is replaced by ``bn``); runs not yet stored are trained."""
    if bn not in BN_MODES:
        raise ValueError(f"bn must be one of {BN_MODES}, got {bn!r}")
    runtime = runtime or Runtime()
    for p in (pretraining, degrees, sizes, finetuning):
        p.validate()
    pre = _pretraining_table(replace(pretraining, bn=bn, measured_epochs=None), runtime, with_chance=True)
    by_degree = []
    for d in sorted({min(degrees.degrees), max(degrees.degrees)}):
        table_params = CkaToInitParams(replace(degrees.pretrain, degree=d), degrees.seeds, degrees.n_probe, bn=bn)
        by_degree.append(_pretraining_table(table_params, runtime).assign(degree=d))
    by_size = []
    for size in sorted({min(sizes.train_sizes, key=_size_order), max(sizes.train_sizes, key=_size_order)},
                       key=_size_order):
        cfg = replace(sizes.pretrain, train_size=size, degree=sizes.degree)
        n_train = size if size is not None else len(runtime.load(cfg.dataset).train)
        table = _pretraining_table(CkaToInitParams(cfg, sizes.seeds, sizes.n_probe, bn=bn), runtime)
        by_size.append(table.assign(train_size=n_train, degree=sizes.degree, equal_steps=False))
    steps = equal_steps_table(sizes, split_length(sizes, runtime))
    if steps is not None:  # the smallest size trained for as many SGD steps as the largest (A3-size-steps)
        table = _pretraining_table(replace(steps, bn=bn, measured_epochs=None), runtime)
        by_size.append(table.assign(train_size=steps.pretrain.train_size, degree=sizes.degree, equal_steps=True))
    sweep = replace(finetuning, bn=bn)
    fine = [_finetuning_table(sweep, domain, cfg, runtime) for domain, cfg in sweep.conditions()]
    return {"pretraining": pre, "degrees": pd.concat(by_degree, ignore_index=True),
            "sizes": pd.concat(by_size, ignore_index=True), "finetuning": pd.concat(fine, ignore_index=True)}


def _size_order(size: int | None) -> float:
    return math.inf if size is None else size


def chance_levels(pretraining: pd.DataFrame) -> pd.DataFrame:
    """Each estimator's chance level per layer: the init against an independent init (epoch 0), mean over
    seeds, from :func:`estimator_tables`' ``pretraining`` table. Columns: metric, layer, value."""
    rows = pretraining[(pretraining.comparison == "independent_init") & (pretraining.epoch == 0)]
    return rows.groupby(["metric", "layer"], sort=False)["value"].mean().reset_index()
