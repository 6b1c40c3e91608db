"""`make bench`: speed and memory, as ratios measured in one run.

0. Training and extraction (``benchmarks/training.py``): trainer against a bare loop, 1 against
   2 threads, share of sgemm, extraction before/after, independent runs serial against a pool,
   and two training processes oversubscribed against pinned.
1. Study A similarity table (conv4, n = 500 probe images, biased and debiased CKA, every
   probed layer): the pre-training part (every epoch's checkpoint x {own init, independent
   init}) and the fine-tuning part (every fine-tuning epoch's checkpoint x {pre-trained net,
   pre-training init, independent init}, probed on the fine-tuning eval images), as
   ``studies.a.tables.cka_to_init`` and ``finetune_sweep`` compute them, on two input shapes:
   Fashion-MNIST 28x28x1, and 32x32x3 (Fashion-MNIST zero-padded to 32 px and repeated over 3
   channels: the CIFAR-10 shape, which is all the engine's cost depends on).
   The cached engine (one :class:`repchange.measure.metrics.Factors` per checkpoint and layer, shared
   by every comparison and metric) is timed against a direct per-pair ``linear_cka`` on the
   raw activations, on the same activations; reported: both times, their ratio, the largest
   relative difference of the two tables, and the resident memory each needed above what the
   process already held (sampled peak minus start).
   Training throughput and feature-extraction time are reported beside them.
2. Streamed (minibatch) CKA for n = 10,000 samples of p = 65,536 features, in batches of 500
   generated on the fly, in a child process: its peak resident memory.
3. ``repchange.tool.track`` (``benchmarks/tracking.py``): streamed CKA on a ResNet-50 stage for up to
   50,000 probe images (peak memory against n), and one exact update on the CPU against CUDA.
4. A book chapter built serially against in parallel (``benchmarks/book.py``): Figure 2's 25
   pre-training runs from an empty store, 1 process x 2 threads against the pool.
5. The verdict rule (``benchmarks/verdicts.py``): its calibration on synthetic units (false "holds"
   under no effect, "holds" at one and two smallest effects of interest, n = 3 and 5) beside the bare
   t interval and a percentile bootstrap; each Study A estimator's cost per comparison against CKA's.

6. The memorisation regime's cost (``benchmarks/regime.py``): where an epoch's time goes (training,
   test and training-fit evaluation), one pre-training run at the previous default (2,048 x 10) against
   the new one (1,024 x 16), and two levers measured against it and not adopted (no gain here):
   ``torch.compile`` of the step, and several seeds stacked as one grouped-convolution model; run keys
   parsed once per file version against every time; Study B's source training at its plateau (shared
   twins) against the previous 3 epochs.

7. Study B's distance tables (``benchmarks/study_b_tables.py``): PWSM at every alpha from one cross product
   against whitened copies per alpha, a layer's PWSM per class from each group's moments against each group's
   positions as Factors, and a run's table in the notebook's process at torch's default
   threads against the worker pool at one thread each, on a quiet machine and beside one busy process.

8. Study A's tables (``benchmarks/study_a_tables.py``): the chapters' CKA tables and the estimator grid's
   (biased and debiased CKA, angular Procrustes, mutual k-NN), sized as the book's, in the notebook's
   process at torch's default threads against the worker pool at one thread each, quiet and beside one busy
   process.

10. CPU lost in the kernel and memory held by temporaries (``benchmarks/cpu_waste.py``, printed [10]): freed memory kept in the
   process (every block, or blocks below 32 MiB) against glibc's defaults (conv4 training, a VGG19-shaped Study B
   table), per-filter metrics in chunks against the whole stack, a worker pool's start-up per call, and OpenMP's
   wait policy (spinning against passive) on two threads, quiet and beside one busy process.

11. Another CPU's float order (``benchmarks/float_order.py``): conv4 trained with every kernel this CPU has against
   the same seed capped at AVX2 and against another seed: how far apart the weights, accuracies and representations.

12. One Study B distance table's peak memory against its probe count (``benchmarks/table_memory.py``): VGG19 at
   224 px held whole against read in chunks (:mod:`repchange.studies.b.streaming`), and the default chunk's peak
   against its prediction.

13. The ``paper`` profile's Study B tables on one stated machine (``benchmarks/paper_cost.py``): per-image units measured
   here for VGG19, ResNet50 and DenseNet121, and from them each chapter's CPU hours, RAM, tables at once, wall clock and
   disk on 16 cores and 128 GB (the table How to run shows).

14. The Tracker's change monitor by simulation (``benchmarks/sequential_monitor.py``): false alarms over 1,000 looks
   on the null's boundary, the e-process against a fixed-level test read at every look, and detection delays.

15. The Procrustes distance's estimators against the population's value (``benchmarks/shape_estimators.py``): the
   in-sample plug-in, held out, and from moments (Pospisil et al. 2024), at p/n from 0.1 to 10.

Printed as a table and written to ``runs/bench/<time>.json``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from repchange.data import datasets as data
from repchange.data.datasets import Split
from repchange.measure.features import extract, factors_of
from repchange.measure.metrics import MinibatchCKA, linear_cka
from repchange.nets.conv4 import Conv4
from repchange.runs.trainer import OptimiserSpec, train

EPOCHS, TRAIN_SIZE, N_PROBE, SEEDS = 10, 1024, 500, (1, 2)  # 10 + 10 epochs (the book: 16 + 10)
STREAM_N, STREAM_P, STREAM_BATCH = 10_000, 65_536, 500


class PeakRSS:
    """Peak resident memory (MB) of this process while the block runs, sampled every 5 ms."""

    def __enter__(self) -> "PeakRSS":
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def extra(self) -> float:
        """Peak minus the resident memory when the block began (MB): what the block itself needed."""
        return self.peak - self.start

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


def trained_checkpoints(model: torch.nn.Module, tr: Split, te: Split, seed: int, run_dir: Path
                        ) -> tuple[list[dict[str, torch.Tensor]], float]:
    """Train ``model`` for EPOCHS epochs; the state dict of every epoch (0 = the given model) and the seconds."""
    _, seconds = timed(lambda: train(model, tr, te, epochs=EPOCHS, seed=seed, run_dir=run_dir,
                                     optimiser=OptimiserSpec("sgd", lr=1e-3, momentum=0.9, batch_size=32),
                                     checkpoint_epochs=range(EPOCHS + 1), device="cpu", desc=run_dir.name))
    states = [torch.load(run_dir / "checkpoints" / f"epoch_{e:03d}.pt", weights_only=True) for e in range(EPOCHS + 1)]
    return states, seconds


def table_benchmark(shape_name: str, tr: Split, te: Split, tmp: Path) -> dict[str, float | str]:
    """Activations of the whole Study A table, then the cached engine against direct per-pair CKA."""
    c, h = tr.images.shape[1], tr.images.shape[2]

    def new(s: int) -> Conv4:
        torch.manual_seed(s)
        return Conv4(c, 10, h)

    def acts_of(state: dict[str, torch.Tensor], probe: Split) -> dict[str, torch.Tensor]:
        model = new(0)
        model.load_state_dict(state)
        return extract(model, model.probe_layers, probe)

    pre_probe = te.subset(slice(0, N_PROBE))  # pre-training: the first test images
    ft_train, ft_eval = te.subset(slice(0, 500)), te.subset(slice(500, 500 + N_PROBE))  # fine-tuning: authors' split
    train_s, extract_s, n_checkpoints, tables = 0.0, 0.0, 0, []
    for seed in SEEDS:
        pre_states, seconds = trained_checkpoints(new(seed), tr, te.subset(slice(0, 500)), seed,
                                                  tmp / f"{shape_name}-pre-{seed}")
        train_s += seconds
        model = new(0)
        model.load_state_dict(pre_states[-1])
        ft_states, _ = trained_checkpoints(model, ft_train, ft_eval, seed, tmp / f"{shape_name}-ft-{seed}")
        independent = new(seed + tables.INDEPENDENT_SEED_OFFSET).state_dict()
        start = time.perf_counter()
        pre = [acts_of(s, pre_probe) for s in pre_states]
        ft = [acts_of(s, ft_eval) for s in ft_states]
        tables.append(dict(
            pre=(pre, {"init": pre[0], "independent_init": acts_of(independent, pre_probe)}),
            ft=(ft, {"pretrained": ft[0], "pretrain_init": acts_of(pre_states[0], ft_eval),
                     "independent_init": acts_of(independent, ft_eval)}),
        ))
        extract_s += time.perf_counter() - start
        n_checkpoints += len(pre_states) + len(ft_states) + 3

    def cached(part: str) -> list[float]:
        values = []
        for table in tables:
            reps, refs = table[part]
            ref_factors = {name: factors_of(acts) for name, acts in refs.items()}
            first = next(iter(ref_factors.values()))  # epoch 0 is the first reference itself
            for epoch, acts in enumerate(reps):
                factors = first if epoch == 0 else factors_of(acts)
                values += [linear_cka(factors[layer], ref[layer], debiased=d)
                           for layer in factors for ref in ref_factors.values() for d in (False, True)]
        return values

    def direct(part: str) -> list[float]:
        values = []
        for table in tables:
            reps, refs = table[part]
            for acts in reps:
                values += [linear_cka(acts[layer], ref[layer], debiased=d)
                           for layer in acts for ref in refs.values() for d in (False, True)]
        return values

    row: dict[str, float | str] = {"input": shape_name}
    totals = {"cached": 0.0, "direct": 0.0}
    rel, peaks = 0.0, {"cached": 0.0, "direct": 0.0}
    for part in ("pre", "ft"):
        with PeakRSS() as mem_cached:
            cached_vals, cached_s = timed(lambda: cached(part))
        with PeakRSS() as mem_direct:
            direct_vals, direct_s = timed(lambda: direct(part))
        rel = max(rel, max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(cached_vals, direct_vals)))
        row[f"{part}_pairs"] = len(cached_vals)
        row[f"{part}_speedup"] = direct_s / cached_s
        totals["cached"] += cached_s
        totals["direct"] += direct_s
        peaks["cached"] = max(peaks["cached"], mem_cached.extra)
        peaks["direct"] = max(peaks["direct"], mem_direct.extra)
    row.update({
        "layer_widths": str({k: v.shape[1] for k, v in tables[0]["pre"][0][0].items()}),
        "train_samples_per_s": len(SEEDS) * EPOCHS * len(tr) / train_s,
        "extract_s_per_checkpoint": extract_s / n_checkpoints,
        "cached_s": totals["cached"],
        "direct_s": totals["direct"],
        "speedup": totals["direct"] / totals["cached"],
        "max_rel_diff": rel,
        "cached_extra_rss_mb": peaks["cached"],
        "direct_extra_rss_mb": peaks["direct"],
    })
    return row


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
    # VmHWM: this process image's peak resident memory. (ru_maxrss is not used: Linux carries it
    # over from the forked parent across exec, so it would report the parent's size.)
    status = Path("/proc/self/status").read_text()
    peak_mb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    print(json.dumps({"value": acc.value, "seconds": time.perf_counter() - start, "peak_rss_mb": peak_mb}))


def streaming_benchmark() -> dict[str, float | str]:
    proc = subprocess.run([sys.executable, __file__, "--streaming-child"], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"input": f"minibatch CKA n={STREAM_N} p={STREAM_P} batch={STREAM_BATCH}",
            "cka": result["value"], "seconds": result["seconds"], "peak_rss_mb": result["peak_rss_mb"]}


def main() -> None:
    import training

    os.environ["REPCHANGE_PROGRESS"] = "0"
    training_results = training.main()
    ds = data.load("fashion_mnist")
    tr, te = ds.train.subset(slice(0, TRAIN_SIZE)), ds.test
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rows = [table_benchmark("28x28x1", tr, te, tmp), table_benchmark("32x32x3", pad_to_32x3(tr), pad_to_32x3(te), tmp)]
    stream = streaming_benchmark()
    import tracking

    tracking_results = tracking.main()
    import book

    book_results = book.main()
    import verdicts

    verdict_results = verdicts.main()
    import regime

    regime_results = regime.main()
    import study_b_tables

    study_b_results = study_b_tables.main()
    import study_a_tables

    study_a_results = study_a_tables.main()
    import cpu_waste

    cpu_waste_results = cpu_waste.main()
    import float_order

    float_order_results = float_order.main()
    import table_memory

    table_memory_results = table_memory.run()
    table_memory.report(table_memory_results)
    import paper_cost

    paper_cost_results = paper_cost.main()
    import sequential_monitor

    monitor_results = sequential_monitor.run()
    sequential_monitor.report(monitor_results)
    import shape_estimators

    shape_results = shape_estimators.run()
    shape_estimators.report(shape_results)
    results = {"threads": torch.get_num_threads(), "seeds": list(SEEDS), "epochs": EPOCHS, "n_probe": N_PROBE,
               "tables": rows, "streaming": stream, "training": training_results, "tracking": tracking_results,
               "book": book_results, "verdicts": verdict_results, "regime": regime_results,
               "study_b_tables": study_b_results, "study_a_tables": study_a_results, "cpu_waste": cpu_waste_results,
               "float_order": float_order_results, "table_memory": table_memory_results,
               "paper_cost": paper_cost_results, "sequential_monitor": monitor_results,
               "shape_estimators": shape_results}
    keys = [k for k in rows[0] if k != "layer_widths"]
    print(f"\n[5] Study A similarity table: {len(SEEDS)} seeds x 5 layers x 2 CKA estimators x ({EPOCHS + 1} pre-training"
          f" checkpoints x 2 references + {EPOCHS + 1} fine-tuning checkpoints x 3 references), n = {N_PROBE},"
          f" {torch.get_num_threads()} threads")
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
