"""Measured effects of the book's choices where the papers and the authors' code differ.

Each function runs the same stored training runs under both readings of one protocol detail
and returns a tidy comparison: what changes in the numbers the figures and the ledger use.
Nothing here trains a run the chapters do not already train, except :func:`shift_effect`
(fine-tunings with the other shift).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import torch

from repchange.measure.position_moments import pair_moments, pwsm_alphas_from_moments
from repchange.runs.runtime import Runtime
from repchange.studies.a import tables as a_tables
from repchange.studies.b import tables as b_tables

__all__ = ["agreement_images_effect", "bn_effect_study_a", "fig5_reference_effect", "fit_measure_effect",
           "probe_chance_levels", "pwsm_convention_effect", "shift_effect", "study_b_variant_effect"]


def _final(table: pd.DataFrame, **where: object) -> pd.Series:
    rows = table[table.epoch == table.epoch.max()]
    for column, value in where.items():
        rows = rows[rows[column] == value]
    return rows.groupby("layer", sort=False)["value"].mean()


def _side_by_side(a: pd.Series, b: pd.Series, names: tuple[str, str]) -> pd.DataFrame:
    out = pd.concat([a.rename(names[0]), b.rename(names[1])], axis=1).reset_index().rename(columns={"index": "layer"})
    out["difference"] = out[names[1]] - out[names[0]]
    return out


def bn_effect_study_a(params: a_tables.CkaToInitParams, runtime: Runtime | None = None) -> pd.DataFrame:
    """Figure 1's last-epoch CKA to the init per layer (mean over seeds) with BatchNorm at extraction
    in batch mode (the authors' code, the default) and in eval mode. Columns: layer, batch, eval,
    difference (eval − batch), and the same for the independent-init baseline (``*_independent``)."""
    frames = {}
    for bn in ("batch", "eval"):
        p = replace(params, bn=bn, measured_epochs=(0, params.pretrain.epochs))
        table = a_tables.cka_to_init(p, runtime=runtime)
        frames[bn] = table[table.metric == "cka"]
    out = _side_by_side(_final(frames["batch"], comparison="init"), _final(frames["eval"], comparison="init"),
                        ("batch", "eval"))
    baseline = _side_by_side(_final(frames["batch"], comparison="independent_init"),
                             _final(frames["eval"], comparison="independent_init"),
                             ("batch_independent", "eval_independent"))
    return out.merge(baseline.drop(columns="difference"), on="layer")


def fit_measure_effect(histories: pd.DataFrame) -> pd.DataFrame:
    """Figure 2's two training accuracies at every epoch where both are measured, mean over seeds per degree:
    the running mean over the epoch's batches (``running``, what the authors' code logs) and the net after the
    epoch in eval mode on its training images (``fit``, what A2-train-fit reads). Columns: degree, epoch,
    running, fit, difference (fit − running)."""
    rows = histories.dropna(subset=["fit_acc", "train_acc"])
    out = (rows.groupby(["degree", "epoch"])[["train_acc", "fit_acc"]].mean().reset_index()
           .rename(columns={"train_acc": "running", "fit_acc": "fit"}))
    out["difference"] = out.fit - out.running
    return out


def shift_effect(params: a_tables.FinetuneSweepParams, fixed: int = 1, runtime: Runtime | None = None) -> pd.DataFrame:
    """Last-epoch CKA to the pre-trained net per layer (mean over seeds) after fine-tuning on shifted
    labels with s = seed (the authors' code, the default) and with one fixed s for every seed.
    Columns: layer, s=seed, s=<fixed>, difference."""
    values = {}
    for shift in ("seed", fixed):
        p = replace(params, degrees=(0,), shifts=(shift,))
        table = a_tables.finetune_sweep(p, runtime=runtime)
        rows = table[(table.metric == "cka") & (table.comparison == "pretrained") & table.labels.str.startswith("shift")]
        values[f"s={shift}"] = _final(rows)
    return _side_by_side(values["s=seed"], values[f"s={fixed}"], ("s=seed", f"s={fixed}"))


def study_b_variant_effect(params: b_tables.DynamicsParams, arch: str, runtime: Runtime | None = None,
                           **change: object) -> pd.DataFrame:
    """Last-checkpoint distance per target, layer and metric (all probes, mean over seeds) for one architecture
    under the book's settings and under ``change`` (e.g. ``bn="eval"`` or ``procrustes_centre="columns"``):
    :func:`~repchange.studies.b.tables.last_checkpoint_distances` of both. Columns: target, metric, layer,
    default, variant, difference (variant − default)."""
    base = replace(params, archs=(arch,))
    keys = ["target", "metric", "layer"]
    final = {name: b_tables.last_checkpoint_distances(p, runtime=runtime).groupby(keys, sort=False)["value"].mean()
             for name, p in (("default", base), ("variant", replace(base, **change)))}
    out = pd.concat([final["default"].rename("default"), final["variant"].rename("variant")], axis=1).reset_index()
    out["difference"] = out["variant"] - out["default"]
    return out


def pwsm_convention_effect(params: b_tables.DynamicsParams, arch: str, target: str, alpha: float = 0.5,
                           runtime: Runtime | None = None) -> pd.DataFrame:
    """PWSM at ``alpha`` between each layer of the source net and of the last checkpoint, with the
    book's scale-free whitening and with netrep's (raw covariance). Columns: layer, ours, netrep,
    difference (netrep − ours)."""
    cfg = b_tables.run_config(params, arch, target)
    last = max(cfg.checkpoints)  # the source (epoch 0) and the last checkpoint only: the others are not read
    probe, maps, _ = b_tables.checkpoint_maps(cfg, None, params.n_probe, runtime=runtime, bn=params.bn,
                                              epochs=[0, last])
    rows = []
    for layer in maps[0]:
        n, channels, height, width = maps[0][layer].shape
        if n * height * width < channels:
            continue  # whitening undefined: fewer positions than channels
        # the positions' moments, a few images at a time (no float64 copy of every position)
        group = pair_moments(maps[0][layer], maps[last][layer])["all"]
        ours = pwsm_alphas_from_moments(group, [alpha], name=layer)[alpha]
        netrep = pwsm_alphas_from_moments(group, [alpha], scale_free=False, name=layer)[alpha]
        rows.append(dict(layer=layer, ours=ours, netrep=netrep, difference=netrep - ours))
    return pd.DataFrame(rows)


def agreement_images_effect(params: b_tables.DynamicsParams, arch: str, target: str,
                            runtime: Runtime | None = None) -> pd.DataFrame:
    """The metric agreement of one run (``arch`` on ``target``, the first seed) at its last checkpoint, per layer,
    class and pairing: Pearson r across filters with each filter's distances averaged over the first
    :data:`~repchange.studies.b.tables.AGREEMENT_IMAGES_PER_CLASS` probe images of each class (the book) and
    over all of the class's probe images (the authors' code). Columns: layer, cls, pairing, images (per class,
    the book's), all_images, difference (all − the book's)."""
    cfg = b_tables.run_config(params, arch, target)
    last = max(cfg.checkpoints)  # the source (epoch 0) and the last checkpoint only: the others are not read
    probe, maps, _ = b_tables.checkpoint_maps(cfg, None, params.n_probe, runtime=runtime, bn=params.bn,
                                              epochs=[0, last])
    keeps = {name: b_tables.agreement_images(probe.labels, per_class)
             for name, per_class in (("book", b_tables.AGREEMENT_IMAGES_PER_CLASS), ("all_images", None))}
    frames = {}
    for name, keep in keeps.items():
        if name == "all_images" and torch.equal(keep, keeps["book"]):
            frames[name] = frames["book"]  # no class has more probe images than the book reads: the same r's
            continue
        frames[name] = pd.DataFrame([dict(layer=layer, **r) for layer in maps[0]
                                     for r in b_tables.filter_r(maps[0][layer][keep], maps[last][layer][keep],
                                                                probe.labels[keep], params.procrustes_centre)])
    out = frames["book"].drop(columns="n_filters").rename(columns={"r": "images"})
    out["all_images"] = frames["all_images"].r.to_numpy()
    out["difference"] = out.all_images - out.images
    return out



def fig5_reference_effect(finetuning: pd.DataFrame) -> pd.DataFrame:
    """Figure 5's reference init: per condition (domain, labels), the layer-mean CKA of the fine-tuned net (last
    epoch, biased CKA, mean over seeds) to the init its own pre-training started from (``own_init``, the paper's
    text) and to an independently drawn init (``independent_init``, the authors' code), and ``difference``
    (independent − own): how much a Fig. 5 margin (CKA to the pre-trained net − to the init) moves with the choice.
    Columns: domain, labels, own_init, independent_init, difference."""
    final = finetuning[(finetuning.epoch == finetuning.epoch.max()) & (finetuning.metric == "cka")]
    final = final[final.comparison.isin(["pretrain_init", "independent_init"])]
    means = final.groupby(["domain", "labels", "comparison", "seed"], sort=False)["value"].mean() \
        .groupby(["domain", "labels", "comparison"], sort=False).mean().unstack("comparison")
    out = means.rename(columns={"pretrain_init": "own_init"})[["own_init", "independent_init"]].reset_index()
    out["difference"] = out.independent_init - out.own_init
    return out


def probe_chance_levels(finetuning: pd.DataFrame, layers: list[str] | None = None) -> pd.DataFrame:
    """Each fine-tuning probe's chance level: biased CKA between two unrelated random inits on it (the table's
    ``chance`` rows), per domain and layer, mean over seeds; ``layers``: keep these (None: all). A comparison of
    raw CKA across the two probes carries the difference of these levels. Columns: layer, same, cross, difference
    (cross − same)."""
    rows = finetuning[(finetuning.comparison == "chance") & (finetuning.metric == "cka")]
    if rows.empty:
        raise ValueError("the fine-tuning table has no 'chance' rows; compute it with repchange.studies.a.tables")
    wide = rows.groupby(["layer", "domain"], sort=False)["value"].mean().unstack("domain")
    out = wide[["same", "cross"]].reset_index()
    out["difference"] = out.cross - out.same
    return out if layers is None else out[out.layer.isin(layers)].reset_index(drop=True)
