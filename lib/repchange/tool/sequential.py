"""Change detection that stays valid however often one looks: "layer L changed by step t", with a stated error rate.

The sentence "layer L changed" is false when the layer moved by less than the smallest change of interest ``delta``.
So the null of a layer is that, at every look so far, the *expected* change it reads is at most ``delta`` -- not that
it reads what an unrelated net reads (a shuffled-rows null says "unrelated", which is not the negation of "changed").

**Observations.** At each look the Tracker reads the monitored measure between the reference and the model on a
fresh random subsample of the probe (``subsample`` rows, a new seeded draw every look, so that looks are random given
the past) and turns it into a change ``x`` in [0, 1]: the share of the measure's range by which it is away from
"the same" (:func:`change_share`: 1 - CKA for linear CKA; a Procrustes angle over pi/2). The expectation is over
subsample draws of this probe set: the statement is about the measure at that subsample size on this probe.

**Test.** Per layer, the betting e-process ``E_t = prod_s (1 + lambda_s (x_s - delta))`` with ``lambda_s`` in
``[0, 1/(2 delta)]`` chosen from the looks before ``s`` only (predictable: any such choice keeps the guarantee).
Under the null each factor has conditional mean at most 1 and stays positive, so ``E`` is a nonnegative
supermartingale and Ville's inequality gives ``P(sup_t E_t >= 1/a) <= a``: at any number of looks, stopped whenever
one likes. A layer alarms once its ``E`` reaches ``layers / alpha`` (Bonferroni over e-values, valid under any
dependence between layers), so the chance that any layer whose change stays within ``delta`` ever alarms is at most
``alpha``. The bet is the growth-rate-optimal one for the running mean and variance of the changes (aGRAPA,
Waudby-Smith & Ramdas 2024, "Estimating means of bounded random variables by betting", JRSS-B), one sided, with the
running estimates forgetting old looks exponentially: it bets nothing while the layer reads less than ``delta`` (so a
long quiet start costs no evidence) and follows a change within a few looks. ``memory`` 0.2: the simulation of
``make bench`` [14] run at memory 0.1, 0.2 and 0.3 found a change to 3 delta after a median of 14, 11 and 10 looks,
to 1.5 delta after 34, 27 and 27, every false-alarm rate within alpha.

A fixed-level test at every look has no such guarantee: its false alarms grow with the number of looks
(``tests/test_sequential.py`` measures both by simulation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from repchange.measure.registry import MEASURES

__all__ = ["ChangeMonitor", "EProcess", "MONITORED", "change_share"]

# measures with a bounded range whose "the same" end is known: the change is the share of the range away from it
# (debiased CKA is left out: its estimate on a small draw may leave [-1, 1])
MONITORED = ("cka", "rbf_cka", "mutual_knn", "procrustes", "pwsm")


def change_share(metric: str, value: float) -> float:
    """``value`` of ``metric`` as a change in [0, 1]: the share of the measure's range between it and "the same" (a
    similarity's high end, a distance's low end). Raises ValueError for a value outside the range (clipped only
    within 1e-9 of it: rounding)."""
    if metric not in MONITORED:
        raise ValueError(f"metric {metric!r} cannot be monitored: it needs a bounded range; choose from "
                         f"{list(MONITORED)}")
    m = MEASURES[metric]
    share = (m.high - value) / (m.high - m.low) if m.higher_is_better else (value - m.low) / (m.high - m.low)
    if not -1e-9 <= share <= 1 + 1e-9:
        raise ValueError(f"{metric} = {value} lies outside its range [{m.low}, {m.high}]")
    return min(1.0, max(0.0, share))


@dataclass
class EProcess:
    """The betting e-process of one layer against "expected change at most ``delta``" (module docstring).
    :meth:`observe` takes the next change in [0, 1] and returns ``E`` after it. ``memory``: the weight of the newest
    look in the running mean and variance the bet reads (exponential forgetting: the bet follows a change within
    about 1 / memory looks)."""

    delta: float
    memory: float = 0.2
    t: int = 0
    log_e: float = 0.0
    mean: float = 0.5  # running mean and variance of the changes, started at 1/2 and 1/4
    variance: float = 0.25

    def __post_init__(self) -> None:
        if not 0 < self.delta < 1:
            raise ValueError(f"delta must lie in (0, 1) (a share of the measure's range), got {self.delta}")
        if not 0 < self.memory <= 1:
            raise ValueError(f"memory must lie in (0, 1], got {self.memory}")

    def bet(self) -> float:
        """lambda for the next look, from the looks so far only: the growth-rate-optimal bet for the running mean
        and variance (GRAPA), 0 while the running mean is at most delta, at most 1 / (2 delta)."""
        edge = self.mean - self.delta
        return min(max(edge / (self.variance + edge * edge), 0.0), 0.5 / self.delta)

    def observe(self, x: float) -> float:
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"a change must lie in [0, 1], got {x}")
        self.log_e += math.log1p(self.bet() * (x - self.delta))
        self.t += 1
        w = self.memory
        self.variance = (1 - w) * self.variance + w * (x - self.mean) ** 2
        self.mean = (1 - w) * self.mean + w * x
        return math.exp(self.log_e)


@dataclass
class ChangeMonitor:
    """Anytime-valid change detection for the Tracker (``Tracker(..., monitor=ChangeMonitor(...))``): ``metric`` (a
    name of :data:`MONITORED`, at ``alpha_pwsm`` for pwsm), ``delta`` the smallest change of interest as a share of
    its range, ``alpha`` the chance that any layer whose change stays within ``delta`` ever alarms, ``subsample`` the
    probe rows drawn afresh at each look (None: half the probe)."""

    metric: str = "cka"
    delta: float = 0.05
    alpha: float = 0.05
    subsample: int | None = None
    alpha_pwsm: float = 0.5
    processes: dict[str, EProcess] = field(default_factory=dict, init=False)
    layers: tuple[str, ...] = field(default=(), init=False)
    first_alarm: dict[str, float] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.metric not in MONITORED:
            raise ValueError(f"monitor metric {self.metric!r} needs a bounded range; choose from {list(MONITORED)}")
        if not 0 < self.delta < 1:
            raise ValueError(f"monitor delta must lie in (0, 1) (a share of {self.metric}'s range), got {self.delta}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"monitor alpha must lie in (0, 1), got {self.alpha}")
        if self.subsample is not None and self.subsample < 4:
            raise ValueError(f"monitor subsample must be at least 4 probe rows, got {self.subsample}")

    def start(self, layers: list[str]) -> None:
        """Fix the family: the layers tested, each at level alpha / len(layers); forget earlier looks."""
        if not layers:
            raise ValueError("a monitor needs at least one layer")
        self.layers = tuple(layers)
        self.processes = {name: EProcess(self.delta) for name in layers}
        self.first_alarm = {}

    @property
    def threshold(self) -> float:
        """The e-value at which a layer alarms: layers / alpha."""
        return len(self.layers) / self.alpha

    def rows_for(self, n: int) -> int:
        """Probe rows drawn at each look from a probe of ``n``."""
        rows = self.subsample if self.subsample is not None else n // 2
        if not 4 <= rows <= n:
            raise ValueError(f"monitor subsample ({rows}) must lie in 4..{n}, the probe's rows")
        return rows

    def observe(self, step: float, layer: str, value: float) -> dict[str, object]:
        """One look at ``layer``: the measure's ``value`` on this look's subsample; returns the row step, layer,
        change, e_value, threshold, alarm (E has reached the threshold at this look or before), first_alarm (the
        step it first did, NaN before). A NaN value (undefined on this draw) leaves E as it was."""
        process = self.processes[layer]
        if math.isnan(value):
            e = math.exp(process.log_e)
            change = math.nan
        else:
            change = change_share(self.metric, value)
            e = process.observe(change)
        if e >= self.threshold and layer not in self.first_alarm:
            self.first_alarm[layer] = step
        return dict(step=step, layer=layer, metric=self.metric, change=change, e_value=e, threshold=self.threshold,
                    alarm=layer in self.first_alarm, first_alarm=self.first_alarm.get(layer, math.nan))
