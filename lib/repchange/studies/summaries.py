"""The numbers and phrases a chapter's prose quotes, computed from its tables.

A chapter calls one function here and glues what it returns, so its notebook holds narrative,
parameters, calls and figures, and the arithmetic behind every quoted number is unit-tested.
Each function returns a :class:`Summary`: ``numbers`` (name -> number, for ``glue_numbers``),
``phrases`` (name -> Markdown fragment, for ``glue_text``) and ``tables`` (small frames the page
shows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from repchange.measure.metrics import pwsm_key
from repchange.base.plotting import mean_and_sem
from repchange.studies import verdicts
from repchange.studies.stats import clearly, paired_difference
from repchange.studies.verdicts import SCALES
from repchange.studies import metric_checks as checks
from repchange.studies import paper_numbers
from repchange.studies.a.claims import depth_contrast
from repchange.studies.a.finetuning import condition_label
from repchange.studies.b import analysis

__all__ = ["Summary", "cka_to_init", "cka_vs_degree", "cka_vs_size", "deviations", "feature_dynamics",
           "fig5_conditions", "fig5_panels", "filter_crops", "filter_heatmaps", "finetuned_vs_references",
           "finetuning_change", "metric_agreement", "metrics_chapter", "paper_beside", "reusability",
           "training_curves"]


@dataclass
class Summary:
    numbers: dict[str, float | int] = field(default_factory=dict)
    phrases: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def _phrase(items: list[str], empty: str) -> str:
    return ", ".join(items) if items else empty


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


def _sweep_ends(sweep: pd.DataFrame, column: str, epoch: int) -> tuple[pd.DataFrame, pd.Series, pd.Series, list, object,
                                                                         object, list, list]:
    """Study A's sweeps (Figs. 3a, 3b) at their two extreme settings of ``column``: the final-epoch
    biased-CKA rows, mean CKA to the own init and to an independent init per (layer, setting),
    the layers, the lowest and highest setting, and the layers whose CKA to the init is clearly
    lower / higher at the highest setting than at the lowest (paired over seeds)."""
    final = sweep[(sweep.epoch == epoch) & (sweep.metric == "cka")]
    if final.empty:
        raise ValueError(f"the sweep has no biased-CKA rows at epoch {epoch}; it holds {sorted(sweep.epoch.unique())}")
    stats = mean_and_sem(final, ["layer", "comparison", column])
    own = stats[stats.comparison == "init"].set_index(["layer", column])["mean"]
    other = stats[stats.comparison == "independent_init"].set_index(["layer", column])["mean"]
    lo, hi = final[column].min(), final[column].max()
    to_init = final[final.comparison == "init"]
    moved_more = clearly(to_init, "lower", column=column, a=hi, b=lo)
    moved_less = clearly(to_init, "higher", column=column, a=hi, b=lo)
    return final, own, other, list(final.layer.unique()), lo, hi, moved_more, moved_less


def cka_vs_degree(sweep: pd.DataFrame, epoch: int) -> Summary:
    """Figure 3a's page (a3): CKA to the init at the least and most random labels, per layer."""
    _, own, other, layers, lo, hi, more, less = _sweep_ends(sweep, "degree", epoch)
    out = Summary()
    out.phrases = {"a3_moved_more": _phrase(more, "none of the layers"),
                   "a3_moved_less": _phrase(less, "none of the layers")}
    out.numbers = {**{f"a3_cka_lo_{layer}": own[(layer, lo)] for layer in layers},
                   **{f"a3_cka_hi_{layer}": own[(layer, hi)] for layer in layers},
                   **{f"a3_cka_independent_hi_{layer}": other[(layer, hi)] for layer in layers},
                   "a3_d_lo": int(lo), "a3_d_hi": int(hi), "a3_epochs": int(epoch)}
    return out


def cka_vs_size(sweep: pd.DataFrame, epoch: int) -> Summary:
    """Figure 3b's page (a4): CKA to the init and train accuracy at the fewest and most images."""
    final, own, _, layers, lo, hi, more, less = _sweep_ends(sweep, "train_size", epoch)
    train_acc = final.groupby("train_size").train_acc.mean()
    out = Summary()
    out.phrases = {"a4_moved_more": _phrase(more, "none of the layers"),
                   "a4_moved_less": _phrase(less, "none of the layers")}
    out.numbers = {**{f"a4_cka_small_{layer}": own[(layer, lo)] for layer in layers},
                   **{f"a4_cka_large_{layer}": own[(layer, hi)] for layer in layers},
                   "a4_train_acc_small": train_acc[lo], "a4_train_acc_large": train_acc[hi],
                   "a4_n_small": int(lo), "a4_n_large": int(hi), "a4_epochs": int(epoch)}
    return out


def equal_steps_view(sweep: pd.DataFrame) -> pd.DataFrame:
    """Figure 3b with the SGD steps held equal: biased CKA to the init per layer (mean over seeds) of the fewest
    images after the sweep's epochs, of the fewest images trained for as many steps as the most images take, and
    of the most images. Columns: layer and one per run (named by images and epochs); empty without an
    equal-steps run (``equal_steps`` column of :func:`repchange.studies.a.tables.size_sweep`)."""
    if "equal_steps" not in sweep or not sweep.equal_steps.any():
        return pd.DataFrame()
    cka = sweep[(sweep.metric == "cka") & (sweep.comparison == "init")]
    matched, plain = cka[cka.equal_steps.astype(bool)], cka[~cka.equal_steps.astype(bool)]
    epochs = plain.epoch.max()
    small, large = plain.train_size.min(), plain.train_size.max()
    columns = {}
    for name, rows in ((f"{small} images, {epochs} epochs", plain[(plain.train_size == small) & (plain.epoch == epochs)]),
                       (f"{small} images, {matched.epoch.max()} epochs (equal steps)", matched[matched.epoch == matched.epoch.max()]),
                       (f"{large} images, {epochs} epochs", plain[(plain.train_size == large) & (plain.epoch == epochs)])):
        columns[name] = rows.groupby("layer", sort=False).value.mean()
    return pd.DataFrame(columns).rename_axis("layer").reset_index()


def equal_steps_sentence(view: pd.DataFrame) -> str:
    """One sentence on :func:`equal_steps_view`: how far the layers before the last moved in each run."""
    if view.empty:
        return "not measured here (no equal-steps run: a single size, or equal steps switched off)."
    before_last = view.iloc[:-1, 1:].mean()
    names = list(view.columns[1:])
    return (f"mean CKA to the init of the layers before {view.layer.iloc[-1]}: {before_last[names[0]]:.3f} ({names[0]}), "
            f"{before_last[names[1]]:.3f} ({names[1]}), {before_last[names[2]]:.3f} ({names[2]}).")


def _above_chance(rows: pd.DataFrame, table: pd.DataFrame, clean_label: str) -> pd.DataFrame:
    """``rows`` (fine-tuning CKA, columns domain, seed, layer, value) with each value minus its probe's chance level:
    biased CKA between two unrelated random inits on that domain's probe (``table``'s ``chance`` rows at epoch 0 of
    the clean condition), per seed and layer — the reading the ledger's cross-probe rows use."""
    chance = table[(table.comparison == "chance") & (table.metric == "cka") & (table.epoch == 0)
                   & (table.labels == clean_label)]
    if chance.empty:
        raise ValueError("the fine-tuning table has no 'chance' rows; compute it with repchange.studies.a.tables")
    level = chance.groupby(["domain", "seed", "layer"])["value"].mean().rename("chance")
    out = rows.join(level, on=["domain", "seed", "layer"])
    return out.assign(value=out["value"] - out["chance"]).drop(columns="chance")


def finetuning_change(table: pd.DataFrame, ft_epochs: int, degrees: list[int], shifts: list, dataset: str,
                      cross_domain: str) -> Summary:
    """Figure 4's page (a5): accuracy per condition, CKA to the pre-trained net per layer at the least
    and most random labels in both domains (and under shifted labels), and the layers that clearly
    moved further. ``tables["accuracy"]``: train and test accuracy per (domain, target, labels)."""
    final = table[(table.epoch == ft_epochs) & (table.metric == "cka")]
    accuracy = (final[final.layer == final.layer.iloc[0]].drop_duplicates(["domain", "labels", "seed"])
                .groupby(["domain", "target", "labels"], sort=False)[["train_acc", "test_acc"]].mean().round(3))
    to_pretrained = final[final.comparison == "pretrained"]
    stats = mean_and_sem(to_pretrained, ["domain", "labels", "layer"]).set_index(["domain", "labels", "layer"])["mean"]
    layers = list(final.layer.unique())
    d_lo, d_hi = min(degrees), max(degrees)
    lo, hi = condition_label(d_lo), condition_label(d_hi)  # least and most random fine-tuning labels
    shift_labels = condition_label(shift=shifts[0]) if shifts else None
    same = to_pretrained[(to_pretrained.domain == "same") & (to_pretrained["shift"] == 0)]
    cross = to_pretrained[to_pretrained.domain == "cross"]
    out = Summary(tables={"accuracy": accuracy})
    out.phrases = {
        "a5_most_changed_same": stats.loc[("same", lo)].idxmin(),
        "a5_most_changed_cross": stats.loc[("cross", lo)].idxmin(),
        "a5_random_moves_same": _phrase(clearly(same, "lower", column="degree", a=d_hi, b=d_lo), "none of the layers"),
        "a5_random_moves_cross": _phrase(clearly(cross, "lower", column="degree", a=d_hi, b=d_lo),
                                         "none of the layers"),
        "a5_cross_moves_more": "not measured (no shifts)",
        "a5_shift_moves_more": "not measured (no shifts)",
    }
    if shift_labels:
        pair = to_pretrained[(to_pretrained.domain == "cross") & (to_pretrained.labels == lo)
                             | (to_pretrained.labels == shift_labels)]
        pair = _above_chance(pair, table, lo)  # two probes: each read above its own chance level, as the ledger does
        out.phrases["a5_cross_moves_more"] = _phrase(clearly(pair, "lower", column="domain", a="cross", b="same"),
                                                     "none of the layers")
        out.phrases["a5_shift_moves_more"] = _phrase(clearly(pair, "higher", column="domain", a="cross", b="same"),
                                                     "none of the layers")
    out.numbers = {
        **{f"a5_same_lo_{layer}": stats[("same", lo, layer)] for layer in layers},
        **{f"a5_same_hi_{layer}": stats[("same", hi, layer)] for layer in layers},
        **{f"a5_cross_lo_{layer}": stats[("cross", lo, layer)] for layer in layers},
        **{f"a5_cross_hi_{layer}": stats[("cross", hi, layer)] for layer in layers},
        **({f"a5_shift_{layer}": stats[("same", shift_labels, layer)] for layer in layers} if shift_labels else {}),
        "a5_test_acc_same_lo": accuracy.loc[("same", dataset, lo), "test_acc"],
        "a5_test_acc_cross_lo": accuracy.loc[("cross", cross_domain, lo), "test_acc"],
        "a5_d_lo": int(d_lo),
        "a5_d_hi": int(d_hi),
        "a5_ft_epochs": int(ft_epochs),
    }
    return out


def fig5_conditions(degrees: list[int], shifts: list) -> dict[str, tuple[str, str]]:
    """Figure 5's conditions: key -> (domain, labels): clean (least random), random (most random),
    cross (the cross domain, least random) and, with shifts, shift (the first shift)."""
    lo, hi = condition_label(min(degrees)), condition_label(max(degrees))
    conditions = {"clean": ("same", lo), "random": ("same", hi), "cross": ("cross", lo)}
    if shifts:
        conditions["shift"] = ("same", condition_label(shift=shifts[0]))
    return conditions


def fig5_panels(degrees: list[int], shifts: list, cross_domain: str) -> list[tuple[str, str]]:
    """Figure 5's panels (title, query of the table) in the paper's order (a)-(d)."""
    conditions = fig5_conditions(degrees, shifts)
    titles = {"clean": "(a) source domain", "random": "(b) source domain", "shift": "(c) source domain",
              "cross": f"(d) cross domain ({cross_domain})"}
    return [(f"{titles[key]}, {labels}", f"domain == '{domain}' and labels == '{labels}'")
            for key, (domain, labels) in sorted(conditions.items(), key=lambda kv: titles[kv[0]])]


def finetuned_vs_references(table: pd.DataFrame, ft_epochs: int, degrees: list[int], shifts: list,
                            reference: str = "pretrain_init") -> Summary:
    """Figure 5's page (a6): per condition, the layers clearly closer to the pre-trained net or to the random
    ``reference`` (the paper's text: the init the net's own pre-training started from, ``pretrain_init``; the
    authors' code: an independent init), and the CKA to each reference at block 1, block 4 and the logits."""
    final = table[(table.epoch == ft_epochs) & (table.metric == "cka")]
    stats = mean_and_sem(final, ["domain", "labels", "comparison", "layer"]).set_index(
        ["domain", "labels", "comparison", "layer"])["mean"]
    conditions = fig5_conditions(degrees, shifts)
    out = Summary()
    if not shifts:
        out.phrases |= {"a6_closer_pretrained_shift": "not measured (no shifts)",
                        "a6_closer_random_shift": "not measured (no shifts)"}
    for key, (domain, labels) in conditions.items():
        rows = final[(final.domain == domain) & (final.labels == labels)
                     & final.comparison.isin(["pretrained", reference])]
        out.phrases[f"a6_closer_pretrained_{key}"] = _phrase(
            clearly(rows, "higher", column="comparison", a="pretrained", b=reference), "none of the layers")
        out.phrases[f"a6_closer_random_{key}"] = _phrase(
            clearly(rows, "lower", column="comparison", a="pretrained", b=reference), "none of the layers")
    out.numbers = {
        f"a6_{key}_{comparison}_{layer}": stats[(domain, labels, comparison, layer)]
        for key, (domain, labels) in conditions.items()
        for comparison in ("pretrained", "pretrain_init", "independent_init")
        for layer in ("block1", "block4", "logits")
    } | {"a6_ft_epochs": int(ft_epochs), "a6_d_hi": int(max(degrees))}
    return out


DEPTH_PHRASES = {"holds": "falls clearly from the early layers to the later ones",
                 "does not hold": "does not fall by the smallest effect of interest from the early layers to the later "
                                  "ones",
                 "inconclusive": "does not fall clearly from the early layers to the later ones"}


def cka_to_init(table: pd.DataFrame, epochs: int) -> Summary:
    """Figure 1's page (a1): each layer's CKA to its own init after ``epochs`` (biased and debiased),
    to an independent init, the chance level at epoch 0, whether the CKA falls with depth (the ledger's
    A1-depth verdict: early-layer mean − later-layer mean, per seed), and the layers that clearly kept their
    init (CKA to it above CKA to an independent init, paired over seeds, by the verdict rule)."""
    at_end = table[table.epoch == epochs]
    if at_end.empty:
        raise ValueError(f"the table has no rows at epoch {epochs}; it holds {sorted(table.epoch.unique())}")
    final = mean_and_sem(at_end[at_end.comparison == "init"], ["layer", "metric"])
    final_independent = mean_and_sem(at_end[(at_end.comparison == "independent_init") & (at_end.metric == "cka")],
                                     ["layer"]).set_index("layer")["mean"]
    chance = mean_and_sem(table[(table.epoch == 0) & (table.comparison == "independent_init")], ["layer", "metric"])

    def pick(frame: pd.DataFrame, metric: str) -> pd.Series:
        return frame[frame.metric == metric].set_index("layer")["mean"]

    cka, debiased, cka_chance = pick(final, "cka"), pick(final, "cka_debiased"), pick(chance, "cka")
    layers = list(cka.index)
    by_seed = at_end[(at_end.comparison == "init") & (at_end.metric == "cka")].pivot_table(
        index="seed", columns="layer", values="value")[layers]
    i = verdicts.interval(depth_contrast(by_seed), SCALES["cka difference"])  # the ledger's A1-depth statistic
    depth = verdicts.verdict(i.low, i.high, i.mean, "greater", sesoi=SCALES["cka difference"].sesoi)
    gap = paired_difference(at_end[at_end.metric == "cka"], column="comparison", a="init", b="independent_init",
                            by=["layer"])
    kept = list(gap[gap.clear & (gap["mean"] > 0)].layer)
    out = Summary()
    out.phrases = {"a1_depth_verdict": DEPTH_PHRASES[depth],
                   "a1_kept_layers": _phrase(kept, "none of the layers")}
    out.numbers = {**{f"a1_cka_final_{layer}": cka[layer] for layer in layers},
                   **{f"a1_cka_debiased_final_{layer}": debiased[layer] for layer in layers},
                   **{f"a1_cka_chance_{layer}": cka_chance[layer] for layer in layers},
                   **{f"a1_cka_final_independent_{layer}": final_independent[layer] for layer in layers},
                   "a1_test_acc": at_end.groupby("seed").test_acc.first().mean(),
                   "a1_epochs": int(epochs)}
    return out


def training_curves(histories: pd.DataFrame, epochs: int) -> Summary:
    """Figure 2's page (a2): test accuracy, training accuracy (``fit_acc``: after the epoch, eval mode;
    ``a2_running_acc_*``: the running mean during the epoch) and train loss after ``epochs`` per label
    degree (means over seeds), at the extreme degrees, and whether test accuracy falls with every
    step of the degree."""
    last = histories[histories.epoch == epochs]
    if last.empty:
        raise ValueError(f"the histories have no rows at epoch {epochs}; they hold {sorted(histories.epoch.unique())}")
    means = last.groupby("degree")[["test_acc", "fit_acc", "train_acc", "train_loss"]].mean()
    test, train, running, loss = means["test_acc"], means["fit_acc"], means["train_acc"], means["train_loss"]
    degrees = list(test.index)
    lo, hi = min(degrees), max(degrees)
    falls = all(test[a] >= test[b] for a, b in zip(degrees, degrees[1:]))
    out = Summary()
    out.phrases = {"a2_test_verdict": "falls with every step of d" if falls else "does not fall monotonically with d"}
    out.numbers = {**{f"a2_test_acc_d{d}": test[d] for d in degrees},
                   **{f"a2_train_acc_d{d}": train[d] for d in degrees},
                   **{f"a2_train_loss_d{d}": loss[d] for d in degrees},
                   "a2_test_acc_lo": test[lo], "a2_test_acc_hi": test[hi],
                   "a2_train_acc_lo": train[lo], "a2_train_acc_hi": train[hi],
                   "a2_running_acc_lo": running[lo], "a2_running_acc_hi": running[hi],
                   "a2_train_loss_lo": loss[lo], "a2_train_loss_hi": loss[hi],
                   "a2_d_min": int(lo), "a2_d_max": int(hi), "a2_epochs": int(epochs)}
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


def metrics_chapter(invariance: pd.DataFrame, chance: pd.DataFrame, identification: pd.DataFrame,
                    correlations: pd.DataFrame, deletion: pd.DataFrame, seeds: list[int]) -> Summary:
    """The metrics chapter (00_metrics), from :mod:`repchange.studies.metric_checks`' tables: values after
    a general invertible map and after noise (``invariance``, read as the page shows it: to 3
    decimals), chance CKA at the largest n and p against p / (n + p), layer-identification rates,
    the metrics' agreement (``correlations``) and what deleting the first principal component does."""
    wide = invariance.pivot(index="transform", columns="metric", values="value").round(3)
    n, p = int(chance.n.max()), int(chance.p.max())
    at_chance = chance[(chance.n == n) & (chance.p == p)].groupby("metric").value.mean()
    first_pc = deletion[deletion.k == 1]
    out = Summary()
    out.tables = {"invariance": wide}
    out.numbers = {
        "m_seed_a": int(seeds[0]), "m_seed_b": int(seeds[1]), "m_chance_n": n, "m_chance_p": p,
        "m_chance_cka": at_chance["cka"], "m_chance_cka_debiased": at_chance["cka_debiased"],
        "m_chance_expected": p / (n + p),
        "m_cka_after_general_map": wide.loc["general invertible map", "cka"],
        "m_pwsm0_after_general_map": wide.loc["general invertible map", "pwsm_alpha_0"],
        "m_pwsm0_after_noise": wide.loc["additive noise (sd 0.2)", "pwsm_alpha_0"],
        "m_procrustes_after_noise": wide.loc["additive noise (sd 0.2)", "procrustes_angle"],
        "m_identified_cka": checks.identification_rate(identification, "cka"),
        "m_identified_cka_debiased": checks.identification_rate(identification, "cka_debiased"),
        "m_identified_procrustes": checks.identification_rate(identification, "procrustes_angle"),
        "m_r_cka_procrustes": correlations.loc["1 - cka", "procrustes_angle"],
        "m_r_pwsm0_procrustes": correlations.loc["pwsm_alpha_0", "procrustes_angle"],
        "m_r_mean_off_diagonal": checks.mean_off_diagonal(correlations),
        "m_pc1_cka": first_pc[first_pc.metric == "cka"].value.iloc[0],
        "m_pc1_variance": first_pc.variance_removed.iloc[0],
    }
    return out


def deviations(bn_a: pd.DataFrame, bn_b: pd.DataFrame, centre: pd.DataFrame, shift: pd.DataFrame,
               pwsm_conv: pd.DataFrame, fit: pd.DataFrame, images: pd.DataFrame, *, arch: str, target: str) -> Summary:
    """The deviations page: the measured effect of each departure, from the tables of
    :mod:`repchange.studies.deviations` (each with a ``difference`` column; ``centre`` holds the
    per-filter Procrustes rows only, with ``default`` and ``variant`` per layer and target; ``fit`` is
    :func:`~repchange.studies.deviations.fit_measure_effect`; ``images`` is
    :func:`~repchange.studies.deviations.agreement_images_effect`)."""
    bn_pwsm = bn_b[bn_b.metric == pwsm_key(0.0)]
    rank = pd.Series([g["default"].corr(g["variant"], method="spearman") for _, g in centre.groupby("target")]).mean()
    out = Summary()
    out.phrases = {
        "dev_bn_a_sentence": f"Study A, Fig. 1: eval mode changes last-epoch CKA-to-init by up to "
                             f"{bn_a.difference.abs().max():.3f} (layer mean {bn_a.difference.mean():+.3f}); the "
                             f"random-init baseline moves by up to "
                             f"{(bn_a.eval_independent - bn_a.batch_independent).abs().max():.3f}.",
        "dev_bn_b_sentence": f"Study B ({arch}): PWSM α = 0 at the last checkpoint changes by "
                             f"{bn_pwsm.difference.abs().mean():.3f} rad on average (up to "
                             f"{bn_pwsm.difference.abs().max():.3f}).",
        "dev_centre_sentence": f"{arch}: column centring changes the last-checkpoint per-filter Procrustes distance by "
                               f"{centre.difference.abs().mean():.3f} on average (up to "
                               f"{centre.difference.abs().max():.3f}); its ordering over layers agrees with rank "
                               f"correlation {rank:.2f}.",
        "dev_shift_sentence": f"Fig. 4c: s = 1 for every seed instead of s = seed changes last-epoch CKA to the "
                              f"pre-trained net by up to {shift.difference.abs().max():.3f} (layer mean "
                              f"{shift.difference.mean():+.3f}).",
        "dev_fit_sentence": _fit_sentence(fit),
        "dev_images_sentence": _images_sentence(images, arch, target),
        "dev_pwsm_sentence": f"{arch} on {target}, source vs last checkpoint: netrep's convention differs from ours "
                             f"by {pwsm_conv.difference.abs().mean():.4f} rad on average over {len(pwsm_conv)} layers "
                             f"(up to {pwsm_conv.difference.abs().max():.4f}).",
    }
    out.numbers = {"dev_bn_a_max": bn_a.difference.abs().max(), "dev_bn_b_mean": bn_pwsm.difference.abs().mean(),
                   "dev_centre_mean": centre.difference.abs().mean(), "dev_shift_max": shift.difference.abs().max(),
                   "dev_pwsm_mean": pwsm_conv.difference.abs().mean(), "dev_fit_max": fit.difference.abs().max(),
                   "dev_images_mean": images.difference.abs().mean()}
    return out


def _images_sentence(images: pd.DataFrame, arch: str, target: str) -> str:
    """How far each pairing's r across filters moves when every probe image of a class is averaged, not the first few."""
    parts = []
    for pairing, rows in images.groupby("pairing", sort=False):
        name = "per-filter PWSM α = 0.5 (the paper's pairing)" if pairing.startswith("pwsm") else "per-filter CKA (the authors' code's)"
        parts.append(f"{name}: mean r {rows.images.mean():.3f} → {rows.all_images.mean():.3f}, each (layer, class) r "
                     f"moving by {rows.difference.abs().mean():.3f} on average (up to {rows.difference.abs().max():.3f})")
    return f"{arch} on {target}, last checkpoint, all of each class's probe images instead of the first ones — " + "; ".join(parts) + "."


def _fit_sentence(fit: pd.DataFrame) -> str:
    """Where the running training accuracy lags the end-of-epoch fit most, and how the two compare at the end."""
    worst = fit.loc[fit.difference.abs().idxmax()]
    hardest = fit[fit.degree == fit.degree.max()]
    end = hardest.loc[hardest.epoch.idxmax()]
    return (f"the two differ by up to {worst.difference:+.3f} (d = {int(worst.degree)}, epoch {int(worst.epoch)}: running "
            f"{worst.running:.3f}, fit {worst.fit:.3f}); after the last epoch at d = {int(end.degree)}: running "
            f"{end.running:.3f}, fit {end.fit:.3f}.")


def _falls(flag: bool) -> str:
    return "falls from block to block" if flag else "does not fall at every block"


def paper_beside(agreement_a: pd.DataFrame, reuse: pd.DataFrame, agreement_summary: pd.DataFrame) -> Summary:
    """The paper-beside-run page: Study A's layer-pattern agreement per condition
    (:func:`repchange.studies.beside.pattern_agreement`), Study B's reuse gap (dissimilar minus
    similar) per architecture for the paper and for us and in how many architectures its sign
    agrees (``reuse`` from :func:`repchange.studies.beside.study_b_reusability_beside`), and the
    per-filter metric agreement beside the paper's. A run without both a similar and a dissimilar target
    (e.g. 15-Scene alone) has no gap of its own: "not measured", and no sign is compared."""
    gap = reuse.pivot_table(index="arch", columns="kind", values=["paper", "ours"])
    gaps = {who: gap[(who, "dissimilar")] - gap[(who, "similar")]
            if {(who, "dissimilar"), (who, "similar")} <= set(gap.columns) else pd.Series(np.nan, index=gap.index)
            for who in ("paper", "ours")}
    compared = gaps["paper"].notna() & gaps["ours"].notna()

    def _signed(value: float) -> str:
        return f"{value:+.3f}" if np.isfinite(value) else "not measured (needs a similar and a dissimilar target)"
    overall = agreement_summary[agreement_summary.arch == "all"].iloc[0]
    out = Summary()
    out.phrases = {
        "beside_a_sentences": " ".join(
            f"*{r.condition}*: layer ordering agrees with Spearman ρ = {r.rank_agreement:.2f}; the paper's CKA "
            f"{_falls(r.paper_falls_over_blocks)}, ours {_falls(r.ours_falls_over_blocks)}."
            for r in agreement_a.itertuples()),
        "beside_b_gap": ", ".join(f"{arch}: paper {_signed(gaps['paper'][arch])}, ours {_signed(gaps['ours'][arch])}"
                                  for arch in gap.index)}
    out.numbers = {"beside_a_rank_agreement_min": agreement_a.rank_agreement.min(),
                   "beside_b_same_sign": int(((gaps["paper"] > 0) == (gaps["ours"] > 0))[compared].sum()),
                   "beside_b_archs": int(compared.sum()),
                   "beside_r_ours": overall["mean"], "beside_r_ours_std": overall["std"],
                   "beside_r_paper": paper_numbers.STUDY_B_AGREEMENT[0],
                   "beside_r_paper_std": paper_numbers.STUDY_B_AGREEMENT[1]}
    return out
