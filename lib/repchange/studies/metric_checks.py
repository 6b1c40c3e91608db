"""The metrics chapter's experiments: invariances, chance levels, principal-component
deletion, layer identification across seeds, and agreement between metrics on conv4.

Conventions: CKA and the Procrustes angle compare flattened (n, C·H·W) representations (Study A);
PWSM compares positions-as-samples (n·H·W, C) maps (Study B), because whitening needs at
least as many samples as features. Similarities are reported as distances where metrics are
compared with each other: ``1 - CKA`` and angles in radians.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd
import torch

from repchange.data import datasets as data_mod
from repchange.measure.features import extract, factors_of, layer_factors, positions_as_samples
from repchange.measure.metrics import ALPHAS, METRIC_CODE, Factors, linear_cka, pearson, procrustes_angle, pwsm, pwsm_key
from repchange.runs.runtime import Runtime
from repchange.studies.a.pretraining import TRAINING_CODE, PretrainConfig, pretrain

__all__ = [
    "MetricChecksParams",
    "agreement",
    "identification_rate",
    "mean_off_diagonal",
    "chance_levels",
    "invariances",
    "layer_identification",
    "metric_agreement_table",
    "pc_deletion",
    "pc_deletion_on",
]

CODE = (*TRAINING_CODE, "measure.features", *METRIC_CODE, "studies.metric_checks")


def _flat_metrics() -> dict[str, Callable[[Factors, Factors], float]]:
    return {
        "cka": lambda a, b: linear_cka(a, b),
        "cka_debiased": lambda a, b: linear_cka(a, b, debiased=True),
        "procrustes_angle": procrustes_angle,
    }


def _all_metrics() -> dict[str, Callable[[Factors, Factors], float]]:
    return {**_flat_metrics(), **{pwsm_key(a): (lambda x, y, a=a: pwsm(x, y, alpha=a)) for a in ALPHAS}}


def invariances(n: int = 400, p: int = 20, seed: int = 0) -> pd.DataFrame:
    """Each metric between X (n, p; decaying spectrum) and T(X) for a set of transforms T.

    Invariance shows as CKA = 1 or angle = 0. Columns: transform, metric, value.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, p)) * np.geomspace(1.0, 0.05, p)
    q, _ = np.linalg.qr(rng.standard_normal((p, p)))
    transforms = {
        "rotation (orthogonal map)": x @ q,
        "isotropic scaling (x5)": 5.0 * x,
        "translation": x + rng.standard_normal(p) * 3.0,
        "anisotropic scaling (x0.1..x10)": x * np.geomspace(0.1, 10.0, p),
        "general invertible map": x @ (np.eye(p) + rng.standard_normal((p, p))),
        "additive noise (sd 0.2)": x + 0.2 * rng.standard_normal((n, p)),
    }
    fx = Factors(x)
    return pd.DataFrame([dict(transform=name, metric=metric, value=fn(fx, Factors(tx)))
                         for name, tx in transforms.items() for metric, fn in _all_metrics().items()])


def chance_levels(ns: tuple[int, ...] = (100, 250, 500, 1000), ps: tuple[int, ...] = (10, 100, 1000, 10000),
                  trials: int = 3, seed: int = 0) -> pd.DataFrame:
    """Biased and debiased CKA between independent Gaussian features (n, p) and (n, p).

    Columns: n, p, trial, metric, value, and ``p_over_n_plus_p`` (the biased estimator's
    approximate level for iid features).
    """
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for n in ns:
        for p in ps:
            for trial in range(trials):
                fx, fy = Factors(torch.randn(n, p, generator=gen)), Factors(torch.randn(n, p, generator=gen))
                for metric, debiased in (("cka", False), ("cka_debiased", True)):
                    rows.append(dict(n=n, p=p, trial=trial, metric=metric,
                                     value=linear_cka(fx, fy, debiased=debiased), p_over_n_plus_p=p / (n + p)))
    return pd.DataFrame(rows)


def pc_deletion(x: torch.Tensor, ks: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 32)) -> pd.DataFrame:
    """Each metric between X (n, p) and X with its top-k principal components removed.

    Columns: k, variance_removed (fraction), metric, value. Metrics that ignore the
    high-variance directions barely move; CKA is dominated by them.
    """
    fx = Factors(x)
    values, vectors = torch.linalg.eigh(fx.cov)
    order = torch.argsort(values, descending=True)
    values, vectors = values[order], vectors[:, order]
    rows = []
    for k in ks:
        if k >= fx.p:
            continue
        top = vectors[:, :k]
        deleted = Factors(fx.x - fx.x @ top @ top.T)
        removed = float(values[:k].clamp_min(0).sum() / values.clamp_min(0).sum())
        rows += [dict(k=k, variance_removed=removed, metric=metric, value=fn(fx, deleted))
                 for metric, fn in _all_metrics().items()]
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class MetricChecksParams:
    """Real conv4 representations for the metrics chapter (the Study A pre-training runs)."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    seeds: tuple[int, int] = (1, 2)
    n_probe: int = 500

    def validate(self) -> None:
        self.pretrain.validate()
        if len(self.seeds) != 2 or self.seeds[0] == self.seeds[1]:
            raise ValueError(f"seeds must be two different seeds, got {self.seeds}")
        if self.n_probe < 4:
            raise ValueError(f"n_probe must be at least 4, got {self.n_probe}")


def _runs_and_probe(params: MetricChecksParams, runtime: Runtime) -> tuple[list, data_mod.Split]:
    params.validate()
    ds = runtime.load(params.pretrain.dataset)
    probe = ds.test.subset(slice(0, params.n_probe))
    runs = [pretrain(replace(params.pretrain, seed=s), ds, runtime=runtime) for s in params.seeds]
    return runs, probe


def layer_identification(params: MetricChecksParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """Every layer of the first seed's trained net against every layer of the second's.

    Columns: layer_a, layer_b, metric (cka, cka_debiased, procrustes_angle), value.
    A metric identifies layer i when its best match in the other net is layer i.
    """
    runtime = runtime or Runtime()

    def compute() -> pd.DataFrame:
        runs, probe = _runs_and_probe(params, runtime)
        nets = [run.model_at(run.config.epochs) for run in runs]
        reps = [layer_factors(net, probe) for net in nets]
        return pd.DataFrame([dict(layer_a=a, layer_b=b, metric=metric, value=fn(reps[0][a], reps[1][b]))
                             for a in reps[0] for b in reps[1] for metric, fn in _flat_metrics().items()])

    return runtime.store.table("metrics/layer_identification", asdict(params), compute, code=CODE)


def identification_rate(table: pd.DataFrame, metric: str) -> float:
    """Fraction of seed-A layers whose best match in seed B (max CKA, min angle) is the same layer."""
    grid = table[table.metric == metric].pivot(index="layer_a", columns="layer_b", values="value")
    best = grid.idxmin(axis=1) if "angle" in metric else grid.idxmax(axis=1)
    return float((best == best.index).mean())


def metric_agreement_table(params: MetricChecksParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """Distances between the first seed's net at each epoch and its init, per layer and metric.

    Columns: layer, epoch, metric, distance -- ``1 - CKA`` for CKA, radians for the angles.
    CKA and Procrustes use flattened features, PWSM positions-as-samples (see module doc).
    """
    runtime = runtime or Runtime()

    def compute() -> pd.DataFrame:
        runs, probe = _runs_and_probe(params, runtime)
        run = runs[0]

        def reps(epoch: int) -> tuple[dict[str, Factors], dict[str, Factors]]:
            net = run.model_at(epoch)
            maps = extract(net, net.probe_layers, probe, flatten=False)
            flat = factors_of({k: v.flatten(1) for k, v in maps.items()})
            positions = factors_of({k: positions_as_samples(v) for k, v in maps.items()})
            return flat, positions

        flat0, pos0 = reps(0)
        rows = []
        for epoch in range(1, run.config.epochs + 1):
            flat, pos = reps(epoch)
            for layer in flat:
                rows += [
                    dict(layer=layer, epoch=epoch, metric="1 - cka", distance=1 - linear_cka(flat[layer], flat0[layer])),
                    dict(layer=layer, epoch=epoch, metric="1 - cka_debiased",
                         distance=1 - linear_cka(flat[layer], flat0[layer], debiased=True)),
                    dict(layer=layer, epoch=epoch, metric="procrustes_angle",
                         distance=procrustes_angle(flat[layer], flat0[layer])),
                    *(dict(layer=layer, epoch=epoch, metric=pwsm_key(a),
                           distance=pwsm(pos[layer], pos0[layer], alpha=a)) for a in ALPHAS),
                ]
        return pd.DataFrame(rows)

    return runtime.store.table("metrics/agreement", asdict(params), compute, code=CODE)


def agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Pearson r between every two metrics across the (layer, epoch) cells of :func:`metric_agreement_table`."""
    wide = table.pivot_table(index=["layer", "epoch"], columns="metric", values="distance")
    names = list(wide.columns)
    return pd.DataFrame([[pearson(wide[a].to_numpy(), wide[b].to_numpy()) for b in names] for a in names],
                        index=names, columns=names)


def mean_off_diagonal(correlations: pd.DataFrame) -> float:
    """Mean of a square correlation matrix without its diagonal."""
    values = correlations.to_numpy()
    return float(values[~np.eye(len(values), dtype=bool)].mean())


def pc_deletion_on(params: MetricChecksParams, layer: str = "block4", runtime: Runtime | None = None,
                   ks: tuple[int, ...] = (0, 1, 2, 4, 8, 16, 32)) -> pd.DataFrame:
    """:func:`pc_deletion` on one layer of the first seed's trained net (flattened features)."""
    runtime = runtime or Runtime()

    def compute() -> pd.DataFrame:
        runs, probe = _runs_and_probe(params, runtime)
        net = runs[0].model_at(runs[0].config.epochs)
        acts = extract(net, {layer: net.probe_layers[layer]}, probe)[layer]
        if acts.shape[1] > acts.shape[0]:
            raise ValueError(f"layer {layer!r} has {acts.shape[1]} features for {acts.shape[0]} probe samples; "
                             "choose a layer with at most n_probe features (PWSM needs n >= p)")
        return pc_deletion(acts, ks)

    return runtime.store.table("metrics/pc_deletion", {"params": asdict(params), "layer": layer, "ks": list(ks)},
                       compute, code=CODE)
