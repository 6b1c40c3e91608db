"""The one verdict rule: every "holds" in the ledger and every "clearly" in a chapter comes from here.

A claim predicts on which side of a ``null`` value the mean of a statistic lies, the mean taken over
independent *units* (a Study A seed, a Study B source net). From the units' values we form the
Student-t interval of the mean at ``level`` (two-sided), intersected with the statistic's range (the
mean lies in the range, so the intersection keeps the coverage). Each statistic belongs to a
:class:`Scale` that states its range and its **smallest effect of interest** (SESOI, ``δ``). With
``e = mean − null`` and the interval ``[L, H]`` of ``e`` turned so that the claimed side is positive:

- **negligible**: the whole interval lies inside ``(−δ, δ)`` — whatever the effect is, it is too small
  to count;
- **holds**: ``L > 0`` (the null is excluded on the claimed side) and ``e ≥ δ``;
- **does not hold**: ``H ≤ 0`` (the null is excluded on the other side, or touched) and ``e ≤ −δ``;
- **inconclusive**: anything else, or fewer than two units.

A claim of *no* effect (direction ``"negligible"``, e.g. "hardly anything changes") holds when the
interval lies inside ``(−δ, δ)`` and does not hold when it lies wholly beyond ``δ`` or ``−δ``.

Units whose values do not vary give no t interval (the spread estimate is 0). The interval is then
the statistic's whole range unless the exact sign-flip test rejects the null on its own: ``n``
identical values on one side of the null have ``p = 2^(1−n)`` (two-sided), the smallest p any
distribution-free test can give; at 95 % that needs ``n ≥ 6``.

Two more verdicts are set by the ledger, not by numbers: **premise not met** (the run itself does not
show what the claim presupposes: the premise claim does not hold and not every unit of the run meets it,
:func:`every_unit`) and **not measured** (the run cannot test it).
The ledger is one family of tests: :func:`holm` adds Holm-adjusted verdicts beside the unadjusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import itertools

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = ["DIRECTIONS", "LEVEL", "METHODS", "SCALES", "VERDICTS", "Scale", "Interval", "calibrate",
           "calibration_table", "every_unit", "holm", "interval", "verdict"]

LEVEL = 0.95
DIRECTIONS = ("greater", "less", "negligible")
VERDICTS = ("holds", "does not hold", "negligible", "inconclusive", "premise not met", "not measured")


@dataclass(frozen=True)
class Scale:
    """A family of statistics: its range and its smallest effect of interest (``sesoi``), with the reason."""

    name: str
    sesoi: float
    low: float
    high: float
    why: str


SCALES = {scale.name: scale for scale in (
    Scale("cka difference", 0.01, -2.0, 2.0,
          "one hundredth of CKA's [0, 1] scale: the smallest step the papers' figures resolve; a debiased CKA "
          "can be negative, so a difference lies in [−2, 2]"),
    Scale("accuracy difference", 0.01, -1.0, 1.0, "one percentage point of accuracy"),
    Scale("rank correlation", 0.1, -1.0, 1.0, "|ρ| < 0.1 is a negligible association by the usual convention"),
    Scale("correlation", 0.1, -1.0, 1.0, "|r| < 0.1 is a negligible association by the usual convention"),
    Scale("loss difference", 0.05, -np.inf, np.inf,
          "five hundredths of a nat: about 2 % of the cross-entropy of a uniform guess over ten classes (ln 10)"),
    Scale("share", 0.05, 0.0, 1.0, "five percentage points of a share of layers (less than one layer in five)"),
    Scale("distance difference", 0.01, -np.pi / 2, np.pi / 2,
          "one hundredth of a radian of PWSM's angle (or of the per-filter Procrustes distance in [0, 1]); "
          "both distances lie in [0, π/2]"),
)}


@dataclass(frozen=True)
class Interval:
    """The interval of the mean of ``n`` unit values: ``low``/``high`` NaN when there is none (n < 2);
    ``p``: two-sided p-value against the null (NaN when n < 2); ``no_spread``: every value was equal."""

    mean: float
    low: float
    high: float
    n: int
    p: float
    no_spread: bool = False


def interval(values: Iterable[float], scale: Scale, *, null: float = 0.0, level: float = LEVEL) -> Interval:
    """The t interval of the mean of the finite ``values`` at ``level``, intersected with ``scale``'s range,
    and the two-sided p-value of the one-sample t test against ``null`` (see the module doc for n < 2 and
    for values without spread)."""
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return Interval(np.nan, np.nan, np.nan, 0, np.nan)
    if n < 2:
        return Interval(float(v[0]), np.nan, np.nan, 1, np.nan)
    mean, low, high, p, flat = (float(x[0]) for x in _intervals(v[None, :], scale, null, level))
    return Interval(mean, low, high, n, p, no_spread=bool(flat))


def _intervals(values: np.ndarray, scale: Scale, null: float, level: float) -> tuple[np.ndarray, ...]:
    """Row-wise :func:`interval` of ``values`` (rows × n ≥ 2, all finite): mean, low, high, p, no_spread."""
    n = values.shape[1]
    mean = values.mean(axis=1)
    sem = values.std(axis=1, ddof=1) / np.sqrt(n)
    flat = values.max(axis=1) == values.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (mean - null) / sem
    half = sps.t.ppf((1 + level) / 2, n - 1) * sem
    p = 2 * sps.t.sf(np.abs(t), n - 1)
    low, high = np.maximum(mean - half, scale.low), np.minimum(mean + half, scale.high)
    # Exact sign-flip test where there is no spread: of the 2^n sign patterns, only the observed one and its
    # mirror are as extreme.
    p_flat = np.where(mean == null, 1.0, min(1.0, 2.0 ** (1 - n)))
    p = np.where(flat, p_flat, p)
    point = flat & (p_flat < 1 - level)
    low = np.where(flat, np.where(point, mean, scale.low), low)
    high = np.where(flat, np.where(point, mean, scale.high), high)
    return mean, low, high, p, flat


def verdict(low: float, high: float, mean: float, direction: str, *, null: float = 0.0, sesoi: float = 0.0) -> str:
    """``holds`` / ``does not hold`` / ``negligible`` / ``inconclusive`` for the interval ``[low, high]`` of a
    mean ``mean`` (see the module doc); ``direction`` is the claimed side of ``null``."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if not (np.isfinite(low) and np.isfinite(high) and np.isfinite(mean)):
        return "inconclusive"
    lo, hi, effect = low - null, high - null, mean - null
    inside = -sesoi < lo and hi < sesoi
    if direction == "negligible":
        return "holds" if inside else "does not hold" if (lo >= sesoi or hi <= -sesoi) else "inconclusive"
    if direction == "less":
        lo, hi, effect = -hi, -lo, -effect
    if inside:
        return "negligible"
    if lo > 0 and effect >= sesoi:
        return "holds"
    if hi <= 0 and effect <= -sesoi:
        return "does not hold"
    return "inconclusive"


def every_unit(values: Iterable[float], direction: str, *, null: float = 0.0, sesoi: float = 0.0) -> bool:
    """Whether every one of the (at least one) finite ``values`` lies on the claimed side of ``null`` — strictly
    beyond it for ``"greater"``/``"less"``, inside ``(null − sesoi, null + sesoi)`` for ``"negligible"``. A
    description of these units, not an inference about others: the ledger uses it for premises (facts about
    the run's own nets), never for a verdict."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)] - null
    if len(v) == 0:
        return False
    if direction == "greater":
        return bool((v > 0).all())
    if direction == "less":
        return bool((v < 0).all())
    return bool((np.abs(v) < sesoi).all())


def holm(p_values: Iterable[float], verdicts: Iterable[str], level: float = LEVEL) -> list[str]:
    """Holm-adjusted verdicts of a family of claims: a ``holds`` or ``does not hold`` whose Holm-adjusted
    two-sided p-value (statsmodels' ``multipletests``, family = the claims with a finite p) is not below
    ``1 − level`` becomes ``inconclusive``; the other verdicts are kept (``negligible`` rests on an
    equivalence interval that the adjustment of the directional tests does not touch)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(list(p_values), dtype=float)
    out = list(verdicts)
    finite = np.isfinite(p)
    if not finite.any():
        return out
    adjusted = np.full(len(p), np.nan)
    adjusted[finite] = multipletests(p[finite], alpha=1 - level, method="holm")[1]
    return [v if v not in ("holds", "does not hold") or adjusted[k] < 1 - level else "inconclusive"
            for k, v in enumerate(out)]


METHODS = {
    "rule": "this book's rule: t interval ∩ range, smallest effect of interest",
    "t, no SESOI": "the t interval alone (the ledger's rule before the smallest effect of interest)",
    "bootstrap": "percentile bootstrap interval (scipy.stats.bootstrap, 999 resamples), smallest effect of interest",
}


def calibrate(n: int, effect: float, *, scale: Scale, direction: str = "greater", spread: float | None = None,
              draws: int = 4000, level: float = LEVEL, seed: int = 0, sampler: str = "normal",
              method: str = "rule") -> dict[str, float]:
    """Monte-Carlo rates of each verdict for ``n`` units whose values are drawn with mean ``effect`` (the
    null is 0) and standard deviation ``spread`` (default: ``scale.sesoi``, so an effect of one SESOI is
    one unit-to-unit standard deviation). ``sampler``: ``"normal"`` or ``"skewed"`` (a centred gamma with
    shape 2, skewness 1.4). ``method``: a key of :data:`METHODS`. Returns ``{verdict: rate}`` over
    ``draws`` simulated claims."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    rng = np.random.default_rng(seed)
    sd = scale.sesoi if spread is None else spread
    if sampler == "normal":
        noise = rng.standard_normal((draws, n))
    elif sampler == "skewed":
        noise = (rng.gamma(2.0, 1.0, (draws, n)) - 2.0) / np.sqrt(2.0)
    else:
        raise ValueError(f"sampler must be 'normal' or 'skewed', got {sampler!r}")
    values = effect + sd * noise
    mean, low, high, _, _ = _intervals(values, scale, 0.0, level)
    if method == "bootstrap":
        ci = sps.bootstrap((values,), np.mean, axis=-1, n_resamples=999, confidence_level=level,
                           method="percentile", vectorized=True, random_state=rng).confidence_interval
        low, high = np.maximum(ci.low, scale.low), np.minimum(ci.high, scale.high)
    sesoi = 0.0 if method == "t, no SESOI" else scale.sesoi
    counts: dict[str, int] = {}
    for m, lo, hi in zip(mean, low, high):
        v = verdict(lo, hi, m, direction, sesoi=sesoi)
        counts[v] = counts.get(v, 0) + 1
    return {v: counts.get(v, 0) / draws for v in VERDICTS[:4]}


def calibration_table(ns: Iterable[int] = (3, 5), effects: Iterable[float] = (0.0, 1.0, 2.0),
                      samplers: Iterable[str] = ("normal", "skewed"), methods: Iterable[str] = tuple(METHODS), *,
                      draws: int = 4000, level: float = LEVEL, scale: Scale | None = None) -> pd.DataFrame:
    """:func:`calibrate` over a grid: one row per (method, sampler, n, effect in SESOIs) with the rate of
    each verdict for a claim "greater" whose units spread by one SESOI. Effect 0 gives the false "holds"
    rate (nominal: ``(1 − level) / 2``), effect 1 the power at the smallest effect of interest."""
    scale = scale or SCALES["cka difference"]
    rows = []
    for k, (method, sampler, n, effect) in enumerate(itertools.product(methods, samplers, ns, effects)):
        rates = calibrate(n, effect * scale.sesoi, scale=scale, draws=draws, level=level, seed=k, sampler=sampler,
                          method=method)
        rows.append({"method": method, "sampler": sampler, "n": n, "effect_sesoi": effect, **rates})
    return pd.DataFrame(rows)
