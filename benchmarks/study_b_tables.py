"""`make bench`, part 8: what Study B's distance tables cost, and the two levers that pay for them.

1. PWSM of one layer at the book's three alphas, on the positions-as-samples shape of the largest
   small-net layer (200 probe images x 28 x 28 positions, 72 channels): one whitened (n, p) copy of
   each side per alpha (the previous ``pwsm``, written out here) against
   :func:`repchange.measure.metrics.pwsm_alphas` (one (p, q) cross product, whitening maps applied to it).
   Reported: both times, the ratio and the largest difference (radians; the same maths in another
   float order).
2. One Study B run's distance table (``densenet_small``, 200 probe images, checkpoints 0, 1, 2, 3, 5, 7;
   briefly trained nets: the table's cost does not depend on how well they learnt) for two runs:
   in the calling process at torch's default threads, one after the other (how the tables were made
   before), against the book's way (two worker processes, one thread each), on a quiet machine and
   with one busy process beside it (a second job on a 2-core laptop, or CI's neighbours). Reported:
   seconds of each, the ratios and the largest difference of the two tables (the activations are float32
   and the thread count changes their float order: about 1e-7, not bit-identical).
3. One layer's PWSM rows (all probes and each class, the book's three alphas) as the tables computed them before
   (a :class:`repchange.measure.metrics.Factors` of each group's positions, float64 (n·H·W, C) copies) against
   :mod:`repchange.measure.position_moments` (each group's (2C, 2C) moments in one pass), on a small net's layer
   (200 probes x 28 x 28, 72 channels, 5 classes), on VGG19's conv1_2 at 224 pixels (42 probes, 64 channels,
   15 classes: the rehearsal's), and on ResNet-50's conv4_x and conv5_x (1024 and 2048 channels, 14 x 14 and 7 x 7:
   each class has fewer positions than channels, so its alpha = 1 comes from the Gram form of its positions);
   also a further checkpoint against the source's kept moments. Reported: the times, the ratios and the largest
   difference (radians).

Run alone: ``python benchmarks/study_b_tables.py``.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

import kernel_vs_pool
from repchange.measure.features import positions_as_samples
from repchange.measure.metrics import ALPHAS, Factors, procrustes_angle, pwsm_alphas
from repchange.base.threads import torch_threads
from repchange.measure.position_moments import pair_moments, pwsm_alphas_from_moments, reference_moments
from repchange.runs.runtime import Runtime
from repchange.runs.store import Store
from repchange.studies.b import tables

RUN = dict(archs=["densenet_small"], targets=["fashion_new_classes"], seeds=[1, 2], source_epochs=1,
           source_size=512, finetune_epochs=7, finetune_checkpoints=[0, 1, 2, 3, 5, 7], finetune_size=128,
           finetune_eval_size=500, finetune_lr=1e-4, finetune_batch_size=32, n_probe=200)


def _pwsm_per_alpha(fx: Factors, fy: Factors, alpha: float) -> float:
    """The previous ``pwsm``: whitened copies φ(X) = Xc W of both sides, then their Procrustes angle."""
    px, py = fx.x @ fx.whitening(alpha), fy.x @ fy.whitening(alpha)
    nuclear = torch.linalg.svdvals(px.T @ py).sum()
    return math.acos(min(1.0, float(nuclear / torch.sqrt((px * px).sum() * (py * py).sum()))))


def pwsm_lever(n: int = 200 * 28 * 28, p: int = 72, reps: int = 3) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(n, p, generator=gen))
    y = torch.relu(x + 0.5 * torch.randn(n, p, generator=gen))

    def fresh() -> tuple[Factors, Factors]:  # the table builds each fine-tuned side anew per checkpoint
        fx, fy = Factors(x), Factors(y)
        fx.whitening(0.0), fx.whitening(0.5)  # the source side is cached across checkpoints: not timed
        return fx, fy

    def timed(fn) -> tuple[float, dict[float, float]]:
        best, out = math.inf, {}
        for _ in range(reps):
            fx, fy = fresh()
            start = time.perf_counter()
            out = fn(fx, fy)
            best = min(best, time.perf_counter() - start)
        return best, out

    before, old = timed(lambda fx, fy: {a: _pwsm_per_alpha(fx, fy, a) if a < 1 else procrustes_angle(fx, fy)
                                        for a in ALPHAS})
    now, new = timed(lambda fx, fy: pwsm_alphas(fx, fy, ALPHAS))
    return {"shape": f"{n} x {p}", "per_alpha_s": before, "one_cross_s": now, "speed_ratio": before / now,
            "max_difference_rad": max(abs(old[a] - new[a]) for a in ALPHAS)}


def _kernel_way(params: tables.DynamicsParams, runtime: Runtime) -> pd.DataFrame:
    """Every run's table in this process at torch's default threads, one after the other."""
    return pd.concat([tables._dynamics_table(cfg, params, runtime).assign(seed=cfg.source.seed)
                      for cfg in tables._runs(params)], ignore_index=True)


def _pool_way(params: tables.DynamicsParams, runtime: Runtime) -> pd.DataFrame:
    shutil.rmtree(runtime.store.root / "study_b" / "dynamics", ignore_errors=True)
    return tables.dynamics(params, runtime)


def table_lever() -> dict[str, object]:
    params = tables.dynamics_params(**RUN)
    out: dict[str, object] = {"runs": len(tables._runs(params)), "threads_default": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(Store(Path(tmp) / "store"), "cpu")
        tables.train_all(tables._runs(params), runtime=runtime)
        out.update(kernel_vs_pool.compare(lambda: _kernel_way(params, runtime), lambda: _pool_way(params, runtime),
                                          ["seed", "layer", "epoch", "cls", "metric"]))
    return out


def _groups_by_factors(x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor) -> dict[str, dict[float, float]]:
    """The previous way: each group's positions as Factors (alphas < 1 left out where positions < channels)."""
    out = {}
    for group in ["all", *(str(c) for c in labels.unique().tolist())]:
        mask = torch.ones_like(labels, dtype=torch.bool) if group == "all" else labels == int(group)
        fx, fy = Factors(positions_as_samples(x[mask])), Factors(positions_as_samples(y[mask]))
        out[group] = pwsm_alphas(fx, fy, [a for a in ALPHAS if a == 1 or fx.n >= fx.p])
    return out


def _groups_by_moments(x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor, reference=None
                       ) -> dict[str, dict[float, float]]:
    return {group: pwsm_alphas_from_moments(m, [a for a in ALPHAS if a == 1 or m.count >= m.channels])
            for group, m in pair_moments(x, y, labels, reference=reference).items()}


def moments_lever() -> list[dict[str, object]]:
    rows = []
    layers = {"small net (28 px)": (200, 72, 28, 5), "VGG19 conv1_2 (224 px)": (42, 64, 224, 15),
              "ResNet-50 conv4_x (224 px)": (42, 1024, 14, 15), "ResNet-50 conv5_x (224 px)": (42, 2048, 7, 15)}
    for name, (n, c, h, classes) in layers.items():
        gen = torch.Generator().manual_seed(0)
        x = torch.relu(torch.randn(n, c, h, h, generator=gen))
        y = torch.relu(x + 0.5 * torch.randn(n, c, h, h, generator=gen))
        labels = torch.arange(n) % classes
        with torch_threads(1):  # as in the pool's workers
            start = time.perf_counter()
            before = _groups_by_factors(x, y, labels)
            before_s = time.perf_counter() - start
            start = time.perf_counter()
            after = _groups_by_moments(x, y, labels)
            after_s = time.perf_counter() - start
            # a checkpoint against a source whose moments (and eigendecompositions) were computed before
            reference = reference_moments(x, labels)
            _groups_by_moments(x, y, labels, reference)
            start = time.perf_counter()
            shared = _groups_by_moments(x, y, labels, reference)
            shared_s = time.perf_counter() - start
        difference = max(abs(before[g][a] - v[g][a]) for v in (after, shared) for g in before for a in before[g])
        rows.append(dict(layer=name, factors_s=before_s, moments_s=after_s, speed_ratio=before_s / after_s,
                         per_checkpoint_s=shared_s, checkpoint_ratio=before_s / shared_s,
                         max_difference_rad=difference))
        del x, y
    return rows


def main() -> dict[str, object]:
    os.environ["REPCHANGE_PROGRESS"] = "0"
    pwsm = pwsm_lever()
    moments = moments_lever()
    table = table_lever()
    print("\n[8] Study B's distance tables")
    print(f"  PWSM at alphas 0, 0.5 and 1 ({pwsm['shape']}): whitened copies per alpha {pwsm['per_alpha_s']:.2f} s, "
          f"one cross product {pwsm['one_cross_s']:.3f} s: {pwsm['speed_ratio']:.1f}x; largest difference "
          f"{pwsm['max_difference_rad']:.1e} rad")
    for row in moments:
        print(f"  a layer's PWSM, all probes and each class, {row['layer']}: each group's positions as Factors "
              f"{row['factors_s']:.2f} s, each group's moments {row['moments_s']:.2f} s: {row['speed_ratio']:.1f}x; "
              f"a further checkpoint against the source's kept moments {row['per_checkpoint_s']:.2f} s: "
              f"{row['checkpoint_ratio']:.1f}x; largest difference {row['max_difference_rad']:.1e} rad")
    for load in kernel_vs_pool.LOADS:
        print(f"  {table['runs']} densenet_small tables, {load}: in the kernel ({table['threads_default']} threads, one "
              f"after the other) {table[f'{load}: kernel_s']:.1f} s, two 1-thread workers "
              f"{table[f'{load}: pool_s']:.1f} s: {table[f'{load}: speed_ratio']:.2f}x")
    print(f"  largest difference between the two ways' tables: {table['max_difference']:.1e}")
    return {"pwsm": pwsm, "moments": moments, "tables": table}


if __name__ == "__main__":
    main()
