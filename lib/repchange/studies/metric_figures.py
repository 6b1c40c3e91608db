"""The metrics chapter's figures (chance levels, PC deletion, layer identification, metric agreement)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from repchange.base.plotting import caption, legend_below, mean_and_sem, page_figure, panel_grid
from repchange.studies.a.figures import LAYER_COLOURS

__all__ = ['chance_levels', 'layer_identification', 'metric_agreement', 'pc_deletion']


@page_figure
def chance_levels(table: pd.DataFrame, provenance: str) -> Figure:
    """Biased vs debiased CKA of independent Gaussian features against p, one line per n."""
    fig, axes = panel_grid(2, panel_height=3.2, extra_height=1.0, sharex=True)
    stats = mean_and_sem(table, ["n", "p", "metric"])
    colours = plt.cm.viridis(np.linspace(0.1, 0.85, table.n.nunique()))
    for colour, n in zip(colours, sorted(table.n.unique())):
        for ax, metric in zip(axes, ("cka", "cka_debiased")):
            s = stats[(stats.n == n) & (stats.metric == metric)].sort_values("p")
            ax.errorbar(s.p, s["mean"], yerr=s["sem"], color=colour, marker="o", ms=3, label=f"n = {n}")
        ps = np.array(sorted(table.p.unique()))
        axes[0].plot(ps, ps / (n + ps), ":", color=colour, lw=1)
    axes[0].set_title("biased (dotted: p / (n + p))")
    axes[1].set_title("debiased CKA")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("features p (both)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("CKA of independent\nrandom features")
    legend_below(fig, axes[1], ncol=4)
    caption(fig, provenance)
    return fig


@page_figure
def pc_deletion(table: pd.DataFrame, provenance: str) -> Figure:
    """Similarity of a representation to itself with its top-k principal components deleted."""
    fig, axes = panel_grid(2, panel_height=3.4, extra_height=0.8)
    for metric, group in table.groupby("metric", sort=False):
        ax = axes[0] if metric.startswith("cka") else axes[1]
        ax.plot(group.k, group.value, marker="o", ms=3, label=metric)
    axes[0].set_ylabel("CKA (1 = unchanged)")
    axes[1].set_ylabel("angle in radians (0 = unchanged)")
    for ax in axes:
        ax.set_xlabel("top PCs deleted")
        ax.set_xscale("symlog", linthresh=1)
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
    caption(fig, provenance)
    return fig


@page_figure
def layer_identification(table: pd.DataFrame, provenance: str) -> Figure:
    """Heatmaps of every layer of one seed against every layer of another, one per metric."""
    metrics = list(table.metric.unique())
    fig, axes = panel_grid(len(metrics), panel_height=3.4, extra_height=0.8)
    for ax, metric in zip(axes, metrics):
        grid = table[table.metric == metric].pivot(index="layer_a", columns="layer_b", values="value")
        order = list(dict.fromkeys(table.layer_a))
        grid = grid.loc[order, order]
        cmap = "viridis_r" if "angle" in metric else "viridis"
        im = ax.imshow(grid.to_numpy(), cmap=cmap)
        best = grid.to_numpy().argmin(1) if "angle" in metric else grid.to_numpy().argmax(1)
        for i, j in enumerate(best):
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
        ax.set_xticks(range(len(order)), order, rotation=45)
        ax.set_yticks(range(len(order)), order)
        ax.set_title(metric)
        ax.set_xlabel("layer, seed B")
        fig.colorbar(im, ax=ax, fraction=0.046)
    for ax in axes[::2]:
        ax.set_ylabel("layer, seed A")
    caption(fig, provenance + " · red box: best match of each row")
    return fig


@page_figure
def metric_agreement(table: pd.DataFrame, correlations: pd.DataFrame, provenance: str) -> Figure:
    """Scatter of 1 - CKA against the Procrustes angle over (layer, epoch), and the Pearson matrix."""
    fig, axes = panel_grid(2, panel_height=4.2, max_cols=1, extra_height=0.8)
    wide = table.pivot_table(index=["layer", "epoch"], columns="metric", values="distance").reset_index()
    for layer, group in wide.groupby("layer", sort=False):
        axes[0].scatter(group["1 - cka"], group["procrustes_angle"], s=18, color=LAYER_COLOURS.get(layer),
                        label=layer)
    axes[0].set_xlabel("1 - CKA (to init)")
    axes[0].set_ylabel("Procrustes angle to init (rad)")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes[0].grid(alpha=0.3)
    im = axes[1].imshow(correlations.to_numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
    names = list(correlations.columns)
    axes[1].set_xticks(range(len(names)), names, rotation=45, ha="right")
    axes[1].set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            axes[1].text(j, i, f"{correlations.iat[i, j]:.2f}", ha="center", va="center")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    axes[1].set_title("Pearson r across (layer, epoch)")
    caption(fig, provenance)
    return fig
