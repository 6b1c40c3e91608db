"""The papers' figures, one function each, drawn from tidy result tables."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["fig1_cka_to_init", "mean_and_sem"]

LAYER_COLOURS = {"block1": "#1b9e77", "block2": "#d95f02", "block3": "#7570b3", "block4": "#e7298a",
                 "logits": "#444444"}


def mean_and_sem(frame: pd.DataFrame, by: list[str], value: str = "value") -> pd.DataFrame:
    """Mean and standard error of ``value`` over the rows of each ``by`` group (over seeds).

    Columns: ``by`` + mean, sem, n. ``sem`` is 0 where a group has a single row.
    """
    grouped = frame.groupby(by, sort=False)[value]
    out = grouped.agg(mean="mean", sem="sem", n="count").reset_index()
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
    for ax, (metric, title) in zip(axes, [("cka", "linear CKA (biased, as in the paper)"),
                                           ("cka_debiased", "linear CKA (debiased)")]):
        subset = table[table.metric == metric]
        stats = mean_and_sem(subset, ["layer", "comparison", "epoch"])
        for layer in subset.layer.unique():
            colour = LAYER_COLOURS.get(layer)
            for comparison, style in (("init", "-"), ("independent_init", "--")):
                s = stats[(stats.layer == layer) & (stats.comparison == comparison)].sort_values("epoch")
                label = layer if comparison == "init" else None
                ax.plot(s.epoch, s["mean"], style, color=colour, label=label, lw=1.8 if style == "-" else 1.1)
                ax.fill_between(s.epoch, s["mean"] - s["sem"], s["mean"] + s["sem"], color=colour, alpha=0.18,
                                lw=0)
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
