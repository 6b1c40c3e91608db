"""The numbers and phrases Study A's chapters quote (Goerttler & Obermayer), computed from their tables: one
:class:`~repchange.studies.summaries.Summary` per chapter (see :mod:`repchange.studies.summaries`).
"""

from __future__ import annotations

import pandas as pd

from repchange.base.plotting import mean_and_sem
from repchange.studies import verdicts
from repchange.studies.a.claims import depth_contrast
from repchange.studies.a.finetuning import condition_label
from repchange.studies.stats import clearly, paired_difference
from repchange.studies.summaries import Summary, _phrase
from repchange.studies.verdicts import SCALES

__all__ = ["cka_to_init", "cka_vs_degree", "cka_vs_size", "equal_steps_sentence", "equal_steps_view",
           "fig5_conditions", "fig5_panels", "finetuned_vs_references", "finetuning_change", "training_curves",
           "DEPTH_PHRASES"]


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
