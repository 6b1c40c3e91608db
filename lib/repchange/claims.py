"""The claims ledger: each claim of the two papers, the statistic that tests it, a CI and a verdict.

A claim is tested on *units* — seeds for Study A, fine-tuning runs (arch × target × seed) or
architectures for Study B. Each unit gives one value of the claim's statistic (a difference,
a rank correlation, …); the ledger reports their mean with a two-sided t confidence interval
and a verdict computed from it:

- ``holds``: the whole interval lies on the claimed side of the null value;
- ``does not hold``: the whole interval lies on the other side (or at the null);
- ``inconclusive``: the interval contains the null, or fewer than two units were measured.

A claim that the statistic is *not* above its null ("no closer to the pre-trained net than to
a random one") holds when the whole interval is at or below the null and does not hold when
it is above it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np
import pandas as pd
from scipy import stats as sps

from . import analysis_b

__all__ = ["Claim", "LEVEL", "SIMILARITY_TO_SOURCE", "assess", "ledger", "not_measured", "study_a_claims",
           "study_b_claims", "t_interval", "verdict", "fig_ledger"]

LEVEL = 0.95
DIRECTIONS = ("greater", "less", "not greater")
# Study B: how far each target lies from its source (the paper: Fruits-360 is the dissimilar one).
SIMILARITY_TO_SOURCE = {
    "fashion_heldout": "similar", "fashion_coarse": "related", "fashion_inverted": "dissimilar",
    "digits": "dissimilar", "scene15": "similar", "awa2": "similar", "fruits360": "dissimilar",
}


@dataclass(frozen=True)
class Claim:
    """One claim: where the paper makes it, what is computed per unit, and which side of ``null`` it predicts."""

    key: str
    study: str
    figure: str
    claim: str
    statistic: str
    unit: str
    direction: str  # "greater" | "less" | "not greater" (than null)
    null: float = 0.0

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")


def t_interval(values: Iterable[float], level: float = LEVEL) -> tuple[float, float, float, int]:
    """``(mean, low, high, n)`` of the finite ``values``: the two-sided Student-t interval of the mean.

    ``low`` and ``high`` are NaN when fewer than two values are finite (no interval exists).
    """
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return np.nan, np.nan, np.nan, 0
    mean = float(v.mean())
    if n < 2:
        return mean, np.nan, np.nan, 1
    half = float(sps.t.ppf((1 + level) / 2, n - 1) * v.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half, n


def verdict(low: float, high: float, direction: str, null: float = 0.0) -> str:
    """``holds`` / ``does not hold`` / ``inconclusive`` for an interval ``[low, high]`` (see the module doc)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if direction == "greater":
        return "holds" if low > null else "does not hold" if high <= null else "inconclusive"
    if direction == "less":
        return "holds" if high < null else "does not hold" if low >= null else "inconclusive"
    return "holds" if high <= null else "does not hold" if low > null else "inconclusive"


def assess(claim: Claim, values: pd.Series, level: float = LEVEL) -> dict[str, object]:
    """One ledger row: the claim's fields, n, mean, CI and verdict over the per-unit ``values``."""
    mean, low, high, n = t_interval(values, level)
    units = ", ".join(f"{k}: {v:.3f}" for k, v in values.items()) if len(values) <= 12 else f"{len(values)} units"
    return {**asdict(claim), "n": n, "value": mean, "ci_low": low, "ci_high": high,
            "verdict": verdict(low, high, claim.direction, claim.null), "per_unit": units}


def not_measured(claim: Claim, why: str) -> dict[str, object]:
    """A ledger row for a claim this run cannot test (e.g. no shifted-label condition)."""
    return {**asdict(claim), "n": 0, "value": np.nan, "ci_low": np.nan, "ci_high": np.nan,
            "verdict": "not measured", "per_unit": why}


# ----------------------------------------------------------------------------------------------
# Study A: one value per seed. Tables are those of repchange.experiments.study_a.


def _final_cka(table: pd.DataFrame, comparison: str) -> pd.DataFrame:
    rows = table[(table.metric == "cka") & (table.comparison == comparison)]
    return rows[rows.epoch == rows.epoch.max()]


def _by_seed_layer(rows: pd.DataFrame) -> pd.DataFrame:
    """seed × layer (columns in the table's layer order) of the mean value."""
    wide = rows.pivot_table(index="seed", columns="layer", values="value", aggfunc="mean")
    return wide[list(dict.fromkeys(rows.layer))]


def _depth_spearman(wide: pd.DataFrame) -> pd.Series:
    depth = np.arange(wide.shape[1])
    return wide.apply(lambda row: sps.spearmanr(depth, row.to_numpy()).statistic, axis=1)


def study_a_claims(*, pretraining: pd.DataFrame, histories: pd.DataFrame, degrees: pd.DataFrame,
                   sizes: pd.DataFrame, finetuning: pd.DataFrame, num_classes: int = 10,
                   level: float = LEVEL) -> pd.DataFrame:
    """The ledger rows of Study A from the tables of Figures 1 (``cka_to_init``), 2 (``training_histories``),
    3a (``degree_sweep``), 3b (``size_sweep``) and 4–5 (``finetune_sweep``); CKA is the biased estimator
    the paper used, at the last epoch."""
    rows = []
    init = _by_seed_layer(_final_cka(pretraining, "init"))
    first, penultimate, last = init.columns[0], init.columns[-2], init.columns[-1]
    rows.append(assess(Claim(
        "A1-depth", "A", "Fig. 1", "During pre-training, similarity to the initialisation falls with depth.",
        "Spearman ρ of CKA-to-init with layer depth at the last epoch", "seed", "less"), _depth_spearman(init), level=level))
    blocks = init.drop(columns=[last])
    rows.append(assess(Claim(
        "A1-output", "A", "Fig. 1", "The output layer moves furthest from its initialisation.",
        f"lowest CKA-to-init among the blocks − CKA-to-init of {last}", "seed", "greater"),
        blocks.min(axis=1) - init[last], level=level))

    final = histories[histories.epoch == histories.epoch.max()].set_index(["degree", "seed"])
    d_lo, d_hi = min(histories.degree), max(histories.degree)
    rows.append(assess(Claim(
        "A2-accuracy", "A", "Fig. 2", "The more random the labels, the lower the test accuracy.",
        f"test accuracy at d={d_lo} − at d={d_hi}", "seed", "greater"),
        final.loc[d_lo].test_acc - final.loc[d_hi].test_acc, level=level))
    rows.append(assess(Claim(
        "A2-memorise", "A", "Fig. 2", "With random labels the net still fits its training labels (memorisation).",
        f"train accuracy − test accuracy at d={d_hi} (chance: {1 / num_classes:.2f})", "seed", "greater"),
        final.loc[d_hi].train_acc - final.loc[d_hi].test_acc, level=level))

    to_init = _final_cka(degrees, "init")
    lo = _by_seed_layer(to_init[to_init.degree == d_lo])
    hi = _by_seed_layer(to_init[to_init.degree == d_hi])
    extra = lo - hi  # how much further random labels move each layer
    rows.append(assess(Claim(
        "A3-last-layers", "A", "Fig. 3a", "Memorising random labels is carried mainly by the last layers.",
        f"[CKA(d={d_lo}) − CKA(d={d_hi})] of {last} − the same of {first}", "seed", "greater"),
        extra[last] - extra[first], level=level))

    by_size = _final_cka(sizes, "init")
    small, large = min(by_size.train_size), max(by_size.train_size)
    rows.append(assess(Claim(
        "A3-size", "A", "Fig. 3b", "The more randomly labelled images, the further the layers move from their init.",
        f"layer-mean CKA-to-init with {small} − with {large} images", "seed", "greater"),
        _by_seed_layer(by_size[by_size.train_size == small]).mean(axis=1)
        - _by_seed_layer(by_size[by_size.train_size == large]).mean(axis=1), level=level))

    rows += _finetuning_claims(finetuning, first, penultimate, last, level)
    return pd.DataFrame(rows)


def _finetuning_claims(table: pd.DataFrame, first: str, penultimate: str, last: str, level: float) -> list[dict]:
    d_lo, d_hi = min(table.degree), max(table.degree)

    def wide(domain: str, degree: int = 0, shift: int = 0, comparison: str = "pretrained") -> pd.DataFrame:
        rows = _final_cka(table, comparison)
        return _by_seed_layer(rows[(rows.domain == domain) & (rows.degree == degree) & (rows["shift"] == shift)])

    clean, random_ = wide("same", d_lo), wide("same", d_hi)
    cross = wide("cross", d_lo)
    rows = [
        assess(Claim("A4-head", "A", "Fig. 4a", "Fine-tuning (all weights trainable) changes the head most.",
                     f"lowest CKA-to-pre-trained among the blocks − that of {last} (source domain, d={d_lo})",
                     "seed", "greater"), clean.drop(columns=[last]).min(axis=1) - clean[last], level=level),
        assess(Claim("A4-random", "A", "Fig. 4a", "Random labels change the fine-tuned net more than clean labels.",
                     f"layer-mean CKA-to-pre-trained at d={d_lo} − at d={d_hi} (source domain)", "seed", "greater"),
               clean.mean(axis=1) - random_.mean(axis=1), level=level),
        assess(Claim("A4-random-early", "A", "Fig. 4a", "… and the extra change reaches down to the first block.",
                     f"CKA-to-pre-trained of {first} at d={d_lo} − at d={d_hi}", "seed", "greater"),
               clean[first] - random_[first], level=level),
        assess(Claim("A4-penultimate", "A", "Fig. 4b",
                     "Cross-domain fine-tuning changes the penultimate layer more than same-domain fine-tuning.",
                     f"CKA-to-pre-trained of {penultimate}: source domain − cross domain (d={d_lo})",
                     "seed", "greater"), clean[penultimate] - cross[penultimate], level=level),
    ]
    shifts = sorted(s for s in table["shift"].unique() if s > 0)
    new_domain = Claim("A4-domain-vs-task", "A", "Fig. 4c",
                       "A new domain changes the early layers more than a new task on the source domain.",
                       f"CKA-to-pre-trained of {first}: shifted labels − cross domain", "seed", "greater")
    if shifts:
        rows.append(assess(new_domain, wide("same", 0, shifts[0])[first] - cross[first], level=level))
    else:
        rows.append(not_measured(new_domain, "no shifted-label condition in this run"))
    rows.append(assess(Claim(
        "A5-closer", "A", "Fig. 5a", "With clean labels, fine-tuned layers stay closer to the pre-trained net "
        "than to a random net.", f"layer-mean CKA to the pre-trained net − to an independent init (d={d_lo})",
        "seed", "greater"), clean.mean(axis=1) - wide("same", d_lo, comparison="independent_init").mean(axis=1), level=level))
    rows.append(assess(Claim(
        "A5-random-unlearns", "A", "Fig. 5b", "Under random labels the last layer ends up no closer to the "
        "pre-trained net than to a random one.", f"CKA of {last} to the pre-trained net − to an independent init "
        f"(d={d_hi})", "seed", "not greater"),
        random_[last] - wide("same", d_hi, comparison="independent_init")[last], level=level))
    return rows


# ----------------------------------------------------------------------------------------------
# Study B: one value per fine-tuning run (arch, target, seed) or per (arch, seed).


def study_b_claims(dynamics: pd.DataFrame, metric: str = "pwsm_alpha_0", level: float = LEVEL) -> pd.DataFrame:
    """The ledger rows of Study B from :func:`repchange.experiments.study_b.dynamics`' table."""
    rows = []
    per_run = {}
    for seed in sorted(dynamics.seed.unique()):
        trend = analysis_b.depth_trend(dynamics[dynamics.seed == seed])
        for _, r in trend.iterrows():
            per_run.setdefault(r.metric, {})[f"{r.arch}/{r.target}/s{seed}"] = r.spearman
    for name, label in ((metric, analysis_b.METRIC_LABELS[metric]),
                        ("procrustes_filter", analysis_b.METRIC_LABELS["procrustes_filter"])):
        rows.append(assess(Claim(
            f"B-depth ({name})", "B", "Figs. 2–4", "Fine-tuning moves deeper layers further than early ones.",
            f"Spearman ρ of the last checkpoint's distance with layer depth; {label}", "run", "greater"),
            pd.Series(per_run[name]), level=level))

    target_claim = Claim("B-similarity", "B", "Figs. 2–4, Table 2",
                         "Features are reused more on a target like the source and rewritten more on a dissimilar one.",
                         f"layer-mean final distance ({analysis_b.METRIC_LABELS[metric]}): mean over dissimilar "
                         "targets − mean over similar targets", "arch × seed", "greater")
    kinds = {t: SIMILARITY_TO_SOURCE.get(t) for t in dynamics.target.unique()}
    if {"similar", "dissimilar"} <= set(kinds.values()):
        values = {}
        for seed in sorted(dynamics.seed.unique()):
            dist = analysis_b.final_distances(dynamics[dynamics.seed == seed])
            dist = dist[dist.metric == metric].groupby(["arch", "target"])["value"].mean().reset_index()
            dist["kind"] = dist.target.map(kinds)
            for arch, group in dist.groupby("arch", sort=False):
                means = group.groupby("kind")["value"].mean()
                values[f"{arch}/s{seed}"] = means["dissimilar"] - means["similar"]
        rows.append(assess(target_claim, pd.Series(values), level=level))
    else:
        rows.append(not_measured(target_claim, f"needs a similar and a dissimilar target; this run has {kinds}"))

    corr = analysis_b.metric_correlations(dynamics)
    corr = corr[corr.metric == metric]
    rows.append(assess(Claim(
        "B-agreement", "B", "Sec. 4 (r = 0.83)", "The per-filter Procrustes distance and the shape metric agree "
        "strongly.", f"Pearson r of per-filter Procrustes with {analysis_b.METRIC_LABELS[metric]} across (layer, "
        "epoch, class); 0.5 = the conventional threshold of a strong correlation", "run", "greater", 0.5),
        pd.Series(dict(zip(corr.arch + "/" + corr.target, corr.r))), level=level))
    return pd.DataFrame(rows)


def ledger(*parts: pd.DataFrame) -> pd.DataFrame:
    """The ledger rows of both studies in one table, verdict counts in ``frame.attrs["counts"]``."""
    frame = pd.concat(parts, ignore_index=True)
    frame.attrs["counts"] = frame.verdict.value_counts().to_dict()
    return frame


VERDICT_COLOURS = {"holds": "#2a9d55", "does not hold": "#c0392b", "inconclusive": "#8c8c8c"}
DIRECTION_MARKS = {"greater": "claimed > null", "less": "claimed < null", "not greater": "claimed ≤ null"}


def fig_ledger(frame: pd.DataFrame, provenance: str):
    """Forest plot of the ledger: per claim, mean − null with its CI (symmetric-log x axis, so small CKA
    differences and rank correlations share one axis), coloured by verdict; untested claims left out."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from .plots import _caption

    rows = frame[frame.verdict != "not measured"].iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.9))
    for k, (_, r) in enumerate(rows.iterrows()):
        colour = VERDICT_COLOURS[r.verdict]
        if np.isfinite(r.ci_low):
            ax.plot([r.ci_low - r.null, r.ci_high - r.null], [k, k], color=colour, lw=2.2)
        ax.plot(r.value - r.null, k, "o", color=colour, ms=6)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xscale("symlog", linthresh=0.02)
    ax.set_yticks(np.arange(len(rows)), [f"{r.key}  ({DIRECTION_MARKS[r.direction]})" for _, r in rows.iterrows()],
                  fontsize=8)
    ax.set_xlabel("statistic − null: mean over units and t interval (symmetric-log scale)", fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    ax.legend([Line2D([], [], color=c, marker="o", lw=2) for c in VERDICT_COLOURS.values()], list(VERDICT_COLOURS),
              fontsize=8, loc="lower right")
    ax.set_title("Claims ledger — every claim's statistic against its null", fontsize=11)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    _caption(fig, provenance)
    return fig
