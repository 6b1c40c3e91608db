"""Figures of the "How verdicts are made" page: the verdict rule's calibration on synthetic units."""

from __future__ import annotations

import pandas as pd

from repchange.base.plotting import caption, page_figure, panel_grid

__all__ = ["fig_calibration"]

METHOD_STYLE = {"rule": ("#1b4f72", "-o"), "t, no SESOI": ("#8c8c8c", "--s"), "bootstrap": ("#b9770e", ":^")}
SPREAD_COLOURS = {0.5: "#76b7b2", 1.0: "#1b4f72", 3.0: "#c0392b"}


@page_figure
def fig_calibration(table: pd.DataFrame, nominal: float, provenance: str, n: int = 5):
    """Two panels from :func:`repchange.studies.verdicts.calibration_table` (normal units; skewed ones in the page's
    table), the rate of "holds" against the true effect in smallest effects of interest (δ) at ``n`` units.
    Left: each method, units spread by one δ. Right: the rule, units spread by 0.5, 1 and 3 δ. The dotted lines
    mark an effect of one δ and the nominal one-sided rate ``nominal``: below one δ, "holds" is a false verdict."""

    normal = table[(table.sampler == "normal") & (table.n == n)]
    fig, (left, right) = panel_grid(2, panel_height=3.6, extra_height=0.8, sharey=True)
    for method, rows in normal[normal.spread_sesoi == 1.0].groupby("method", sort=False):
        colour, style = METHOD_STYLE.get(method, ("black", "-"))
        left.plot(rows.effect_sesoi, rows.holds, style, color=colour, label=method, ms=4)
    rule = normal[normal.method == "rule"]
    for spread, rows in rule.groupby("spread_sesoi", sort=True):
        right.plot(rows.effect_sesoi, rows.holds, "-o", color=SPREAD_COLOURS.get(spread, "black"), ms=4,
                   label=f"units spread {spread:g} δ")
    for ax, title in ((left, f"each method, spread 1 δ (n = {n})"), (right, f"the rule, by spread (n = {n})")):
        ax.axvline(1.0, color="black", lw=0.8, ls=":")
        ax.axhline(nominal, color="black", lw=0.8, ls=":")
        ax.set_title(title)
        ax.set_xlabel("true effect (δ)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
    left.set_ylabel("rate of “holds”")
    caption(fig, provenance)
    return fig
