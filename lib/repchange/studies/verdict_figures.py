"""Figures of the "How verdicts are made" page: the verdict rule's calibration on synthetic units."""

from __future__ import annotations

import pandas as pd

from repchange.core.plotting import caption

__all__ = ["fig_calibration"]

METHOD_STYLE = {"rule": ("#1b4f72", "-o"), "t, no SESOI": ("#8c8c8c", "--s"), "bootstrap": ("#b9770e", ":^")}


def fig_calibration(table: pd.DataFrame, nominal: float, provenance: str):
    """Three panels from :func:`repchange.core.verdicts.calibration_table` (normal units; skewed ones in
    the page's table): the rate of a false "holds" under no effect (dotted line: the nominal one-sided
    rate ``nominal``), and the rate of "holds" at one and at two smallest effects of interest, against
    the number of units n, one line per method."""
    import matplotlib.pyplot as plt

    normal = table[table.sampler == "normal"]
    effects = [(0.0, "no effect: false “holds”"), (1.0, "effect = 1 SESOI: “holds”"),
               (2.0, "effect = 2 SESOI: “holds”")]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.3))
    for ax, (effect, title) in zip(axes, effects):
        for method, rows in normal[normal.effect_sesoi == effect].groupby("method", sort=False):
            colour, style = METHOD_STYLE.get(method, ("black", "-"))
            ax.plot(rows.n, rows.holds, style, color=colour, label=method, ms=4)
        if effect == 0.0:
            ax.axhline(nominal, color="black", lw=0.8, ls=":")
            ax.set_ylim(0, max(0.05, 1.3 * normal[normal.effect_sesoi == 0].holds.max()))
        else:
            ax.set_ylim(0, 1.02)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("independent units n", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("rate over simulated claims", fontsize=8)
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    caption(fig, provenance)
    return fig
