"""Study B's claims (Behzadi-Khormouji et al.), one value per source net, from the tables of
:mod:`repchange.studies.b.tables`.

The unit is the **source net** (architecture × seed): the fine-tunings of one source net on several targets
share it, so they are averaged into one value before any interval. Architecture is a fixed effect, not an
exchangeable unit: an interval over source nets takes the mean of the architectures' means and its spread
from the seeds within each architecture (``groups`` in :func:`repchange.studies.verdicts.interval`), so it
generalises over seeds of the architectures measured, not over architectures. With one seed per
architecture that leaves no degrees of freedom: "untestable at this n".

Every row quotes the paper verbatim at the section it stands in. Table 2's claims all read its statistic,
**reusability** (Sec. 3.2: the mean over the fine-tuning checkpoints of the layer-averaged distance).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from repchange.measure.metrics import pwsm_key
from repchange.studies.verdicts import LEVEL, RANGE_SHARE, range_delta
from repchange.studies.b import analysis
from repchange.studies.ledger import Claim, assess, not_measured, source_net_groups, with_note

__all__ = ["ARCH_OF_PAPER", "SIMILARITY_TO_SOURCE", "residual_rank_correlation", "study_b_claims"]

# How far each target lies from its source (the paper: Fruits-360 is the dissimilar one).
SIMILARITY_TO_SOURCE = {
    "fashion_new_classes": "similar", "fashion_inverted": "dissimilar", "digits": "dissimilar",
    "fashion_heldout": "same task", "fashion_coarse": "related",
    "scene15": "similar", "awa2": "similar", "fruits360": "dissimilar",
}
ARCH_OF_PAPER = {"resnet_small": "resnet50", "vgg_small": "vgg19", "densenet_small": "densenet121"}
_SEC41_AGREE = "This indicates that there is a highly positive linear correlation between these two metrics"


def _scale(metric: str) -> str:
    return "procrustes difference" if metric == "procrustes_filter" else "pwsm difference"


def _per_source_net(per_run: dict[tuple[str, str, int], float]) -> pd.Series:
    """The mean over targets of per-run values keyed (arch, target, seed), one per source net, indexed
    ``arch/s<seed>`` (NaN runs left out of their net's mean)."""
    runs = pd.Series(per_run, dtype=float)
    if runs.empty:
        return runs
    runs.index = pd.MultiIndex.from_tuples(runs.index, names=["arch", "target", "seed"])
    nets = runs.groupby(level=["arch", "seed"], sort=False).mean()
    return pd.Series(nets.to_numpy(), index=[f"{a}/s{s}" for a, s in nets.index], dtype=float)


def _per_run(table: pd.DataFrame, function) -> pd.Series:
    """``function(rows of one run)`` for every (arch, target, seed), averaged per source net."""
    return _per_source_net({key: function(rows) for key, rows in table.groupby(["arch", "target", "seed"],
                                                                                sort=False)})


def _assess_nets(claim: Claim, values: pd.Series, level: float, delta: tuple[float, str] | None = None) -> dict:
    """:func:`assess` over source nets, architecture as a fixed effect; ``delta``: δ from the measure (None: fixed)."""
    return assess(claim, values, level, groups=source_net_groups(values), delta=delta)


def _dissimilar_minus_similar(per_run: pd.Series, kinds: dict[str, str]) -> pd.Series:
    """Per source net: the mean of ``per_run`` (indexed arch, target, seed) over the dissimilar targets minus
    that over the similar ones."""
    frame = per_run.rename("value").reset_index()
    frame["kind"] = frame.target.map(kinds)
    means = frame.groupby(["arch", "seed", "kind"], sort=False)["value"].mean().unstack("kind")
    gaps = means["dissimilar"] - means["similar"]
    return pd.Series(gaps.to_numpy(), index=[f"{a}/s{s}" for a, s in gaps.index], dtype=float)


def _run_means(rows: pd.DataFrame) -> pd.Series:
    """Mean ``value`` per (arch, target, seed)."""
    return rows.groupby(["arch", "target", "seed"], sort=False)["value"].mean()


def _relative_slope(x: np.ndarray, y: np.ndarray) -> float:
    """The least-squares rise of ``y`` over ``x`` (slope × the span of x) relative to the mean of ``y``; NaN with fewer
    than two distinct x or a mean that is not positive."""
    if len(np.unique(x)) < 2 or not y.mean() > 0:
        return np.nan
    return float(np.polyfit(x, y, 1)[0] * (x.max() - x.min()) / y.mean())


def _mean_finite(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else np.nan


def _relative_rise(rows: pd.DataFrame) -> float:
    """Mean over a run's layers of the distance's least-squares rise across the fine-tuning checkpoints (slope ×
    the epochs' span, epochs > 0: epoch 0 is the source itself, distance 0, and would make every trend start
    upward) relative to the layer's mean distance there: +0.2 = the fitted distance grows by a fifth of its mean.
    Continuous, unlike a rank correlation, which saturates at 1 for every monotone layer."""
    return _mean_finite([_relative_slope(group["epoch"].to_numpy(float), group["value"].to_numpy(float))
                         for _, group in rows[rows.epoch > 0].groupby("layer", sort=False)])


def _relative_depth_rise(rows: pd.DataFrame, order) -> float:
    """Mean over a run's checkpoints after epoch 0 of the distance's least-squares rise over the layers' depth order
    (slope × the span of depth indices) relative to that checkpoint's mean distance: +0.5 = from the first probed
    layer to the deepest the fitted distance grows by half its mean. ``order(arch)``: the layers in depth order."""
    depth = {layer: k for k, layer in enumerate(order(rows.arch.iloc[0]))}
    return _mean_finite([_relative_slope(group.layer.map(depth).to_numpy(float), group["value"].to_numpy(float))
                         for _, group in rows[rows.epoch > 0].groupby("epoch", sort=False)])


def residual_rank_correlation(cells: pd.DataFrame, a: str, b: str, by: list[str]) -> float:
    """Spearman ρ of columns ``a`` and ``b`` over ``cells`` after the mean of each ``by`` group is taken out of both
    columns' ranks (e.g. ``by = ["layer", "epoch"]``: what every target shares at a layer and epoch), as Pearson r of
    the residual ranks; NaN where a residual is constant."""
    ranks = cells[[a, b]].rank()
    key = cells[by].astype(str).agg("|".join, axis=1)
    residual = ranks - ranks.groupby(key.to_numpy()).transform("mean")
    if residual[a].std() == 0 or residual[b].std() == 0:
        return np.nan
    return float(np.corrcoef(residual[a], residual[b])[0, 1])


def study_b_claims(dynamics: pd.DataFrame, agreement: pd.DataFrame | None = None, alpha: float = 0.0,
                   level: float = LEVEL, metric: str | None = None,
                   agreement_unrelated: pd.DataFrame | None = None,
                   baseline: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ledger rows of Study B from :func:`repchange.studies.b.tables.dynamics`' table and, for the
    metric agreement, :func:`repchange.studies.b.tables.filter_agreement`'s, with the agreement on unrelated
    filter pairs beside it in the note (``agreement_unrelated``:
    :func:`~repchange.studies.b.tables.filter_agreement_chance`, the same r's against each source net's
    independently trained twin); ``baseline`` (:func:`~repchange.studies.b.tables.baseline`: each layer of the
    source net against its twin) sets the magnitudes of Sec. 4.1's "slightly modified" and "significant changes"
    (not measured without it). The shape metric is PWSM at ``alpha`` (0: the authors' code), or ``metric``
    (e.g. ``"procrustes_filter"``) where given; a claim whose metric the table lacks is "not measured"."""
    metric = metric or pwsm_key(alpha)
    labels = {pwsm_key(alpha): analysis.pwsm_label(alpha), "procrustes_filter": analysis.FILTER_PROCRUSTES_LABEL}
    labels.setdefault(metric, metric)
    present = set(dynamics.metric)
    overall = dynamics[dynamics.cls == "all"]
    rows = []
    per_run = {}
    for seed in sorted(dynamics.seed.unique()):
        trend = analysis.depth_trend(dynamics[dynamics.seed == seed])
        for _, r in trend.iterrows():
            per_run.setdefault(r.metric, {})[(r.arch, r.target, seed)] = r.spearman
    for name in dict.fromkeys((metric, "procrustes_filter")):
        label = labels[name]
        depth = Claim(
            f"B-depth ({name})", "B", "Sec. 4.1", "Figs. 2–4", "early layers inside a network have consistently lower "
            "distance, i.e. higher similarity, to the features encoded on their corresponding layers in the source "
            "model", "At every fine-tuning checkpoint, deeper layers stand further from the source than early ones.",
            f"relative rise of the distance with depth at each checkpoint after epoch 0 (least-squares slope over the "
            f"layers' depth order × its span / the mean distance), mean over the checkpoints, then over the source "
            f"net's targets; {label}", "source net", "greater", scale="relative change")
        last_rank = Claim(
            f"B-depth [last checkpoint, Spearman] ({name})", "B", "Sec. 4.1", "Figs. 2–4", depth.quote,
            "The earlier reading: at the last checkpoint, distance rises with depth by rank.",
            f"Spearman ρ of the last checkpoint's distance with layer depth, mean over the source net's targets; "
            f"{label}", "source net", "greater", scale="rank correlation", kind="beside")
        upward = Claim(
            f"B-upward ({name})", "B", "Sec. 4.1", "Figs. 2–4", "there can be seen a predominantly upward trend in "
            "distance of all of the other layers fine-tuned on different datasets as the models progress through the "
            "fine-tuning process", "The distance to the source rises over the fine-tuning epochs.",
            f"relative rise of a layer's distance over the checkpoints after epoch 0 (least-squares slope × span / mean "
            f"distance), mean over the run's layers, then over the source net's targets; {label}", "source net",
            "greater", scale="relative change")
        if name not in present:
            why = f"the table has no {label} (add its alpha to the chapter's alphas)"
            rows += [not_measured(depth, why), not_measured(last_rank, why), not_measured(upward, why)]
            continue
        by_depth = partial(_relative_depth_rise, order=lambda arch: analysis.layer_order(dynamics, arch))
        rows.append(_assess_nets(depth, _per_run(overall[overall.metric == name], by_depth), level))
        rows.append(_assess_nets(last_rank, _per_source_net(per_run[name]), level))
        rows.append(_assess_nets(upward, _per_run(overall[overall.metric == name], _relative_rise), level))

    delta = partial(_twin_delta, baseline, metric, labels[metric])
    rows += _target_claims(dynamics, overall, metric, labels[metric], present, level, delta)
    rows.append(_metrics_alike(overall, metric, labels, present, level))
    rows += _agreement_claims(agreement, agreement_unrelated, level)
    rows += _magnitude_claims(overall, baseline, metric, labels[metric], present, level)
    rows += _domain_claims(dynamics, overall, metric, labels[metric], present, level, delta)
    return pd.DataFrame(rows)


def _twin_delta(baseline: pd.DataFrame | None, metric: str, label: str, first_layer: bool = False
                ) -> tuple[float, str] | None:
    """δ of a distance row from the measure: :data:`~repchange.studies.verdicts.RANGE_SHARE` of the distance between the
    source nets and their independently trained twins (``baseline``), per layer the mean over the runs, then over the
    layers (the first probed layer alone with ``first_layer``); None without a twin (a published net): the scale's
    fixed δ."""
    if baseline is None or baseline.empty or metric not in set(baseline.metric):
        return None
    rows = baseline[baseline.metric == metric]
    if first_layer:
        rows = pd.concat([group[group.layer == analysis.layer_order(group, arch)[0]]
                          for arch, group in rows.groupby("arch", sort=False)])
    per_net = rows.groupby(["arch", "target", "seed"], sort=False)["value"].mean()
    delta = range_delta(per_net)
    where = "the first probed layer" if first_layer else "the layers"
    return delta, (f"{RANGE_SHARE:.0%} of the {label} between the source nets and their independently trained twins, "
                   f"mean {per_net.mean():.3f} over {where}")


def _target_claims(dynamics: pd.DataFrame, overall: pd.DataFrame, metric: str, label: str, present: set,
                   level: float, delta) -> list[dict]:
    """The claims about targets: Table 2's (reusability) and the abstract's first-checkpoint claim."""
    kinds = {t: SIMILARITY_TO_SOURCE.get(t) for t in dynamics.target.unique()}
    scale = _scale(metric)
    similarity = Claim(
        "B-similarity", "B", "Sec. 4.1", "Table 2", "the closest the source and target domains are to each other, the "
        "highest amount of features learned from the source domain can be reused for the target domain",
        "Features are reused more on a target like the source than on a dissimilar one.",
        f"reusability (mean over the fine-tuning checkpoints of the layer-averaged {label}, Table 2): mean over "
        "dissimilar targets − mean over similar targets", "source net", "greater", scale=scale)
    early = Claim(
        "B-early-dissimilar", "B", "Abstract", "Figs. 2–4", "feature similarity is reduced, even in early stages, "
        "between the source model and its fine-tuned counterparts when the target domain is dissimilar",
        "Already at the first fine-tuning checkpoint, a dissimilar target has moved the layers further than a "
        "similar one (“stages” of the fine-tuning: Sec. 1, Sec. 3.2).",
        f"layer-mean {label} at the first fine-tuning checkpoint: mean over dissimilar targets − mean over similar "
        "targets", "source net", "greater", scale=scale)
    first_layer = Claim(
        "B-early-dissimilar [first layer]", "B", "Abstract", "Figs. 2–4", early.quote, "A paraphrase that reads "
        "“early” as depth: the first probed layer's final distance is larger on a dissimilar target.",
        f"final {label} of the first probed layer: mean over dissimilar targets − mean over similar targets",
        "source net", "greater", scale=scale, kind="beside")
    resnet = Claim(
        "B-resnet-dissimilar", "B", "Sec. 4.1", "Table 2", "when there is a high dissimilarity between source and "
        "target domains, Resnet50 provides a higher amount of features that can be reused",
        "On the dissimilar target ResNet reuses its features most (lowest reusability distance).",
        f"lowest reusability of the other architectures − ResNet's, mean over the dissimilar targets ({label})",
        "seed (one source net per architecture)", "greater", scale=scale)
    order = Claim(
        "B-awa2-vs-scene", "B", "Sec. 4.1", "Table 2", "the layers of other models fine-tuned on the AwA2 dataset have "
        "lowest distance, i.e. higher similarity, than those fine-tuned on the 15-Scene dataset",
        "Features are reused more on AwA2 than on 15-Scene (the sentence excepts VGG19).",
        "reusability on 15-Scene − on AwA2", "source net", "greater", scale=scale)
    if metric not in present:
        return [not_measured(c, f"the table has no {label}") for c in (similarity, early, first_layer, resnet, order)]
    rows = overall[overall.metric == metric]
    trained = rows[rows.epoch > 0]
    # Table 2's reusability per run: the layer-averaged distance, averaged over the checkpoints after epoch 0
    reuse = _run_means(trained.groupby(["arch", "target", "seed", "epoch"], sort=False)["value"].mean().reset_index())
    out = []
    if {"similar", "dissimilar"} <= set(kinds.values()):
        first_epoch = rows[rows.epoch == trained.epoch.min()]
        final = rows[rows.epoch == rows.epoch.max()]
        first_probed = pd.concat([group[group.layer == analysis.layer_order(dynamics, arch)[0]]
                                  for arch, group in final.groupby("arch", sort=False)])
        out += [_assess_nets(similarity, _dissimilar_minus_similar(reuse, kinds), level, delta()),
                _assess_nets(early, _dissimilar_minus_similar(_run_means(first_epoch), kinds), level, delta()),
                _assess_nets(first_layer, _dissimilar_minus_similar(_run_means(first_probed), kinds), level,
                             delta(first_layer=True))]
    else:
        why = f"needs a similar and a dissimilar target; this run has {kinds}"
        out += [not_measured(c, why) for c in (similarity, early, first_layer)]

    resnets = [a for a in dynamics.arch.unique() if ARCH_OF_PAPER.get(a, a) == "resnet50"]
    dissimilar = [t for t, k in kinds.items() if k == "dissimilar"]
    if resnets and dissimilar and dynamics.arch.nunique() > 1:
        values = {}
        for seed in sorted(dynamics.seed.unique()):
            per_seed = reuse.xs(seed, level="seed")
            values[f"s{seed}"] = np.mean([per_seed.xs(t, level="target").drop(resnets).min()
                                          - per_seed.xs(t, level="target")[resnets].min() for t in dissimilar])
        out.append(assess(resnet, pd.Series(values), level, delta=delta()))
    else:
        out.append(not_measured(resnet, "needs a ResNet, another architecture and a dissimilar target"))
    if {"awa2", "scene15"} <= set(dynamics.target.unique()):
        values = {f"{a}/s{s}": reuse[(a, "scene15", s)] - reuse[(a, "awa2", s)]
                  for a in dynamics.arch.unique() for s in sorted(dynamics.seed.unique())}
        out.append(_assess_nets(order, pd.Series(values), level, delta()))
    else:
        out.append(not_measured(order, "needs the AwA2 and 15-Scene targets (paper profile)"))
    return out


def _metrics_alike(overall: pd.DataFrame, metric: str, labels: dict[str, str], present: set, level: float) -> dict:
    """Sec. 4.1's "extremely similar results": the two metrics' rank agreement over a source net's (target, layer,
    epoch) cells with only the layer × epoch pattern every target shares taken out — the target, depth and epoch
    effects the sentence says both metrics show are left in, except what all targets share at a layer and epoch."""
    claim = Claim("B-metrics-alike", "B", "Sec. 4.1", "Figs. 2–4", "both PWSM and Orthogonal Procrustes show extremely "
                  "similar results over different fine-tuning tasks", "The two metrics rank a source net's fine-tuning "
                  "cells alike across the targets, beyond the layer × epoch pattern all targets share (a reading: "
                  "0.5 is the conventional threshold of a strong correlation).", f"Spearman ρ between "
                  f"{labels[metric]} and {labels['procrustes_filter']} over a source net's (target, layer, epoch > 0) "
                  "cells, each metric's ranks with their layer × epoch means taken out", "source net", "greater", 0.5,
                  scale="rank correlation", kind="reading")
    if metric == "procrustes_filter":
        return not_measured(claim, "compares PWSM with per-filter Procrustes: not a claim about one metric")
    if not {metric, "procrustes_filter"} <= present:
        return not_measured(claim, "the table lacks one of the two metrics")
    cells = overall[(overall.epoch > 0) & overall.metric.isin([metric, "procrustes_filter"])]
    wide = cells.pivot_table(index=["arch", "seed", "target", "layer", "epoch"], columns="metric",
                             values="value").dropna().reset_index()
    values = {f"{a}/s{s}": residual_rank_correlation(group, metric, "procrustes_filter", ["layer", "epoch"])
              for (a, s), group in wide.groupby(["arch", "seed"], sort=False)}
    return _assess_nets(claim, pd.Series(values, dtype=float), level)


HIGHLY_POSITIVE = 0.5  # "highly positive": the conventional threshold of a strong correlation (a convention, not the paper's)


def _agreement_claims(agreement: pd.DataFrame | None, unrelated: pd.DataFrame | None, level: float) -> list[dict]:
    """Sec. 4.1's r = 0.83, the paper's statistic per source net: the mean over (layer, epoch, class) of Pearson r
    across filters between the two per-filter distances of the source net and its fine-tuned net, above 0
    ("positive", the null of no agreement) and above 0.5 (a convention for "highly positive"), for the pairing
    of the paper's text and of the authors' code. ``unrelated``: the same r between each source net and its
    independently trained twin, filter i with filter i
    (:func:`~repchange.studies.b.tables.filter_agreement_chance`) — how the two distances co-vary over *unrelated*
    pairs of maps, whose channels do not correspond: shown in the note as context, never as chance and never
    subtracted (agreement on unrelated pairs would support "they tend to agree", not refute it)."""
    rows = []
    for key, pairing, whose in (("B-agreement", analysis.PAPER_PAIRING, "the paper's text: PWSM"),
                                ("B-agreement-code", analysis.AUTHORS_PAIRING, "the authors' code: per-filter CKA")):
        statistic = (f"mean over (layer, epoch > 0, class) of Pearson r across filters, "
                     f"{analysis.pairing_label(pairing)}, between the source net and its fine-tuned net; mean over "
                     "the source net's targets")
        positive = Claim(key, "B", "Sec. 4.1", "r = 0.83 ± 0.43", _SEC41_AGREE, "Across a layer's filters, the two "
                         f"per-filter distances correlate positively (pairing of {whose}).", statistic, "source net",
                         "greater", 0.0, scale="correlation", estimator_free=True)
        high = Claim(f"{key} [r > {HIGHLY_POSITIVE:g}]", "B", "Sec. 4.1", "r = 0.83 ± 0.43", _SEC41_AGREE,
                     f"… highly so: r above {HIGHLY_POSITIVE:g}, the conventional threshold of a strong correlation "
                     f"(a convention for “highly positive”, not the paper's number; pairing of {whose}).", statistic,
                     "source net", "greater", HIGHLY_POSITIVE, scale="correlation", kind="reading",
                     estimator_free=True)
        table = agreement[agreement.pairing == pairing] if agreement is not None and "pairing" in agreement else None
        if table is None or not table.r.notna().any():
            why = f"no filter-agreement table with the pairing {pairing!r}"
            rows += [not_measured(positive, why), not_measured(high, why)]
            continue
        mean_r = lambda rows: rows["value"].mean()  # noqa: E731
        fine = _per_run(table.rename(columns={"r": "value"}), mean_r)
        context = _unrelated_agreement(unrelated, pairing, mean_r)
        for claim in (positive, high):
            rows.append(with_note(_assess_nets(claim, fine.dropna(), level), context))
    return rows


def _unrelated_agreement(unrelated: pd.DataFrame | None, pairing: str, mean_r) -> str:
    """The note beside the agreement rows: the same mean r between each source net and its independently trained
    twin (filter i with filter i: unrelated pairs of maps), per architecture — context, not a null."""
    twin = unrelated[unrelated.pairing == pairing] if unrelated is not None and "pairing" in unrelated else None
    if twin is None or not twin.r.notna().any():
        return "agreement on unrelated filter pairs: not measured (a published net has no independently trained twin)"
    per_net = _per_run(twin.rename(columns={"r": "value"}), mean_r)
    per_arch = per_net.groupby(source_net_groups(per_net), sort=False).mean()
    return ("agreement on unrelated filter pairs (the source net against its independently trained twin, filter i "
            "with filter i; context, not a null): mean r " + ", ".join(f"{a} {v:+.3f}" for a, v in per_arch.items()))


UNRELATED_SHARE = 0.5  # "slightly" / "significant": below or above half of the distance an unrelated twin has (ours)
_SEC41_EARLY_SLIGHT = ("the features encoded in the early layers are slightly modified, when compared to those encoded "
                       "at the deeper layers")
_SEC41_DEEP_LIMITED = ("features from the source model require significant changes to adapt to the target domain, "
                       "hence direct re-usability is somewhat limited")


def _share_of_unrelated(final: pd.DataFrame, baseline: pd.DataFrame, metric: str, position: int) -> pd.Series:
    """Per source net: the final distance of the probed layer at ``position`` (0: the first, −1: the last) over the
    same layer's distance to the independently trained twin, mean over the net's targets (1 = moved as far as an
    unrelated net of the same kind is)."""
    twin = baseline[baseline.metric == metric].groupby(["arch", "target", "seed", "layer"], sort=False)["value"].mean()
    shares = {}
    for (arch, target, seed), rows in final.groupby(["arch", "target", "seed"], sort=False):
        layer = analysis.layer_order(final, arch)[position]
        reference = twin.get((arch, target, seed, layer), np.nan)
        shares[(arch, target, seed)] = rows[rows.layer == layer]["value"].mean() / reference if reference > 0 else np.nan
    return _per_source_net(shares)


def _magnitude_claims(overall: pd.DataFrame, baseline: pd.DataFrame | None, metric: str, label: str, present: set,
                      level: float) -> list[dict]:
    """Sec. 4.1's magnitudes, against the twin baseline: the early layers "slightly modified" (the first probed
    layer's final distance below half of the unrelated twin's), the deeper ones needing "significant changes" (the
    last probed layer's above half of it). Half is our convention for the adjectives: both rows are readings."""
    slight = Claim("B-early-slight", "B", "Sec. 4.1", "Figs. 2–4", _SEC41_EARLY_SLIGHT, "By the end of fine-tuning "
                   f"the first probed layer has moved less than {UNRELATED_SHARE:g} of the way an unrelated twin net "
                   "stands from the source (our convention for “slightly”).", f"final {label} of the first probed "
                   f"layer / the same layer's {label} between the source net and its independently trained twin; "
                   "mean over the source net's targets", "source net", "less", UNRELATED_SHARE,
                   scale="relative change", kind="reading")
    limited = Claim("B-deep-limited", "B", "Sec. 4.1", "Figs. 2–4", _SEC41_DEEP_LIMITED, "By the end of fine-tuning "
                    f"the last probed layer has moved more than {UNRELATED_SHARE:g} of the way an unrelated twin net "
                    "stands from the source (our convention for “significant”).", f"final {label} of the last probed "
                    f"layer / the same layer's {label} between the source net and its independently trained twin; "
                    "mean over the source net's targets", "source net", "greater", UNRELATED_SHARE,
                    scale="relative change", kind="reading")
    if metric not in present:
        return [not_measured(c, f"the table has no {label}") for c in (slight, limited)]
    if baseline is None or baseline.empty or metric not in set(baseline.metric):
        why = "no twin baseline: a published source net has no independently trained twin here"
        return [not_measured(c, why) for c in (slight, limited)]
    rows = overall[overall.metric == metric]
    final = rows[rows.epoch == rows.epoch.max()]
    return [_assess_nets(slight, _share_of_unrelated(final, baseline, metric, 0), level),
            _assess_nets(limited, _share_of_unrelated(final, baseline, metric, -1), level)]


DOMAIN_SHIFT = ("it illustrates domain shift across iterations of fine-tuning procedure")
FEATURE017 = ("vgg19", "fruits360", "conv3_4")  # the paper's "feature017": torchvision VGG19's features[17], conv3_4


def _domain_claims(dynamics: pd.DataFrame, overall: pd.DataFrame, metric: str, label: str, present: set,
                   level: float, delta) -> list[dict]:
    """Sec. 4.1's "the source domain has higher influence … than the tasks", its feature017 exception, and the
    abstract's qualitative "domain shift across iterations" (listed, out of the tally)."""
    domain = Claim(
        "B-domain-over-task", "B", "Sec. 4.1", "Table 2", "the source domain has higher influence on the target domain "
        "than the tasks used in the pre-training and fine-tuning processes", "A change of domain moves the features "
        "further than a change of task.", f"reusability ({label}, Table 2) on the target that changes the domain − on "
        "the target that changes the task: Fruits-360 − 15-Scene (the paper's pair), or offline [inverted new classes "
        "− new classes] − [new classes − held-out source classes]", "source net", "greater", scale=_scale(metric))
    exception = Claim(
        "B-feature017-down", "B", "Sec. 4.1", "Fig. 3", "there is a downward trend in one layer (*feature017*) of VGG19 "
        "fine-tuned on the Fruits dataset", "VGG19's conv3_4 (features[17]) on Fruits-360 moves back toward the "
        "source over the epochs.", f"relative rise of conv3_4's {label} over the checkpoints after epoch 0 "
        "(least-squares slope × span / mean), VGG19 on Fruits-360", "source net", "less", scale="relative change")
    shift = Claim("B-domain-shift", "B", "Abstract", "Figs. 2–4", DOMAIN_SHIFT, "A qualitative summary: it names no "
                  "quantity that could come out either way.", "none", "–", "greater", kind="qualitative")
    out = []
    if metric not in present:
        out += [not_measured(c, f"the table has no {label}") for c in (domain, exception)]
    else:
        rows = overall[(overall.metric == metric) & (overall.epoch > 0)]
        reuse = _run_means(rows.groupby(["arch", "target", "seed", "epoch"], sort=False)["value"].mean().reset_index())
        targets = set(dynamics.target)
        nets = [(a, s) for a in dynamics.arch.unique() for s in sorted(dynamics.seed.unique())]
        if {"fruits360", "scene15"} <= targets:
            values = {f"{a}/s{s}": reuse[(a, "fruits360", s)] - reuse[(a, "scene15", s)] for a, s in nets}
            out.append(_assess_nets(domain, pd.Series(values), level, delta()))
        elif {"fashion_inverted", "fashion_new_classes", "fashion_heldout"} <= targets:
            values = {f"{a}/s{s}": (reuse[(a, "fashion_inverted", s)] - reuse[(a, "fashion_new_classes", s)])
                      - (reuse[(a, "fashion_new_classes", s)] - reuse[(a, "fashion_heldout", s)]) for a, s in nets}
            out.append(_assess_nets(domain, pd.Series(values), level, delta()))
        else:
            out.append(not_measured(domain, "needs a domain change and a task change against a control: Fruits-360 "
                                            "and 15-Scene (paper profile), or fashion_inverted, fashion_new_classes "
                                            f"and fashion_heldout (b_targets); this run has {sorted(targets)}"))
        arch, target, layer = FEATURE017
        runs = rows[(rows.arch == arch) & (rows.target == target) & (rows.layer == layer)]
        if runs.empty:
            out.append(not_measured(exception, "needs VGG19 fine-tuned on Fruits-360 (the paper profile)"))
        else:
            out.append(assess(exception, _per_run(runs, _relative_rise), level))
    out.append(not_measured(shift, "a qualitative statement: listed with its words, untallied"))
    return out
