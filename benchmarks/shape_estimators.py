"""[15] Three estimators of the angular Procrustes distance against the population's value, as the probe narrows:
the in-sample plug-in (``procrustes``), held out (``procrustes_heldout``: aligned on half, scored on the other half)
and from moments (``procrustes_moments``, Pospisil et al. 2024, with one ordering and averaged over eight), on
Gaussian sides of p features each with Σxx = Σyy = I and Σxy = s R (R a random rotation: the population's Procrustes
similarity is s), at n = 100 samples and p/n from 0.1 to 10. Run alone: ``python benchmarks/shape_estimators.py``."""

from __future__ import annotations

import math
import time

import numpy as np

from repchange.measure.held_out import held_out_shape
from repchange.measure.moment_shape import moment_procrustes

N = 100
RATIOS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0)
SIMILARITIES = (0.0, 0.6, 0.9)


def _sides(p: int, similarity: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rotation = np.linalg.qr(rng.standard_normal((p, p)))[0]
    x = rng.standard_normal((N, p))
    return x, similarity * x @ rotation + math.sqrt(1 - similarity ** 2) * rng.standard_normal((N, p))


def run(draws: int = 5, seed: int = 0) -> list[dict]:
    """Per (similarity, p/n): each estimator's mean distance over ``draws`` draws (radians), the truth, the moment
    estimate's mean bias bound and bootstrap spread (similarity units), and the seconds of one moment estimate."""
    rng = np.random.default_rng(seed)
    rows = []
    for similarity in SIMILARITIES:
        for ratio in RATIOS:
            p = int(round(ratio * N))
            values: dict[str, list[float]] = {k: [] for k in ("plug_in", "held_out", "moments", "moments_8", "bias",
                                                               "std", "seconds")}
            for d in range(draws):
                x, y = _sides(p, similarity, rng)
                start = time.perf_counter()
                one = moment_procrustes(x, y, seed=d)
                values["seconds"].append(time.perf_counter() - start)
                values["plug_in"].append(one.in_sample)
                values["moments"].append(one.distance)
                values["bias"].append(one.bias)
                values["std"].append(one.std)
                values["moments_8"].append(moment_procrustes(x, y, seed=d, orderings=8).distance)
                values["held_out"].append(held_out_shape(x, y, seed=d))
            rows.append({"similarity": similarity, "p_over_n": ratio, "truth": math.acos(similarity),
                         **{k: float(np.mean(v)) for k, v in values.items()}})
    return rows


def report(rows: list[dict]) -> None:
    print(f"\n[15] Procrustes distance estimators (radians; n = {N}; mean of draws) against the population's value")
    keys = ("similarity", "p_over_n", "truth", "plug_in", "held_out", "moments", "moments_8", "bias", "std", "seconds")
    print(" | ".join(f"{k:>10}" for k in keys))
    for row in rows:
        print(" | ".join(f"{row[k]:>10.3f}" for k in keys))


if __name__ == "__main__":
    report(run())
