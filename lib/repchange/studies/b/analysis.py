"""Summaries of Study B's dynamics table (:func:`repchange.studies.b.tables.dynamics`).

Every function takes the tidy table (columns arch, target, seed, layer, epoch, cls, metric,
alpha (PWSM's α; NaN for per-filter Procrustes), value, dead_fraction, train_acc, test_acc) and returns a small DataFrame for a figure, a table
or a glued number. Distances are to the source net (epoch 0), so 0 means unchanged; epoch 0 is
left out wherever it would only add the trivial point (0, 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from repchange.measure.metrics import pwsm_key
from repchange.studies.paper_numbers import STUDY_B_AGREEMENT

__all__ = ["FILTER_PROCRUSTES_LABEL", "PAPER_AGREEMENT", "metric_labels", "metric_order", "pwsm_label", "accuracy_table", "AUTHORS_PAIRING", "PAPER_PAIRING", "agreement_summary", "pairing_label", "depth_trend", "early_share",
           "final_distances", "layer_order",
           "metric_correlations", "reusability", "reusability_vs_baseline", "target_ranking", "versus_baseline"]

FILTER_PROCRUSTES_LABEL = "per-filter orthogonal Procrustes distance"


def pwsm_label(alpha: float) -> str:
    """How a figure or the ledger names PWSM at ``alpha``."""
    what = {0.0: "full whitening; the authors' code", 1.0: "angular Procrustes, no whitening"}.get(
        float(alpha), "partial whitening")
    return f"PWSM α={alpha:g} ({what})"


def metric_labels(table: pd.DataFrame) -> dict[str, str]:
    """``{metric: label}`` for every metric of a dynamics table, PWSM labels made from its ``alpha`` column."""
    pairs = table[["metric", "alpha"]].drop_duplicates("metric")
    return {m: (pwsm_label(a) if pd.notna(a) else FILTER_PROCRUSTES_LABEL if m == "procrustes_filter" else m)
            for m, a in zip(pairs.metric, pairs.alpha)}


def metric_order(table: pd.DataFrame) -> list[str]:
    """The table's metrics: PWSM by increasing alpha (read from the ``alpha`` column), then the others."""
    pairs = table[["metric", "alpha"]].drop_duplicates("metric")
    pwsm = pairs[pairs.alpha.notna()].sort_values("alpha").metric.tolist()
    return pwsm + [m for m in pairs.metric if m not in pwsm]


def _require(table: pd.DataFrame, columns: set[str]) -> None:
    missing = columns - set(table.columns)
    if missing:
        raise ValueError(f"table lacks columns {sorted(missing)}; pass the table of repchange.studies.b.tables.dynamics()")


def layer_order(table: pd.DataFrame, arch: str) -> list[str]:
    """The probed layers of ``arch`` from input to output (the order the table was written in)."""
    layers = list(table.loc[table.arch == arch, "layer"].unique())
    if not layers:
        raise ValueError(f"no rows for architecture {arch!r}; the table has {sorted(table.arch.unique())}")
    return layers


def _overall(table: pd.DataFrame) -> pd.DataFrame:
    _require(table, {"arch", "target", "seed", "layer", "epoch", "cls", "metric", "alpha", "value"})
    return table[table.cls == "all"]


def final_distances(table: pd.DataFrame) -> pd.DataFrame:
    """Distance at the last checkpoint: arch, target, metric, layer, depth (0 = first probed layer), value
    (mean over seeds)."""
    rows = _overall(table)
    rows = rows[rows.epoch == rows.epoch.max()]
    out = rows.groupby(["arch", "target", "metric", "alpha", "layer"], sort=False, dropna=False)["value"].mean() \
        .reset_index()
    out["depth"] = [layer_order(table, a).index(layer) for a, layer in zip(out.arch, out.layer)]
    return out


def depth_trend(table: pd.DataFrame) -> pd.DataFrame:
    """Does the last checkpoint's distance grow with depth? Per arch, target, metric:
    ``spearman`` (rank correlation of distance with depth, 1 = strictly growing),
    ``deepest_over_first`` (distance of the deepest probed layer / of the first)."""
    final = final_distances(table)
    rows = []
    for (arch, target, metric), group in final.groupby(["arch", "target", "metric"], sort=False):
        group = group.sort_values("depth")
        rho = group["depth"].corr(group["value"], method="spearman") if len(group) > 1 else np.nan
        first, deepest = group["value"].iloc[0], group["value"].iloc[-1]
        rows.append(dict(arch=arch, target=target, metric=metric, spearman=rho,
                         deepest_over_first=deepest / first if first > 0 else np.inf))
    return pd.DataFrame(rows)


def early_share(table: pd.DataFrame, by_epoch: int = 1) -> pd.DataFrame:
    """Share of the last checkpoint's distance already reached at ``by_epoch``, per arch, target, metric,
    layer (mean over seeds). 1 = all change happened by then."""
    rows = _overall(table)
    if by_epoch not in set(rows.epoch):
        raise ValueError(f"epoch {by_epoch} is not a checkpoint; the table has {sorted(rows.epoch.unique())}")
    wide = rows.pivot_table(index=["arch", "target", "metric", "layer"], columns="epoch", values="value",
                            aggfunc="mean", sort=False)
    last = wide.columns.max()
    return (wide[by_epoch] / wide[last]).rename("share").reset_index()


def layer_averaged(table: pd.DataFrame) -> pd.DataFrame:
    """Distance averaged over the probed layers: arch, target, seed, metric, epoch, value."""
    rows = _overall(table)
    return rows.groupby(["arch", "target", "seed", "metric", "alpha", "epoch"], sort=False, dropna=False)["value"] \
        .mean().reset_index()


def target_ranking(table: pd.DataFrame, metric: str) -> pd.Series:
    """Layer-averaged distance at the last checkpoint per target (mean over archs and seeds), largest first."""
    averaged = layer_averaged(table)
    averaged = averaged[(averaged.metric == metric) & (averaged.epoch == averaged.epoch.max())]
    if averaged.empty:
        raise ValueError(f"no rows for metric {metric!r}; the table has {sorted(table.metric.unique())}")
    return averaged.groupby("target")["value"].mean().sort_values(ascending=False)


def reusability(table: pd.DataFrame) -> pd.DataFrame:
    """Table 2: mean and std over the fine-tuning checkpoints (epoch > 0) of the layer-averaged distance,
    per arch, target, metric (seeds pooled). Lower = the source features were reused more."""
    averaged = layer_averaged(table)
    averaged = averaged[averaged.epoch > 0]
    out = averaged.groupby(["arch", "target", "metric", "alpha"], sort=False, dropna=False)["value"].agg(
        mean="mean", std="std")
    return out.reset_index()


def accuracy_table(table: pd.DataFrame) -> pd.DataFrame:
    """Table 1: train and test accuracy at the last checkpoint per arch and target (mean over seeds)."""
    _require(table, {"train_acc", "test_acc"})
    last = table[table.epoch == table.epoch.max()]
    per_run = last.groupby(["arch", "target", "seed"], sort=False)[["train_acc", "test_acc"]].first()
    return per_run.groupby(["arch", "target"], sort=False).mean().reset_index()


def metric_correlations(table: pd.DataFrame, reference: str = "procrustes_filter") -> pd.DataFrame:
    """The *pooled* view (not the paper's statistic, see :func:`agreement_summary`): Pearson r between
    ``reference`` and every other metric across the (layer, epoch > 0, class) points of each arch and
    target (classes only: the ``all`` rows would count every point twice). The depth and epoch
    trends both metrics share inflate it.

    Columns: arch, target, metric, r, n (points with both values finite; NaN per-class PWSM drops out).
    """
    _require(table, {"arch", "target", "seed", "layer", "epoch", "cls", "metric", "value"})
    rows = table[(table.cls != "all") & (table.epoch > 0)]
    wide = rows.pivot_table(index=["arch", "target", "seed", "layer", "epoch", "cls"], columns="metric",
                            values="value", sort=False)
    if reference not in wide.columns:
        raise ValueError(f"no metric {reference!r} in the table; it has {list(wide.columns)}")
    out = []
    for (arch, target), group in wide.groupby(level=["arch", "target"], sort=False):
        for metric in wide.columns.drop(reference):
            pair = group[[reference, metric]].dropna()
            r = pair[reference].corr(pair[metric]) if len(pair) > 2 else np.nan
            out.append(dict(arch=arch, target=target, metric=metric, r=r, n=len(pair)))
    return pd.DataFrame(out)


def versus_baseline(table: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """The last checkpoint's distance against the independent-source baseline
    (:func:`repchange.studies.b.tables.baseline`), per arch, target, metric, layer (means over
    seeds): columns ``final``, ``baseline``, ``ratio`` = final / baseline (< 1: the fine-tuned layer
    is still closer to its source than an independently trained net of the same kind is)."""
    _require(baseline, {"arch", "target", "seed", "layer", "metric", "value"})
    final = final_distances(table).rename(columns={"value": "final"})
    reference = baseline.groupby(["arch", "target", "metric", "layer"], sort=False)["value"].mean()
    out = final.join(reference.rename("baseline"), on=["arch", "target", "metric", "layer"], how="inner")
    if out.empty:
        raise ValueError("the baseline shares no (arch, target, metric, layer) with the table; compute both "
                         "from the same DynamicsParams")
    out["ratio"] = out["final"] / out["baseline"]
    return out.reset_index(drop=True)


def reusability_vs_baseline(table: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Table 2 in units of the independent-net distance: per arch, target, metric, ``mean`` (the
    reusability of :func:`reusability`), ``baseline`` (the layer-averaged distance between the source
    net and its independently trained twin) and ``ratio`` = mean / baseline (1 = on average the
    fine-tuned layers moved as far from the source as a different net of the same kind is)."""
    _require(baseline, {"arch", "target", "seed", "layer", "metric", "value"})
    reuse = reusability(table)
    reference = baseline.groupby(["arch", "target", "metric"], sort=False)["value"].mean().rename("baseline")
    out = reuse.join(reference, on=["arch", "target", "metric"], how="inner")
    if out.empty:
        raise ValueError("the baseline shares no (arch, target, metric) with the table; compute both from the "
                         "same DynamicsParams")
    out["ratio"] = out["mean"] / out["baseline"]
    return out.reset_index(drop=True)


PAPER_AGREEMENT = STUDY_B_AGREEMENT  # the paper (Sec. 4): mean Pearson r 0.83, standard deviation 0.43


PAPER_PAIRING = pwsm_key(0.5)  # the paper's text: per-filter PWSM (at its "partial" whitening) vs Procrustes
AUTHORS_PAIRING = "cka"  # the authors' code: per-filter CKA against the per-filter Procrustes distance


def pairing_label(pairing: str) -> str:
    """``per-filter PWSM α=0.5 vs per-filter Procrustes`` for a pairing name of the agreement table."""
    other = "per-filter CKA" if pairing == AUTHORS_PAIRING else f"per-filter PWSM α={pairing.split('_')[-1]}"
    return f"{other} vs per-filter Procrustes"


def agreement_summary(agreement: pd.DataFrame, pairing: str) -> pd.DataFrame:
    """Mean, standard deviation and count of the per-(layer, epoch, class) Pearson r's of one ``pairing`` of
    :func:`repchange.studies.b.tables.filter_agreement`, per arch and target (seeds pooled) and, in
    the last row (arch ``all``), over every r -- the statistic the paper reports as 0.83 ± 0.43."""
    _require(agreement, {"arch", "target", "seed", "layer", "epoch", "cls", "pairing", "r"})
    if pairing not in set(agreement.pairing):
        raise ValueError(f"the agreement table has no pairing {pairing!r}; it has {sorted(set(agreement.pairing))}")
    finite = agreement[agreement.pairing == pairing].dropna(subset=["r"])
    per_run = finite.groupby(["arch", "target"], sort=False)["r"].agg(mean="mean", std="std", n="count").reset_index()
    overall = pd.DataFrame([dict(arch="all", target="all", mean=finite.r.mean(), std=finite.r.std(), n=len(finite))])
    return pd.concat([per_run, overall], ignore_index=True).assign(pairing=pairing)