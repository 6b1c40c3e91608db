"""The one verdict rule: every "holds" in the ledger and every "clearly" in a chapter comes from here.

A claim predicts on which side of a ``null`` value the mean of a statistic lies, the mean taken over
independent *units* (a Study A seed, a Study B source net). From the units' values we form the
Student-t interval of the mean at ``level`` (two-sided), intersected with the statistic's range (the
mean lies in the range, so the intersection keeps the coverage). Each statistic belongs to a
:class:`Scale` that states its range and its **smallest effect of interest** (SESOI, ``δ``). A claim
says more than "the effect is not zero": it says the effect is *large enough to matter*, i.e. at least
``δ`` on the claimed side. With ``e = mean − null`` and its interval ``[L, H]`` turned so that the
claimed side is positive:

- **holds**: ``L ≥ δ`` — the whole interval lies beyond the smallest effect of interest (a
  minimum-effect test: a true effect of exactly ``δ`` reads "holds" at most ``(1 − level) / 2`` of the
  time, a smaller one less often);
- **does not hold**: ``H < δ`` — an effect of interest on the claimed side is excluded. :func:`refuted_as`
  says how: **negligible** when also ``−δ < L`` (whatever the effect is, it is too small to count; where the
  interval also excludes zero it is real but below the smallest effect of interest, and the row's note says
  so), **reversed** when ``H ≤ −δ`` (an effect of interest on the other side), and nothing more otherwise;
- **inconclusive**: anything else (``L < δ ≤ H``: the data allow both an effect that counts and one
  that does not);
- **untestable at this n**: fewer than :data:`MIN_DF` degrees of freedom (two units, or one unit per
  group): the t interval then rests on the normality of two values alone, and no distribution-free test
  can reach the level (the sign-flip test's smallest p at n = 2 is 0.5).

A claim of *no* effect (direction ``"negligible"``, e.g. "hardly anything changes") holds when the
interval lies inside ``(−δ, δ)`` (an equivalence test: the two one-sided tests against ``±δ``, TOST) and
does not hold when it lies wholly beyond ``δ`` or ``−δ``.

**More data never softens a verdict.** With more units the interval narrows inside the old one (up to the
noise of its centre), and the verdicts are nested by the interval's place alone: "holds" needs ``L ≥ δ``,
"does not hold" ``H < δ``, and a narrower interval keeps either; what a narrower interval can add to a
refutation is its refinement (``negligible``, ``reversed``), never a softer word. (An earlier rule called
``[−1.2δ, 0.9δ]`` "does not hold" and the narrower ``[−0.9δ, 0.9δ]`` "negligible", as if it were a third
outcome.)

Every verdict is the outcome of one test, and :func:`verdict_p` gives that test's p-value, doubled
one-sided so that ``p < 1 − level`` exactly when the interval gives the verdict: the minimum-effect test
for "holds" and "does not hold" of a directional claim, TOST for an equivalence claim's "holds". Holm's
adjustment (:func:`holm`) uses these p-values, so the better the data support "hardly anything changes",
the surer the adjusted verdict too.

Units whose values do not vary give no t interval (the spread estimate is 0). The tests are then the
exact sign-flip test: ``n`` values that all lie beyond a threshold have ``p = 2^(1−n)`` (doubled one-sided),
the smallest p any distribution-free test can give; at 95 % that needs ``n ≥ 6``. The interval is then
the test inverted — the values' own span (a point when all are equal) — where the test can reject, and the
statistic's whole range where it cannot; a reader sees "no spread" with the exact p, never a point shown as
an interval.

**Groups** (Study B: a source net is an architecture × a seed; architecture is a fixed effect, not an
exchangeable unit): with ``groups``, the estimate is the mean of the group means, its standard error comes
from the pooled within-group spread, and the t distribution has ``n − groups`` degrees of freedom — the
interval generalises over seeds within the architectures measured, not over architectures.

**How far from a change** (:func:`verdict_margin`): the smallest shift of the mean, the interval moving with it,
that gives another verdict, in standard errors. A replication with new units at the same effect moves the
mean by about ``√2 · SE``, so a verdict within :data:`FRAGILE_SE` of a boundary is *fragile*: such a
replication crosses that boundary at least one time in four (:func:`replication_crossing`). Another CPU is
such a replication in part: its kernels add in another order, and the same seed trains to other weights.

Two more verdicts are set by the ledger, not by numbers: **premise not met** (the run itself does not
show what the claim presupposes: the premise claim does not hold and not every unit of the run meets it,
:func:`every_unit`) and **not measured** (the run cannot test it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import itertools

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = ["CONCLUSIVE", "DIRECTIONS", "FRAGILE_SE", "LEVEL", "METHODS", "MIN_DF", "RANGE_SHARE", "REFUTATIONS",
           "SCALES", "SENSITIVITY", "VERDICTS", "Scale", "Interval", "assess_interval", "calibrate", "calibration_table",
           "every_unit", "holm", "interval", "range_delta", "refuted_as", "replication_crossing", "verdict",
           "verdict_margin", "verdict_p"]

LEVEL = 0.95
MIN_DF = 2  # fewer degrees of freedom: "untestable at this n"
DIRECTIONS = ("greater", "less", "negligible")
VERDICTS = ("holds", "does not hold", "inconclusive", "untestable at this n", "premise not met", "not measured")
CONCLUSIVE = ("holds", "does not hold")
NUMERIC = VERDICTS[:4]  # the verdicts an interval (or its absence) sets; the calibration's outcomes
# How a directional claim's "does not hold" excludes the effect (refuted_as): within ±δ, or beyond −δ
REFUTATIONS = {"negligible": "within ±δ: too small to count either way",
               "reversed": "an effect of interest on the other side"}


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
    Scale("alignment difference", 0.02, -1.0, 1.0,
          "two hundredths of the mutual k-NN alignment's [0, 1] scale (a share of shared neighbours): about one "
          "shared neighbour in five of k = 10, half again its seed-to-seed spread between unrelated nets"),
    Scale("accuracy difference", 0.01, -1.0, 1.0, "one percentage point of accuracy"),
    Scale("rank correlation", 0.1, -1.0, 1.0, "|ρ| < 0.1 is a negligible association by the usual convention"),
    Scale("correlation", 0.1, -1.0, 1.0, "|r| < 0.1 is a negligible association by the usual convention"),
    Scale("loss difference", 0.05, -np.inf, np.inf,
          "five hundredths of a nat: about 2 % of the cross-entropy of a uniform guess over ten classes (ln 10)"),
    Scale("relative change", 0.05, -np.inf, np.inf,
          "a rise of five hundredths of the quantity's own mean: a trend smaller than that is flat for the claim"),
    Scale("share", 0.05, 0.0, 1.0, "five percentage points of a share of layers (less than one layer in five)"),
    Scale("pwsm difference", 0.01, -np.pi / 2, np.pi / 2,
          "one hundredth of a radian of PWSM's angle, which lies in [0, π/2]: about 0.6 % of its range"),
    Scale("procrustes difference", 0.01, -1.0, 1.0,
          "one hundredth of the per-filter Procrustes distance, which lies in [0, 1]: 1 % of its range"),
)}
SENSITIVITY = 3.0  # the ledger also reads every claim at SENSITIVITY × its SESOI
# δ from the measure: a similarity row's smallest effect of interest is this share of the measure's range above
# chance on the layers and probes the row reads (1 − the value two unrelated nets have there); a distance row's is
# this share of the distance an unrelated twin net has (Study B). The scale's fixed δ stays beside it.
RANGE_SHARE = 0.05


def range_delta(ranges: Iterable[float], *, share: float = RANGE_SHARE) -> float:
    """``share`` × the mean of the measure's ``ranges`` (the distance from chance to identity, or an unrelated net's
    distance) over the layers a statistic reads; NaN where there is no positive range (the caller keeps the scale's
    fixed δ then)."""
    r = np.asarray(list(ranges), dtype=float)
    r = r[np.isfinite(r)]
    if len(r) == 0 or not r.mean() > 0:
        return np.nan
    return float(share * r.mean())


@dataclass(frozen=True)
class Interval:
    """The interval of the mean of ``n`` unit values: ``low``/``high`` NaN when there is none (fewer than
    :data:`MIN_DF` degrees of freedom); ``p``: two-sided p-value against the null (NaN likewise);
    ``sem``: the standard error; ``df``: its degrees of freedom (``n − groups``); ``no_spread``: the units
    do not vary (within their groups), so the tests are exact sign-flip tests."""

    mean: float
    low: float
    high: float
    n: int
    p: float
    no_spread: bool = False
    sem: float = np.nan
    df: int = 0
    values: tuple[float, ...] = ()
    half: float = np.nan  # the t interval's half-width before the range's clip (NaN without a t interval)

    @property
    def testable(self) -> bool:
        return self.df >= MIN_DF


def interval(values: Iterable[float], scale: Scale, *, null: float = 0.0, level: float = LEVEL,
             groups: Iterable[object] | None = None) -> Interval:
    """The t interval of the mean of the finite ``values`` at ``level``, intersected with ``scale``'s range,
    and the two-sided p-value of the one-sample t test against ``null``. With ``groups`` (one label per
    value): the mean of the group means with the pooled within-group standard error on ``n − groups`` degrees
    of freedom (a fixed-effects model of the groups). Fewer than :data:`MIN_DF` degrees of freedom give no
    interval (see the module doc, also for values without spread)."""
    v = np.asarray(list(values), dtype=float)
    g = None if groups is None else np.asarray(list(groups), dtype=object)
    if g is not None and len(g) != len(v):
        raise ValueError(f"groups must give one label per value: {len(g)} labels for {len(v)} values")
    finite = np.isfinite(v)
    v = v[finite]
    g = None if g is None else g[finite]
    n = len(v)
    if n == 0:
        return Interval(np.nan, np.nan, np.nan, 0, np.nan)
    if g is None:
        mean, ss, df, weight = v.mean(), ((v - v.mean()) ** 2).sum(), n - 1, 1.0 / n
    else:
        labels = list(dict.fromkeys(g))
        means = {k: v[g == k].mean() for k in labels}
        mean = float(np.mean(list(means.values())))
        ss = sum(((v[g == k] - means[k]) ** 2).sum() for k in labels)
        df = n - len(labels)
        weight = sum(1.0 / (g == k).sum() for k in labels) / len(labels) ** 2
    if df < 1:
        return Interval(float(mean), np.nan, np.nan, n, np.nan, df=max(df, 0), values=tuple(v))
    sem = float(np.sqrt(ss / df * weight))
    flat = bool(ss <= (1e-12 * max(1.0, abs(mean))) ** 2 * n)
    if flat and g is not None:
        # Units that coincide within their groups are one value per group: the exact sign-flip test counts groups
        # (architectures), not units — three architectures of three identical seeds are three values, not nine.
        v = np.asarray(list(means.values()), dtype=float)
    p_two = _p_greater(mean, sem, df, null, v, flat, two_sided=True)
    if df < MIN_DF:
        return Interval(float(mean), np.nan, np.nan, n, np.nan, no_spread=flat, sem=sem, df=df, values=tuple(v))
    if flat:
        # The exact test rejects "at most c" when every value lies beyond c (p = 2^(1−m), below 1 − level from m = 6
        # at 95 %, m the values it can flip: units, or groups where units coincide within groups): inverted, the
        # interval is the values' own span — a point when they are all equal.
        exact = 2.0 ** (1 - len(v)) < 1 - level
        low, high = (float(v.min()), float(v.max())) if exact else (scale.low, scale.high)
        return Interval(float(mean), low, high, n, p_two, no_spread=True, sem=0.0, df=df, values=tuple(v))
    half = sps.t.ppf((1 + level) / 2, df) * sem
    return Interval(float(mean), max(mean - half, scale.low), min(mean + half, scale.high), n, p_two, sem=sem,
                    df=df, values=tuple(v), half=float(half))


def _p_greater(mean: float, sem: float, df: int, threshold: float, values: np.ndarray, flat: bool,
               two_sided: bool = False) -> float:
    """Doubled one-sided p-value of "the mean exceeds ``threshold``" (two-sided: of "differs from it"); the
    exact sign-flip test when the values do not vary (within their groups): ``2^(1−n)`` when every value lies
    beyond the threshold (on one side of it, two-sided), 1 otherwise."""
    if flat:
        above, below = bool((values > threshold).all()), bool((values < threshold).all())
        beyond = (above or below) if two_sided else above
        return float(min(1.0, 2.0 ** (1 - len(values)))) if beyond else 1.0
    t = (mean - threshold) / sem
    return float(2 * sps.t.sf(abs(t) if two_sided else t, df))


def verdict(low: float, high: float, mean: float, direction: str, *, null: float = 0.0, sesoi: float = 0.0) -> str:
    """``holds`` / ``does not hold`` / ``inconclusive`` for the interval ``[low, high]`` of a
    mean ``mean`` (see the module doc); ``direction`` is the claimed side of ``null``. An interval that is
    not there (NaN) reads "inconclusive" here; :func:`assess_interval` says "untestable at this n" first."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if not (np.isfinite(low) and np.isfinite(high) and np.isfinite(mean)):
        return "inconclusive"
    lo, hi = low - null, high - null
    if direction == "negligible":
        inside = -sesoi < lo and hi < sesoi
        return "holds" if inside else "does not hold" if (lo >= sesoi or hi <= -sesoi) else "inconclusive"
    if direction == "less":
        lo, hi = -hi, -lo
    if lo >= sesoi:
        return "holds"
    if hi < sesoi:
        return "does not hold"
    return "inconclusive"


def refuted_as(low: float, high: float, direction: str, *, null: float = 0.0, sesoi: float = 0.0) -> str:
    """How a directional claim's interval ``[low, high]`` that reads "does not hold" excludes the effect of
    interest (:data:`REFUTATIONS`): ``"negligible"`` when it lies inside ``(null − δ, null + δ)``, ``"reversed"``
    when it lies at or beyond ``δ`` on the other side, ``""`` otherwise (also for any other verdict, and for a
    claim of no effect, whose "does not hold" is always an effect of interest)."""
    if direction == "negligible" or not (np.isfinite(low) and np.isfinite(high)):
        return ""
    lo, hi = (low - null, high - null) if direction == "greater" else (null - high, null - low)
    if hi >= sesoi:
        return ""
    if hi <= -sesoi:
        return "reversed"
    return "negligible" if lo > -sesoi else ""


def verdict_p(i: Interval, direction: str, outcome: str, *, null: float = 0.0, sesoi: float = 0.0) -> float:
    """The p-value of the test behind ``outcome`` (a :func:`verdict` of ``i``), doubled one-sided so that it is
    below ``1 − level`` exactly when the interval gives that verdict: the minimum-effect test against ``δ``
    for "holds" (``e > δ``) and "does not hold" (``e < δ``) of a directional claim, the two one-sided tests
    (TOST: the larger of their p's) for an equivalence claim's "holds"; for "inconclusive", the smallest of the
    candidate tests' p's (none reaches the level). NaN without an interval."""
    if not i.testable or not np.isfinite(i.mean):
        return np.nan
    v = np.asarray(i.values, dtype=float)
    sign = -1.0 if direction == "less" else 1.0
    e, s, vals = sign * (i.mean - null), i.sem, sign * (v - null)

    def beyond(threshold: float) -> float:  # "e > threshold"
        return _p_greater(e, s, i.df, threshold, vals, i.no_spread)

    def below(threshold: float) -> float:  # "e < threshold"
        return _p_greater(-e, s, i.df, -threshold, -vals, i.no_spread)

    if direction == "negligible":
        candidates = {"holds": max(beyond(-sesoi), below(sesoi)), "does not hold": min(beyond(sesoi), below(-sesoi))}
    else:
        candidates = {"holds": beyond(sesoi), "does not hold": below(sesoi)}
    if outcome in candidates:
        return candidates[outcome]
    return min(candidates.values())


FRAGILE_SE = 1.0  # a verdict within this many standard errors of a boundary is fragile (see verdict_margin)


def verdict_margin(i: Interval, direction: str, scale: Scale, *, null: float = 0.0, sesoi: float = 0.0) -> float:
    """How far the verdict of ``i`` stands from a change: the smallest shift ``|Δ|`` of the mean — the interval
    moving with it, its half-width and the clip to ``scale``'s range kept — that gives another
    :func:`verdict`, in the statistic's units. NaN where there is no t interval (untestable at this n, or
    units without spread, where the exact sign-flip test decides).

    The verdict only changes where an interval edge ``mean ± half`` crosses ``null ± sesoi``, so the four
    crossings are the candidates; each is tried just beyond its point (where a clipped edge cannot reach a
    threshold outside the range, nothing changes and the candidate drops out). Divided by ``i.sem`` it reads
    in standard errors: a replication of the same size at the same effect has a mean that differs from this
    one by about ``√2 · SE`` (:func:`replication_crossing`)."""
    if not i.testable or i.no_spread or not (np.isfinite(i.mean) and np.isfinite(i.half)):
        return np.nan

    def shifted(delta: float) -> str:
        low = max(i.mean + delta - i.half, scale.low)
        high = min(i.mean + delta + i.half, scale.high)
        return verdict(low, high, i.mean + delta, direction, null=null, sesoi=sesoi)

    now = shifted(0.0)
    changes = []
    for edge in (i.mean - i.half, i.mean + i.half):
        for threshold in (null - sesoi, null + sesoi):
            delta = threshold - edge
            step = 1e-9 * max(abs(delta), sesoi, i.half, 1e-12)
            for beyond in ((delta + step,) if delta > 0 else (delta - step,) if delta < 0 else (step, -step)):
                if shifted(beyond) != now:
                    changes.append(abs(delta))
    return float(min(changes)) if changes else np.inf


def replication_crossing(margin_se: float) -> float:
    """The chance that an exact replication (same n, same true effect and spread) has its mean beyond this
    run's nearest verdict boundary, ``margin_se`` standard errors away: ``Φ(−margin_se / √2)``, the two runs'
    means differing by a normal of standard deviation ``√2 · SE`` centred on zero (the SE taken as known,
    the boundary on one side only — a lower bound on the chance that the verdict changes)."""
    return float(sps.norm.cdf(-margin_se / np.sqrt(2.0)))


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


def assess_interval(i: Interval, direction: str, *, null: float = 0.0, sesoi: float = 0.0) -> tuple[str, float]:
    """The verdict of interval ``i`` and the p-value of its test (:func:`verdict_p`); "untestable at this n"
    with fewer than :data:`MIN_DF` degrees of freedom."""
    if not i.testable:
        return "untestable at this n", np.nan
    outcome = verdict(i.low, i.high, i.mean, direction, null=null, sesoi=sesoi)
    return outcome, verdict_p(i, direction, outcome, null=null, sesoi=sesoi)


def holm(p_values: Iterable[float], verdicts: Iterable[str], level: float = LEVEL) -> list[str]:
    """Holm-adjusted verdicts of a family of claims: a conclusive verdict (``holds``, ``does not hold``) whose
    Holm-adjusted p-value (statsmodels' ``multipletests``, family = the claims with a
    finite p) is not below ``1 − level`` becomes ``inconclusive``; the others are kept. ``p_values`` are each
    verdict's own test (:func:`verdict_p`): TOST for an equivalence, so the adjustment cannot turn strong
    support for "no effect" into doubt."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(list(p_values), dtype=float)
    out = list(verdicts)
    finite = np.isfinite(p)
    if not finite.any():
        return out
    adjusted = np.full(len(p), np.nan)
    adjusted[finite] = multipletests(p[finite], alpha=1 - level, method="holm")[1]
    return [v if v not in CONCLUSIVE or adjusted[k] < 1 - level else "inconclusive" for k, v in enumerate(out)]


METHODS = {
    "rule": "this book's rule: t interval ∩ range, the whole interval beyond the smallest effect of interest",
    "earlier rule": "the ledger's earlier rule: an interval clear of zero and a mean of at least the SESOI",
    "t, no SESOI": "the t interval alone (the ledger's rule before the smallest effect of interest)",
    "bootstrap": "percentile bootstrap interval (scipy.stats.bootstrap, 999 resamples), smallest effect of interest",
}


def _earlier_verdict(low: float, high: float, mean: float, direction: str, *, sesoi: float) -> str:
    """The ledger's rule before the minimum-effect test (for the calibration's comparison only): negligible inside
    ``(−δ, δ)`` (counted as "does not hold", a refutation, as :func:`verdict` counts it now), else "holds" when the
    interval excludes zero on the claimed side and the *mean* reaches δ."""
    lo, hi, e = (low, high, mean) if direction != "less" else (-high, -low, -mean)
    if -sesoi < lo and hi < sesoi:
        return "does not hold"
    if lo > 0 and e >= sesoi:
        return "holds"
    if hi <= 0 and e <= -sesoi:
        return "does not hold"
    return "inconclusive"


def _intervals(values: np.ndarray, scale: Scale, null: float, level: float) -> tuple[np.ndarray, ...]:
    """Row-wise :func:`interval` of ``values`` (rows × n ≥ 3, all finite, no groups): mean, low, high."""
    n = values.shape[1]
    mean = values.mean(axis=1)
    sem = values.std(axis=1, ddof=1) / np.sqrt(n)
    half = sps.t.ppf((1 + level) / 2, n - 1) * sem
    flat = sem == 0
    point = 2.0 ** (1 - n) < 1 - level
    low = np.where(flat, mean if point else scale.low, np.maximum(mean - half, scale.low))
    high = np.where(flat, mean if point else scale.high, np.minimum(mean + half, scale.high))
    return mean, low, high


def calibrate(n: int, effect: float, *, scale: Scale, direction: str = "greater", spread: float | None = None,
              draws: int = 4000, level: float = LEVEL, seed: int = 0, sampler: str = "normal",
              method: str = "rule") -> dict[str, float]:
    """Monte-Carlo rates of each verdict for ``n`` units whose values are drawn with mean ``effect`` (the
    null is 0) and standard deviation ``spread`` (default: ``scale.sesoi``, so an effect of one SESOI is
    one unit-to-unit standard deviation). ``sampler``: ``"normal"`` or ``"skewed"`` (a centred gamma with
    shape 2, skewness 1.4). ``method``: a key of :data:`METHODS`. Returns ``{verdict: rate}`` over
    ``draws`` simulated claims (all "untestable at this n" below :data:`MIN_DF` degrees of freedom)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    if n - 1 < MIN_DF:
        return {v: float(v == "untestable at this n") for v in NUMERIC}
    rng = np.random.default_rng(seed)
    sd = scale.sesoi if spread is None else spread
    if sampler == "normal":
        noise = rng.standard_normal((draws, n))
    elif sampler == "skewed":
        noise = (rng.gamma(2.0, 1.0, (draws, n)) - 2.0) / np.sqrt(2.0)
    else:
        raise ValueError(f"sampler must be 'normal' or 'skewed', got {sampler!r}")
    values = effect + sd * noise
    mean, low, high = _intervals(values, scale, 0.0, level)
    if method == "bootstrap":
        ci = sps.bootstrap((values,), np.mean, axis=-1, n_resamples=999, confidence_level=level,
                           method="percentile", vectorized=True, random_state=rng).confidence_interval
        low, high = np.maximum(ci.low, scale.low), np.minimum(ci.high, scale.high)
    sesoi = 0.0 if method == "t, no SESOI" else scale.sesoi
    decide = _earlier_verdict if method == "earlier rule" else verdict
    counts: dict[str, int] = {}
    for m, lo, hi in zip(mean, low, high):
        v = decide(lo, hi, m, direction, sesoi=sesoi)
        counts[v] = counts.get(v, 0) + 1
    return {v: counts.get(v, 0) / draws for v in NUMERIC}


def calibration_table(ns: Iterable[int] = (3, 5), effects: Iterable[float] = (0.0, 0.5, 0.8, 1.0, 2.0),
                      samplers: Iterable[str] = ("normal", "skewed"), methods: Iterable[str] = tuple(METHODS), *,
                      spreads: Iterable[float] = (1.0,), draws: int = 4000, level: float = LEVEL,
                      scale: Scale | None = None) -> pd.DataFrame:
    """:func:`calibrate` over a grid: one row per (method, sampler, spread, n, effect) with the rate of each
    verdict for a claim "greater"; ``effects`` and ``spreads`` (the units' standard deviation) in SESOIs.
    Effect 1 gives the rule's false "holds" rate at the smallest effect of interest (nominal: at most
    ``(1 − level) / 2``), effects below 1 how often an effect too small to count is called "holds", effect 2
    the power."""
    scale = scale or SCALES["cka difference"]
    rows = []
    grid = itertools.product(methods, samplers, spreads, ns, effects)
    for k, (method, sampler, spread, n, effect) in enumerate(grid):
        rates = calibrate(n, effect * scale.sesoi, scale=scale, spread=spread * scale.sesoi, draws=draws,
                          level=level, seed=k, sampler=sampler, method=method)
        rows.append({"method": method, "sampler": sampler, "spread_sesoi": spread, "n": n, "effect_sesoi": effect,
                     **rates})
    return pd.DataFrame(rows)
