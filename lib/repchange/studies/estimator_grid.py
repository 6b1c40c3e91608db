"""Do the verdicts depend on the measure? Every claim of the ledger re-read under other estimators.

:func:`grid` sets the verdicts of one study's claims under several estimators side by side (claim ×
estimator); :func:`agreement` counts, for each ledger row, how many estimators give its verdict;
:func:`fig_grid` draws the grid. The tables come from :mod:`repchange.studies.a.estimators` (Study A:
biased / debiased CKA, angular Procrustes, mutual k-NN; BatchNorm batch or eval mode at extraction)
and Study B's dynamics table (PWSM at each α, per-filter Procrustes).
"""

from __future__ import annotations

import re
from typing import Iterable

import numpy as np
import pandas as pd

from repchange.measure.features import BN_MODES
from repchange.base.plotting import PAGE_WIDTH_IN, caption, page_figure, wrapped
from repchange.runs.runtime import Runtime
from repchange.studies.verdicts import LEVEL
from repchange.studies import claims
from repchange.studies.a import estimators
from repchange.studies.a.tables import CkaToInitParams, DegreeSweepParams, FinetuneSweepParams, SizeSweepParams
from repchange.studies.b import analysis

__all__ = ["agreement", "fig_grid", "generic_key", "grid", "study_a_grid", "study_b_grid"]

_METRIC_SUFFIX = re.compile(r"^(?P<claim>.+) \((?P<metric>pwsm_alpha_[0-9.]+|procrustes_filter)\)$")


def generic_key(key: str) -> tuple[str, str | None]:
    """``("B-depth", "pwsm_alpha_0")`` for ``"B-depth (pwsm_alpha_0)"``; ``(key, None)`` for a key without
    a metric suffix (``"A5b-random-unlearns (block4)"`` keeps its layer)."""
    match = _METRIC_SUFFIX.match(key)
    return (match["claim"], match["metric"]) if match else (key, None)


def grid(parts: dict[str, pd.DataFrame], metrics: dict[str, str] | None = None) -> pd.DataFrame:
    """Claim × estimator verdicts. ``parts``: estimator label → that estimator's ledger rows (the output of
    :func:`repchange.studies.claims.ledger`); ``metrics``: estimator label → the metric name a claim key's
    suffix must carry to count for it (Study B's per-metric rows), None for Study A. Index: the generic
    claim key (metric suffix removed), in ledger order; one column per estimator. A claim whose statistic reads
    no estimator (``estimator_free``: accuracy, loss, a fixed pairing of per-filter distances) has no cells (NaN,
    drawn "–"): its verdicts would agree by construction."""
    metrics = metrics or {}
    columns = {}
    for label, frame in parts.items():
        keep = {}
        free = frame.estimator_free if "estimator_free" in frame else pd.Series(False, index=frame.index)
        for key, verdict, skip in zip(frame.key, frame.verdict, free):
            claim, metric = generic_key(key)
            if skip:
                keep.setdefault(claim, np.nan)
            elif metric is None or metric == metrics.get(label):
                keep[claim] = verdict
        columns[label] = pd.Series(keep, dtype=object)
    out = pd.DataFrame(columns)
    order = list(dict.fromkeys(generic_key(k)[0] for frame in parts.values() for k in frame.key))
    return out.loc[[k for k in order if k in out.index]]


def study_a_grid(pretraining: CkaToInitParams, degrees: DegreeSweepParams, sizes: SizeSweepParams,
                 finetuning: FinetuneSweepParams, histories: pd.DataFrame, runtime: Runtime | None = None,
                 level: float = LEVEL, **steps: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Study A's grid over :data:`~repchange.studies.a.estimators.ESTIMATORS` × BatchNorm modes (columns
    ``"<metric> · BN <mode>"``) and each estimator's chance level per layer (columns bn, metric, layer,
    value), from :func:`repchange.studies.a.estimators.estimator_tables` of the chapters' parameters; ``steps``:
    :func:`repchange.studies.claims.study_a_steps` (the runs' SGD steps, for the equal-steps readings)."""
    parts, chance = {}, []
    for bn in BN_MODES:
        tables = estimators.estimator_tables(pretraining, degrees, sizes, finetuning, bn, runtime)
        chance.append(estimators.chance_levels(tables["pretraining"]).assign(bn=bn))
        for metric in estimators.ESTIMATORS:
            part = claims.study_a_claims(histories=histories, level=level, metric=metric, **tables, **steps)
            parts[f"{metric} · BN {bn}"] = claims.ledger(part, level=level)
    return grid(parts), pd.concat(chance, ignore_index=True)


def study_b_grid(dynamics: pd.DataFrame, agreement_table: pd.DataFrame | None, alphas: Iterable[float],
                 level: float = LEVEL, agreement_unrelated: pd.DataFrame | None = None,
                 baseline: pd.DataFrame | None = None) -> pd.DataFrame:
    """Study B's grid: the claims under PWSM at each of ``alphas`` and under the per-filter Procrustes
    distance (columns: the metrics' labels); ``agreement_unrelated``: the twins' agreement on unrelated filter
    pairs, shown beside the B-agreement rows (:func:`repchange.studies.b.tables.filter_agreement_chance`);
    ``baseline``: the twin's distance per layer, the magnitude rows' reference
    (:func:`repchange.studies.b.tables.baseline`)."""
    parts, metric_of = {}, {}
    for alpha in alphas:
        label = analysis.pwsm_label(alpha)
        parts[label] = claims.ledger(claims.study_b_claims(dynamics, agreement_table, alpha=alpha, level=level,
                                                           agreement_unrelated=agreement_unrelated,
                                                           baseline=baseline), level=level)
        metric_of[label] = f"pwsm_alpha_{alpha:g}"
    label = analysis.FILTER_PROCRUSTES_LABEL
    parts[label] = claims.ledger(claims.study_b_claims(dynamics, agreement_table, level=level,
                                                       metric="procrustes_filter",
                                                       agreement_unrelated=agreement_unrelated, baseline=baseline),
                                 level=level)
    metric_of[label] = "procrustes_filter"
    return grid(parts, metric_of)


def agreement(ledger: pd.DataFrame, *grids: pd.DataFrame) -> pd.Series:
    """For each ledger row: ``"k/N"``, the number of estimators (of the grids) whose verdict equals the
    ledger's, among the N that measured the claim; "–" for a claim no grid has, that is not measured, or whose
    statistic reads no estimator (``estimator_free``)."""
    table = pd.concat(grids) if grids else pd.DataFrame()
    free = ledger.estimator_free if "estimator_free" in ledger else pd.Series(False, index=ledger.index)
    out = []
    for key, verdict, skip in zip(ledger.key, ledger.verdict, free):
        claim, _ = generic_key(key)
        if skip or verdict == "not measured" or claim not in table.index:
            out.append("–")
            continue
        row = table.loc[claim]
        row = row[row.notna() & (row != "not measured")]
        out.append(f"{int((row == verdict).sum())}/{len(row)}" if len(row) else "–")
    return pd.Series(out, index=ledger.index, name="estimators agreeing")


VERDICT_MARKS = {"holds": "✓", "does not hold": "✗", "inconclusive": "?",
                 "untestable at this n": "n<", "premise not met": "p", "not measured": "–"}


@page_figure
def fig_grid(table: pd.DataFrame, colours: dict[str, str], title: str, provenance: str):
    """Claims (rows) × estimators (columns), each cell coloured by its verdict and marked with its sign
    (:data:`VERDICT_MARKS`, so the grid reads without colour); the legend below names both."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 0.36 * table.shape[0] + 3.0), layout="constrained")
    blank = (0.97, 0.97, 0.97)
    image = np.array([[to_rgb(colours[v]) if isinstance(v, str) and v in colours else blank for v in row]
                      for row in table.to_numpy()])
    ax.imshow(image, aspect="auto")
    for (i, j), v in np.ndenumerate(table.to_numpy()):
        ax.text(j, i, VERDICT_MARKS.get(v, v) if isinstance(v, str) else "–", ha="center", va="center",
                color="white" if isinstance(v, str) and v in colours else "#555555")
    ax.set_xticks(range(table.shape[1]), list(table.columns), rotation=30, ha="right")
    ax.set_yticks(range(table.shape[0]), list(table.index))
    ax.set_title(wrapped(title, fig, share=0.6))
    present = [v for v in colours if v in set(table.to_numpy().ravel())]
    fig.legend([Patch(color=colours[v]) for v in present], [f"{VERDICT_MARKS.get(v, '')} {v}" for v in present],
               loc="outside lower center", ncol=min(2, len(present)), frameon=False)
    caption(fig, provenance)
    return fig
