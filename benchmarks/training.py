"""`make bench`, part 1: where training and extraction time goes, as ratios measured in one run.

1. Throughput, for conv4 (Study A: 28x28x1, 10 classes, SGD, batch 32) and each small Study B
   net (28x28x1, 5 classes, Adam + clip 0.5, batch 32): the trainer's images/s on 1 thread,
   against a bare loop of the same steps (same model, batch, optimiser, channels_last), against
   the trainer on 2 threads, and as a share of the machine's 1-thread sgemm rate (training
   FLOPs = 3 x the forward pass's multiply-adds x 2); then where the time goes (torch.profiler):
   the share in convolutions and matrix products and the rate they reach there as a share of
   sgemm, and the three largest other operators (the memory-bound layers between them).
2. Extraction of the probed layers on 500 probe images: before (autograd off, NCHW) against
   after (:func:`repchange.measure.features.extract`: inference mode, NCHW), and the largest difference.
3. Independent runs: ``K`` conv4 pre-trainings (the book's config, fewer epochs) trained one
   after another on 2 threads (the earlier default), one after another on 1 thread, and side
   by side in a pool of workers x 1 thread (:func:`repchange.runs.parallel.run_jobs`): wall times,
   ratios, and whether pool and serial weights are bit-identical.
4. Oversubscription: two training processes side by side, each with 2 threads (what a 2-worker
   sweep did before its threads were pinned), against the same two pinned to 1 thread each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from repchange.data import datasets as data
from repchange.base.threads import torch_threads
from repchange.runs import parallel
from repchange.nets.architectures import build_architecture
from repchange.data.datasets import Split, normalise
from repchange.measure.features import extract
from repchange.nets.conv4 import build
from repchange.runs.runtime import Runtime
from repchange.runs.store import Store
from repchange.runs.trainer import OptimiserSpec, train
from repchange.studies.a.pretraining import PretrainConfig, pretrain, pretrain_all

SMALL_NETS = ("vgg_small", "resnet_small", "densenet_small")
K_RUNS, RUN_EPOCHS = 4, 2


def _set_env(**values: str | None) -> dict[str, str | None]:
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    return saved


def _net(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    if name == "conv4":
        return build("conv4", in_channels=1, num_classes=10, image_size=28)
    return build_architecture(name, in_channels=1, num_classes=5)


def _spec(name: str) -> OptimiserSpec:
    if name == "conv4":
        return OptimiserSpec("sgd", lr=1e-3, momentum=0.9, batch_size=32)
    return OptimiserSpec("adam", lr=1e-4, batch_size=32, grad_clip=0.5)


def sgemm_gflops(threads: int = 1, n: int = 1024, reps: int = 10) -> float:
    """The machine's float32 matrix-multiply rate on ``threads`` threads (GFLOP/s)."""
    with torch_threads(threads):
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def forward_macs(model: nn.Module, image: torch.Tensor) -> float:
    """Multiply-adds of one forward pass of one image (convolutions and linear layers)."""
    total = 0.0

    def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += k * output.numel()
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()
        model(image[None])
    for h in handles:
        h.remove()
    return total


def bare_loop_images_per_s(name: str, split: Split, threads: int) -> float:
    """The same steps without the trainer: one epoch of forward, loss, backward, (clip,) step."""
    spec = _spec(name)
    with torch_threads(threads):
        model = _net(name).to(memory_format=torch.channels_last).train()
        opt = spec.build(model.parameters())
        x, y = normalise(split.images).contiguous(memory_format=torch.channels_last), split.labels
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
        start = time.perf_counter()
        for i in range(0, len(y), spec.batch_size):
            idx = order[i : i + spec.batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if spec.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
            opt.step()
        return len(y) / (time.perf_counter() - start)


CONV_OPS = ("aten::mkldnn_convolution", "aten::convolution_backward", "aten::addmm", "aten::mm")


def time_split(name: str, split: Split) -> dict[str, float]:
    """One epoch of the bare loop on 1 thread under ``torch.profiler``: the share of the operators' own CPU time
    in convolutions and matrix products (forward and backward, :data:`CONV_OPS`) and the rate they reach
    there, as a share of the 1-thread sgemm rate (the training FLOPs over the time in those operators); the
    rest is the memory-bound layers between them (BatchNorm, ReLU, pooling, concatenation) and the optimiser."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        bare_loop_images_per_s(name, split, 1)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    by_name: dict[str, float] = {}
    for e in events:
        by_name[e.key] = by_name.get(e.key, 0.0) + e.self_cpu_time_total
    matmul = sum(by_name.get(op, 0.0) for op in CONV_OPS)
    top = sorted(((t, k) for k, t in by_name.items() if k not in CONV_OPS), reverse=True)[:3]
    return {"matmul_share_of_time": matmul / total, "matmul_seconds": matmul / 1e6,
            "largest_others": ", ".join(f"{k.removeprefix('aten::')} {t / total:.0%}" for t, k in top)}


def trainer_images_per_s(name: str, split: Split, threads: int, tmp: Path) -> float:
    """One epoch of :func:`repchange.runs.trainer.train` (no evaluation), on ``threads`` threads."""
    saved = _set_env(REPCHANGE_TRAIN_THREADS=str(threads))
    try:
        run_dir = tmp / f"{name}-{threads}"
        start = time.perf_counter()
        train(_net(name), split, split.subset(slice(0, 32)), epochs=1, optimiser=_spec(name), seed=0,
              run_dir=run_dir, device="cpu", eval_epochs=[])
        return len(split) / (time.perf_counter() - start)
    finally:
        _set_env(**saved)


def throughput(tmp: Path) -> list[dict[str, object]]:
    fm = data.load("fashion_mnist")
    gflops = sgemm_gflops(1)
    rows = []
    for name in ("conv4", *SMALL_NETS):
        n = 2048 if name == "conv4" else 768  # Study A's pre-training set; Study B's fine-tuning set
        split = fm.train.subset(slice(0, n))
        if name != "conv4":
            split = split.with_labels(split.labels % 5)
        bare_loop_images_per_s(name, split.subset(slice(0, 256)), 1)  # warm-up
        trainer_1 = trainer_images_per_s(name, split, 1, tmp)
        trainer_2 = trainer_images_per_s(name, split, 2, tmp)
        bare_1 = bare_loop_images_per_s(name, split, 1)
        train_flops = 3 * 2 * forward_macs(_net(name), normalise(split.images[:1])[0])
        parts = time_split(name, split)
        rows.append(dict(net=name, images=n, trainer_1thread_img_s=trainer_1, bare_loop_1thread_img_s=bare_1,
                         trainer_over_bare=trainer_1 / bare_1, trainer_2thread_img_s=trainer_2,
                         two_over_one_thread=trainer_2 / trainer_1,
                         mflop_per_image=train_flops / 1e6,
                         share_of_sgemm=trainer_1 * train_flops / 1e9 / gflops,
                         conv_share_of_time=parts["matmul_share_of_time"],
                         conv_rate_share_of_sgemm=n * train_flops / parts["matmul_seconds"] / 1e9 / gflops,
                         largest_others=parts["largest_others"]))
    return [dict(sgemm_1thread_gflops=gflops)] + rows


def _old_extract(model: nn.Module, probe: Split) -> dict[str, torch.Tensor]:
    """The extraction before this change: autograd off, NCHW inputs (BatchNorm on batch statistics)."""
    chunks: dict[str, list[torch.Tensor]] = {n: [] for n in model.probe_layers}
    handles = [m.register_forward_hook(lambda _m, _i, out, n=n: chunks[n].append(out.detach().float().flatten(1)))
               for n, m in model.probe_layers.items()]
    model.eval()
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.train()
        m.track_running_stats = False
    with torch.no_grad():
        model(normalise(probe.images))
    for h in handles:
        h.remove()
    for m in norms:
        m.track_running_stats = True
    model.eval()
    return {n: torch.cat(p) for n, p in chunks.items()}


def extraction(reps: int = 5) -> list[dict[str, object]]:
    probe = data.load("fashion_mnist").test.subset(slice(0, 500))
    rows = []
    for name in ("conv4", *SMALL_NETS):
        model = _net(name)
        _old_extract(model, probe), extract(model, model.probe_layers, probe)  # warm-up
        start = time.perf_counter()
        for _ in range(reps):
            before = _old_extract(model, probe)
        before_s = (time.perf_counter() - start) / reps
        start = time.perf_counter()
        for _ in range(reps):
            after = extract(model, model.probe_layers, probe)
        after_s = (time.perf_counter() - start) / reps
        diff = max(float((before[k] - after[k]).abs().max() / before[k].abs().max().clamp_min(1e-12)) for k in after)
        rows.append(dict(net=name, before_s=before_s, after_s=after_s, speedup=before_s / after_s,
                         max_rel_diff=diff))
    return rows


def _runs_config() -> list[PretrainConfig]:
    return [replace(PretrainConfig(), seed=s, epochs=RUN_EPOCHS) for s in range(1, K_RUNS + 1)]


def independent_runs(tmp: Path) -> dict[str, object]:
    """K pre-trainings: serial on 2 threads, serial on 1 thread, pool of workers x 1 thread."""
    cfgs = _runs_config()
    ds = data.load("fashion_mnist")
    times = {}
    for mode, env in (("serial_2threads", dict(REPCHANGE_WORKERS="1", REPCHANGE_TRAIN_THREADS="2")),
                      ("serial_1thread", dict(REPCHANGE_WORKERS="1", REPCHANGE_TRAIN_THREADS="1")),
                      ("pool", dict(REPCHANGE_WORKERS=None, REPCHANGE_TRAIN_THREADS=None))):
        saved = _set_env(**env)
        try:
            start = time.perf_counter()
            pretrain_all(cfgs, runtime=Runtime(Store(tmp / mode), "cpu"))
            times[mode] = time.perf_counter() - start
        finally:
            _set_env(**saved)
    identical = all(
        all(torch.equal(a, b) for a, b in zip(
            pretrain(c, ds, runtime=Runtime(Store(tmp / "pool"), "cpu")).model_at(c.epochs).state_dict().values(),
            pretrain(c, ds, runtime=Runtime(Store(tmp / "serial_1thread"), "cpu")).model_at(c.epochs)
            .state_dict().values()))
        for c in cfgs)
    return dict(runs=K_RUNS, epochs=RUN_EPOCHS, workers=parallel.workers(), **{f"{k}_s": v for k, v in times.items()},
                pool_speedup_vs_serial_2threads=times["serial_2threads"] / times["pool"],
                pool_speedup_vs_serial_1thread=times["serial_1thread"] / times["pool"],
                pool_bit_identical_to_serial=identical)


def contention_child(threads: int, steps: int) -> None:
    """In a child process: ``steps`` conv4 training steps at batch 32 on ``threads`` threads; prints steps/s."""
    torch.set_num_threads(threads)
    model, spec = _net("conv4").to(memory_format=torch.channels_last), _spec("conv4")
    opt = spec.build(model.parameters())
    x = torch.randn(32, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (32,))
    for i in range(steps + 10):
        if i == 10:
            start = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    print(json.dumps({"steps_per_s": steps / (time.perf_counter() - start)}))


def contention(steps: int = 150) -> dict[str, object]:
    """Two training processes side by side: 2 threads each (oversubscribed) vs 1 thread each (pinned)."""
    def side_by_side(threads: int, count: int) -> list[float]:
        procs = [subprocess.Popen([sys.executable, __file__, "--contention-child", str(threads), str(steps)],
                                  stdout=subprocess.PIPE, text=True) for _ in range(count)]
        return [json.loads(p.communicate()[0].strip().splitlines()[-1])["steps_per_s"] for p in procs]

    alone_2 = side_by_side(2, 1)[0]
    over = side_by_side(2, 2)
    pinned = side_by_side(1, 2)
    return dict(alone_2threads_steps_s=alone_2, oversubscribed_2x2_steps_s=sum(over),
                pinned_2x1_steps_s=sum(pinned), pinned_over_oversubscribed=sum(pinned) / sum(over),
                oversubscribed_slowdown_per_process=alone_2 / min(over))


def main() -> dict[str, object]:
    os.environ["REPCHANGE_PROGRESS"] = "0"
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        results = dict(cores=parallel.cores(), throughput=throughput(tmp), extraction=extraction(),
                       independent_runs=independent_runs(tmp), contention=contention())
    print_results(results)
    return results


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def print_results(results: dict) -> None:
    sgemm, *rows = results["throughput"]
    print(f"\n[1] training throughput, batch 32, {results['cores']} cores; 1-thread sgemm "
          f"{sgemm['sgemm_1thread_gflops']:.1f} GFLOP/s")
    keys = list(rows[0])
    print(" | ".join(f"{k:>22}" for k in keys))
    for row in rows:
        print(" | ".join(f"{_fmt(row[k]):>22}" for k in keys))
    print("\n[2] extraction of the probed layers, 500 probe images (before: autograd off, NCHW)")
    for row in results["extraction"]:
        print("    " + ", ".join(f"{k} {_fmt(v)}" for k, v in row.items()))
    print("\n[3] independent runs (conv4 pre-trainings)")
    print("    " + ", ".join(f"{k} {_fmt(v)}" for k, v in results["independent_runs"].items()))
    print("\n[4] two training processes side by side (conv4 steps/s, summed)")
    print("    " + ", ".join(f"{k} {_fmt(v)}" for k, v in results["contention"].items()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--contention-child"]:
        contention_child(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
