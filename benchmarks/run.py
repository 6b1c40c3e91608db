"""`make bench`: where the time of a Study A figure goes, measured in one run, as ratios.

Stages of one seed of the default Figure 1 (conv4 on Fashion-MNIST, n = 500 probe images):
training throughput, probe-set feature extraction per checkpoint, and the similarity table
computed two ways -- the cached engine (each checkpoint's centred Gram computed once and
shared by every comparison and metric) against a direct per-pair ``linear_cka`` call -- with
their ratio and the largest difference between the two tables.

Results are printed and written to ``runs/bench/<time>.json``.
"""

from __future__ import annotations

import json
import resource
import tempfile
import time
from pathlib import Path

import torch

from repchange import data
from repchange.experiments import study_a
from repchange.features import extract
from repchange.metrics import centred_gram, cka_from_grams, linear_cka
from repchange.store import Store
from repchange.train import OptimiserSpec

EPOCHS, TRAIN_SIZE, N_PROBE = 3, 1024, 500


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ds = data.load("fashion_mnist")
    probe = ds.test.subset(slice(0, N_PROBE))
    cfg = study_a.PretrainConfig(epochs=EPOCHS, train_size=TRAIN_SIZE, eval_size=500,
                                 optimiser=OptimiserSpec("sgd", lr=1e-3, momentum=0.9, batch_size=32))
    with tempfile.TemporaryDirectory() as tmp:
        run, train_s = timed(lambda: study_a.pretrain(cfg, ds, store=Store(tmp), device="cpu"))
        models = [run.model_at(e) for e in range(EPOCHS + 1)]
        independent = run.new_model(cfg.seed + study_a.INDEPENDENT_SEED_OFFSET)
        acts, extract_s = timed(lambda: [extract(m, m.probe_layers, probe) for m in [*models, independent]])
        refs = {"init": acts[0], "independent_init": acts[-1]}

        def cached() -> list[float]:
            grams = [{k: centred_gram(v) for k, v in a.items()} for a in acts]
            ref_grams = {"init": grams[0], "independent_init": grams[-1]}
            return [cka_from_grams(g[layer], ref_grams[c][layer], debiased=d)
                    for g in grams[:-1] for layer in g for c in ref_grams for d in (False, True)]

        def direct() -> list[float]:
            return [linear_cka(a[layer], refs[c][layer], debiased=d)
                    for a in acts[:-1] for layer in a for c in refs for d in (False, True)]

        cached_vals, cached_s = timed(cached)
        direct_vals, direct_s = timed(direct)
    diff = max(abs(a - b) for a, b in zip(cached_vals, direct_vals))
    samples = EPOCHS * TRAIN_SIZE
    results = {
        "setup": f"conv4 width 64, Fashion-MNIST, {TRAIN_SIZE} train images x {EPOCHS} epochs, probe n={N_PROBE}, "
                 f"{torch.get_num_threads()} CPU threads",
        "training_samples_per_s": samples / train_s,
        "training_s": train_s,
        "feature_extraction_s_per_checkpoint": extract_s / len(acts),
        "cka_table_pairs": len(cached_vals),
        "cka_cached_s": cached_s,
        "cka_direct_s": direct_s,
        "cka_speedup_cached_vs_direct": direct_s / cached_s,
        "cka_max_abs_difference": diff,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value:.4g}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    out = Path(__file__).resolve().parents[1] / "runs" / "bench" / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
