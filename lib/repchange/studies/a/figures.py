"""Study A's figures 1-5, one function each, drawn from tidy result tables."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from repchange.base.plotting import band, caption, legend_below, mean_and_sem, page_figure, panel_grid, wrapped

__all__ = ["fig1_cka_to_init", "fig2_training_curves", "fig3a_cka_vs_degree", "fig3b_cka_vs_size", "fig4_finetuning_change",
           "fig5_finetuned_vs_references"]
CKA_PANELS = (("cka", "linear CKA (biased, as in the paper)"), ("cka_debiased", "linear CKA (debiased)"))
LAYER_COLOURS = {"block1": "#1b9e77", "block2": "#d95f02", "block3": "#7570b3", "block4": "#e7298a",
                 "logits": "#444444"}


@page_figure
def fig1_cka_to_init(table: pd.DataFrame, provenance: str) -> Figure:
    """Figure 1: CKA of each layer to its random init over pre-training epochs.

    Left: biased linear CKA (the paper's metric); right: debiased CKA. Solid lines compare with
    the net's own init; dashed lines with an independently drawn init -- the level that
    unrelated random nets already reach on these images. Bands: ± one standard error over seeds.
    """
    fig, axes = panel_grid(2, panel_height=3.4, extra_height=1.3, sharex=True, sharey=True)
    for ax, (metric, title) in zip(axes, CKA_PANELS):
        _layer_bands(ax, table[table.metric == metric], "epoch", "init")
        ax.set_title(title)
        ax.set_xlabel("pre-training epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("CKA")
    axes[0].plot([], [], "--", color="grey", label="vs independent init")
    legend_below(fig, axes[0])
    fig.suptitle(wrapped("Study A, Fig. 1 — each layer's similarity to its random init", fig))
    caption(fig, provenance)
    return fig


@page_figure
def fig2_training_curves(histories: pd.DataFrame, provenance: str) -> Figure:
    """Figure 2: training loss, training accuracy and test accuracy per epoch, one line per degree d.

    The training-accuracy panel draws both measurements: solid, the net after the epoch in eval mode on
    its training images (``fit_acc``, what "fitted" means); dashed, the running mean over the epoch's
    batches in train mode (``train_acc``, which lags). Histories without ``fit_acc`` draw the dashed only."""
    fig, axes = panel_grid(3, panel_height=3.0, extra_height=1.4, sharex=True)
    degrees = sorted(histories.degree.unique())
    colours = plt.cm.plasma(np.linspace(0.05, 0.85, len(degrees)))

    def curve(ax, rows: pd.DataFrame, column: str, colour, **style) -> None:
        rows = rows.dropna(subset=[column]) if column in rows else rows.iloc[:0]
        if not rows.empty:
            s = mean_and_sem(rows, ["epoch"], column).sort_values("epoch")
            band(ax, s.epoch, s["mean"], s["sem"], colour, **style)

    for colour, degree in zip(colours, degrees):
        rows = histories[histories.degree == degree]
        curve(axes[0], rows, "train_loss", colour, label=f"d = {degree}")
        curve(axes[1], rows, "fit_acc", colour, style="-o")
        curve(axes[1], rows, "train_acc", colour, style="--", lw=1.0)
        curve(axes[2], rows, "test_acc", colour)
    for ax, title in zip(axes, ("training loss (running)",
                                "training accuracy: eval mode after\nthe epoch (solid), running (dashed)",
                                "test accuracy (same degree)")):
        ax.set_title(title)
        ax.set_xlabel("pre-training epoch")
        ax.grid(alpha=0.3)
    axes[2].axhline(0.1, color="grey", ls=":", lw=1)
    legend_below(fig, axes[0], ncol=6)
    fig.suptitle(wrapped("Study A, Fig. 2 — learning under partially random labels", fig))
    caption(fig, provenance)
    return fig


def _layer_bands(ax, frame: pd.DataFrame, x: str, reference: str) -> None:
    """Per layer, mean ± SE over seeds of ``value`` against ``x``: solid to ``reference``, dashed to an
    independent init (labels on the solid lines only)."""
    stats = mean_and_sem(frame, ["layer", "comparison", x])
    for layer in frame.layer.unique():
        for comparison, style in ((reference, "-"), ("independent_init", "--")):
            s = stats[(stats.layer == layer) & (stats.comparison == comparison)].sort_values(x)
            band(ax, s[x], s["mean"], s["sem"], LAYER_COLOURS.get(layer),
                  label=layer if comparison == reference else None, style=style, lw=1.8 if style == "-" else 1.1)


@page_figure
def _final_cka_against(sweep: pd.DataFrame, x: str, xlabel: str, title: str, provenance: str,
                       *, log_x: bool = False, reference: str = "init", reference_label: str = "init") -> Figure:
    """Final-epoch CKA per layer against column ``x``: solid to ``reference``, dashed to an independent init."""
    final_epoch = sweep.epoch.max()
    final = sweep[sweep.epoch == final_epoch]
    fig, axes = panel_grid(2, panel_height=3.4, extra_height=1.3, sharex=True, sharey=True)
    for ax, (metric, metric_title) in zip(axes, CKA_PANELS):
        _layer_bands(ax, final[final.metric == metric], x, reference)
        ax.set_title(metric_title)
        ax.set_xlabel(xlabel)
        if log_x:
            ax.set_xscale("log")
        ticks = sorted(final[x].unique())
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"CKA to {reference_label} after {final_epoch} epochs")
    axes[0].plot([], [], "--", color="grey", label="vs independent init")
    legend_below(fig, axes[0])
    fig.suptitle(wrapped(title, fig))
    caption(fig, provenance)
    return fig


def fig3a_cka_vs_degree(sweep: pd.DataFrame, provenance: str) -> Figure:
    """Figure 3a: CKA of each layer's final representation to its init, against label degree d.

    Solid: to the own init; dashed: to an independent init (what an unrelated random net shares).
    Left biased, right debiased CKA; bands ± one standard error over seeds.
    """
    return _final_cka_against(sweep, "degree", "label randomness degree d",
                              "Study A, Fig. 3a — CKA to the init against label randomness", provenance)


def fig3b_cka_vs_size(sweep: pd.DataFrame, provenance: str) -> Figure:
    """Figure 3b: as Figure 3a, against the number of (randomly labelled) training images, log axis."""
    return _final_cka_against(sweep, "train_size", "training images (log scale)",
                              "Study A, Fig. 3b — CKA to the init against training-set size", provenance, log_x=True)


@page_figure
def fig4_finetuning_change(table: pd.DataFrame, provenance: str) -> Figure:
    """Figure 4: CKA of each fine-tuned layer to the pre-trained net after fine-tuning.

    Rows: (a) source domain against label degree d, (b) cross domain against d, (c) per
    layer: source domain with shifted labels, cross domain and source domain with clean labels.
    Columns: biased CKA (the paper's) and debiased CKA. Dashed: CKA to an independent init.
    Bands and bars: ± one standard error over seeds.
    """
    final = table[table.epoch == table.epoch.max()]
    fig, axes = plt.subplots(3, 2, figsize=(7.0, 10.8), sharey="col", layout="constrained")
    axes = axes.T  # axes[metric, panel]: the paper's panels (a)-(c) down the page, biased | debiased across
    for row, (metric, metric_title) in enumerate(CKA_PANELS):
        rows = final[final.metric == metric]
        short = metric_title.split(" (")[-1].rstrip(")") if row else "biased"
        for col, domain in enumerate(("same", "cross")):
            ax = axes[row, col]
            subset = rows[(rows.domain == domain) & (rows["shift"] == 0)]
            _layer_bands(ax, subset, "degree", "pretrained")
            target = subset.target.iloc[0] if len(subset) else domain
            ax.set_title(f"({'ab'[col]}) {'source' if domain == 'same' else 'cross'} domain ({target})\n{short}")
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
        ax.set_xticks(x, layers, rotation=30)
        ax.set_title(f"(c) shifted labels vs cross domain\n{short}")
        ax.grid(alpha=0.3)
    for col in range(3):
        axes[0, col].set_ylabel("CKA to the pre-trained net")
    axes[0, 0].plot([], [], "--", color="grey", label="vs independent init")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    more, more_labels = axes[0, 2].get_legend_handles_labels()
    fig.legend(handles + more, labels + more_labels, loc="outside lower center", ncol=3, frameon=False)
    fig.suptitle(wrapped(f"Study A, Fig. 4 — change from the pre-trained net\nduring fine-tuning ({table.epoch.max()} epochs)", fig))
    caption(fig, provenance)
    return fig


FIG5_COMPARISONS = (("pretrained", "pre-trained net", "-"), ("pretrain_init", "its pre-training init", "-."),
                    ("independent_init", "an independent init", "--"))


@page_figure
def fig5_finetuned_vs_references(table: pd.DataFrame, panels: list[tuple[str, str]], provenance: str) -> Figure:
    """Figure 5: the fine-tuned net's layers compared with the pre-trained net and with random inits.

    ``panels``: (title, labels-and-domain query) per column, e.g. ``("(a) clean", "domain == 'same' and labels == 'clean'")``.
    x = layer, after the last fine-tuning epoch; one row per panel, columns biased / debiased CKA; error bars ± one
    SE over seeds.
    """
    final = table[table.epoch == table.epoch.max()]
    fig, axes = plt.subplots(len(panels), 2, figsize=(7.0, 2.9 * len(panels) + 1.6), sharey="col", squeeze=False,
                             layout="constrained")
    axes = axes.T  # axes[metric, panel]: panels down the page, biased | debiased across
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
            ax.set_xticks(x, layers, rotation=30)
            ax.grid(alpha=0.3)
            ax.set_title(f"{title}\n{'biased' if row == 0 else 'debiased'}")
        axes[0, col].set_ylabel("CKA")
    legend_below(fig, axes[0, 0])
    fig.suptitle(wrapped(f"Study A, Fig. 5 — fine-tuned ({table.epoch.max()} epochs) vs\npre-trained and vs pre-initialised nets", fig))
    caption(fig, provenance)
    return fig
