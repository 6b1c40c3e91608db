"""Plotting helpers the figures of both studies share: means with standard-error bands, captions."""

from __future__ import annotations

import textwrap

import pandas as pd
from matplotlib.figure import Figure

__all__ = ["band", "caption", "mean_and_sem"]


def mean_and_sem(frame: pd.DataFrame, by: list[str], value: str = "value") -> pd.DataFrame:
    """Mean and standard error of ``value`` over the rows of each ``by`` group (over seeds).

    Columns: ``by`` + mean, sem, count. ``sem`` is 0 where a group has a single row.
    """
    grouped = frame.groupby(by, sort=False)[value]
    out = grouped.agg(mean="mean", sem="sem", count="count").reset_index()
    out["sem"] = out["sem"].fillna(0.0)
    return out


def caption(fig: Figure, text: str) -> None:
    """Write ``text`` (provenance, notes) wrapped at the bottom left of ``fig``."""
    fig.text(0.01, 0.005, "\n".join(textwrap.wrap(text, 150)), fontsize=7.5, color="#333333",
             ha="left", va="bottom")


def band(ax, x, mean, sem, colour, label=None, style="-", lw=1.8) -> None:
    """Plot ``mean`` over ``x`` with a shaded band of ± ``sem`` on ``ax``."""
    ax.plot(x, mean, style, color=colour, label=label, lw=lw)
    ax.fill_between(x, mean - sem, mean + sem, color=colour, alpha=0.18, lw=0)
