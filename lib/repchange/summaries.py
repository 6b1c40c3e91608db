"""The numbers and phrases a chapter's prose quotes, computed from its tables.

A chapter calls one function here and glues what it returns, so its notebook holds narrative,
parameters, calls and figures, and the arithmetic behind every quoted number is unit-tested.
Each function returns a :class:`Summary`: ``numbers`` (name -> number, for ``glue_numbers``),
``phrases`` (name -> Markdown fragment, for ``glue_text``) and ``tables`` (small frames the page
shows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import analysis_b
from .metrics import pwsm_key

__all__ = ["Summary", "feature_dynamics"]


@dataclass
class Summary:
    numbers: dict[str, float | int] = field(default_factory=dict)
    phrases: dict[str, str] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def _phrase(items: list[str], empty: str) -> str:
    return ", ".join(items) if items else empty


def feature_dynamics(table: pd.DataFrame, baseline: pd.DataFrame, checkpoints: list[int], *,
                     alpha: float = 0.0, compare_alpha: float = 1.0) -> Summary:
    """Study B's Figs. 2-4 page (b1): depth trend, distance against the independent-net baseline,
    target ranking, early share and dead filters, for PWSM at ``alpha`` and per-filter Procrustes.

    ``baseline`` may be empty (torchvision sources have no twin): its numbers are then left out
    and its phrases say "not measured". ``b1_alpha_rank_agreement`` is the Spearman correlation of
    the final distances at ``alpha`` and ``compare_alpha`` (NaN if the table lacks either)."""
    pw, pf = pwsm_key(alpha), "procrustes_filter"
    first, last = min(e for e in checkpoints if e > 0), max(checkpoints)
    out = Summary()
    trend = analysis_b.depth_trend(table)
    against = analysis_b.versus_baseline(table, baseline) if len(baseline) else None
    if against is not None:
        above = against[(against.metric == pw) & (against.ratio >= 1)]
        out.phrases["b1_above_baseline"] = _phrase(
            [f"{r.arch} {r.layer} on {r.target} ({r.ratio:.2f}×)" for r in above.itertuples()],
            "none: every fine-tuned layer stayed closer to its source than an independent net is")
        below = {m: (against[against.metric == m].ratio < 1).mean() for m in (pw, pf)}
        out.phrases["b1_baseline_sentence"] = (
            f"After the last epoch, {below[pw]:.0%} of the (architecture, target, layer) cases under PWSM "
            f"α = {alpha:g} and {below[pf]:.0%} under per-filter Procrustes are still closer to their source "
            f"than an independently trained source net is (largest ratio of fine-tuning distance to that baseline "
            f"under PWSM α = {alpha:g}: {against[against.metric == pw].ratio.max():.2f}).")
    else:
        out.phrases["b1_above_baseline"] = "not measured"
        out.phrases["b1_baseline_sentence"] = "Not measured: a torchvision source has no independently trained twin here."
    early = analysis_b.early_share(table, by_epoch=first)
    overall = table[table.cls == "all"]
    ranking = analysis_b.target_ranking(table, pw)
    ranking_procrustes = analysis_b.target_ranking(table, pf)
    out.phrases["b1_target_order_pwsm"] = _phrase([f"{t} ({v:.2f})" for t, v in ranking.items()], "none")
    out.phrases["b1_target_order_procrustes"] = _phrase([f"{t} ({v:.3f})" for t, v in ranking_procrustes.items()],
                                                        "none")
    dead = overall[overall.metric == pf].groupby("arch", sort=False)["dead_fraction"].mean()
    out.phrases["b1_dead"] = _phrase([f"{a} {v:.0%}" for a, v in dead.items()], "none")
    out.tables["spearman"] = trend.pivot_table(index=["arch", "target"], columns="metric", values="spearman",
                                               sort=False).round(2)
    final = analysis_b.final_distances(table).pivot_table(index=["arch", "target", "layer"], columns="metric",
                                                          values="value")
    other = pwsm_key(compare_alpha)
    out.numbers = {
        "b1_combos": len(trend),
        "b1_share_deeper_pwsm0": float((trend[trend.metric == pw].deepest_over_first > 1).mean()),
        "b1_share_deeper_procrustes": float((trend[trend.metric == pf].deepest_over_first > 1).mean()),
        "b1_mean_spearman": float(trend.spearman.mean()),
        "b1_strictly_growing": int((trend.spearman > 1 - 1e-9).sum()),
        "b1_early_share_pwsm0": float(early[early.metric == pw].share.mean()),
        "b1_early_share_procrustes": float(early[early.metric == pf].share.mean()),
        "b1_first_epoch": int(first),
        "b1_last_epoch": int(last),
        "b1_max_dead": float(dead.max()),
        "b1_alpha_rank_agreement": float(final[pw].corr(final[other], method="spearman"))
        if {pw, other} <= set(final.columns) else np.nan,
    }
    if against is not None:
        out.numbers.update({
            "b1_below_baseline_pwsm0": float((against[against.metric == pw].ratio < 1).mean()),
            "b1_below_baseline_procrustes": float((against[against.metric == pf].ratio < 1).mean()),
            "b1_max_ratio_pwsm0": float(against[against.metric == pw].ratio.max()),
        })
    return out
