"""`make bench`, part 7: what the memorisation regime costs, and the levers measured against it.

Adopted: the evaluation schedule (2). Measured and not adopted: ``torch.compile`` (3), 0.88-0.96x eager's speed,
and stacked seeds (4), 0.85-0.99x one net at a time, on the 2-core AVX-512 machine (2026-12-06/07).

All on conv4 (Study A: Fashion-MNIST 28x28x1, SGD lr 1e-3 momentum 0.9, batch 32, channels_last), one
thread (what each book worker uses), in one run:

1. Where an epoch's time goes: a training epoch on 1,024 images, the test evaluation (1,000 images) and
   the training-fit evaluation (1,024 images, eval mode), as seconds and as shares of the training epoch.
2. One pre-training run as the book trains it (:func:`repchange.runs.trainer.train` with the run's
   checkpoints and evaluations): the previous default (2,048 images x 10 epochs, test accuracy every
   epoch) against the new one (1,024 x 16, test accuracy and training fit at
   :func:`repchange.studies.a.pretraining.evaluated_epochs`), and the new one evaluated at every epoch.
3. ``torch.compile`` of the loss (forward; backward through AOTAutograd) against eager: compile seconds,
   steady-state step ratio, and the largest difference of the losses over the same steps.
4. Several seeds stacked as one model (grouped convolutions, ``K`` = 5 nets, each with its own batches):
   images/s per net against one net at a time, and the largest weight difference after one epoch from
   the same initialisation (the same maths in another float order). Not adopted: a run's floats would
   then depend on which runs shared its stack, and the store keys a run by its own configuration only.
5. Run keys: the code version parsed from the modules' sources for every key (before) against once per
   file version and process (now).
6. Study B's source nets at their plateau: one epoch of each small net, and the default's source training
   before (3 epochs; a twin per seed trained for the baseline) against now (the plateau's epochs; each
   seed's twin is the other seed's source net), as a ratio.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from repchange.data import datasets as data
from repchange.data.datasets import normalise
from repchange.nets.conv4 import Conv4
from repchange.base.threads import torch_threads
from repchange.runs.trainer import OptimiserSpec, _evaluate, train
from repchange.studies.a.pretraining import evaluated_epochs

K_STACK, BATCH = 5, 32


def _conv4(seed: int) -> Conv4:
    torch.manual_seed(seed)
    return Conv4(1, 10, 28).to(memory_format=torch.channels_last)


def _epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn=None) -> list[float]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_fn = loss_fn or (lambda xb, yb: F.cross_entropy(model(xb), yb))
    model.train()
    losses = []
    for start in range(0, len(y), BATCH):
        loss = loss_fn(x[start : start + BATCH], y[start : start + BATCH])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def _seconds(fn, reps: int = 2) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def epoch_parts(x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor, yt: torch.Tensor) -> dict[str, float]:
    model = _conv4(0)
    train_s = _seconds(lambda: _epoch(model, x, y))
    test_s = _seconds(lambda: _evaluate(model, xt, yt, 256))
    fit_s = _seconds(lambda: _evaluate(model, x, y, 256))
    return {"train_epoch_s": train_s, "test_eval_s": test_s, "fit_eval_s": fit_s,
            "test_eval_share": test_s / train_s, "fit_eval_share": fit_s / train_s}


def run_costs(ds: data.DataSet) -> dict[str, float]:
    spec = OptimiserSpec("sgd", lr=1e-3, momentum=0.9, batch_size=BATCH)
    test = ds.test.subset(slice(0, 1000))
    setups = {
        "previous default (2048 x 10, test every epoch)": dict(size=2048, epochs=10, eval=None, fit=()),
        "new default (1024 x 16, evaluated_epochs)": dict(size=1024, epochs=16, eval=evaluated_epochs(16),
                                                         fit=[e for e in evaluated_epochs(16) if e > 0]),
        "new, evaluated every epoch": dict(size=1024, epochs=16, eval=None, fit=range(1, 17)),
    }
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, s) in enumerate(setups.items()):
            start = time.perf_counter()
            train(_conv4(1), ds.train.subset(slice(0, s["size"])), test, epochs=s["epochs"], optimiser=spec, seed=1,
                  run_dir=Path(tmp) / str(k), checkpoint_epochs=range(s["epochs"] + 1), device="cpu",
                  eval_epochs=s["eval"], fit_epochs=s["fit"])
            out[label] = time.perf_counter() - start
    return out


def compiled_step(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    eager_model, compiled_model = _conv4(0), _conv4(0)
    eager = _epoch(eager_model, x, y)
    eager_s = _seconds(lambda: _epoch(_conv4(0), x, y))
    fn = torch.compile(lambda xb, yb: F.cross_entropy(compiled_model(xb), yb))
    start = time.perf_counter()
    compiled = _epoch(compiled_model, x, y, fn)  # includes compilation
    first_s = time.perf_counter() - start
    steady_s = _seconds(lambda: _epoch(compiled_model, x, y, fn))
    return {"compile_first_epoch_s": first_s, "eager_epoch_s": eager_s, "compiled_epoch_s": steady_s,
            "compiled_over_eager_speed": eager_s / steady_s,
            "first_step_loss_difference": abs(eager[0] - compiled[0]),
            "max_loss_difference_over_epoch": max(abs(a - b) for a, b in zip(eager, compiled))}


class StackedConv4(nn.Module):
    """``K`` conv4 nets as one: grouped convolutions (group k = net k), per-net BatchNorm channels and heads.
    Input (B, K, 28, 28): channel k is net k's image; output (B, K, 10)."""

    def __init__(self, nets: list[Conv4]):
        super().__init__()
        k = len(nets)
        layers: list[nn.Module] = []
        for i in range(4):
            convs = [net.blocks[i][0] for net in nets]
            conv = nn.Conv2d(convs[0].in_channels * k, convs[0].out_channels * k, 3, padding=1, groups=k)
            conv.weight.data = torch.cat([c.weight.data for c in convs])
            conv.bias.data = torch.cat([c.bias.data for c in convs])
            norms = [net.blocks[i][2] for net in nets]
            norm = nn.BatchNorm2d(norms[0].num_features * k)
            norm.weight.data = torch.cat([b.weight.data for b in norms])
            norm.bias.data = torch.cat([b.bias.data for b in norms])
            layers += [conv, nn.ReLU(), norm, nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.k = k
        self.w = nn.Parameter(torch.stack([net.head.weight.data for net in nets]))  # (K, 10, F)
        self.b = nn.Parameter(torch.stack([net.head.bias.data for net in nets]))  # (K, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)  # (B, K*C, h, w): net k's channels are block k
        h = h.reshape(h.shape[0], self.k, -1)
        return torch.einsum("bkf,kof->bko", h, self.w) + self.b


def stacked_seeds(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    orders = [torch.randperm(len(y), generator=torch.Generator().manual_seed(s)) for s in range(K_STACK)]
    xs = [x[o].contiguous(memory_format=torch.channels_last) for o in orders]  # each net: its own order
    ys = [y[o] for o in orders]
    x_stack = torch.cat(xs, dim=1).contiguous(memory_format=torch.channels_last)  # (N, K, 28, 28)
    y_stack = torch.stack(ys, dim=1)  # (N, K)

    def stacked_epoch(stacked: StackedConv4) -> list[float]:
        def loss(xb, yb):  # the sum of the nets' mean losses: each net's gradient is its own loss's
            return F.cross_entropy(stacked(xb).reshape(-1, 10), yb.reshape(-1), reduction="sum") / xb.shape[0]
        return _epoch(stacked, x_stack, y_stack, loss)

    def make_stack() -> StackedConv4:
        return StackedConv4([_conv4(s) for s in range(K_STACK)]).to(memory_format=torch.channels_last)

    separate_s = _seconds(lambda: [_epoch(_conv4(s), xk, yk) for s, xk, yk in zip(range(K_STACK), xs, ys)], reps=1)
    stacked_s = _seconds(lambda: stacked_epoch(make_stack()), reps=1)
    nets, stacked = [_conv4(s) for s in range(K_STACK)], make_stack()
    separate_losses = [_epoch(net, xk, yk) for net, xk, yk in zip(nets, xs, ys)]
    stacked_losses = stacked_epoch(stacked)
    first_step = abs(stacked_losses[0] - sum(losses[0] for losses in separate_losses))
    channels = nets[0].blocks[0][0].out_channels
    difference = float((stacked.features[0].weight.data[:channels] - nets[0].blocks[0][0].weight.data).abs().max())
    return {"separate_s": separate_s, "stacked_s": stacked_s, "stacked_over_separate_speed": separate_s / stacked_s,
            "first_step_loss_difference": first_step, "max_weight_difference_after_one_epoch": difference}


def store_keys(reps: int = 5) -> dict[str, float]:
    """Seconds per run key (:func:`repchange.runs.store.code_version` of Study A's fine-tuning table modules),
    parsing every module's source each time (before) against once per file version (now)."""
    import importlib
    import inspect

    from repchange.runs import store
    from repchange.studies.a.tables import FINETUNE_TABLE_CODE

    start = time.perf_counter()
    for _ in range(reps):
        parsed = store.pooled_fingerprint(inspect.getsource(importlib.import_module(f"repchange.{name}"))
                                          for name in FINETUNE_TABLE_CODE)
    parsed_s = (time.perf_counter() - start) / reps
    store.code_version(FINETUNE_TABLE_CODE)  # the first call parses
    start = time.perf_counter()
    for _ in range(reps * 100):
        cached = store.code_version(FINETUNE_TABLE_CODE)
    cached_s = (time.perf_counter() - start) / (reps * 100)
    assert parsed == cached
    return {"parsed_s": parsed_s, "cached_s": cached_s, "speed_ratio": parsed_s / cached_s}


def study_b_sources(previous_epochs: int = 3) -> dict[str, object]:
    """One epoch of each small Study B source net as the book trains it (the default's 4,096 images, test accuracy
    after the epoch), and the source training of the default's two seeds as a multiple of it: before (3 epochs,
    a twin per seed trained besides: 4 nets per architecture) and now (the plateau's epochs, each seed's twin the
    other seed's source net: 2 nets per architecture)."""
    from repchange.studies.b import runs

    default = runs.SourceConfig()
    epoch_s = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arch in runs.SMALL_ARCHS:
            cfg = replace(default, arch=arch, epochs=1)
            tr, ev = runs.source_splits(cfg)
            start = time.perf_counter()
            train(runs._new_net(arch, 1, len(runs.SOURCE_CLASSES)), tr, ev, epochs=1, optimiser=cfg.optimiser, seed=1,
                  run_dir=Path(tmp) / arch, eval_epochs=None, device="cpu", desc=arch)
            epoch_s[arch] = time.perf_counter() - start
    one_round = sum(epoch_s.values())
    before_s, now_s = 4 * previous_epochs * one_round, 2 * default.epochs * one_round
    return {"epoch_s": epoch_s, "previous_epochs": previous_epochs, "epochs": default.epochs, "before_s": before_s,
            "now_s": now_s, "now_over_before": now_s / before_s}


def main() -> dict[str, object]:
    ds = data.load("fashion_mnist")
    train_split, test = ds.train.subset(slice(0, 1024)), ds.test.subset(slice(0, 1000))
    x = normalise(train_split.images, None).contiguous(memory_format=torch.channels_last)
    xt = normalise(test.images, None).contiguous(memory_format=torch.channels_last)
    with torch_threads(1):
        parts = epoch_parts(x, train_split.labels, xt, test.labels)
        runs = run_costs(ds)
        compiled = compiled_step(x, train_split.labels)
        stacked = stacked_seeds(x, train_split.labels)
    print("\n[7] the memorisation regime's cost (conv4, 1 thread)")
    print(f"  epoch on 1,024 images {parts['train_epoch_s']:.2f} s; test evaluation (1,000) "
          f"{parts['test_eval_share']:.2f}x of it; training-fit evaluation (1,024) {parts['fit_eval_share']:.2f}x")
    base = next(iter(runs.values()))
    for label, seconds in runs.items():
        print(f"  one pre-training run, {label:<48} {seconds:6.1f} s  ({seconds / base:.2f}x the previous default)")
    print(f"  torch.compile: first epoch {compiled['compile_first_epoch_s']:.0f} s (compiling), then "
          f"{compiled['compiled_over_eager_speed']:.2f}x eager's speed; first step's loss differs by "
          f"{compiled['first_step_loss_difference']:.1e}, losses over the epoch by up to "
          f"{compiled['max_loss_difference_over_epoch']:.1e} (float order, amplified by training)")
    print(f"  {K_STACK} seeds stacked (grouped convolutions): {stacked['stacked_over_separate_speed']:.2f}x the speed of "
          f"one at a time; first step's summed loss differs by {stacked['first_step_loss_difference']:.1e}, block-1 "
          f"weights by up to {stacked['max_weight_difference_after_one_epoch']:.1e} after one epoch")
    keys = store_keys()
    with torch_threads(1):
        sources = study_b_sources()
    print(f"  run keys: {keys['parsed_s'] * 1e3:.0f} ms parsing the modules each time, {keys['cached_s'] * 1e6:.0f} µs "
          f"once per file version: {keys['speed_ratio']:,.0f}x (the same key)")
    epochs = ", ".join(f"{arch} {seconds:.1f} s" for arch, seconds in sources["epoch_s"].items())
    print(f"  Study B source epoch (4,096 images, test accuracy after it, 1 thread): {epochs}; the default's source "
          f"training (nets x epochs x these epochs, one thread) at {sources['epochs']} epochs with shared twins "
          f"{sources['now_s']:.0f} s against {sources['before_s']:.0f} s at {sources['previous_epochs']} epochs with "
          f"a twin trained per seed: {sources['now_over_before']:.2f}x")
    return {"epoch_parts": parts, "run_costs": runs, "compile": compiled, "stacked": stacked, "store_keys": keys,
            "study_b_sources": sources}


if __name__ == "__main__":
    main()
