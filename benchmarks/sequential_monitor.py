"""[14] The Tracker's change monitor (repchange.tool.sequential) by simulation: false alarms over 1,000 looks on the
null's boundary (each look's change drawn with mean delta exactly) against a fixed-level test read at every look, and
the detection delay after a change at a known look. Run alone: ``python benchmarks/sequential_monitor.py``."""

from __future__ import annotations

import numpy as np
from scipy import stats

from repchange.tool.sequential import EProcess

DELTA, LOOKS = 0.05, 1_000


def _first_alarm(xs: np.ndarray, threshold: float) -> int | None:
    process = EProcess(DELTA)
    for look, x in enumerate(xs, 1):
        if process.observe(float(x)) >= threshold:
            return look
    return None


def run(reps: int = 1_000, seed: int = 0) -> dict[str, float]:
    """False-alarm rates at alpha 0.05 and 0.1 (e-process and a fixed-level test at every look) and the median and
    90th-percentile delays (looks) after the change goes from 0.5 delta to 3 delta and to 1.5 delta at look 200."""
    rng = np.random.default_rng(seed)
    null = stats.beta(2.0, 38.0)  # mean delta
    out: dict[str, float] = {}
    for alpha in (0.05, 0.1):
        draws = null.rvs(size=(reps, LOOKS), random_state=rng)
        out[f"e_process_false_alarms_alpha_{alpha}"] = float(np.mean([_first_alarm(r, 1 / alpha) is not None
                                                                       for r in draws]))
        out[f"every_look_test_false_alarms_alpha_{alpha}"] = float((draws > null.ppf(1 - alpha)).any(axis=1).mean())
    before = stats.beta(2.0, 78.0)  # mean delta / 2
    for name, after in (("3_delta", stats.beta(3.0, 17.0)), ("1.5_delta", stats.beta(3.0, 37.0))):
        delays = []
        for _ in range(reps // 5):
            xs = np.concatenate([before.rvs(200, random_state=rng), after.rvs(LOOKS - 200, random_state=rng)])
            look = _first_alarm(xs, 1 / 0.05)
            delays.append(np.inf if look is None else look - 200)
        out[f"delay_median_{name}"] = float(np.median(delays))
        out[f"delay_p90_{name}"] = float(np.percentile(delays, 90))
        out[f"alarm_before_change_{name}"] = float(np.mean(np.array(delays) <= 0))
    return out


def report(results: dict[str, float]) -> None:
    print(f"\n[14] change monitor, {LOOKS} looks, delta {DELTA} (share of the measure's range)")
    for key, value in results.items():
        print(f"  {key:>40}: {value:.3g}")


if __name__ == "__main__":
    report(run())
