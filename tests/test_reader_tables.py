"""Tables and figures for readers: numbers as decimals, missing values as "—", figures at the page's width."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from repchange.book.reader_tables import MISSING, for_readers, number, wrappable
from repchange.base import plotting


@pytest.mark.parametrize("value, decimals, text", [
    (1.0, 3, "1.000"), (2.580957e-08, 3, "<0.001"), (-2.5e-08, 3, "−<0.001"), (0.0, 3, "0.000"),
    (1e-3, 3, "0.001"), (1234.5678, 1, "1234.6"), (-0.25, 2, "−0.25"), (float("nan"), 3, MISSING), (None, 3, MISSING),
    (np.float32(0.5), 2, "0.50"), (7, 3, "7"), (123456, 3, "123,456"), (float("inf"), 3, "∞"), ("holds", 3, "holds"),
])
def test_a_number_reads_as_a_decimal_and_a_missing_value_as_a_dash(value, decimals, text) -> None:
    assert number(value, decimals) == text
    assert "e-" not in number(value, decimals) and "e+" not in number(value, decimals)


def test_identifiers_may_wrap_after_underscores_only() -> None:
    assert wrappable("fashion_new_classes") == "fashion_<wbr>new_<wbr>classes"
    assert wrappable("holds") == "holds" and wrappable(3) == 3


def test_the_page_table_shows_the_chosen_columns_rounded_without_nan_or_scientific_notation() -> None:
    frame = pd.DataFrame({"layer": ["block1", "block2"], "value": [1.0, 2.580957e-08], "null_high": [0.123456, np.nan],
                          "note": ["", "x"], "p_value": [0.04, np.nan]})
    html = for_readers(frame, {"layer": "layer", "value": "CKA", "null_high": "null's 97.5 %", "p_value": "p"},
                       decimals={"p_value": 2}).to_html()
    assert "NaN" not in html and "nan" not in html and "e-08" not in html and "e+00" not in html
    assert html.count(MISSING) == 2 and "1.000" in html and "&lt;0.001" in html or "<0.001" in html
    assert "0.123" in html and "0.04" in html and ">note<" not in html  # the unchosen column is left out
    assert "null's 97.5 %" in html and "p_value" not in html
    assert for_readers(frame, ["layer", "value"]).to_html() == for_readers(frame, ["layer", "value"]).to_html()


def test_a_pivot_table_keeps_its_index_and_joins_its_two_header_levels() -> None:
    long = pd.DataFrame({"layer": ["b1", "b1", "b2", "b2"], "condition": ["x_y", "z", "x_y", "z"],
                         "paper": [0.9, 0.8, 0.7, np.nan], "ours": [0.91, 0.81, 0.71, 0.61]})
    wide = long.pivot_table(index="layer", columns="condition", values=["paper", "ours"], sort=False)
    html = for_readers(wide).to_html()
    assert "paper · x y" in html and ">b1<" in html  # joined headers in words, the index shown as the first column
    assert "NaN" not in html
    with pytest.raises(KeyError, match="not in the table"):
        for_readers(long, ["layer", "nowhere"])


def test_a_figure_of_many_panels_wraps_into_rows_at_the_page_width() -> None:
    fig, axes = plotting.panel_grid(5, panel_height=2.0)
    assert len(axes) == 5 and len(fig.axes) == 5  # the sixth cell of the 3 x 2 grid is removed
    assert fig.get_figwidth() == plotting.PAGE_WIDTH_IN and fig.get_figheight() == pytest.approx(3 * 2.0 + 1.0)
    plt.close(fig)


def test_page_figure_draws_in_the_house_style_and_refuses_an_unreadable_figure() -> None:
    @plotting.page_figure
    def readable():
        fig, axes = plotting.panel_grid(2, panel_height=3.0)
        axes[0].set_title("a title")
        axes[0].plot([0, 1], label="line")
        plotting.legend_below(fig, axes[0])
        return fig

    fig = readable()
    assert fig.axes[0].title.get_fontsize() == plotting.HOUSE_STYLE["axes.titlesize"]
    assert fig.legends and not plotting.legibility_problems(fig)
    plt.close(fig)

    @plotting.page_figure
    def strip():
        fig, axes = plt.subplots(1, 4, figsize=(16, 3))
        axes[0].set_title("tiny", fontsize=6)
        return fig

    with pytest.raises(RuntimeError, match=r"strip drew a figure that does not read on the page: 16.0 in wide .*"
                                           r"text at \[6.0\] pt"):
        strip()


def test_a_panel_title_wider_than_its_panel_wraps_to_fit_it() -> None:
    import matplotlib as mpl

    with mpl.rc_context(plotting.HOUSE_STYLE):
        fig, axes = plotting.panel_grid(2, panel_height=3.0)
        axes[1].set_title("PWSM α=1 (angular Procrustes, no whitening) between every layer and its source")
        axes[0].set_title("short")
        plotting.fit_axis_texts(fig)
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    assert axes[0].get_title() == "short"
    assert "\n" in axes[1].get_title()
    assert axes[1].title.get_window_extent(renderer).width <= 1.02 * axes[1].get_window_extent(renderer).width
    assert not plotting.legibility_problems(fig)
    plt.close(fig)


def test_the_caption_sits_below_the_legend_in_the_pages_tight_crop(tmp_path) -> None:
    """A legend below the panels and the provenance caption beneath it: drawn as the page saves a figure
    (bbox_inches="tight", which replaces the figure's box by one that takes the caption in), the caption stays
    clear of the legend -- measured in the save's own draw."""

    @plotting.page_figure
    def drawn():
        fig, axes = plotting.panel_grid(2, panel_height=2.5)
        for k in range(7):
            axes[0].plot([0, 1], [k, k + 1], label=f"line {k}")
        plotting.legend_below(fig, axes[0], ncol=3)
        plotting.caption(fig, "data: x · profile: smoke · seeds: [1, 2, 3] · " * 4)
        return fig

    fig = drawn()
    caption = next(t for t in fig.texts if t.get_gid() == plotting.CAPTION_GID)
    seen = []
    fig.canvas.mpl_connect("draw_event", lambda event: seen.append(
        (fig.legends[0].get_window_extent(event.renderer), caption.get_window_extent(event.renderer))))
    fig.savefig(tmp_path / "f.png", bbox_inches="tight")
    legend, text = seen[-1]
    assert text.y1 < legend.y0  # the caption's top below the legend's bottom
    plt.close(fig)
