"""`make bench`, part 3: repchange.tool.track on a torchvision ResNet-50 stage.

1. Memory bound. ``Tracker(streaming=True)`` (minibatch debiased CKA) on ResNet-50's ``layer1``
   (256 x 8 x 8 = 16,384 features at 32 x 32 input) for n = 2,000, 10,000 and 50,000 probe
   images generated batch by batch, each in a child process: its peak resident memory above
   the process after building the models, and the time of one update. Beside it, the memory
   the exact (non-streaming) tracker would need for the same n (``memory.predicted_peak``).
2. Device speed-up. One exact ``Tracker.update`` (CKA and Procrustes at ResNet-50's stages,
   n = 1,000 probes of 64 x 64) on the CPU and, where CUDA exists, on the GPU: their ratio.

3. The cost of the null. A permutation null of debiased and biased CKA for one layer of 1,000 probes
   x 16,384 features against one of 512: permutations per second (the cached Gram matrices are
   re-indexed) against evaluating the value afresh for each shuffle (a new Factors per shuffle, as a
   package without the cache does), as a ratio in one run.
4. The layer x layer matrix. ``layer_matrix`` over n_a = n_b = 5 layers (ResNet-18 stages against
   themselves under another init, 500 probes) against n_a x n_b pairwise calls that each factorise
   both layers (``linear_cka`` on raw activations): its time and the ratio.

5. The memory guard. For CKA + Procrustes (feature form), debiased CKA (p = 4,096 > n: Gram form), RBF CKA and
   mutual k-NN, an exact update of two MLP layers on 3,000 probes in a child process: the peak resident memory
   against ``repchange.tool.memory.predicted_peak`` (target: within ± 20 %).

Run alone: ``python benchmarks/tracking.py [--quick]`` (--quick: n up to 10,000).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import torch
import torchvision
from torch.utils.data import Dataset

from repchange.measure.registry import Sides, evaluate
from repchange.measure.metrics import Factors, linear_cka
from repchange.measure.resampling import calibrate
from repchange.tool.layer_matrix import layer_matrix
from repchange.tool.readout import layer_activations
from repchange.tool.probes import Probe
from repchange.tool.hooks import resolve_layers
from repchange.tool.memory import predicted_peak
from repchange.tool.track import Tracker

SIZES = (2_000, 10_000, 50_000)
BATCH = 250


class Noise(Dataset):
    """``n`` random 3 x size x size images, made when asked (so the probe itself holds no memory)."""

    def __init__(self, n: int, size: int = 32) -> None:
        self.n, self.size = n, size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.randn(3, self.size, self.size, generator=torch.Generator().manual_seed(i))


def _resnet50(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torchvision.models.resnet50(weights=None, num_classes=10)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def streaming_child(n: int) -> None:
    """In a child process: one streamed update over ``n`` probes; prints JSON."""
    model, reference = _resnet50(0), _resnet50(1)
    base = _peak_mb()
    tracker = Tracker(model, Noise(n), layers=["layer1"], metrics=("cka_debiased",), streaming=True,
                      reference=reference, batch_size=BATCH)
    start = time.perf_counter()
    value = tracker.update(1).value.item()
    print(json.dumps(dict(n=n, seconds=time.perf_counter() - start, peak_extra_mb=_peak_mb() - base, value=value)))


def memory_bound(sizes: tuple[int, ...]) -> list[dict[str, float]]:
    rows = []
    for n in sizes:
        proc = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True,
                              check=True)
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        shapes = {"layer1": (1, 256 * 8 * 8)}
        row["exact_need_gb"] = predicted_peak(n, shapes, shapes, [("layer1", "layer1")], ["cka_debiased"]) / 1e9
        rows.append(row)
    return rows


PREDICTED = (("cka_debiased", "procrustes"), ("rbf_cka",), ("mutual_knn",), ("cka_debiased",))


def prediction_child(n: int, metrics: str) -> None:
    """In a child process: one exact update of a 2-layer MLP (widths 512 and 4,096) on ``n`` probes with the
    comma-separated ``metrics``; prints the peak resident memory above the process before the Tracker, and the
    guard's prediction."""
    torch.manual_seed(0)
    names = tuple(metrics.split(","))
    model = torch.nn.Sequential(torch.nn.Linear(64, 512), torch.nn.ReLU(), torch.nn.Linear(512, 4096))
    probe = torch.randn(n, 64)
    shapes = {"1": (1, 512), "2": (1, 4096)}
    predicted = predicted_peak(n, shapes, shapes, [("1", "1"), ("2", "2")], names)
    base = _peak_mb()
    Tracker(model, probe, layers=["1", "2"], metrics=names, batch_size=500).update(1)
    print(json.dumps(dict(n=n, metrics=metrics, measured_mb=_peak_mb() - base, predicted_mb=predicted / 2**20)))


def memory_prediction(n: int = 3_000) -> list[dict[str, float]]:
    """The guard's predicted peak against the measured one, each metric set in a fresh child process."""
    rows = []
    for names in PREDICTED:
        proc = subprocess.run([sys.executable, __file__, "--predict", str(n), ",".join(names)], capture_output=True,
                              text=True, check=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def device_speedup() -> dict[str, float | str]:
    x = torch.randn(1000, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    result: dict[str, float | str] = {}
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        model = _resnet50(0).to(device)
        tracker = Tracker(model, x, reference=_resnet50(1).to(device), metrics=("cka", "procrustes"))
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        tracker.update(1)
        if device == "cuda":
            torch.cuda.synchronize()
        result[f"{device}_s"] = time.perf_counter() - start
    result["gpu_speedup"] = result["cpu_s"] / result["cuda_s"] if "cuda_s" in result else "no CUDA device here"
    return result


def null_cost(permutations: int = 200, fresh: int = 5) -> dict[str, float]:
    """Permutations per second of the cached null, and of recomputing the value per shuffle."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 16_384, generator=g)
    y = x[:, :512] @ torch.randn(512, 512, generator=g) / 20 + torch.randn(1000, 512, generator=g)
    result: dict[str, float] = {}
    for metric in ("cka_debiased", "cka"):
        sides = Sides(Factors(x), Factors(y))
        value, _ = evaluate(metric, sides)
        sides.x.gram, sides.y.gram  # the factorisation every value needs once, not part of the null
        start = time.perf_counter()
        cal = calibrate(metric, sides, value, permutations=permutations)
        result[f"{metric}_per_s"] = permutations / (time.perf_counter() - start)
        result[f"{metric}_p"] = cal.p_value
    start = time.perf_counter()
    for i in range(fresh):
        order = torch.randperm(1000, generator=torch.Generator().manual_seed(i))
        linear_cka(x, y[order], debiased=True)
    result["fresh_per_s"] = fresh / (time.perf_counter() - start)
    result["cached_over_fresh"] = result["cka_debiased_per_s"] / result["fresh_per_s"]
    return result


def matrix_cost(n: int = 500) -> dict[str, float]:
    """layer_matrix over 5 x 5 ResNet-18 stages (whole call, and its metric part: 10 factorisations, 25
    values) against 25 pairwise calls on the same activations, each factorising both sides."""
    torch.manual_seed(0)
    a, b = torchvision.models.resnet18(weights=None), torchvision.models.resnet18(weights=None)
    x = torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    start = time.perf_counter()
    table = layer_matrix(a, b, x, metrics=("cka_debiased",))
    matrix_s = time.perf_counter() - start
    probe = Probe(x)
    acts_a = layer_activations(a, probe, resolve_layers(a, "stages", x[:2]))
    acts_b = layer_activations(b, probe, resolve_layers(b, "stages", x[:2]))
    start = time.perf_counter()
    fa = {k: Factors(v.flatten(1)) for k, v in acts_a.items()}
    fb = {k: Factors(v.flatten(1)) for k, v in acts_b.items()}
    cached = {(la, lb): linear_cka(fa[la], fb[lb], debiased=True) for la in fa for lb in fb}
    cached_s = time.perf_counter() - start
    start = time.perf_counter()
    pairwise = {(la, lb): linear_cka(va.flatten(1), vb.flatten(1), debiased=True)
                for la, va in acts_a.items() for lb, vb in acts_b.items()}
    pairwise_s = time.perf_counter() - start
    same = max(abs(pairwise[(r.layer_a, r.layer_b)] - r.value) for r in table.itertuples())
    same = max(same, max(abs(cached[k] - v) for k, v in pairwise.items()))
    return dict(pairs=len(table), factorisations=table.attrs["factorisations"], matrix_s=matrix_s,
                metric_part_s=cached_s, pairwise_s=pairwise_s, pairwise_over_cached=pairwise_s / cached_s,
                largest_difference=same)


def reference_cache(n: int = 2_000, width: int = 1_024, updates: int = 3) -> dict[str, float]:
    """Seconds per Tracker update (CKA + Procrustes, two MLP layers of ``width``) with the reference's factors kept
    across updates, against the same update with them rebuilt (the cache cleared first), in one process."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, width), torch.nn.ReLU(), torch.nn.Linear(width, width))
    tracker = Tracker(model, torch.randn(n, 64), layers=["0", "2"], metrics=("cka", "procrustes"), batch_size=500)
    tracker.update(0)  # builds the reference's factors
    cached, rebuilt = [], []
    for step in range(1, updates + 1):
        start = time.perf_counter()
        tracker.update(step)
        cached.append(time.perf_counter() - start)
        tracker._reference_factors.clear()
        start = time.perf_counter()
        tracker.update(step)
        rebuilt.append(time.perf_counter() - start)
    return dict(n=n, width=width, cached_s=min(cached), rebuilt_s=min(rebuilt),
                rebuilt_over_cached=min(rebuilt) / min(cached))


def form_child(n: int, form: str) -> None:
    """In a child process: debiased linear CKA of two (n, 512) / (n, 256) float32 representations, in the feature
    form (no (n, n) matrix) or the Gram form; prints seconds, the peak above the inputs, and the value."""
    from repchange.measure.metrics import cka_from_grams, centred_gram

    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 512, generator=g)
    y = x[:, :256] @ torch.randn(256, 256, generator=g) + torch.randn(n, 256, generator=g)
    base = _peak_mb()
    start = time.perf_counter()
    value = linear_cka(x, y, debiased=True) if form == "feature" else \
        cka_from_grams(centred_gram(x), centred_gram(y), debiased=True)
    print(json.dumps(dict(n=n, form=form, seconds=time.perf_counter() - start, peak_extra_mb=_peak_mb() - base,
                          value=value)))


def feature_vs_gram(n: int = 20_000) -> dict[str, float]:
    """Debiased CKA at ``n`` probes in both forms, each in a fresh child process."""
    runs = {}
    for form in ("feature", "gram"):
        proc = subprocess.run([sys.executable, __file__, "--form", str(n), form], capture_output=True, text=True,
                              check=True)
        runs[form] = json.loads(proc.stdout.strip().splitlines()[-1])
    f, g = runs["feature"], runs["gram"]
    return dict(n=n, feature_s=f["seconds"], gram_s=g["seconds"], feature_mb=f["peak_extra_mb"],
                gram_mb=g["peak_extra_mb"], gram_over_feature_s=g["seconds"] / f["seconds"],
                gram_over_feature_mb=g["peak_extra_mb"] / max(f["peak_extra_mb"], 1.0),
                difference=abs(f["value"] - g["value"]))


class _Tokens(torch.nn.Module):
    """Token ids (N, T) -> (N, T, 256) hidden states: an embedding and a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.embed, self.mix = torch.nn.Embedding(1000, 256), torch.nn.Linear(256, 256)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.mix(self.embed(input_ids))


def padding_child(view: str, n: int = 2_000, length: int = 512) -> None:
    """In a child process: a token layer's activations over ``n`` sequences padded to ``length`` (real lengths
    8..64), pooled per batch (``view="mean"``) or concatenated raw (``"raw"``: every position, what concatenating
    before the view held); prints the peak above the probe."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 1000, (n, length), generator=g)
    lengths = torch.randint(8, 65, (n,), generator=g)
    mask = (torch.arange(length)[None, :] < lengths[:, None]).long()
    torch.manual_seed(0)
    model = _Tokens()
    base = _peak_mb()
    pool = view if view == "mean" else (lambda out, _mask: out.flatten(1))  # raw: every position kept, as before
    acts = layer_activations(model, Probe({"input_ids": ids * mask, "attention_mask": mask}, 100, 0),
                             resolve_layers(model, ["mix"]), view=pool)
    print(json.dumps(dict(view=view, peak_extra_mb=_peak_mb() - base, shape=list(acts["mix"].shape))))


def padding_memory() -> dict[str, float]:
    runs = {}
    for view in ("mean", "raw"):
        proc = subprocess.run([sys.executable, __file__, "--padding", view], capture_output=True, text=True,
                              check=True)
        runs[view] = json.loads(proc.stdout.strip().splitlines()[-1])
    return dict(mean_mb=runs["mean"]["peak_extra_mb"], raw_mb=runs["raw"]["peak_extra_mb"],
                raw_over_mean=runs["raw"]["peak_extra_mb"] / max(runs["mean"]["peak_extra_mb"], 1.0))


def main(quick: bool = False) -> dict:
    sizes = tuple(n for n in SIZES if not quick or n <= 10_000)
    print(f"\n[tracking 1] streamed CKA, ResNet-50 layer1 (16,384 features), batches of {BATCH}:")
    print(f"{'n probes':>9} {'update s':>9} {'peak extra MB':>14} {'exact would need GB':>20}")
    rows = memory_bound(sizes)
    for r in rows:
        print(f"{r['n']:>9,} {r['seconds']:>9.1f} {r['peak_extra_mb']:>14.0f} {r['exact_need_gb']:>20.1f}")
    print(f"  peak memory at the largest n / at the smallest: {rows[-1]['peak_extra_mb'] / rows[0]['peak_extra_mb']:.2f}"
          f" (n grew {rows[-1]['n'] / rows[0]['n']:.0f}x)")
    speed = device_speedup()
    print("[tracking 2] one exact update, ResNet-50 stages, 1,000 probes of 64x64: "
          + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k}: {v}" for k, v in speed.items()))
    null = null_cost()
    print(f"[tracking 3] permutation null, 1,000 probes x 16,384 features against 512: debiased CKA "
          f"{null['cka_debiased_per_s']:.0f} permutations/s, biased {null['cka_per_s']:.0f}/s; recomputing the value "
          f"per shuffle {null['fresh_per_s']:.2f}/s: cached / fresh = {null['cached_over_fresh']:.0f}x")
    matrix = matrix_cost()
    print(f"[tracking 4] layer x layer, ResNet-18 stages 5 x 5, 500 probes: layer_matrix {matrix['matrix_s']:.1f} s in "
          f"all; its metric part ({matrix['factorisations']} factorisations, {matrix['pairs']} values) "
          f"{matrix['metric_part_s']:.2f} s against {matrix['pairs']} pairwise calls {matrix['pairwise_s']:.2f} s on the "
          f"same activations: pairwise / cached = {matrix['pairwise_over_cached']:.1f}x; largest difference "
          f"{matrix['largest_difference']:.1e}")
    predicted = memory_prediction()
    print("[tracking 5] the memory guard: predicted peak against measured (MLP layers of 512 and 4,096, 3,000 probes):")
    for r in predicted:
        print(f"  {r['metrics']:<24} predicted {r['predicted_mb']:7.0f} MB, measured {r['measured_mb']:7.0f} MB: "
              f"measured / predicted {r['measured_mb'] / r['predicted_mb']:.2f}")
    cache = reference_cache()
    print(f"[tracking 6] the reference's factors kept across updates ({cache['n']:,} probes, two layers of "
          f"{cache['width']:,}, CKA + Procrustes): {cache['cached_s']:.2f} s per update against {cache['rebuilt_s']:.2f} s "
          f"rebuilding them: rebuilt / kept = {cache['rebuilt_over_cached']:.2f}x")
    forms = feature_vs_gram(5_000 if quick else 20_000)
    print(f"[tracking 7] debiased CKA at n = {forms['n']:,} (512 and 256 features): feature form {forms['feature_s']:.1f} s, "
          f"{forms['feature_mb']:.0f} MB above the inputs; Gram form {forms['gram_s']:.1f} s, {forms['gram_mb']:.0f} MB: "
          f"Gram / feature = {forms['gram_over_feature_s']:.1f}x time, {forms['gram_over_feature_mb']:.0f}x memory; "
          f"values differ by {forms['difference']:.1e}")
    padding = padding_memory()
    print(f"[tracking 8] 2,000 token sequences padded to 512 (real lengths 8-64), a 256-wide layer: pooled per batch "
          f"(view='mean') {padding['mean_mb']:.0f} MB, raw concatenation {padding['raw_mb']:.0f} MB: raw / pooled = "
          f"{padding['raw_over_mean']:.0f}x")
    return {"memory": rows, "device": speed, "null": null, "matrix": matrix, "prediction": predicted,
            "reference_cache": cache, "forms": forms, "padding": padding}


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        streaming_child(int(sys.argv[2]))
    elif len(sys.argv) > 3 and sys.argv[1] == "--predict":
        prediction_child(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) > 3 and sys.argv[1] == "--form":
        form_child(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) > 2 and sys.argv[1] == "--padding":
        padding_child(sys.argv[2])
    else:
        main(quick="--quick" in sys.argv)
