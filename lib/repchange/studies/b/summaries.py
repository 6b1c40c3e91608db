"""The numbers and phrases Study B's chapters quote (Behzadi-Khormouji et al.), computed from their tables: one
:class:`~repchange.studies.summaries.Summary` per chapter (see :mod:`repchange.studies.summaries`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repchange.measure.metrics import pwsm_key
from repchange.studies.b import analysis
from repchange.studies.summaries import Summary, _phrase

__all__ = ["feature_dynamics", "filter_crops", "filter_heatmaps", "metric_agreement", "reusability"]


def feature_dynamics(table: pd.DataFrame, baseline: pd.DataFrame, checkpoints: list[int], *,
                     alpha: float = 0.0, compare_alpha: float = 1.0) -> Summary:
    """Study B's Figs. 2-4 page (b1): depth trend, distance against the independent-net baseline,
    target ranking, early share and dead filters, for PWSM at ``alpha`` and per-filter Procrustes.

    ``baseline`` may be empty (torchvision sources have no twin): its numbers are then left out
    and its phrases say "not measured". ``b1_alpha_rank_agreement`` is the Spearman correlation of
    the final distances at ``alpha`` and ``compare_alpha`` (NaN if the table lacks either)."""
    pw, pf = pwsm_key(alpha), "procrustes_filter"
    first, last = min(e for e in checkpoints if e > 0), max(checkpoints)
    out = Summary()
    trend = analysis.depth_trend(table)
    against = analysis.versus_baseline(table, baseline) if len(baseline) else None
    if against is not None:
        above = against[(against.metric == pw) & (against.ratio >= 1)]
        out.phrases["b1_above_baseline"] = _phrase(
            [f"{r.arch} {r.layer} on {r.target} ({r.ratio:.2f}×)" for r in above.itertuples()],
            "none: every fine-tuned layer stayed closer to its source than an independent net is")
        below = {m: (against[against.metric == m].ratio < 1).mean() for m in (pw, pf)}
        out.phrases["b1_baseline_sentence"] = (
            f"After the last epoch, {below[pw]:.0%} of the (architecture, target, layer) cases under PWSM "
            f"α = {alpha:g} and {below[pf]:.0%} under per-filter Procrustes are still closer to their source "
            f"than an independently trained source net is (largest ratio of fine-tuning distance to that baseline "
            f"under PWSM α = {alpha:g}: {against[against.metric == pw].ratio.max():.2f}).")
    else:
        out.phrases["b1_above_baseline"] = "not measured"
        out.phrases["b1_baseline_sentence"] = "Not measured: a torchvision source has no independently trained twin here."
    early = analysis.early_share(table, by_epoch=first)
    overall = table[table.cls == "all"]
    ranking = analysis.target_ranking(table, pw)
    ranking_procrustes = analysis.target_ranking(table, pf)
    out.phrases["b1_target_order_pwsm"] = _phrase([f"{t} ({v:.2f})" for t, v in ranking.items()], "none")
    out.phrases["b1_target_order_procrustes"] = _phrase([f"{t} ({v:.3f})" for t, v in ranking_procrustes.items()],
                                                        "none")
    dead = overall[overall.metric == pf].groupby("arch", sort=False)["dead_fraction"].mean()
    out.phrases["b1_dead"] = _phrase([f"{a} {v:.0%}" for a, v in dead.items()], "none")
    out.tables["spearman"] = trend.pivot_table(index=["arch", "target"], columns="metric", values="spearman",
                                               sort=False).round(2)
    final = analysis.final_distances(table).pivot_table(index=["arch", "target", "layer"], columns="metric",
                                                          values="value")
    other = pwsm_key(compare_alpha)
    out.numbers = {
        "b1_combos": len(trend),
        "b1_share_deeper_pwsm0": float((trend[trend.metric == pw].deepest_over_first > 1).mean()),
        "b1_share_deeper_procrustes": float((trend[trend.metric == pf].deepest_over_first > 1).mean()),
        "b1_mean_spearman": float(trend.spearman.mean()),
        "b1_strictly_growing": int((trend.spearman > 1 - 1e-9).sum()),
        "b1_early_share_pwsm0": float(early[early.metric == pw].share.mean()),
        "b1_early_share_procrustes": float(early[early.metric == pf].share.mean()),
        "b1_first_epoch": int(first),
        "b1_last_epoch": int(last),
        "b1_max_dead": float(dead.max()),
        "b1_alpha_rank_agreement": float(final[pw].corr(final[other], method="spearman"))
        if {pw, other} <= set(final.columns) else np.nan,
    }
    if against is not None:
        out.numbers.update({
            "b1_below_baseline_pwsm0": float((against[against.metric == pw].ratio < 1).mean()),
            "b1_below_baseline_procrustes": float((against[against.metric == pf].ratio < 1).mean()),
            "b1_max_ratio_pwsm0": float(against[against.metric == pw].ratio.max()),
        })
    return out


def _alpha_name(alpha: float) -> str:
    """``0``, ``1``, ``0_5``: an α as part of a glue name."""
    return f"{alpha:g}".replace(".", "_")


def metric_agreement(paper: pd.DataFrame, authors: pd.DataFrame, correlations: pd.DataFrame, alphas: list[float],
                     unrelated: pd.DataFrame | None = None) -> Summary:
    """The metric-agreement page (b2): the paper's statistic (mean ± std over cells of the per-filter
    Pearson r, from :func:`repchange.studies.b.analysis.agreement_summary`) for the paper's pairing
    (``paper``: per-filter PWSM vs Procrustes) and the authors' code's (``authors``: per-filter CKA vs
    Procrustes), the range over runs, the paper's numbers beside them, the agreement on unrelated filter pairs
    (``unrelated``: :func:`repchange.studies.b.tables.filter_agreement_chance`, each source net against its
    independently trained twin, filter i with filter i; mean r per pairing — context, not a null: channels of two
    independent nets do not correspond; the phrase ``b2_<pairing>_r_unrelated_phrase`` says "not measured" where
    it is empty: the published nets) and the pooled r of PWSM at each of ``alphas`` (``b2_pooled_r_pwsm<α>``)."""
    numbers, unrelated_phrases = {}, {}
    for name, summary in (("filter", paper), ("code", authors)):
        overall = summary[summary.arch == "all"]
        if overall.empty:
            raise ValueError("an agreement summary has no 'all' row; pass analysis.agreement_summary(...)")
        overall, per_run = overall.iloc[0], summary[summary.arch != "all"]["mean"]
        numbers |= {f"b2_{name}_r_mean": overall["mean"], f"b2_{name}_r_std": overall["std"],
                    f"b2_{name}_cells": int(overall["n"]), f"b2_{name}_r_min_run": per_run.min(),
                    f"b2_{name}_r_max_run": per_run.max()}
        if unrelated is not None and not unrelated.empty:
            numbers[f"b2_{name}_r_unrelated"] = level = unrelated[unrelated.pairing == summary.pairing.iloc[0]].r.mean()
            unrelated_phrases[f"b2_{name}_r_unrelated_phrase"] = f"{level:.3f}"
        else:  # the published nets: no independently trained twin here (the paper profile, the rehearsal)
            unrelated_phrases[f"b2_{name}_r_unrelated_phrase"] = "not measured (a published net has no independently " \
                                                                 "trained twin here)"
    pooled = correlations.groupby("metric")["r"].mean()
    missing = [a for a in alphas if pwsm_key(a) not in pooled.index]
    if missing:
        raise ValueError(f"the correlations lack PWSM at alpha {missing}; they have {sorted(pooled.index)}")
    out = Summary()
    out.numbers = {**numbers, "b2_paper_r_mean": analysis.PAPER_AGREEMENT[0],
                   "b2_paper_r_std": analysis.PAPER_AGREEMENT[1]}
    for alpha in alphas:
        out.numbers[f"b2_pooled_r_pwsm{_alpha_name(alpha)}"] = pooled[pwsm_key(alpha)]
    out.numbers["b2_runs"] = int(correlations[["arch", "target"]].drop_duplicates().shape[0])
    out.phrases = {"b2_paper_pairing": analysis.pairing_label(paper.pairing.iloc[0]), **unrelated_phrases}
    return out


def reusability(accuracy: pd.DataFrame, reuse: pd.DataFrame, relative: pd.DataFrame | None, *,
                alpha: float = 0.0) -> Summary:
    """Tables 1 and 2's page (b3): accuracy range, PWSM-``alpha`` reusability range, the most and least
    reused target per architecture, architectures by mean reusability, the range in units of the
    independent-net baseline (``relative``, None without one) and the Spearman rank agreement of
    the (arch, target) reusability between PWSM-``alpha`` and per-filter Procrustes."""
    key = pwsm_key(alpha)
    pwsm = reuse[reuse.metric == key]
    if pwsm.empty:
        raise ValueError(f"the reusability table has no {key}; it has {sorted(reuse.metric.unique())}")
    procrustes = reuse[reuse.metric == "procrustes_filter"]
    most = pwsm.loc[pwsm.groupby("arch", sort=False)["mean"].idxmin()]
    least = pwsm.loc[pwsm.groupby("arch", sort=False)["mean"].idxmax()]
    by_arch = pwsm.groupby("arch", sort=False)["mean"].mean().sort_values()
    out = Summary()
    out.phrases = {"b3_most_reused": _phrase([f"{r.arch}: {r.target}" for r in most.itertuples()], "none"),
                   "b3_least_reused": _phrase([f"{r.arch}: {r.target}" for r in least.itertuples()], "none"),
                   "b3_arch_order": _phrase([f"{a} ({v:.2f})" for a, v in by_arch.items()], "none")}
    if relative is not None and len(relative):
        rel = relative[relative.metric == key]
        top = rel.loc[rel["ratio"].idxmax()]
        out.phrases["b3_relative_sentence"] = (
            f"In units of the independent-net distance, the PWSM (α = {alpha:g}) reusability ranges from "
            f"{rel['ratio'].min():.2f} to {rel['ratio'].max():.2f} (largest: {top.arch} on {top.target}).")
    else:
        out.phrases["b3_relative_sentence"] = "Not measured against a baseline: a torchvision source has no twin here."
    out.numbers = {"b3_test_acc_min": accuracy.test_acc.min(), "b3_test_acc_max": accuracy.test_acc.max(),
                   "b3_train_acc_min": accuracy.train_acc.min(),
                   "b3_reuse_rank_agreement": pwsm.set_index(["arch", "target"])["mean"].corr(
                       procrustes.set_index(["arch", "target"])["mean"], method="spearman"),
                   "b3_reuse_min": pwsm["mean"].min(), "b3_reuse_max": pwsm["mean"].max()}
    return out


def _first_and_last(layers: list[str]) -> tuple[tuple[int, str], tuple[int, str]]:
    return (0, layers[0]), (1, layers[-1])


def filter_crops(agreement: pd.DataFrame, changes: dict[str, pd.DataFrame], chosen: dict[str, tuple[int, int]]
                 ) -> Summary:
    """Figs. 5-6's page (b4), for the first and the last chosen layer (numbered 0 and 1): each role's
    mean crop r over classes (``agreement`` from :func:`repchange.studies.b.filter_choice.crop_changes`),
    its per-filter Procrustes distance (``changes``, ``chosen``: (most, least) filter per layer), and in
    how many of the two layers the most changed filter's crops changed more (lower r) than the least
    changed one's."""
    mean_r = agreement.groupby(["layer", "role"], sort=False).r.mean()
    layers = list(dict.fromkeys(agreement.layer))
    ends = _first_and_last(layers)
    out = Summary()
    out.tables = {"mean_r": agreement.groupby(["layer", "role", "filter"], sort=False).r.mean().reset_index()}
    out.phrases = {"b4_first_layer": layers[0], "b4_last_layer": layers[-1]}
    out.numbers = {f"b4_r_{role}_{i}": mean_r[(layer, role)] for i, layer in ends for role in ("most", "least")}
    out.numbers |= {f"b4_d_{role}_{i}": changes[layer].set_index("filter").distance[chosen[layer][k]]
                    for i, layer in ends for k, role in enumerate(("most", "least"))}
    out.numbers["b4_layers_where_most_changed_moved_more"] = int(sum(
        out.numbers[f"b4_r_most_{i}"] < out.numbers[f"b4_r_least_{i}"] for i in (0, 1)))
    return out


def filter_heatmaps(table: pd.DataFrame) -> Summary:
    """Figs. 7-8's page (b5), for the first and the last layer of ``table`` (from
    :func:`repchange.studies.b.filter_choice.heatmap_changes`; numbered 0 and 1): each role's heatmap r
    and strength ratio, and in how many of the two layers the most changed filter's heatmaps moved
    more (lower r) than the least changed one's."""
    row = table.set_index(["layer", "role"])
    layers = list(dict.fromkeys(table.layer))
    ends = _first_and_last(layers)
    out = Summary()
    out.phrases = {"b5_first_layer": layers[0], "b5_last_layer": layers[-1]}
    out.numbers = {f"b5_r_{role}_{i}": row.loc[(layer, role), "heatmap_r"] for i, layer in ends
                   for role in ("most", "least")}
    out.numbers |= {f"b5_strength_{role}_{i}": row.loc[(layer, role), "strength_ratio"] for i, layer in ends
                    for role in ("most", "least")}
    out.numbers["b5_layers_agreeing"] = int(sum(row.loc[(layer, "most"), "heatmap_r"] < row.loc[(layer, "least"),
                                                "heatmap_r"] for _, layer in ends))
    return out
