"""Do the verdicts depend on the training budget? Study A's pre-training claims read at several budgets.

Pre-training uses a constant learning rate and draws epoch ``e``'s batches from the seed and ``e`` alone,
so a run's net at epoch ``e`` is exactly the net an ``e``-epoch run ends with: one run to ``E`` epochs
holds every budget ``e ≤ E``. The sweep tables measure :func:`repchange.studies.a.tables.ledger_epochs`,
so the ledger's pre-training claims (A1–A3) can be read at each of them
(:func:`repchange.studies.claims.pretraining_claims`); budgets beyond a run's come from a longer run
(another profile), when the store holds it.

:func:`budget_ledger` is the long table (one row per claim × budget); :func:`flips` lists the verdicts
that change from one budget to the next; :func:`fig_budget` draws claim × budget.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from repchange.base.plotting import PAGE_WIDTH_IN, caption, page_figure, panel_grid
from repchange.studies.verdicts import LEVEL
from repchange.studies import claims
from repchange.studies.a.scale import from_record

__all__ = ["budget_ledger", "fig_budget", "fig_fit_curves", "fig_scale", "flip_sentences", "flips"]


def budget_ledger(*, pretraining: pd.DataFrame, histories: pd.DataFrame, degrees: pd.DataFrame,
                  sizes: pd.DataFrame, epochs: Iterable[int], label: str = "", level: float = LEVEL,
                  metric: str = "cka") -> pd.DataFrame:
    """The pre-training claims at each of ``epochs`` (each must be measured by every table), premises applied
    per budget (an A3 claim reads "premise not met" at a budget where A2-train-fit does not hold and some seed
    misses it: :func:`~repchange.studies.claims.apply_premises`).

    Columns: those of the ledger plus ``budget`` (pre-training epochs) and ``run`` (``label``: which runs, e.g.
    "1024 images")."""
    frames = []
    for epoch in sorted({int(e) for e in epochs}):
        rows = pd.DataFrame(claims.pretraining_claims(pretraining=pretraining, histories=histories, degrees=degrees,
                                                      sizes=sizes, epoch=epoch, level=level, metric=metric))
        frames.append(claims.apply_premises(rows).assign(budget=epoch, run=label))
    if not frames:
        raise ValueError("epochs must name at least one budget")
    return pd.concat(frames, ignore_index=True)


def flips(frame: pd.DataFrame) -> pd.DataFrame:
    """Claims whose verdict differs between consecutive measured budgets of :func:`budget_ledger`'s ``frame``
    (a budget at which a claim is "not measured", e.g. A3-size-steps before the last, is skipped).

    Columns: key, from_budget, to_budget, from_verdict, to_verdict, from_value, to_value, from_interval,
    to_interval (``[low, high]`` strings)."""
    out = []
    for key, rows in frame[frame.verdict != "not measured"].sort_values("budget").groupby("key", sort=False):
        rows = rows.reset_index(drop=True)
        for a, b in zip(rows.index[:-1], rows.index[1:]):
            if rows.verdict[a] != rows.verdict[b]:
                out.append(dict(key=key, from_budget=int(rows.budget[a]), to_budget=int(rows.budget[b]),
                                from_verdict=rows.verdict[a], to_verdict=rows.verdict[b],
                                from_value=rows.value[a], to_value=rows.value[b],
                                from_interval=_interval(rows.iloc[a]), to_interval=_interval(rows.iloc[b])))
    columns = ["key", "from_budget", "to_budget", "from_verdict", "to_verdict", "from_value", "to_value",
               "from_interval", "to_interval"]
    return pd.DataFrame(out, columns=columns)


def _interval(row: pd.Series) -> str:
    return f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}]" if np.isfinite(row.ci_low) else "[–]"


def flip_sentences(changes: pd.DataFrame) -> list[str]:
    """One sentence per row of :func:`flips`."""
    return [f"{r.key}: {r.from_verdict} after {r.from_budget} epochs ({r.from_value:+.3f} {r.from_interval}) → "
            f"{r.to_verdict} after {r.to_budget} ({r.to_value:+.3f} {r.to_interval})." for r in changes.itertuples()]


def _verdict_grid(fig, ax, cells: list[list], row_labels: list[str], column_labels: list[str], *,
                  with_interval: bool = False, fontsize: float | None = None) -> None:
    """Draw claim × column cells on ``ax``: ``cells[i][j]`` a ledger row (or None: no cell) coloured by its verdict,
    with its effect in smallest effects of interest ((mean − null) / SESOI, claimed side positive) and, with
    ``with_interval``, the interval beneath; then the labels and one verdict legend below the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    drawn = set()
    for i, row in enumerate(cells):
        for j, r in enumerate(row):
            if r is None:
                continue
            drawn.add(r.verdict)
            ax.add_patch(plt.Rectangle((j - 0.48, i - 0.45), 0.96, 0.9, lw=0, alpha=0.85,
                                       color=claims.VERDICT_COLOURS.get(r.verdict, "#ffffff")))
            if not np.isfinite(r.value):
                continue
            sign = -1.0 if r.direction == "less" else 1.0
            text = f"{sign * (r.value - r.null) / r.sesoi:+.1f}"
            ends = sorted(sign * (x - r.null) / r.sesoi for x in (r.ci_low, r.ci_high))
            if with_interval and np.all(np.isfinite(ends)):
                text += f"\n[{ends[0]:+.1f}, {ends[1]:+.1f}]"
            ax.text(j, i, text, ha="center", va="center", color="white", fontsize=fontsize)
    ax.set_xlim(-0.5, len(column_labels) - 0.5)
    ax.set_ylim(len(row_labels) - 0.5, -0.5)
    ax.set_xticks(range(len(column_labels)), column_labels, fontsize=fontsize)
    ax.set_yticks(range(len(row_labels)), row_labels, fontsize=fontsize)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    present = [v for v in claims.VERDICT_COLOURS if v in drawn]
    fig.legend([Patch(color=claims.VERDICT_COLOURS[v]) for v in present], present,
               loc="outside lower center", ncol=min(len(present), 3), frameon=False)


@page_figure
def fig_budget(frame: pd.DataFrame, provenance: str):
    """Claim × budget: each cell coloured by the verdict at that budget, with the effect in smallest effects
    of interest ((mean − null) / SESOI, claimed side positive) and its interval beneath it."""
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys(frame.key))
    budgets = sorted(frame.budget.unique())
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 0.62 * len(keys) + 2.4), layout="constrained")
    cells = {(key, budget): cell.iloc[0] for (key, budget), cell in frame.groupby(["key", "budget"], sort=False)}
    run = frame.drop_duplicates("budget").set_index("budget").run
    _verdict_grid(fig, ax, [[cells.get((key, budget)) for budget in budgets] for key in keys], keys,
                  [f"{b} epochs" + (f"\n{run[b]}" if run[b] else "") for b in budgets], with_interval=True)
    ax.set_title("Study A's pre-training claims against the training budget\n(cell: effect in SESOI, claimed side "
                 "positive,\nand its interval)")
    caption(fig, provenance)
    return fig


@page_figure
def fig_fit_curves(histories: pd.DataFrame, budgets: Iterable[int], tolerance: float, provenance: str):
    """Left: training accuracy after each epoch in eval mode (``fit_acc``, solid) and the running mean during
    the epoch (``train_acc``, dashed) per label degree, mean over seeds. Right: the gap of the most random
    degree's ``fit_acc`` to the clean labels' per seed, with the A2-train-fit tolerance (−``tolerance``)
    dotted. Grey verticals: the budgets the ledger is read at."""
    import matplotlib.pyplot as plt


    fig, (left, right) = panel_grid(2, panel_height=3.6, max_cols=1, extra_height=0.6)
    degrees = sorted(histories.degree.unique())
    colours = plt.cm.plasma(np.linspace(0.05, 0.85, len(degrees)))
    trained = histories[histories.epoch > 0]
    for colour, degree in zip(colours, degrees):
        rows = trained[trained.degree == degree]
        fit = rows.dropna(subset=["fit_acc"]).groupby("epoch").fit_acc.mean()  # measured at some epochs only
        running = rows.dropna(subset=["train_acc"]).groupby("epoch").train_acc.mean()
        left.plot(fit.index, fit.values, "-o", color=colour, ms=3, label=f"d = {degree}")
        left.plot(running.index, running.values, "--", color=colour, lw=0.9)
    wide = trained.dropna(subset=["fit_acc"]).pivot_table(index=["seed", "epoch"], columns="degree", values="fit_acc")
    gap = (wide[max(degrees)] - wide[min(degrees)]).unstack("seed")
    right.plot(gap.index, gap.values, "-o", color="#555555", lw=0.8, ms=2, alpha=0.7)
    right.plot(gap.index, gap.mean(axis=1), "-o", color="black", lw=2, ms=4, label="mean over seeds")
    right.axhline(-tolerance, color="#2a9d55", ls=":", label=f"A2-train-fit tolerance −{tolerance:g}")
    right.axhline(0, color="black", lw=0.6)
    for ax in (left, right):
        for b in budgets:
            ax.axvline(b, color="grey", lw=0.8, alpha=0.6)
        ax.set_xlabel("pre-training epoch (= training budget)")
        ax.grid(alpha=0.3)
    left.set_ylabel("training accuracy")
    left.set_title("after the epoch, eval mode (solid); running (dashed)")
    right.set_title(f"fit at d = {max(degrees)} − fit at d = {min(degrees)}, per seed")
    left.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    right.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    caption(fig, provenance)
    return fig


@page_figure
def fig_scale(frame: pd.DataFrame, provenance: str):
    """Claim × scale (:func:`repchange.studies.a.scale.scale_axis`'s rows; tallied claims): for each scale, in
    order of SGD steps, one column per BatchNorm mode at extraction; each cell coloured by the verdict, with the
    effect in smallest effects of interest ((mean − null) / SESOI, claimed side positive). Claims not measured at
    any scale are left out. Columns read from the committed record (:func:`repchange.studies.a.scale.from_record`) say ``(rec.)``."""
    import matplotlib.pyplot as plt

    rows = frame[frame.tallied].sort_values("steps", kind="stable")
    keys = list(dict.fromkeys(rows.key[rows.verdict != "not measured"]))  # a claim measured nowhere has no cell
    columns = list(dict.fromkeys(zip(rows.images, rows.epochs, rows.steps, rows.bn, from_record(rows), rows.seeds)))
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 0.3 * len(keys) + 2.6), layout="constrained")
    cells = {(r.key, r.images, r.epochs, r.bn): r for r in rows.itertuples()}
    _verdict_grid(fig, ax, [[cells.get((key, i, e, bn)) for i, e, _, bn, _, _ in columns] for key in keys], keys,
                  [f"{i:,} × {e}{' (rec.)' if rec else ''}\n{s:,} steps\nn = {n}, {bn}"
                   for i, e, s, bn, rec, n in columns], fontsize=9)
    ax.set_title("Study A's claims at more SGD steps (column: images × epochs, steps, n seeds, BatchNorm at "
                 "extraction; (rec.): read from the committed record; cell: effect in SESOI, claimed side positive)")
    caption(fig, provenance)
    return fig
