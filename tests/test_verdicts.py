"""The one verdict rule: intervals within a statistic's range, the smallest effect of interest, Holm, calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from repchange.core import verdicts
from repchange.core.verdicts import SCALES

CKA = SCALES["cka difference"]
RHO = SCALES["rank correlation"]


def test_the_interval_is_students_interval_of_the_mean_with_its_t_test() -> None:
    values = [0.2, 0.5, 0.3, 0.9]
    i = verdicts.interval(values, CKA, null=0.1, level=0.9)
    assert (i.n, i.mean) == (4, pytest.approx(np.mean(values)))
    assert (i.low, i.high) == pytest.approx(sps.t.interval(0.9, 3, loc=np.mean(values), scale=sps.sem(values)), abs=1e-12)
    assert i.p == pytest.approx(sps.ttest_1samp(values, 0.1).pvalue)
    assert verdicts.interval([0.4, np.nan, np.inf], CKA).n == 1  # non-finite values are dropped
    one = verdicts.interval([0.4], CKA)
    assert one.mean == 0.4 and np.isnan(one.low) and np.isnan(one.high) and np.isnan(one.p) and one.n == 1
    assert verdicts.interval([], CKA).n == 0


def test_the_interval_stays_inside_the_statistics_range() -> None:
    values = [0.8, 1.0, 1.0, 0.9, 1.0]  # the t interval reaches above 1
    raw = sps.t.interval(0.95, 4, loc=np.mean(values), scale=sps.sem(values))
    assert raw[1] > 1
    i = verdicts.interval(values, RHO)
    assert i.high == 1.0 and i.low == pytest.approx(raw[0])
    share = verdicts.interval([0.0, 0.05, 0.0, 0.1], SCALES["share"])
    assert share.low == 0.0


def test_values_without_spread_need_the_exact_sign_flip_test() -> None:
    """n identical values: p = 2^(1-n); below 1 - level the interval is the point, else the whole range."""
    five = verdicts.interval([1.0] * 5, RHO)
    assert five.no_spread and five.p == pytest.approx(2 ** -4)
    assert (five.low, five.high) == (-1.0, 1.0)
    assert verdicts.verdict(five.low, five.high, five.mean, "greater", sesoi=RHO.sesoi) == "inconclusive"
    six = verdicts.interval([-1.0] * 6, RHO)
    assert six.p == pytest.approx(2 ** -5) and (six.low, six.high) == (-1.0, -1.0)
    assert verdicts.verdict(six.low, six.high, six.mean, "less", sesoi=RHO.sesoi) == "holds"
    at_null = verdicts.interval([0.5] * 8, SCALES["share"], null=0.5)
    assert at_null.p == 1.0 and (at_null.low, at_null.high) == (0.0, 1.0)


@pytest.mark.parametrize("low, high, mean, direction, null, sesoi, expected", [
    (0.02, 0.06, 0.04, "greater", 0.0, 0.01, "holds"),
    (0.002, 0.03, 0.016, "greater", 0.0, 0.01, "holds"),
    (0.0002, 0.0009, 0.0005, "greater", 0.0, 0.01, "negligible"),  # the A4b: real, but too small to count
    (-0.005, 0.008, 0.001, "greater", 0.0, 0.01, "negligible"),
    (0.001, 0.015, 0.008, "greater", 0.0, 0.01, "inconclusive"),  # above the null, below the SESOI
    (-0.05, 0.03, -0.01, "greater", 0.0, 0.01, "inconclusive"),
    (-0.06, -0.02, -0.04, "greater", 0.0, 0.01, "does not hold"),
    (-0.3, 0.0, -0.15, "greater", 0.0, 0.01, "does not hold"),  # touching the null on the other side
    (0.56, 0.9, 0.7, "greater", 0.5, 0.05, "holds"),
    (0.4, 0.9, 0.65, "greater", 0.5, 0.05, "inconclusive"),
    (-0.06, -0.02, -0.04, "less", 0.0, 0.01, "holds"),
    (0.0, 0.2, 0.1, "less", 0.0, 0.01, "does not hold"),
    (-0.005, 0.004, 0.0, "less", 0.0, 0.01, "negligible"),
    (-0.005, 0.004, 0.0, "negligible", 0.0, 0.01, "holds"),
    (0.012, 0.04, 0.02, "negligible", 0.0, 0.01, "does not hold"),
    (-0.05, -0.011, -0.03, "negligible", 0.0, 0.01, "does not hold"),
    (-0.005, 0.02, 0.01, "negligible", 0.0, 0.01, "inconclusive"),
    (np.nan, np.nan, 0.3, "greater", 0.0, 0.01, "inconclusive"),
])
def test_verdicts_follow_the_interval_and_the_smallest_effect(low, high, mean, direction, null, sesoi, expected) -> None:
    assert verdicts.verdict(low, high, mean, direction, null=null, sesoi=sesoi) == expected


def test_an_unknown_direction_is_an_error() -> None:
    with pytest.raises(ValueError, match="direction must be one of"):
        verdicts.verdict(0.0, 1.0, 0.5, "bigger")


def test_holm_keeps_only_the_verdicts_that_survive_the_family() -> None:
    """Holm by hand: sorted p 0.001, 0.03, 0.04 → adjusted 0.003, 0.06, 0.06; 0.2 and NaN left as they are."""
    p = [0.04, 0.001, 0.03, 0.2, np.nan, 0.01]
    given = ["does not hold", "holds", "holds", "inconclusive", "not measured", "negligible"]
    assert verdicts.holm(p, given) == ["inconclusive", "holds", "inconclusive", "inconclusive", "not measured",
                                       "negligible"]
    assert verdicts.holm([0.001, 0.002], ["holds", "does not hold"]) == ["holds", "does not hold"]
    assert verdicts.holm([np.nan], ["not measured"]) == ["not measured"]


@pytest.mark.parametrize("n", [3, 5])
@pytest.mark.parametrize("sampler", ["normal", "skewed"])
@pytest.mark.parametrize("direction", ["greater", "less"])
def test_the_rule_is_calibrated_no_more_false_holds_than_its_level(n: int, sampler: str, direction: str) -> None:
    """Units drawn with no effect: the rate of false "holds" stays at or below the one-sided level 2.5 %
    (a 95 % two-sided interval), up to three Monte-Carlo standard errors; a true effect of four SESOIs
    (units spread one SESOI) is found most of the time at n = 5."""
    draws, nominal = 4000, (1 - verdicts.LEVEL) / 2
    null = verdicts.calibrate(n, 0.0, scale=CKA, direction=direction, sampler=sampler, draws=draws, seed=n)
    assert null["holds"] <= nominal + 3 * np.sqrt(nominal * (1 - nominal) / draws), null
    sign = 1.0 if direction == "greater" else -1.0
    strong = verdicts.calibrate(n, sign * 4 * CKA.sesoi, scale=CKA, direction=direction, sampler=sampler, draws=1000)
    if n == 5:
        assert strong["holds"] > 0.8, strong
    against = verdicts.calibrate(n, -sign * 4 * CKA.sesoi, scale=CKA, direction=direction, sampler=sampler, draws=1000)
    assert against["holds"] == 0.0 and against["does not hold"] > (0.8 if n == 5 else 0.3), against


def test_calibration_refuses_an_unknown_sampler() -> None:
    with pytest.raises(ValueError, match="sampler must be"):
        verdicts.calibrate(3, 0.0, scale=CKA, sampler="uniform")


@pytest.mark.parametrize("values, direction, expected", [
    ([0.0, 0.0, 0.0], "greater", False), ([0.1, 0.2, 0.01], "greater", True), ([0.1, np.nan, 0.2], "greater", True),
    ([-0.1, -0.2], "less", True), ([-0.1, 0.2], "less", False), ([0.005, -0.009], "negligible", True),
    ([0.005, -0.011], "negligible", False), ([], "greater", False), ([np.nan], "less", False)])
def test_every_unit_says_whether_each_unit_lies_on_the_claimed_side(values, direction, expected) -> None:
    assert verdicts.every_unit(values, direction, sesoi=0.01) is expected
    shifted = [v - 0.05 for v in values]  # the same question against a null of −0.05
    assert verdicts.every_unit(shifted, direction, null=-0.05, sesoi=0.01) is expected
