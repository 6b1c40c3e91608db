"""The papers' published numbers beside this book's: tidy comparison tables and one figure.

Every function takes this run's tables (those the chapters compute) and returns rows that put
the paper's value and ours side by side. The papers' numbers come from
:mod:`repchange.studies.paper_numbers`; they are facts from other data and scale, never expectations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from repchange.base.plotting import caption, legend_below, page_figure, panel_grid, wrapped

from repchange.studies import paper_numbers

__all__ = ["fig_study_a_beside", "pattern_agreement", "study_a_beside", "study_b_accuracy_beside",
           "study_b_reusability_beside"]

_CONDITIONS = (  # (paper condition, table, comparison, domain, labels)
    ("pre-training, d=0: CKA to the init", "pretraining", "init", None, None),
    ("fine-tuning, same domain, clean: CKA to the pre-trained net", "finetuning", "pretrained", "same", "clean"),
    ("fine-tuning, cross domain, clean: CKA to the pre-trained net", "finetuning", "pretrained", "cross", "clean"),
)


def study_a_beside(pretraining: pd.DataFrame, finetuning: pd.DataFrame) -> pd.DataFrame:
    """Per published condition and layer: ``paper`` and ``ours`` (last-epoch biased CKA, mean over seeds)."""
    tables = {"pretraining": pretraining, "finetuning": finetuning}
    paper = paper_numbers.study_a_table()
    rows = []
    for condition, name, comparison, domain, labels in _CONDITIONS:
        t = tables[name]
        t = t[(t.metric == "cka") & (t.comparison == comparison)]
        if domain is not None:
            t = t[(t.domain == domain) & (t.labels == labels)]
        ours = t[t.epoch == t.epoch.max()].groupby("layer", sort=False)["value"].mean()
        for _, p in paper[paper.condition == condition].iterrows():
            rows.append(dict(condition=condition, layer=p.layer, paper=p.value, ours=ours.get(p.layer, np.nan)))
    return pd.DataFrame(rows)


def pattern_agreement(beside: pd.DataFrame, by: str = "condition") -> pd.DataFrame:
    """Per group: Spearman ρ between the paper's and our values across layers (1 = the same ordering of
    layers), and whether each falls monotonically from the first layer to the last block."""
    rows = []
    for key, g in beside.groupby(by, sort=False):
        blocks = g[g.layer != "logits"]
        rows.append({by: key, "rank_agreement": g["paper"].corr(g["ours"], method="spearman"),
                     "paper_falls_over_blocks": bool(np.all(np.diff(blocks["paper"]) < 0)),
                     "ours_falls_over_blocks": bool(np.all(np.diff(blocks["ours"]) < 0))})
    return pd.DataFrame(rows)


def study_b_accuracy_beside(accuracy: pd.DataFrame) -> pd.DataFrame:
    """Table 1: per paper net and target kind, the paper's mean test accuracy and ours (small net, our targets)."""
    paper = paper_numbers.study_b_accuracy()
    paper["kind"] = paper.target.map(paper_numbers.KIND_OF_PAPER_TARGET)
    ours = accuracy.assign(arch=accuracy.arch.map(paper_numbers.ARCH_OF_PAPER).fillna(accuracy.arch),
                           kind=accuracy.target.map(_kind))
    return _beside(paper, ours, "test_acc")


def study_b_reusability_beside(reuse: pd.DataFrame, metric: str = "pwsm_alpha_0") -> pd.DataFrame:
    """Table 2: per paper net and target kind (similar / dissimilar to the source), the paper's mean
    reusability and ours (``metric``), and the dissimilar-minus-similar gap of each."""
    paper = paper_numbers.study_b_reusability()
    ours = reuse[reuse.metric == metric]
    ours = ours.assign(arch=ours.arch.map(paper_numbers.ARCH_OF_PAPER).fillna(ours.arch), kind=ours.target.map(_kind))
    return _beside(paper, ours, "mean")


def _kind(target: str) -> str:
    from repchange.studies.claims import SIMILARITY_TO_SOURCE

    return SIMILARITY_TO_SOURCE.get(target, "other")


def _beside(paper: pd.DataFrame, ours: pd.DataFrame, column: str) -> pd.DataFrame:
    p = paper.groupby(["arch", "kind"])[column].mean().rename("paper")
    o = ours[ours.kind.isin(["similar", "dissimilar"])].groupby(["arch", "kind"])[column].mean().rename("ours")
    return pd.concat([p, o], axis=1).reset_index()


@page_figure
def fig_study_a_beside(beside: pd.DataFrame, provenance: str) -> Figure:
    """One panel per published condition: the paper's CKA per layer and ours."""
    conditions = list(dict.fromkeys(beside.condition))
    fig, axes = panel_grid(len(conditions), panel_height=3.0, extra_height=1.2, sharey=True)
    for ax, condition in zip(axes, conditions):
        g = beside[beside.condition == condition]
        x = np.arange(len(g))
        ax.plot(x, g["paper"], "o-", color="#c0392b", label="the authors' results export (CIFAR-10, 150 epochs)")
        ax.plot(x, g["ours"], "s--", color="black", label="this run")
        ax.set_xticks(x, g["layer"], rotation=30)
        ax.set_title(condition.replace(": ", ":\n"))
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    for ax in axes[::2]:
        ax.set_ylabel("last-epoch CKA (biased)")
    legend_below(fig, axes[0], ncol=1)
    fig.suptitle(wrapped("Study A — the authors' results export beside this run\n(different data and scale)", fig))
    caption(fig, provenance)
    return fig
