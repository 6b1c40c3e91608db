"""Study A's claims under other estimators: the final-epoch similarity tables of every run the ledger
reads, measured with biased and debiased linear CKA, angular Procrustes and mutual k-NN alignment,
with BatchNorm at extraction in batch or eval mode.

Nothing is trained: the runs are the stored ones of the chapters (the same parameters give the same
run keys). Only the comparisons the claims read are measured, at the last epoch: pre-training
(Fig. 1: to the own init; chance: the init against an independent init), the extreme label
degrees (Fig. 3a) and training-set sizes (Fig. 3b), and every fine-tuning condition (Figs. 4–5: to
the pre-trained net, to its own pre-training init and to an independent init; chance: the two inits). The tables have the columns of
:mod:`repchange.studies.a.tables`' so :func:`repchange.studies.claims.study_a_claims` reads them
with ``metric=`` any of :data:`ESTIMATORS`; every value is a similarity (higher = more alike).

Each (config, seed) table is stored on its own and the missing ones are computed side by side in the worker
pool, one thread each (:mod:`repchange.runs.table_pool`): they are Procrustes' 500 x 500 eigendecompositions
and SVDs, which on two threads in the notebook's process took seconds each whenever anything else ran.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace

import pandas as pd

from repchange.measure.features import BN_MODES, layer_factors
from repchange.measure.metrics import Factors, linear_cka, mutual_knn, procrustes_angle
from repchange.runs.runtime import Runtime
from repchange.runs.table_pool import TableJob, missing_tables, stored_tables
from repchange.studies.a.finetuning import FinetuneConfig, finetune, finetune_all, finetuning_splits
from repchange.studies.a.pretraining import pretrain_all
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


def _pretraining_seed_table(params: CkaToInitParams, seed: int, with_chance: bool, runtime: Runtime) -> pd.DataFrame:
    """One seed's final epoch against its own init (and, ``with_chance``, the init against an independent
    init at epoch 0)."""
    ds = runtime.load(params.pretrain.dataset)
    probe = ds.test.subset(slice(0, params.n_probe))
    run = pretrain(replace(params.pretrain, seed=seed), ds, runtime=runtime)
    init = layer_factors(run.model_at(0), probe, bn=params.bn)
    final = layer_factors(run.model_at(run.config.epochs), probe, bn=params.bn)
    rows = _rows(final, {"init": init}, seed=seed, epoch=run.config.epochs)
    if with_chance:
        independent = layer_factors(run.new_model(seed + INDEPENDENT_SEED_OFFSET), probe, bn=params.bn)
        rows += _rows(init, {"independent_init": independent}, seed=seed, epoch=0)
    return pd.DataFrame(rows)


def _pretraining_jobs(params: CkaToInitParams, runtime: Runtime, with_chance: bool = False) -> list[TableJob]:
    """One stored table per seed of a pre-training config (so configs that share seeds share tables)."""
    return [TableJob("study_a/estimators_pretraining",
                     dict(pretrain=asdict(replace(params.pretrain, seed=seed)), n_probe=params.n_probe, bn=params.bn,
                          with_chance=with_chance, k=KNN_K),
                     _pretraining_seed_table, dict(params=params, seed=seed, with_chance=with_chance, runtime=runtime),
                     code=GRID_CODE, label=f"pre-training d={params.pretrain.degree} seed {seed}",
                     cost=2.0 if with_chance else 1.0)
            for seed in params.seeds]


def _finetuning_seed_table(sweep: FinetuneSweepParams, domain: str, cfg: FinetuneConfig, runtime: Runtime
                           ) -> pd.DataFrame:
    """One fine-tuning run (``cfg``, its seed set): the final epoch against the pre-trained net, its own
    pre-training init and an independent init; and the two inits against each other at epoch 0 (``chance``)."""
    source = runtime.load(cfg.pretrain.dataset)
    target = runtime.load(cfg.target).conformed_to(source.image_shape)
    seed = cfg.pretrain.seed
    run = finetune(cfg, source, target, runtime=runtime)
    _, eval_split = finetuning_splits(run.config, target)
    probe = eval_split.subset(slice(0, sweep.n_probe))
    refs = {"pretrained": layer_factors(run.model_at(0), probe, bn=sweep.bn),
            "pretrain_init": layer_factors(run.source.model_at(0), probe, bn=sweep.bn),
            "independent_init": layer_factors(run.source.new_model(seed + INDEPENDENT_SEED_OFFSET), probe,
                                              bn=sweep.bn)}
    final = layer_factors(run.model_at(cfg.epochs), probe, bn=sweep.bn)
    shift = run.config.resolved_shift(target.num_classes)
    rows = _rows(final, refs, seed=seed, epoch=cfg.epochs, shift=shift)
    rows += _rows(refs["pretrain_init"], {"chance": refs["independent_init"]}, seed=seed, epoch=0, shift=shift)
    return pd.DataFrame(rows).assign(domain=domain, target=cfg.target, labels=cfg.labels, degree=cfg.degree)


def _finetuning_jobs(sweep: FinetuneSweepParams, domain: str, cfg: FinetuneConfig, runtime: Runtime
                     ) -> list[TableJob]:
    """One stored table per seed of a fine-tuning condition."""
    runs = [replace(cfg, pretrain=replace(cfg.pretrain, seed=seed)) for seed in sweep.seeds]
    return [TableJob("study_a/estimators_finetuning",
                     dict(finetune=asdict(run), domain=domain, n_probe=sweep.n_probe, bn=sweep.bn, k=KNN_K),
                     _finetuning_seed_table, dict(sweep=sweep, domain=domain, cfg=run, runtime=runtime),
                     code=GRID_CODE, label=f"fine-tuning {run.label}", cost=2.0)
            for run in runs]


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
    groups: dict[str, list[tuple[list[TableJob], dict]]] = {"pretraining": [], "degrees": [], "sizes": [],
                                                           "finetuning": []}
    groups["pretraining"].append((_pretraining_jobs(replace(pretraining, bn=bn, measured_epochs=None), runtime,
                                                    with_chance=True), {}))
    for d in sorted({min(degrees.degrees), max(degrees.degrees)}):
        table_params = CkaToInitParams(replace(degrees.pretrain, degree=d), degrees.seeds, degrees.n_probe, bn=bn)
        groups["degrees"].append((_pretraining_jobs(table_params, runtime), dict(degree=d)))
    for size in sorted({min(sizes.train_sizes, key=_size_order), max(sizes.train_sizes, key=_size_order)},
                       key=_size_order):
        cfg = replace(sizes.pretrain, train_size=size, degree=sizes.degree)
        n_train = size if size is not None else len(runtime.load(cfg.dataset).train)
        groups["sizes"].append((_pretraining_jobs(CkaToInitParams(cfg, sizes.seeds, sizes.n_probe, bn=bn), runtime),
                                dict(train_size=n_train, degree=sizes.degree, equal_steps=False)))
    steps = equal_steps_table(sizes, split_length(sizes, runtime))
    if steps is not None:  # the smallest size trained for as many SGD steps as the largest (A3-size-steps)
        groups["sizes"].append((_pretraining_jobs(replace(steps, bn=bn, measured_epochs=None), runtime),
                                dict(train_size=steps.pretrain.train_size, degree=sizes.degree, equal_steps=True)))
    sweep = replace(finetuning, bn=bn)
    for domain, cfg in sweep.conditions():
        groups["finetuning"].append((_finetuning_jobs(sweep, domain, cfg, runtime), {}))
    jobs = [job for parts in groups.values() for part_jobs, _ in parts for job in part_jobs]
    missing = missing_tables(jobs, runtime.store)
    _train_for(missing, runtime)
    tables = iter(stored_tables(jobs, runtime, f"estimator tables, BN {bn}", missing=missing))
    frames = {name: pd.concat([pd.concat([next(tables) for _ in part_jobs], ignore_index=True).assign(**labels)
                               for part_jobs, labels in parts], ignore_index=True)
              for name, parts in groups.items()}
    return frames


def _train_for(missing: list[TableJob], runtime: Runtime) -> None:
    """Train, side by side, the runs the ``missing`` tables read (before the tables go to the pool)."""
    pretrain_all([replace(j.kwargs["params"].pretrain, seed=j.kwargs["seed"]) for j in missing
                  if j.function is _pretraining_seed_table], runtime=runtime)
    finetune_all([j.kwargs["cfg"] for j in missing if j.function is _finetuning_seed_table], runtime=runtime)


def _size_order(size: int | None) -> float:
    return math.inf if size is None else size


def chance_levels(pretraining: pd.DataFrame) -> pd.DataFrame:
    """Each estimator's chance level per layer: the init against an independent init (epoch 0), mean over
    seeds, from :func:`estimator_tables`' ``pretraining`` table. Columns: metric, layer, value."""
    rows = pretraining[(pretraining.comparison == "independent_init") & (pretraining.epoch == 0)]
    return rows.groupby(["metric", "layer"], sort=False)["value"].mean().reset_index()
