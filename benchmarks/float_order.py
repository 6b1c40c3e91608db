"""`make bench`, part 11: how far another CPU's float order carries a training run, beside another seed.

A run's numbers are bit-identical on one machine (same threads, same library), but a CPU with other vector units runs
other kernels, which add in another order. Here conv4 trains (Study A's config: Fashion-MNIST, 1,024 images, SGD,
batch 32, one thread, 4 epochs) in child processes: seed 1 with every kernel this CPU has, seed 1 capped at AVX2
(``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2``, ``MKL_ENABLE_INSTRUCTIONS=AVX2``: what a CPU without
AVX-512 runs), and seed 2 with every kernel. Reported, for the capped run and for the other seed against the first:
the relative distance of all weights, the largest difference of one weight, the test accuracy, and the linear CKA
of the block-4 representations of 500 test images (1 = the same representation up to rotation and scale). On a CPU
without AVX-512 the capped run is the same run (the capability each child used is printed).

Run alone: ``python benchmarks/float_order.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = """
import json, sys, tempfile
from pathlib import Path
import torch
from repchange.data import datasets as data
from repchange.measure.features import extract
from repchange.nets.conv4 import build
from repchange.runs.trainer import OptimiserSpec, train
seed, out = int(sys.argv[1]), sys.argv[2]
torch.manual_seed(seed)
model = build("conv4", in_channels=1, num_classes=10, image_size=28)
ds = data.load("fashion_mnist")
with tempfile.TemporaryDirectory() as tmp:
    history = train(model, ds.train.subset(slice(0, 1024)), ds.test.subset(slice(0, 1000)), epochs=4,
                    optimiser=OptimiserSpec("sgd", lr=1e-3, momentum=0.9, batch_size=32), seed=seed,
                    run_dir=Path(tmp), device="cpu", eval_epochs=[4])
features = extract(model, {"block4": model.probe_layers["block4"]}, ds.test.subset(slice(0, 500)))["block4"]
torch.save({"weights": torch.cat([p.detach().flatten() for p in model.parameters()]), "block4": features}, out)
print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "test_acc": float(history.test_acc.iloc[-1])}))
"""

CAPPED = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def _run(seed: int, out: str, extra: dict[str, str]) -> dict[str, object]:
    env = {**{k: v for k, v in os.environ.items() if k not in CAPPED}, "REPCHANGE_PROGRESS": "0", **extra}
    done = subprocess.run([sys.executable, "-c", CHILD, str(seed), out], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> dict[str, object]:
    import tempfile

    import torch

    from repchange.measure.metrics import linear_cka

    with tempfile.TemporaryDirectory() as tmp:
        runs = {name: _run(seed, f"{tmp}/{name}.pt", extra) for name, seed, extra in
                (("first", 1, {}), ("capped at AVX2", 1, CAPPED), ("another seed", 2, {}))}
        saved = {name: torch.load(f"{tmp}/{name}.pt") for name in runs}
    first = saved["first"]
    out: dict[str, object] = {"capabilities": {k: r["capability"] for k, r in runs.items()}}
    for name in ("capped at AVX2", "another seed"):
        w, f = saved[name]["weights"], saved[name]["block4"]
        out[name] = dict(relative_weight_distance=float((w - first["weights"]).norm() / first["weights"].norm()),
                         largest_weight_difference=float((w - first["weights"]).abs().max()),
                         test_acc=runs[name]["test_acc"], first_test_acc=runs["first"]["test_acc"],
                         block4_cka=float(linear_cka(f.double(), first["block4"].double())))
    print("\n[11] another CPU's float order against another seed (conv4, 4 epochs, 1 thread)")
    print(f"  kernels used: {out['capabilities']}")
    for name in ("capped at AVX2", "another seed"):
        r = out[name]
        print(f"  {name:<15} weights {r['relative_weight_distance']:.3f} of their norm apart (largest "
              f"{r['largest_weight_difference']:.3f}); test accuracy {r['test_acc']:.3f} against {r['first_test_acc']:.3f}; "
              f"block-4 linear CKA to the first run {r['block4_cka']:.4f}")
    return out


if __name__ == "__main__":
    main()
