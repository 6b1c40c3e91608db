"""`make bench`, part 10 (printed [10]): CPU lost in the kernel and memory held by temporaries, as ratios measured in one run.

1. Freed memory kept in the process (:mod:`repchange.runs.allocator`), its modes ``all`` (the default: every block
   from the heap) and ``small`` (blocks below 32 MiB) against glibc's defaults, each in a fresh child process:
   (a) conv4 training, 2 epochs of 2,048 Fashion-MNIST images on one thread (the book's Study A unit of work);
   (b) one VGG19-shaped Study B distance table at 224 px (the five probed layers' maps, random, 15 probe images,
   two checkpoints; :class:`repchange.studies.b.layer_distances.LayerDistances`). Reported:
   wall, user and system seconds, the system share, minor page faults and the peak resident memory of each;
   the summed trained weights of (a) and the table's values of (b) in each (the allocator does not change the numbers).
2. Study B's per-filter Procrustes similarity on VGG19's conv1_2 maps (30 images x 64 filters x 224 x 224):
   the whole stack at once (:func:`repchange.measure.metrics.filter_procrustes_similarity`) against chunks of
   :data:`repchange.measure.filter_chunks.CHUNK_ELEMENTS` (:func:`repchange.measure.filter_chunks.procrustes_similarity`),
   each in a child process: seconds, system seconds, peak resident memory, and whether the values are equal
   to the bit.
3. A worker pool's start-up: :func:`repchange.runs.parallel.run_jobs` calls of two trivial jobs on two workers,
   a fresh pool per call (``REPCHANGE_KEEP_POOL=0``: spawn, import, one job each, shut down; what every table
   or training call paid) against the kept pool (started by the first call, reused by the others).

4. OpenMP's wait policy, each in a fresh child process on two threads (what a notebook's kernel process uses):
   conv4 training (512 Fashion-MNIST images, batch 32) and a linear CKA of two (500, 8,192) feature matrices (the
   best of five repetitions each), with ``OMP_WAIT_POLICY`` unset (libgomp spins at each barrier before it sleeps)
   against ``PASSIVE`` (a waiting thread sleeps at once: the test session's setting, tests/conftest.py), on a quiet
   machine and beside one busy process: images/s, CKA seconds and the ratios; the CKA values of both policies (the
   policy changes no number).

Run alone: ``python benchmarks/cpu_waste.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

TRAIN = """
import json, resource, tempfile, time
from pathlib import Path
import torch
from repchange.data import datasets as data
from repchange.runs.allocator import keep_freed_memory
from repchange.nets.conv4 import build
from repchange.runs.trainer import OptimiserSpec, train
kept = keep_freed_memory()
torch.set_num_threads(1); torch.manual_seed(0)
split = data.load("fashion_mnist").train.subset(slice(0, 2048))
model = build("conv4", in_channels=1, num_classes=10, image_size=28)
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
with tempfile.TemporaryDirectory() as tmp:
    train(model, split, split.subset(slice(0, 256)), epochs=2, optimiser=OptimiserSpec("sgd", lr=0.01, batch_size=32),
          seed=0, run_dir=Path(tmp) / "run", device="cpu", eval_epochs=[2], desc="bench")
    check = float(sum(p.double().sum() for p in model.parameters()))  # the trained weights, summed
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps(dict(kept=kept, wall_s=time.perf_counter() - t0, user_s=r1.ru_utime - r0.ru_utime,
                      sys_s=r1.ru_stime - r0.ru_stime, minor_faults=r1.ru_minflt - r0.ru_minflt,
                      peak_gb=r1.ru_maxrss * 1024 / 1e9, check=check)))
"""

TABLE = """
import json, resource, time
import torch
from repchange.runs.allocator import keep_freed_memory
from repchange.measure.metrics import ALPHAS
from repchange.studies.b.layer_distances import LayerDistances
kept = keep_freed_memory()
torch.set_num_threads(1); torch.manual_seed(0)
n = 15
shapes = {"conv1_2": (64, 224), "conv2_2": (128, 112), "conv3_4": (256, 56), "conv4_4": (512, 28), "conv5_4": (512, 14)}
labels = torch.arange(n) % 5
source = {k: torch.relu(torch.randn(n, c, s, s)) for k, (c, s) in shapes.items()}
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
value = 0.0
for epoch in (0, 1):
    for k in shapes:
        now = source[k] if epoch == 0 else torch.relu(source[k] + 0.1 * torch.randn_like(source[k]))
        distances = LayerDistances(labels, ALPHAS)
        distances.add(source[k], now)
        value += sum(r["value"] for r in distances.rows() if r["value"] == r["value"])
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps(dict(kept=kept, wall_s=time.perf_counter() - t0, user_s=r1.ru_utime - r0.ru_utime,
                      sys_s=r1.ru_stime - r0.ru_stime, minor_faults=r1.ru_minflt - r0.ru_minflt,
                      peak_gb=r1.ru_maxrss * 1024 / 1e9, check=value)))
"""

FILTERS = """
import hashlib, json, resource, sys, time
import torch
from repchange.measure import filter_chunks
from repchange.measure import metrics
torch.manual_seed(0)
a = torch.relu(torch.randn(30, 64, 224, 224)); b = torch.relu(a + 0.1 * torch.randn_like(a))
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
base = r0.ru_maxrss
out = metrics.filter_procrustes_similarity(a, b) if sys.argv[1] == "whole" else filter_chunks.procrustes_similarity(a, b)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps(dict(wall_s=time.perf_counter() - t0, sys_s=r1.ru_stime - r0.ru_stime,
                      peak_above_inputs_gb=(r1.ru_maxrss - base) * 1024 / 1e9,
                      digest=hashlib.sha256(out.nan_to_num(-1).numpy().tobytes()).hexdigest())))
"""


WAIT = """
import json, time
import torch
from torch import nn
from repchange.data import datasets as data
from repchange.data.datasets import normalise
from repchange.measure.metrics import linear_cka
from repchange.nets.conv4 import build
torch.set_num_threads(2); torch.manual_seed(0)
split = data.load("fashion_mnist").train.subset(slice(0, 512))
x, y = normalise(split.images).contiguous(memory_format=torch.channels_last), split.labels
model = build("conv4", in_channels=1, num_classes=10, image_size=28).to(memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
def epoch():
    for i in range(0, len(y), 32):
        loss = nn.functional.cross_entropy(model(x[i:i + 32]), y[i:i + 32])
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
def best(fn, reps=5):
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter(); out = fn(); times.append(time.perf_counter() - start)
    return min(times), out
train_s, _ = best(epoch)
a, b = torch.randn(500, 8192, dtype=torch.float64), torch.randn(500, 8192, dtype=torch.float64)
cka_s, value = best(lambda: float(linear_cka(a, b)))
print(json.dumps(dict(images_per_s=len(y) / train_s, cka_s=cka_s, cka=value)))
"""


def wait_policy() -> dict[str, dict[str, float]]:
    out = {}
    for load in ("quiet", "one busy process beside"):
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load != "quiet" else None
        try:
            for policy in ("unset", "PASSIVE"):
                env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
                env.update({"OMP_WAIT_POLICY": policy} if policy != "unset" else {})
                run = subprocess.run([sys.executable, "-c", WAIT], env=env, capture_output=True, text=True, check=True)
                out[f"{load}, {policy}"] = json.loads(run.stdout.strip().splitlines()[-1])
        finally:
            if busy is not None:
                busy.kill()
    return out


def _child(code: str, *args: str, keep: str = "all") -> dict[str, object]:
    env = {**os.environ, "REPCHANGE_KEEP_FREED_MEMORY": keep, "REPCHANGE_PROGRESS": "0",
           "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def allocator() -> dict[str, dict[str, object]]:
    results = {}
    for name, code in (("conv4 training", TRAIN), ("VGG19 distance table", TABLE)):
        runs = {mode: _child(code, keep=mode) for mode in ("0", "small", "all")}
        default = runs["0"]
        results[name] = dict(runs=runs, modes={
            mode: dict(wall_ratio=r["wall_s"] / default["wall_s"], sys_share=r["sys_s"] / (r["sys_s"] + r["user_s"]),
                       faults_ratio=r["minor_faults"] / default["minor_faults"], peak_ratio=r["peak_gb"] / default["peak_gb"],
                       same_numbers=r["check"] == default["check"]) for mode, r in runs.items()})
    return results


def filters() -> dict[str, object]:
    whole, chunked = _child(FILTERS, "whole"), _child(FILTERS, "chunked")
    return dict(whole=whole, chunked=chunked, wall_ratio=chunked["wall_s"] / whole["wall_s"],
                peak_ratio=chunked["peak_above_inputs_gb"] / max(whole["peak_above_inputs_gb"], 1e-9),
                identical=whole["digest"] == chunked["digest"])


def pool_start(calls: int = 4) -> dict[str, float]:
    from repchange.runs import parallel

    jobs = [parallel.Job(_noop_job, dict(i=i)) for i in range(2)]
    out = {}
    for mode, keep in (("fresh", "0"), ("kept", "1")):
        os.environ["REPCHANGE_KEEP_POOL"] = keep
        parallel._discard_pool()
        walls = []
        for _ in range(calls):
            start = time.perf_counter()
            parallel.run_jobs(jobs, n_workers=2, desc="bench pool start")
            walls.append(time.perf_counter() - start)
        out[f"{mode}_first_s"], out[f"{mode}_later_s"] = walls[0], sum(walls[1:]) / (calls - 1)
    os.environ.pop("REPCHANGE_KEEP_POOL")
    parallel._discard_pool()
    out["later_call_ratio"] = out["kept_later_s"] / out["fresh_later_s"]
    return out


def main() -> dict[str, object]:
    os.environ["REPCHANGE_PROGRESS"] = "0"
    results = dict(allocator=allocator(), filters=filters(), pool=pool_start(), wait=wait_policy())
    print("\n[10] CPU lost in the kernel, memory held by temporaries")
    names = {"0": "glibc's defaults", "small": "blocks < 32 MiB kept", "all": "every block kept (default)"}
    for name, r in results["allocator"].items():
        print(f"  {name}:")
        for mode, run in r["runs"].items():
            m = r["modes"][mode]
            print(f"    {names[mode]:<27} {run['wall_s']:6.1f} s wall ({m['wall_ratio']:.2f}x), sys {m['sys_share']:.0%}, "
                  f"{run['minor_faults']:>9,} faults ({m['faults_ratio']:.2f}x), peak {run['peak_gb']:.2f} GB "
                  f"({m['peak_ratio']:.2f}x), same numbers as glibc's defaults: {m['same_numbers']}")
    f = results["filters"]
    print(f"  per-filter Procrustes, VGG19 conv1_2 on 30 images: whole stack {f['whole']['wall_s']:.1f} s (sys "
          f"{f['whole']['sys_s']:.1f} s), {f['whole']['peak_above_inputs_gb']:.2f} GB above the inputs; in chunks "
          f"{f['chunked']['wall_s']:.1f} s (sys {f['chunked']['sys_s']:.1f} s), "
          f"{f['chunked']['peak_above_inputs_gb']:.2f} GB: wall {f['wall_ratio']:.2f}x, identical {f['identical']}")
    p = results["pool"]
    print(f"  two trivial jobs on two workers: a fresh pool per call {p['fresh_later_s']:.2f} s per call; the kept pool "
          f"{p['kept_first_s']:.2f} s for the first call, {p['kept_later_s']:.3f} s for each later one: "
          f"{p['later_call_ratio']:.3f}x")
    w = results["wait"]
    for load in ("quiet", "one busy process beside"):
        spin, passive = w[f"{load}, unset"], w[f"{load}, PASSIVE"]
        print(f"  OpenMP wait policy, 2 threads, {load}: conv4 training {spin['images_per_s']:,.0f} img/s spinning, "
              f"{passive['images_per_s']:,.0f} passive ({passive['images_per_s'] / spin['images_per_s']:.2f}x); linear CKA "
              f"(500 x 8,192) {spin['cka_s'] * 1e3:.0f} ms against {passive['cka_s'] * 1e3:.0f} ms "
              f"({spin['cka_s'] / passive['cka_s']:.2f}x); same CKA: {spin['cka'] == passive['cka']}")
    return results


def _noop_job(i: int) -> int:
    return i


if __name__ == "__main__":
    main()
