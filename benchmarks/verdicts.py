"""`make bench`, part 6: the verdict rule and the estimator grid's cost.

(a) The verdict rule calibrated (``repchange.studies.verdicts.calibration_table``): on synthetic units drawn
with a known effect (spread one smallest effect of interest, SESOI), the rate of false "holds" under no
effect — nominal (1 - level) / 2 = 2.5 % — and the rate of "holds" at one and two SESOIs, at n = 3 and 5,
for normal and skewed units; the same for the bare t interval and a percentile bootstrap.
(b) The cost of each Study A estimator per comparison on a conv4 block-1-sized layer (n = 500 probe
images, p = 12,544 features) from cached factors, as a ratio to biased CKA's: what the estimator grid adds.
"""

from __future__ import annotations

import time

import torch

from repchange.studies import verdicts
from repchange.measure.metrics import Factors
from repchange.studies.a.estimators import ESTIMATORS


def calibration(draws: int = 4000) -> list[dict[str, object]]:
    table = verdicts.calibration_table(ns=(3, 5), effects=(0.0, 1.0, 2.0), draws=draws)
    return table.to_dict("records")


def estimator_cost(n: int = 500, p: int = 12_544, pairs: int = 3) -> dict[str, float]:
    """Seconds per comparison of each estimator from factors whose Gram matrices are cached (as in the
    estimator tables); what an estimator derives from a Gram (Procrustes: its square root) it pays itself."""
    torch.manual_seed(0)
    base = torch.randn(n, p)
    reps = [Factors(base + 0.5 * torch.randn(n, p)) for _ in range(pairs + 1)]
    for rep in reps:
        rep.gram  # noqa: B018 -- cached on first use
    seconds = {}
    from repchange.measure.metrics import linear_cka, mutual_knn, procrustes_angle

    functions = {"cka": lambda x, y: linear_cka(x, y), "cka_debiased": lambda x, y: linear_cka(x, y, debiased=True),
                 "procrustes": procrustes_angle, "mutual_knn": mutual_knn}
    for name in ESTIMATORS:
        start = time.perf_counter()
        for k in range(1, pairs + 1):
            functions[name](reps[0], reps[k])
        seconds[name] = (time.perf_counter() - start) / pairs
    return {**{f"{k}_s": v for k, v in seconds.items()},
            **{f"{k}_over_cka": v / seconds["cka"] for k, v in seconds.items()}}


def main() -> dict[str, object]:
    rows = calibration()
    cost = estimator_cost()
    print("\n[6] the verdict rule: rate of 'holds' (effect in SESOIs; nominal false-holds rate 0.025)")
    print(f"{'method':>12} {'sampler':>8} {'n':>3} {'effect':>6} {'holds':>7} {'negligible':>10}")
    for r in rows:
        print(f"{r['method']:>12} {r['sampler']:>8} {r['n']:>3} {r['effect_sesoi']:>6} {r['holds']:>7.3f} "
              f"{r['negligible']:>10.3f}")
    print("estimator cost per comparison (n = 500, p = 12,544), ratio to biased CKA: "
          + ", ".join(f"{k}: {cost[k + '_over_cka']:.1f}x" for k in ESTIMATORS))
    return {"calibration": rows, "estimator_cost": cost}
