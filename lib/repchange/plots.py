"""The papers' figures, one function each, drawn from tidy result tables."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = [
    "chance_levels",
    "fig1_cka_to_init",
    "fig2_training_curves",
    "fig3a_cka_vs_degree",
    "fig3b_cka_vs_size",
    "fig4_finetuning_change",
    "fig5_finetuned_vs_references",
    "layer_identification",
    "mean_and_sem",
    "metric_agreement",
    "pc_deletion",
]

CKA_PANELS = (("cka", "linear CKA (biased, as in the paper)"), ("cka_debiased", "linear CKA (debiased)"))
LAYER_COLOURS = {"block1": "#1b9e77", "block2": "#d95f02", "block3": "#7570b3", "block4": "#e7298a",
                 "logits": "#444444"}


def mean_and_sem(frame: pd.DataFrame, by: list[str], value: str = "value") -> pd.DataFrame:
    """Mean and standard error of ``value`` over the rows of each ``by`` group (over seeds).

    Columns: ``by`` + mean, sem, count. ``sem`` is 0 where a group has a single row.
    """
    grouped = frame.groupby(by, sort=False)[value]
    out = grouped.agg(mean="mean", sem="sem", count="count").reset_index()
    out["sem"] = out["sem"].fillna(0.0)
    return out


def _caption(fig: Figure, text: str) -> None:
    fig.text(0.01, 0.005, "\n".join(textwrap.wrap(text, 150)), fontsize=7.5, color="#333333",
             ha="left", va="bottom")


def fig1_cka_to_init(table: pd.DataFrame, provenance: str) -> Figure:
    """Figure 1: CKA of each layer to its random init over pre-training epochs.

    Left: biased linear CKA (the paper's metric); right: debiased CKA. Solid lines compare with
    the net's own init; dashed lines with an independently drawn init -- the level that
    unrelated random nets already reach on these images. Bands: ± one standard error over seeds.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), sharex=True)
    for ax, (metric, title) in zip(axes, CKA_PANELS):
        _layer_bands(ax, table[table.metric == metric], "epoch", "init")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("pre-training epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("CKA")
    axes[0].plot([], [], "--", color="grey", label="vs independent init")
    axes[0].legend(fontsize=8, loc="lower left", ncol=2)
    fig.suptitle("Study A, Fig. 1 — similarity of each layer to its random initialisation during pre-training",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _caption(fig, provenance)
    return fig


def chance_levels(table: pd.DataFrame, provenance: str) -> Figure:
    """Biased vs debiased CKA of independent Gaussian features against p, one line per n."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    stats = mean_and_sem(table, ["n", "p", "metric"])
    colours = plt.cm.viridis(np.linspace(0.1, 0.85, table.n.nunique()))
    for colour, n in zip(colours, sorted(table.n.unique())):
        for ax, metric in zip(axes, ("cka", "cka_debiased")):
            s = stats[(stats.n == n) & (stats.metric == metric)].sort_values("p")
            ax.errorbar(s.p, s["mean"], yerr=s["sem"], color=colour, marker="o", ms=3, label=f"n = {n}")
        ps = np.array(sorted(table.p.unique()))
        axes[0].plot(ps, ps / (n + ps), ":", color=colour, lw=1)
    axes[0].set_title("biased CKA (dotted: p / (n + p))", fontsize=10)
    axes[1].set_title("debiased CKA", fontsize=10)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("features p (both representations)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("CKA of independent random features")
    axes[1].legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _caption(fig, provenance)
    return fig


def pc_deletion(table: pd.DataFrame, provenance: str) -> Figure:
    """Similarity of a representation to itself with its top-k principal components deleted."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for metric, group in table.groupby("metric", sort=False):
        ax = axes[0] if metric.startswith("cka") else axes[1]
        ax.plot(group.k, group.value, marker="o", ms=3, label=metric)
    axes[0].set_ylabel("CKA (1 = unchanged)")
    axes[1].set_ylabel("angle in radians (0 = unchanged)")
    for ax in axes:
        ax.set_xlabel("top principal components deleted")
        ax.set_xscale("symlog", linthresh=1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _caption(fig, provenance)
    return fig


def layer_identification(table: pd.DataFrame, provenance: str) -> Figure:
    """Heatmaps of every layer of one seed against every layer of another, one per metric."""
    metrics = list(table.metric.unique())
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.9))
    for ax, metric in zip(np.atleast_1d(axes), metrics):
        grid = table[table.metric == metric].pivot(index="layer_a", columns="layer_b", values="value")
        order = list(dict.fromkeys(table.layer_a))
        grid = grid.loc[order, order]
        cmap = "viridis_r" if "angle" in metric else "viridis"
        im = ax.imshow(grid.to_numpy(), cmap=cmap)
        best = grid.to_numpy().argmin(1) if "angle" in metric else grid.to_numpy().argmax(1)
        for i, j in enumerate(best):
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
        ax.set_xticks(range(len(order)), order, rotation=45, fontsize=8)
        ax.set_yticks(range(len(order)), order, fontsize=8)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("layer, seed B")
        fig.colorbar(im, ax=ax, fraction=0.046)
    np.atleast_1d(axes)[0].set_ylabel("layer, seed A")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    _caption(fig, provenance + " · red box: best match of each row")
    return fig


def metric_agreement(table: pd.DataFrame, correlations: pd.DataFrame, provenance: str) -> Figure:
    """Scatter of 1 - CKA against the Procrustes angle over (layer, epoch), and the Pearson matrix."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), gridspec_kw={"width_ratios": [1, 1.15]})
    wide = table.pivot_table(index=["layer", "epoch"], columns="metric", values="distance").reset_index()
    for layer, group in wide.groupby("layer", sort=False):
        axes[0].scatter(group["1 - cka"], group["procrustes_angle"], s=18, color=LAYER_COLOURS.get(layer),
                        label=layer)
    axes[0].set_xlabel("1 - CKA (to init)")
    axes[0].set_ylabel("Procrustes angle to init (rad)")
    axes[0].legend(fontsize=8)
    axes[0].grid(alpha=0.3)
    im = axes[1].imshow(correlations.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
    names = list(correlations.columns)
    axes[1].set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    axes[1].set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            axes[1].text(j, i, f"{correlations.iat[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    axes[1].set_title("Pearson r across (layer, epoch)", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _caption(fig, provenance)
    return fig


def _band(ax, x, mean, sem, colour, label=None, style="-", lw=1.8) -> None:
    ax.plot(x, mean, style, color=colour, label=label, lw=lw)
    ax.fill_between(x, mean - sem, mean + sem, color=colour, alpha=0.18, lw=0)


def fig2_training_curves(histories: pd.DataFrame, provenance: str) -> Figure:
    """Figure 2: training loss, training accuracy and test accuracy per epoch, one line per degree d."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9), sharex=True)
    degrees = sorted(histories.degree.unique())
    colours = plt.cm.plasma(np.linspace(0.05, 0.85, len(degrees)))
    for colour, degree in zip(colours, degrees):
        rows = histories[histories.degree == degree]
        for ax, column in zip(axes, ("train_loss", "train_acc", "test_acc")):
            s = mean_and_sem(rows.dropna(subset=[column]), ["epoch"], column).sort_values("epoch")
            _band(ax, s.epoch, s["mean"], s["sem"], colour, label=f"d = {degree}")
    for ax, title in zip(axes, ("training loss", "training accuracy", "test accuracy (labels of the same degree)")):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("pre-training epoch")
        ax.grid(alpha=0.3)
    axes[2].axhline(0.1, color="grey", ls=":", lw=1)
    axes[0].legend(fontsize=8)
    fig.suptitle("Study A, Fig. 2 — learning under partially random labels", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _caption(fig, provenance)
    return fig


def _layer_bands(ax, frame: pd.DataFrame, x: str, reference: str) -> None:
    """Per layer, mean ± SE over seeds of ``value`` against ``x``: solid to ``reference``, dashed to an
    independent init (labels on the solid lines only)."""
    stats = mean_and_sem(frame, ["layer", "comparison", x])
    for layer in frame.layer.unique():
        for comparison, style in ((reference, "-"), ("independent_init", "--")):
            s = stats[(stats.layer == layer) & (stats.comparison == comparison)].sort_values(x)
            _band(ax, s[x], s["mean"], s["sem"], LAYER_COLOURS.get(layer),
                  label=layer if comparison == reference else None, style=style, lw=1.8 if style == "-" else 1.1)


def _final_cka_against(sweep: pd.DataFrame, x: str, xlabel: str, title: str, provenance: str,
                       *, log_x: bool = False, reference: str = "init", reference_label: str = "init") -> Figure:
    """Final-epoch CKA per layer against column ``x``: solid to ``reference``, dashed to an independent init."""
    final_epoch = sweep.epoch.max()
    final = sweep[sweep.epoch == final_epoch]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3), sharex=True)
    for ax, (metric, metric_title) in zip(axes, CKA_PANELS):
        _layer_bands(ax, final[final.metric == metric], x, reference)
        ax.set_title(metric_title, fontsize=10)
        ax.set_xlabel(xlabel)
        if log_x:
            ax.set_xscale("log")
        ticks = sorted(final[x].unique())
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"CKA to {reference_label} after {final_epoch} epochs")
    axes[0].plot([], [], "--", color="grey", label="vs independent init")
    axes[0].legend(fontsize=8, ncol=2)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    _caption(fig, provenance)
    return fig


def fig3a_cka_vs_degree(sweep: pd.DataFrame, provenance: str) -> Figure:
    """Figure 3a: CKA of each layer's final representation to its init, against label degree d.

    Solid: to the own init; dashed: to an independent init (what an unrelated random net shares).
    Left biased, right debiased CKA; bands ± one standard error over seeds.
    """
    return _final_cka_against(sweep, "degree", "label randomness degree d",
                              "Study A, Fig. 3a — change from the initialisation against label randomness", provenance)


def fig3b_cka_vs_size(sweep: pd.DataFrame, provenance: str) -> Figure:
    """Figure 3b: as Figure 3a, against the number of (randomly labelled) training images, log axis."""
    return _final_cka_against(sweep, "train_size", "training images (log scale)",
                              "Study A, Fig. 3b — change from the initialisation against training-set size "
                              "(random labels)", provenance, log_x=True)


def fig4_finetuning_change(table: pd.DataFrame, provenance: str) -> Figure:
    """Figure 4: CKA of each fine-tuned layer to the pre-trained net after fine-tuning.

    Columns: (a) source domain against label degree d, (b) cross domain against d, (c) per
    layer: source domain with shifted labels, cross domain and source domain with clean labels.
    Rows: biased CKA (the paper's) and debiased CKA. Dashed: CKA to an independent init.
    Bands and bars: ± one standard error over seeds.
    """
    final = table[table.epoch == table.epoch.max()]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.4), sharey="row")
    for row, (metric, metric_title) in enumerate(CKA_PANELS):
        rows = final[final.metric == metric]
        for col, domain in enumerate(("same", "cross")):
            ax = axes[row, col]
            subset = rows[(rows.domain == domain) & (rows["shift"] == 0)]
            _layer_bands(ax, subset, "degree", "pretrained")
            target = subset.target.iloc[0] if len(subset) else domain
            if row == 0:
                ax.set_title(f"({'ab'[col]}) {'source' if domain == 'same' else 'cross'} domain ({target})",
                             fontsize=10)
            ax.set_xlabel("label randomness degree d")
            ax.set_xticks(sorted(subset.degree.unique()))
            ax.grid(alpha=0.3)
        ax = axes[row, 2]
        pretrained = rows[rows.comparison == "pretrained"]
        groups = [("same", "shift"), ("cross", "clean"), ("same", "clean")]
        layers = list(pretrained.layer.unique())
        x = np.arange(len(layers))
        colours = ["#c51b7d", "#2166ac", "#7f7f7f"]
        shown = 0
        for colour, (domain, kind) in zip(colours, groups):
            subset = pretrained[(pretrained.domain == domain)
                                & (pretrained["shift"] > 0 if kind == "shift" else
                                   (pretrained["shift"] == 0) & (pretrained.degree == 0))]
            for labels, group in subset.groupby("labels", sort=False):
                stats = mean_and_sem(group, ["layer"]).set_index("layer").loc[layers]
                name = f"{'source' if domain == 'same' else 'cross'} domain, {labels}"
                ax.errorbar(x + (shown - 1) * 0.08, stats["mean"], yerr=stats["sem"], marker="o", ms=4,
                            color=colour, label=name, capsize=2)
                shown += 1
        ax.set_xticks(x, layers, fontsize=8)
        if row == 0:
            ax.set_title("(c) shifted labels vs cross domain", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        axes[row, 0].set_ylabel(f"CKA to the pre-trained net\n{metric_title}", fontsize=9)
    axes[0, 0].plot([], [], "--", color="grey", label="vs independent init")
    axes[0, 0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"Study A, Fig. 4 — change during fine-tuning ({table.epoch.max()} epochs) from the pre-trained net",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    _caption(fig, provenance)
    return fig


FIG5_COMPARISONS = (("pretrained", "pre-trained net", "-"), ("pretrain_init", "its pre-training init", "-."),
                    ("independent_init", "an independent init", "--"))


def fig5_finetuned_vs_references(table: pd.DataFrame, panels: list[tuple[str, str]], provenance: str) -> Figure:
    """Figure 5: the fine-tuned net's layers compared with the pre-trained net and with random inits.

    ``panels``: (title, labels-and-domain query) per column, e.g. ``("(a) clean", "domain == 'same' and labels == 'clean'")``.
    x = layer, after the last fine-tuning epoch; rows biased / debiased CKA; error bars ± one SE over seeds.
    """
    final = table[table.epoch == table.epoch.max()]
    fig, axes = plt.subplots(2, len(panels), figsize=(3.6 * len(panels) + 1, 7), sharey="row", squeeze=False)
    layers = list(final.layer.unique())
    x = np.arange(len(layers))
    colours = {"pretrained": "#1b7837", "pretrain_init": "#762a83", "independent_init": "#999999"}
    for col, (title, query) in enumerate(panels):
        subset = final.query(query)
        for row, (metric, metric_title) in enumerate(CKA_PANELS):
            ax = axes[row, col]
            for k, (comparison, label, style) in enumerate(FIG5_COMPARISONS):
                rows = subset[(subset.metric == metric) & (subset.comparison == comparison)]
                stats = mean_and_sem(rows, ["layer"]).set_index("layer").loc[layers]
                ax.errorbar(x + (k - 1) * 0.07, stats["mean"], yerr=stats["sem"], fmt=style, marker="o", ms=4,
                            color=colours[comparison], label=f"vs {label}", capsize=2)
            ax.set_xticks(x, layers, fontsize=8)
            ax.grid(alpha=0.3)
            ax.set_title(f"{title}\n{metric_title}", fontsize=9)
        axes[1, col].set_xlabel("layer")
    axes[0, 0].set_ylabel("CKA (biased)")
    axes[1, 0].set_ylabel("CKA (debiased)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Study A, Fig. 5 — fine-tuned ({table.epoch.max()} epochs) vs pre-trained and vs pre-initialised nets",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    _caption(fig, provenance)
    return fig
