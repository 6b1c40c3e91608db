"""Study B's figures, drawn from the dynamics table of :func:`repchange.studies.b.tables.dynamics`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from repchange.base.plotting import (PAGE_WIDTH_IN, band, caption, legend_below, mean_and_sem, page_figure, panel_grid,
                                     wrapped)
from repchange.studies.b.analysis import layer_order, metric_labels, metric_order

__all__ = ["fig_class_crops", "fig_feature_dynamics", "fig_heatmaps", "fig_metric_agreement", "fig_reusability"]

TARGET_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


@page_figure
def fig_feature_dynamics(table: pd.DataFrame, arch: str, provenance: str, *, baseline: pd.DataFrame | None = None,
                         title: str = "") -> Figure:
    """Distance of each probed layer to the source net against the fine-tuning epoch.

    Rows: metrics (PWSM at each alpha, per-filter Procrustes); columns: targets; one line per
    layer, shallow (light) to deep (dark); mean over seeds with ± standard-error bands when
    there are several. Epoch 0 is the source net itself (distance 0). ``baseline`` (from
    :func:`repchange.studies.b.tables.baseline`): each layer's distance between the source net
    and an independently trained source net, drawn dashed in the layer's colour.
    """
    rows = table[(table.arch == arch) & (table.cls == "all")]
    if rows.empty:
        raise ValueError(f"no rows for architecture {arch!r}; the table has {sorted(table.arch.unique())}")
    metrics, targets, layers = metric_order(rows), list(rows.target.unique()), layer_order(table, arch)
    colours = dict(zip(layers, plt.cm.viridis(np.linspace(0.9, 0.05, len(layers)))))
    fig, axes = plt.subplots(len(metrics), len(targets), figsize=(PAGE_WIDTH_IN, 2.4 * len(metrics) + 1.6),
                             sharex=True, sharey="row", squeeze=False, layout="constrained")
    stats = mean_and_sem(rows, ["metric", "target", "layer", "epoch"])
    for i, metric in enumerate(metrics):
        for j, target in enumerate(targets):
            ax = axes[i, j]
            for layer in layers:
                s = stats[(stats.metric == metric) & (stats.target == target) & (stats.layer == layer)]
                s = s.sort_values("epoch")
                band(ax, s.epoch, s["mean"], s["sem"], colours[layer], label=layer, lw=1.5)
                if baseline is not None:
                    level = baseline[(baseline.arch == arch) & (baseline.metric == metric)
                                     & (baseline.target == target) & (baseline.layer == layer)]["value"]
                    if len(level):
                        ax.axhline(level.mean(), color=colours[layer], ls="--", lw=0.9, alpha=0.8)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(target)
            if i == len(metrics) - 1:
                ax.set_xlabel("fine-tuning epoch")
                ax.set_xticks(sorted(rows.epoch.unique()))
        unit = "1 − similarity" if metric == "procrustes_filter" else "radians"
        axes[i, 0].set_ylabel(f"{metric_labels(table)[metric]}\n({unit})")
    if baseline is not None:
        axes[0, -1].plot([], [], "--", color="grey", lw=0.9, label="independent source net")
    legend_below(fig, axes[0, -1], ncol=4, title="probed layer")
    fig.suptitle(wrapped(title or f"Study B — feature dynamics of {arch} during fine-tuning\n(distance to the source net)", fig))
    caption(fig, provenance)
    return fig


@page_figure
def fig_metric_agreement(table: pd.DataFrame, correlations: pd.DataFrame, provenance: str,
                         reference: str = "procrustes_filter") -> Figure:
    """Per-filter Procrustes distance against PWSM at each alpha, one point per (layer, epoch > 0, class)
    of every arch (colour) and target (marker); each panel states the mean Pearson r over arch × target."""
    points = table[(table.cls != "all") & (table.epoch > 0)]
    wide = points.pivot_table(index=["arch", "target", "seed", "layer", "epoch", "cls"], columns="metric",
                              values="value", sort=False).reset_index()
    others = [m for m in metric_order(points) if m != reference]
    archs, targets = list(points.arch.unique()), list(points.target.unique())
    colours = dict(zip(archs, plt.cm.tab10(np.arange(len(archs)))))
    markers = dict(zip(targets, TARGET_MARKERS))
    fig, axes = panel_grid(len(others), panel_height=3.3, extra_height=1.6)
    for ax, metric in zip(axes, others):
        for (arch, target), group in wide.groupby(["arch", "target"], sort=False):
            ax.scatter(group[reference], group[metric], s=9, alpha=0.55, color=colours[arch],
                       marker=markers[target], lw=0)
        r = correlations[correlations.metric == metric]["r"]
        ax.set_title(f"{metric_labels(table)[metric]}\nmean r = {r.mean():.2f} "
                     f"({r.min():.2f} … {r.max():.2f})")
        ax.set_xlabel(metric_labels(table)[reference])
        ax.set_ylabel("PWSM (radians)")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], ls="", marker="o", color=colours[a], label=a) for a in archs]
    handles += [plt.Line2D([], [], ls="", marker=markers[t], color="grey", label=t) for t in targets]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4), frameon=False)
    fig.suptitle(wrapped("Second view, pooled (not the paper's statistic):\none point per layer × epoch × class", fig))
    caption(fig, provenance)
    return fig


@page_figure
def fig_filter_agreement(agreement: pd.DataFrame, provenance: str, paper: tuple[float, float] = (0.83, 0.43),
                         pairings: list[str] | None = None, chance: pd.DataFrame | None = None) -> Figure:
    """One panel per pairing (the paper's first): histogram of the per-(layer, epoch, class) Pearson r's
    across filters, one colour per arch, with this run's mean ± std, the paper's, and (``chance``, the
    same r's between each source net and its independently trained twin, filter i with filter i) the agreement on
    unrelated filter pairs: context, not a chance level."""
    from repchange.studies.b.analysis import pairing_label

    pairings = pairings or list(dict.fromkeys(agreement.pairing))
    fig, axes = panel_grid(len(pairings), panel_height=3.6, max_cols=1, extra_height=0.8)
    for ax, pairing in zip(axes, pairings):
        finite = agreement[agreement.pairing == pairing].dropna(subset=["r"])
        archs = list(finite.arch.unique())
        colours = dict(zip(archs, plt.cm.tab10(np.arange(len(archs)))))
        bins = np.linspace(-1, 1, 41)
        ax.hist([finite[finite.arch == a].r for a in archs], bins=bins, stacked=True, color=[colours[a] for a in archs],
                label=archs)
        top = ax.get_ylim()[1]
        marks = [((finite.r.mean(), finite.r.std()), "black", "this run", 0.92), (paper, "#c0392b", "the paper", 0.82)]
        if chance is not None and not chance.empty:
            twin = chance[chance.pairing == pairing].r.dropna()
            marks.append(((twin.mean(), twin.std()), "#7f8c8d", "unrelated filter pairs (twin)", 0.72))
        for (mean, std), colour, label, height in marks:
            ax.errorbar([mean], [top * height], xerr=[std], fmt="o", color=colour, capsize=4,
                        label=f"{label}: {mean:.2f} ± {std:.2f}")
        ax.set_xlim(-1.05, 1.05)
        ax.set_xlabel(wrapped(f"Pearson r across filters: {pairing_label(pairing)}", fig, share=0.45))
        ax.set_ylabel("(layer, epoch, class) cells")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.grid(alpha=0.3)
        first = pairing == pairings[0]
        ax.set_title(wrapped(("the paper's pairing: " if first else "the authors' code's pairing: ")
                             + pairing_label(pairing), fig, share=0.45))  # the legend takes half the width
    fig.suptitle(wrapped("Study B — metric agreement: one r across filters per layer × epoch × class", fig))
    caption(fig, provenance)
    return fig


@page_figure
def fig_reusability(reuse: pd.DataFrame, provenance: str) -> Figure:
    """Table 2 as bars: mean ± std over epochs of the layer-averaged distance, per target (group) and
    arch (bar), one panel per metric."""
    metrics = metric_order(reuse)
    archs, targets = list(reuse.arch.unique()), list(reuse.target.unique())
    colours = dict(zip(archs, plt.cm.tab10(np.arange(len(archs)))))
    fig, axes = panel_grid(len(metrics), panel_height=3.2, extra_height=1.2, sharey=True)
    width = 0.8 / len(archs)
    for ax, metric in zip(axes, metrics):
        rows = reuse[reuse.metric == metric].set_index(["arch", "target"])
        for k, arch in enumerate(archs):
            x = np.arange(len(targets)) + (k - (len(archs) - 1) / 2) * width
            r = rows.loc[[(arch, t) for t in targets]]
            ax.bar(x, r["mean"], width, yerr=r["std"], color=colours[arch], label=arch, capsize=2)
        ax.set_xticks(np.arange(len(targets)), targets, rotation=25, ha="right")
        ax.set_title(metric_labels(reuse)[metric])
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[::2]:
        ax.set_ylabel("distance to the source\n(mean ± std over epochs)")
    legend_below(fig, axes[0], ncol=len(archs))
    fig.suptitle(wrapped("Study B, Table 2 — reusability of the source features\n(lower = reused more)", fig))
    caption(fig, provenance)
    return fig


def _show_image(ax, pixels: np.ndarray, *, cmap: str = "gray") -> None:
    """Show a (C, H, W) image of 0..255 values; NaN (outside the image) is drawn beige."""
    if pixels.shape[0] == 1:
        masked = np.ma.masked_invalid(pixels[0])
        colours = plt.get_cmap(cmap).copy()
        colours.set_bad("#efe6d2")
        ax.imshow(masked, cmap=colours, vmin=0, vmax=255, interpolation="nearest")
    else:
        rgb = np.nan_to_num(np.moveaxis(pixels, 0, -1) / 255.0, nan=0.94)
        ax.imshow(rgb.clip(0, 1), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


@page_figure
def fig_class_crops(crops: dict, class_names: dict[int, str], layer: str, changes: pd.DataFrame,
                    provenance: str, *, title: str = "") -> Figure:
    """Class-based visualisation: per filter (block of rows) and class (row), the activation-weighted
    mean receptive-field crop at each checkpoint (column). ``crops``: ``{epoch: ClassCrops}``;
    ``changes``: the filters' Procrustes distances (:func:`repchange.studies.b.visualize.filter_change`)."""
    epochs = sorted(crops)
    first = crops[epochs[0]]
    rows = [(i, f, j, c) for i, f in enumerate(first.filters) for j, c in enumerate(first.classes)]
    cell = min(1.15, (PAGE_WIDTH_IN - 2.2) / len(epochs))
    fig, axes = plt.subplots(len(rows), len(epochs), figsize=(cell * len(epochs) + 2.2, cell * len(rows) + 1.2),
                             squeeze=False, layout="constrained")
    distance = changes.set_index("filter")["distance"]
    for r, (i, f, j, c) in enumerate(rows):
        for k, epoch in enumerate(epochs):
            ax = axes[r, k]
            _show_image(ax, crops[epoch].crops[i, j])
            if crops[epoch].weight[i, j] == 0:
                ax.text(0.5, 0.5, "silent", ha="center", va="center", transform=ax.transAxes)
            if r == 0:
                ax.set_title(f"epoch {epoch}")
        label = f"filter {f}\n(d = {distance.get(f, np.nan):.2f})\n{class_names.get(c, c)}" if j == 0 \
            else class_names.get(c, str(c))
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    fig.suptitle(wrapped(title or f"Study B — class-based visualisation of {layer}", fig))
    caption(fig, provenance + " · d: per-filter Procrustes distance to the source at the last epoch; "
             "beige: outside the image")
    return fig


@page_figure
def fig_heatmaps(images: np.ndarray, heat: dict, filters: list[int], layer: str, provenance: str, *,
                 title: str = "") -> Figure:
    """Sample-based visualisation: per filter (block of rows) and probe image (row), the image and its
    feature map resized to the image and overlaid as a heatmap at each checkpoint (column). One colour
    scale per filter, shared by all epochs and images, so changes in strength are visible.
    ``images`` (n, C, H, W); ``heat``: ``{epoch: (F, n, H, W)}`` from :func:`repchange.studies.b.visualize.heatmaps`."""
    epochs = sorted(heat)
    n = images.shape[0]
    cell = min(1.2, (PAGE_WIDTH_IN - 3.0) / (len(epochs) + 1))
    fig, axes = plt.subplots(len(filters) * n, len(epochs) + 1,
                             figsize=(cell * (len(epochs) + 1) + 3.0, cell * len(filters) * n + 1.2), squeeze=False,
                             layout="constrained")
    for i, f in enumerate(filters):
        vmax = max(float(heat[e][i].max()) for e in epochs) or 1.0
        for s in range(n):
            r = i * n + s
            _show_image(axes[r, 0], images[s].astype(np.float64))
            axes[r, 0].set_ylabel(f"filter {f}\nimage {s}" if s == 0 else f"image {s}", rotation=0,
                                  ha="right", va="center")
            for k, epoch in enumerate(epochs):
                ax = axes[r, k + 1]
                _show_image(ax, images[s].astype(np.float64))
                shown = ax.imshow(heat[epoch][i, s], cmap="inferno", vmin=0, vmax=vmax, alpha=0.6)
                if r == 0:
                    ax.set_title(f"epoch {epoch}")
        fig.colorbar(shown, ax=axes[i * n:(i + 1) * n, :].ravel().tolist(), label=f"filter {f}: activation",
                     shrink=0.9)
    axes[0, 0].set_title("image")
    fig.suptitle(wrapped(title or f"Study B — sample-based visualisation of {layer}", fig))
    caption(fig, provenance + " · colour scale: one per filter, shared across epochs and images")
    return fig


@page_figure
def fig_source_curves(curves: pd.DataFrame, plateau: pd.DataFrame, window: int, tolerance: float) -> Figure:
    """Study B's source nets: test accuracy after each epoch (thin: each seed; thick: the mean over seeds), the
    plateau epoch of :func:`repchange.studies.b.source_plateau.plateau_table` dotted, one panel per architecture."""
    archs = list(plateau.arch)
    fig, axes = panel_grid(len(archs), panel_height=3.0, extra_height=1.0, sharey=True)
    for ax, row in zip(axes, plateau.itertuples()):
        frame = curves[curves.arch == row.arch]
        for _, seed_curve in frame.groupby("seed"):
            ax.plot(seed_curve.epoch, seed_curve.test_acc, color="#7a8fa6", lw=0.8, alpha=0.8)
        mean = frame.groupby("epoch").test_acc.mean()
        ax.plot(mean.index, mean.to_numpy(), color="#1f3b5a", lw=2, marker="o", ms=3, label="mean over seeds")
        if row.reached:
            ax.axvline(row.plateau_epoch, color="#2e7d32", ls=":", lw=1.5, label=f"plateau (epoch {row.plateau_epoch})")
            ax.set_title(f"{row.arch}: plateau reached")
        else:
            ax.set_title(f"{row.arch}: plateau not reached", color="#b23b3b")
        ax.set_xlabel("source epoch")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    for ax in axes[::2]:
        ax.set_ylabel("source test accuracy\n(1,000 held-out images)")
    fig.suptitle(wrapped(f"Study B source nets — plateau: the mean of the last {window} epochs\ngains less than "
                 f"{tolerance:g} over the {window} before", fig))
    return fig
