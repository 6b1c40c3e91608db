"""A calibrated answer for one similarity value: a permutation null over the probe samples and a
bootstrap interval over them, with SciPy's ``permutation_test`` and ``bootstrap``.

**Null.** Shuffling the rows of one side breaks the sample correspondence and keeps each side's
own geometry: the null distribution of "no shared structure between these two layers on these
samples". The p-value is SciPy's ``(1 + #{null at least as extreme}) / (1 + permutations)``, one-sided
in the measure's direction of "more similar"; the calibrated score is ``(value - null mean) / null
sd``. **Interval.** Percentile bootstrap over probe samples (the same draw on both sides), at
``confidence``, for the measures whose expected value does not depend on n (:data:`BOOTSTRAPPED`:
debiased CKA). Each draw keeps its distinct samples (about 0.63 n): a repeated sample is a perfectly
similar pair to a kernel statistic, and with repeats debiased CKA rose from 0.13 to 0.62 on a pair
whose sampling sd is 0.004 (n = 300, 2,000 × 200 features, 40 fresh probe sets). Without repeats the
draws' sd was 0.0052 against the true 0.0040: the interval is conservative by about
sqrt(1 / 0.63). Biased CKA, RBF CKA, Procrustes and mutual k-NN move with n (biased CKA of
independent features is about p / (n + p)), so a resample of fewer distinct samples shifts them
(biased CKA 0.62 -> 0.71 in the same check): they get the null, not an interval. BCa is not used:
its jackknife costs n more evaluations per value. Both re-index cached (n, n) matrices for the CKA family and mutual k-NN
(:func:`repchange.measure.registry.resampled`), so a draw costs O(n²), not a new Gram matrix.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.stats
import torch

from repchange.measure.registry import MEASURES, Sides, resampled
from repchange.measure.metrics import UndefinedSimilarity

__all__ = ["BOOTSTRAPPED", "Calibration", "calibrate", "check_resampling", "RESAMPLED_COLUMNS"]

BOOTSTRAPPED = ("cka_debiased",)  # measures whose value does not move with n: a bootstrap interval is sound

RESAMPLED_COLUMNS = ("null_mean", "null_sd", "null_low", "null_high", "p_value", "z", "ci_low", "ci_high")


@dataclass(frozen=True)
class Calibration:
    """Null mean and sd, its central ``confidence`` band (null_low, null_high), the one-sided p-value,
    the calibrated score z, and the bootstrap interval (ci_low, ci_high); NaN where not asked for.
    ``note`` says how many draws were undefined (counted against the claim of similarity)."""

    null_mean: float = math.nan
    null_sd: float = math.nan
    null_low: float = math.nan
    null_high: float = math.nan
    p_value: float = math.nan
    z: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    note: str = ""

    def columns(self) -> dict[str, float]:
        values = asdict(self)
        values.pop("note")
        return values


def check_resampling(metrics: tuple[str, ...] | list[str], permutations: int, bootstrap: int,
                     confidence: float = 0.95) -> None:
    """Refuse, before any work, a request no measure can honour: negative counts, a confidence outside
    (0, 1), or a bootstrap interval where none of ``metrics`` gets one (the others' rows say why)."""
    if permutations < 0 or bootstrap < 0:
        raise ValueError(f"null and bootstrap are numbers of draws, 0 (off) or positive: got {permutations}, "
                         f"{bootstrap}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if bootstrap and not any(m in BOOTSTRAPPED for m in metrics):
        raise ValueError(f"bootstrap intervals are given for {list(BOOTSTRAPPED)} only: {list(metrics)} move with "
                         f"the number of samples, so a resample shifts them (see repchange.measure.resampling); ask "
                         f"those for a permutation null (null=...), or add cka_debiased to the metrics")


def calibrate(name: str, sides: Sides, value: float, *, permutations: int = 0, bootstrap: int = 0,
              confidence: float = 0.95, seed: int = 0) -> Calibration:
    """The null (``permutations`` shuffles of Y's rows) and the bootstrap interval (``bootstrap``
    draws) of measure ``name`` whose value on the unshuffled pair is ``value``."""
    check_resampling(list(BOOTSTRAPPED), permutations, bootstrap, confidence)
    if math.isnan(value) or (permutations == 0 and bootstrap == 0):
        return Calibration()
    measure, at = MEASURES[name], resampled(name, sides)
    n = sides.x.n
    rows = torch.arange(n, device=sides.x._raw.device)
    undefined = {"null": 0, "bootstrap": 0}
    beats = math.inf if measure.higher_is_better else -math.inf  # an undefined null draw counts as beating `value`
    out: dict[str, float] = {}
    tail = (1 - confidence) / 2

    if permutations:
        def shuffled(order: np.ndarray) -> float:
            try:
                return at(None, torch.as_tensor(order, device=rows.device))
            except UndefinedSimilarity:
                undefined["null"] += 1
                return beats

        result = scipy.stats.permutation_test(
            (np.arange(n),), shuffled, permutation_type="pairings", vectorized=False, n_resamples=permutations,
            alternative="greater" if measure.higher_is_better else "less", rng=np.random.default_rng(seed))
        null = result.null_distribution[np.isfinite(result.null_distribution)]
        if len(null):
            sd = float(np.std(null, ddof=1)) if len(null) > 1 else math.nan
            out.update(null_mean=float(null.mean()), null_sd=sd, null_low=float(np.quantile(null, tail)),
                       null_high=float(np.quantile(null, 1 - tail)), p_value=float(result.pvalue))
            out["z"] = (value - out["null_mean"]) / sd if sd and sd > 0 else math.nan

    notes = []
    if bootstrap and name not in BOOTSTRAPPED:
        notes.append(f"no bootstrap interval: {name} moves with the number of samples")
    elif bootstrap:
        def drawn(idx: np.ndarray) -> float:
            distinct = torch.as_tensor(np.unique(idx), device=rows.device)
            try:
                return at(distinct, distinct)
            except UndefinedSimilarity:
                undefined["bootstrap"] += 1
                return math.nan

        result = scipy.stats.bootstrap((np.arange(n),), drawn, n_resamples=bootstrap, vectorized=False,
                                       confidence_level=confidence, method="percentile",
                                       rng=np.random.default_rng(seed + 1))
        low, high = result.confidence_interval
        out.update(ci_low=float(low), ci_high=float(high))

    notes += [f"{k}: {v} of {permutations if k == 'null' else bootstrap} draws undefined"
             for k, v in undefined.items() if v]
    return Calibration(**out, note="; ".join(notes))
