"""Anytime-valid change detection (tool.sequential): under "the layer changed by at most delta" the chance of any
alarm over 1,000 looks stays at or below alpha, where a fixed-level test at every look alarms almost surely; a change
at a known look is detected, with the delay measured; the Tracker's monitor on real activations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from repchange.tool.sequential import ChangeMonitor, EProcess, change_share
from repchange.tool.track import Tracker

DELTA, LOOKS, REPS = 0.05, 1_000, 400
NULL = stats.beta(2.0, 38.0)  # a change whose mean is delta exactly: the hardest case of the null


def _alarm_look(process: EProcess, xs: np.ndarray, threshold: float) -> int | None:
    for look, x in enumerate(xs, 1):
        if process.observe(float(x)) >= threshold:
            return look
    return None


def test_no_alarm_beyond_alpha_in_1000_looks_where_a_test_at_every_look_alarms_almost_surely() -> None:
    alpha = 0.1
    rng = np.random.default_rng(0)
    draws = NULL.rvs(size=(REPS, LOOKS), random_state=rng)
    assert abs(draws.mean() - DELTA) < 1e-3  # the simulated layers sit on the null's boundary
    alarms = sum(_alarm_look(EProcess(DELTA), row, 1 / alpha) is not None for row in draws)
    bound = alpha + 3 * math.sqrt(alpha * (1 - alpha) / REPS)
    assert alarms / REPS <= bound, f"{alarms} of {REPS} null runs alarmed"
    naive = (draws > NULL.ppf(1 - alpha)).any(axis=1).mean()  # a level-alpha test at each look, read at every look
    assert naive > 0.99  # the same data contradict the fixed-level test: the check can fail


def test_a_family_of_layers_alarms_at_most_alpha_under_the_null() -> None:
    rng = np.random.default_rng(1)
    monitor = ChangeMonitor(delta=DELTA, alpha=0.1)
    any_alarm = 0
    for _ in range(200):
        monitor.start([f"layer{i}" for i in range(5)])
        xs = NULL.rvs(size=(300, 5), random_state=rng)
        for step, row in enumerate(xs):
            for i, x in enumerate(row):
                monitor.observe(step, f"layer{i}", 1 - float(x))  # cka = 1 - change
        any_alarm += bool(monitor.first_alarm)
    assert any_alarm / 200 <= 0.1 + 3 * math.sqrt(0.09 / 200)


def test_a_change_at_a_known_look_is_detected_and_its_delay_measured() -> None:
    rng = np.random.default_rng(2)
    before, after = stats.beta(2.0, 78.0), stats.beta(3.0, 17.0)  # mean 0.025, then 0.15 = 3 delta from look 200
    delays = []
    for _ in range(100):
        xs = np.concatenate([before.rvs(200, random_state=rng), after.rvs(800, random_state=rng)])
        look = _alarm_look(EProcess(DELTA), xs, 1 / 0.05)
        assert look is not None and look > 200, f"alarm at look {look}: before the change, or never"
        delays.append(look - 200)
    assert np.median(delays) < 25, f"median detection delay {np.median(delays)} looks"


def test_bad_settings_and_values_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="monitor delta must lie in"):
        ChangeMonitor(delta=0.0)
    with pytest.raises(ValueError, match="needs a bounded range"):
        ChangeMonitor(metric="cka_debiased")
    with pytest.raises(ValueError, match="outside its range"):
        change_share("cka", 1.5)
    assert change_share("procrustes", math.pi / 4) == pytest.approx(0.5)
    assert change_share("cka", 1.0) == 0.0


def test_the_trackers_monitor_stays_quiet_on_an_unchanged_layer_and_alarms_on_a_reinitialised_one(tmp_path) -> None:
    torch.manual_seed(0)
    model, x = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8)), torch.randn(80, 6)
    tracker = Tracker(model, x, layers=["1", "2"], metrics=("cka",), monitor=ChangeMonitor(delta=0.05),
                      out=tmp_path / "t")
    for step in range(5):
        tracker.update(step)
    quiet = tracker.changes
    assert (quiet.change.abs() < 1e-9).all() and not quiet.alarm.any()  # the same weights: no change on any draw
    torch.nn.init.normal_(model[2].weight, std=1.0)  # layer 2 replaced; layer 1 untouched
    for step in range(5, 15):
        tracker.update(step)
    changes = tracker.changes
    assert changes[changes.layer == "2"].alarm.iloc[-1], "a re-initialised layer was not detected"
    assert not changes[changes.layer == "1"].alarm.any()
    assert changes.threshold.iloc[0] == pytest.approx(2 / 0.05)  # two layers: Bonferroni over e-values
    # each look is a fresh subsample: the re-initialised layer's values differ from look to look
    assert changes[(changes.layer == "2") & (changes.step >= 5)].value.nunique() > 1
    # a restarted run replays the saved looks: the same e-values, and a repeated step replaces its look
    again = Tracker(model, x, layers=["1", "2"], metrics=("cka",), monitor=ChangeMonitor(delta=0.05),
                    out=tmp_path / "t")
    assert np.allclose(again.changes.e_value, changes.e_value)
    again.update(14)
    assert len(again.changes) == len(changes) and np.allclose(again.changes.e_value, changes.e_value)
    with pytest.raises(ValueError, match="monitor with other settings"):
        Tracker(model, x, layers=["1", "2"], metrics=("cka",), monitor=ChangeMonitor(delta=0.1), out=tmp_path / "t")
    with pytest.raises(ValueError, match="streaming=False"):
        Tracker(model, x, layers=["1"], metrics=("cka_debiased",), monitor=ChangeMonitor(), streaming=True)
    with pytest.raises(ValueError, match=r"subsample \(200\) must lie in 4..80"):
        Tracker(model, x, layers=["1"], metrics=("cka",), monitor=ChangeMonitor(subsample=200))
