"""`make bench`: speed and memory of the similarity engine, as ratios measured in one run.

1. Study A similarity table (conv4, every probed layer x every epoch's checkpoint x
   {own init, independent init} x {biased, debiased CKA}, n = 500 probe images) on two input
   shapes: Fashion-MNIST 28x28x1, and 32x32x3 (Fashion-MNIST zero-padded to 32 px and
   repeated over 3 channels: the CIFAR-10 shape, which is all the engine's cost depends on).
   The cached engine (one :class:`repchange.metrics.Factors` per checkpoint and layer, shared
   by every comparison and metric) is timed against a direct per-pair ``linear_cka`` on the
   raw activations, on the same activations; reported: both times, their ratio, the largest
   relative difference of the two tables, and the peak resident memory of each (sampled).
   Training throughput and feature-extraction time are reported beside them.
2. Streamed (minibatch) CKA for n = 10,000 samples of p = 65,536 features, in batches of 500
   generated on the fly, in a child process: its peak resident memory.

Printed as a table and written to ``runs/bench/<time>.json``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from repchange import data
from repchange.data import Split
from repchange.experiments import study_a
from repchange.features import extract, factors_of
from repchange.metrics import MinibatchCKA, linear_cka
from repchange.models import Conv4
from repchange.train import OptimiserSpec, load_checkpoint, train

EPOCHS, TRAIN_SIZE, N_PROBE, SEEDS = 3, 1024, 500, (1, 2)
STREAM_N, STREAM_P, STREAM_BATCH = 10_000, 65_536, 500


class PeakRSS:
    """Peak resident memory (MB) of this process while the block runs, sampled every 5 ms."""

    def __enter__(self) -> "PeakRSS":
        self.peak, self._stop = self._rss(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _rss() -> float:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def pad_to_32x3(split: Split) -> Split:
    images = F.pad(split.images, (2, 2, 2, 2)).repeat(1, 3, 1, 1)
    return Split(images.contiguous(), split.labels)


def checkpoints(shape_name: str, tr: Split, te: Split, seed: int, tmp: Path) -> tuple[list[torch.nn.Module], float]:
    c, h = tr.images.shape[1], tr.images.shape[2]

    def new(s: int) -> Conv4:
        torch.manual_seed(s)
        return Conv4(c, 10, h)

    run_dir = tmp / f"{shape_name}-{seed}"
    _, seconds = timed(lambda: train(new(seed), tr, te, epochs=EPOCHS, seed=seed, run_dir=run_dir,
                                     optimiser=OptimiserSpec("sgd", lr=1e-3, momentum=0.9, batch_size=32),
                                     checkpoint_epochs=range(EPOCHS + 1), device="cpu", desc=shape_name))
    models = [load_checkpoint(new(seed), run_dir, e) for e in range(EPOCHS + 1)]
    return [*models, new(seed + study_a.INDEPENDENT_SEED_OFFSET)], seconds


def table_benchmark(shape_name: str, tr: Split, te: Split, tmp: Path) -> dict[str, float | str]:
    probe = te.subset(slice(0, N_PROBE))
    per_seed, train_s = [], 0.0
    for seed in SEEDS:
        models, seconds = checkpoints(shape_name, tr, te.subset(slice(0, 500)), seed, tmp)
        train_s += seconds
        per_seed.append(models)
    all_models = [m for models in per_seed for m in models]
    acts, extract_s = timed(lambda: [extract(m, m.probe_layers, probe) for m in all_models])
    acts_by_seed = [acts[i * (EPOCHS + 2):(i + 1) * (EPOCHS + 2)] for i in range(len(SEEDS))]
    combos = [(c, d) for c in ("init", "independent_init") for d in (False, True)]

    def cached() -> list[float]:
        values = []
        for seed_acts in acts_by_seed:
            refs = {"init": factors_of(seed_acts[0]), "independent_init": factors_of(seed_acts[-1])}
            for epoch, epoch_acts in enumerate(seed_acts[:-1]):
                reps = refs["init"] if epoch == 0 else factors_of(epoch_acts)
                values += [linear_cka(reps[layer], refs[c][layer], debiased=d) for layer in reps for c, d in combos]
        return values

    def direct() -> list[float]:
        values = []
        for seed_acts in acts_by_seed:
            refs = {"init": seed_acts[0], "independent_init": seed_acts[-1]}
            for epoch_acts in seed_acts[:-1]:
                values += [linear_cka(epoch_acts[layer], refs[c][layer], debiased=d)
                           for layer in epoch_acts for c, d in combos]
        return values

    with PeakRSS() as mem_cached:
        cached_vals, cached_s = timed(cached)
    with PeakRSS() as mem_direct:
        direct_vals, direct_s = timed(direct)
    rel = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(cached_vals, direct_vals))
    widths = {k: v.shape[1] for k, v in acts[0].items()}
    return {
        "input": shape_name,
        "layer_widths": str(widths),
        "pairs": len(cached_vals),
        "train_samples_per_s": len(SEEDS) * EPOCHS * len(tr) / train_s,
        "extract_s_per_checkpoint": extract_s / len(all_models),
        "cached_s": cached_s,
        "direct_s": direct_s,
        "speedup": direct_s / cached_s,
        "max_rel_diff": rel,
        "cached_peak_rss_mb": mem_cached.peak,
        "direct_peak_rss_mb": mem_direct.peak,
    }


def streaming_child() -> None:
    """Run in a child process: minibatch CKA over n = STREAM_N samples, p = STREAM_P features."""
    acc = MinibatchCKA(debiased=True)
    gen = torch.Generator().manual_seed(0)
    mix = torch.randn(64, STREAM_P, generator=gen) / 8
    start = time.perf_counter()
    for _ in range(STREAM_N // STREAM_BATCH):
        latent = torch.randn(STREAM_BATCH, 64, generator=gen)
        x = latent @ mix + torch.randn(STREAM_BATCH, STREAM_P, generator=gen)
        y = latent @ mix + torch.randn(STREAM_BATCH, STREAM_P, generator=gen)
        acc.update(x, y)
    print(json.dumps({"value": acc.value, "seconds": time.perf_counter() - start}))


def streaming_benchmark() -> dict[str, float | str]:
    proc = subprocess.run([sys.executable, __file__, "--streaming-child"], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"input": f"minibatch CKA n={STREAM_N} p={STREAM_P} batch={STREAM_BATCH}",
            "cka": result["value"], "seconds": result["seconds"], "peak_rss_mb": peak_mb}


def main() -> None:
    ds = data.load("fashion_mnist")
    tr, te = ds.train.subset(slice(0, TRAIN_SIZE)), ds.test
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rows = [table_benchmark("28x28x1", tr, te, tmp), table_benchmark("32x32x3", pad_to_32x3(tr), pad_to_32x3(te), tmp)]
    stream = streaming_benchmark()
    results = {"threads": torch.get_num_threads(), "seeds": list(SEEDS), "epochs": EPOCHS, "n_probe": N_PROBE,
               "tables": rows, "streaming": stream}
    keys = [k for k in rows[0] if k != "layer_widths"]
    print(f"Study A similarity table: {len(SEEDS)} seeds x {EPOCHS + 1} checkpoints x 5 layers x 2 comparisons"
          f" x 2 CKA estimators, n = {N_PROBE}, {torch.get_num_threads()} threads")
    print(" | ".join(f"{k:>12}" for k in keys))
    for row in rows:
        print(" | ".join(f"{row[k]:>12.4g}" if isinstance(row[k], float) else f"{row[k]!s:>12}" for k in keys))
    print(f"streamed CKA: {stream['input']}: {stream['seconds']:.1f} s, peak RSS {stream['peak_rss_mb']:.0f} MB,"
          f" value {stream['cka']:.4f}")
    out = Path(__file__).resolve().parents[1] / "runs" / "bench" / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--streaming-child"]:
        streaming_child()
    else:
        main()
