"""Plotting helpers the figures of both studies share: the page's figure size and type, bands, captions.

Every figure of the book is drawn at most :data:`PAGE_WIDTH_IN` wide at :data:`FIGURE_DPI` (700 px natural), so the
book's content column (676 px at a 1280 px window) shows it at about its natural size: the house style's 12 pt labels
and titles then read at about 16 px, the body text's size, and 11 pt tick labels at about 15 px. Strips of more than
two panels wrap into rows (:func:`panel_grid`). :func:`page_figure` applies the style and checks the result.
"""

from __future__ import annotations

import functools
import math
import textwrap
from typing import Callable, TypeVar

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.text import Text

__all__ = ["FIGURE_DPI", "HOUSE_STYLE", "MIN_FONT_PT", "PAGE_WIDTH_IN", "band", "caption", "fit_axis_texts", "legend_below", "legibility_problems",
           "mean_and_sem", "page_figure", "panel_grid", "place_caption", "wrapped"]

PAGE_WIDTH_IN = 7.0
FIGURE_DPI = 100
MIN_FONT_PT = 9.0  # the caption's provenance line; everything a reader needs is 11 pt or more
CAPTION_GID = "repchange-caption"
HOUSE_STYLE = {"figure.dpi": FIGURE_DPI, "savefig.dpi": FIGURE_DPI, "font.size": 12, "axes.titlesize": 12,
               "axes.labelsize": 12, "xtick.labelsize": 11, "ytick.labelsize": 11, "legend.fontsize": 11,
               "legend.title_fontsize": 11, "figure.titlesize": 12}
F = TypeVar("F", bound=Callable[..., Figure])


def panel_grid(n: int, *, panel_height: float, max_cols: int = 2, extra_height: float = 1.0,
               width: float = PAGE_WIDTH_IN, **subplots_kw) -> tuple[Figure, list]:
    """A figure of ``n`` panels, ``max_cols`` to a row and as many rows as needed, ``width`` inches wide and
    ``panel_height`` inches per row (+ ``extra_height`` for title and legend), laid out by matplotlib's constrained
    layout. Returns (figure, the n axes in reading order); axes beyond ``n`` in the last row are removed."""
    cols = max(1, min(n, max_cols))
    rows = math.ceil(n / cols)
    import matplotlib.pyplot as plt

    subplots_kw.setdefault("layout", "constrained")
    fig, axes = plt.subplots(rows, cols, figsize=(width, panel_height * rows + extra_height), squeeze=False,
                             **subplots_kw)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def legend_below(fig: Figure, ax, *, ncol: int = 3, **legend_kw) -> None:
    """One legend for the figure, below its panels (off the data), from the lines labelled on ``ax``, in at most
    ``ncol`` columns and as many as the longest label lets fit the figure's width; the figure must use the
    constrained layout (:func:`panel_grid` does)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        size = mpl.rcParams["legend.fontsize"]
        size = size if isinstance(size, int | float) else 11.0
        fits = int(fig.get_figwidth() * 72 / (0.6 * size * (max(len(label) for label in labels) + 5)))
        fig.legend(handles, labels, loc="outside lower center", ncol=max(1, min(ncol, len(handles), fits)),
                   frameon=False, **legend_kw)


def wrapped(text: str, fig: Figure, size_pt: float = 12.0, share: float = 1.0) -> str:
    """``text`` broken into lines that fit ``share`` of ``fig``'s width at ``size_pt`` (a title, a long provenance
    line; ``share`` < 1 for an axis title beside a legend)."""
    chars = max(20, int(share * fig.get_figwidth() * 72 / (0.62 * size_pt)))  # DejaVu Sans: about 0.6 em a character
    return "\n".join(line for part in text.split("\n") for line in (textwrap.wrap(part, chars) or [""]))


def fit_axis_texts(fig: Figure) -> None:
    """Re-wrap each axes' title and x label that the layout drew wider than its axes into lines that fit it
    (a metric's long name above a narrow panel), so no text runs into the next panel or off the page."""
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        room = ax.get_window_extent(renderer).width
        for text in (ax.title, ax.xaxis.label):
            content = text.get_text()
            width = text.get_window_extent(renderer).width if content else 0.0
            if width > 1.02 * room > 0:
                longest = max(len(line) for line in content.split("\n"))
                chars = max(12, int(longest * room / width) - 1)
                text.set_text("\n".join(textwrap.fill(line, chars) for line in content.split("\n")))


def legibility_problems(fig: Figure) -> list[str]:
    """What keeps ``fig`` from reading on the page: wider than :data:`PAGE_WIDTH_IN` (as drawn, titles and
    legends included), or a text below :data:`MIN_FONT_PT`. Empty when it reads."""
    problems = []
    fig.draw_without_rendering()  # runs the layout engine, as the page's drawing will
    drawn = fig.get_tightbbox(fig.canvas.get_renderer()).width  # inches, what the page's tight crop keeps
    if max(fig.get_figwidth(), drawn) > PAGE_WIDTH_IN + 0.3:
        problems.append(f"{max(fig.get_figwidth(), drawn):.1f} in wide (the page holds {PAGE_WIDTH_IN} in)")
    small = sorted({round(t.get_fontsize(), 1) for t in fig.findobj(Text)
                    if t.get_text().strip() and t.get_visible() and t.get_fontsize() < MIN_FONT_PT})
    if small:
        problems.append(f"text at {small} pt (at least {MIN_FONT_PT} pt)")
    return problems


def page_figure(function: F) -> F:
    """Decorate a figure function: it draws in :data:`HOUSE_STYLE`, its axis titles and x labels wrap to their
    axes (:func:`fit_axis_texts`), and a figure that would still not read on the page (see
    :func:`legibility_problems`) is an error in our code, raised here rather than shipped."""

    @functools.wraps(function)
    def drawn(*args, **kwargs) -> Figure:
        with mpl.rc_context(HOUSE_STYLE):
            fig = function(*args, **kwargs)
            fit_axis_texts(fig)
            place_caption(fig)
        problems = legibility_problems(fig)
        if problems:
            raise RuntimeError(f"{function.__name__} drew a figure that does not read on the page: "
                               + "; ".join(problems))
        return fig

    return drawn  # type: ignore[return-value]


def mean_and_sem(frame: pd.DataFrame, by: list[str], value: str = "value") -> pd.DataFrame:
    """Mean and standard error of ``value`` over the rows of each ``by`` group (over seeds).

    Columns: ``by`` + mean, sem, count. ``sem`` is 0 where a group has a single row.
    """
    grouped = frame.groupby(by, sort=False)[value]
    out = grouped.agg(mean="mean", sem="sem", count="count").reset_index()
    out["sem"] = out["sem"].fillna(0.0)
    return out


def caption(fig: Figure, text: str) -> None:
    """Write ``text`` (provenance, notes) wrapped to the figure's width below ``fig``'s bottom left, in
    :data:`MIN_FONT_PT` (the page states the same in its provenance box, in body text)."""
    fig.text(0.01, 0.0, wrapped(text, fig, MIN_FONT_PT), fontsize=MIN_FONT_PT, color="#333333",
             ha="left", va="top", gid=CAPTION_GID)  # below the figure: the page's tight crop takes it in


def place_caption(fig: Figure) -> None:
    """Move :func:`caption`'s text just below everything else the layout drew (a legend below the panels
    included), so the two never overlap, and freeze the layout there; a figure without a caption is left as
    it is. Call it last, once the figure is drawn."""
    captions = [t for t in fig.texts if t.get_gid() == CAPTION_GID]
    if not captions:
        return
    for t in captions:
        t.set_visible(False)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    # Freeze the layout as drawn and pin each figure legend where the layout put it, in figure coordinates: a
    # figure legend is otherwise anchored to the figure's box, which the page's tight crop (bbox_inches="tight")
    # replaces by one that takes the caption in, and the legend would slide down onto the caption.
    for legend in fig.legends:
        corner = legend.get_window_extent(renderer).transformed(fig.transFigure.inverted())
        legend.set_loc("lower left")
        legend.set_bbox_to_anchor((corner.x0, corner.y0), transform=fig.transFigure)
    fig.set_layout_engine("none")
    bottom = fig.get_tightbbox(renderer).y0 / fig.get_figheight()  # inches -> figure fraction
    for t in captions:
        t.set_visible(True)
        t.set_y(min(0.0, bottom) - 0.01)


def band(ax, x, mean, sem, colour, label=None, style="-", lw=1.8) -> None:
    """Plot ``mean`` over ``x`` with a shaded band of ± ``sem`` on ``ax``."""
    ax.plot(x, mean, style, color=colour, label=label, lw=lw)
    ax.fill_between(x, mean - sem, mean + sem, color=colour, alpha=0.18, lw=0)
