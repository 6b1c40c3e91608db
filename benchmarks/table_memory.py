"""`make bench`, part 12: one Study B distance table's peak memory against its probe count, held whole and in chunks.

A VGG19 table at 224 pixels (random weights and images: memory and time, not science; 15 classes as the paper's
targets have), the source net against a perturbed copy of itself (one checkpoint), every probed layer, PWSM at
the book's three alphas and the per-filter Procrustes distance, on one thread, each in a fresh child process that keeps freed memory as the book's
table workers do (:mod:`repchange.runs.allocator`):

- the whole probe held at once (how the tables read it before :mod:`repchange.studies.b.streaming`) at two probe
  counts: the memory per image;
- chunks of a small budget (5 images) at one, two, four and eight chunks' worth of images: flat in the probe count;
- ResNet50 and DenseNet121 at 300 probe images with batch statistics: one forward pass of the 300 images, its maps
  spilled to a temporary file and read back a chunk at a time;
- one and three chunks of the default budget (:data:`repchange.studies.b.streaming.CHUNK_BYTES`), and 300 probe images: the peak of a
  table whatever its probe count, measured at the paper's 300, against :func:`repchange.studies.b.streaming.predicted_peak_bytes`.

Reported: peak resident memory, wall seconds and seconds per probe image. Run alone: ``python benchmarks/table_memory.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import json, resource, sys, time
import torch
from repchange.data.datasets import Split
from repchange.measure.metrics import ALPHAS
from repchange.nets.architectures import build_architecture
from repchange.nets.probe_shapes import probe_shapes
from repchange.runs.allocator import keep_freed_memory
from repchange.studies.b import tables
from repchange.studies.b.streaming import ChunkPlan, ProbeMaps, chunk_plan, map_bytes, predicted_peak_bytes
n, chunk_bytes, whole, arch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "whole", sys.argv[4]
kept = keep_freed_memory()  # as in a table worker of the book (runs.parallel)
torch.set_num_threads(1); torch.manual_seed(0)
source = build_architecture(arch, in_channels=3, num_classes=15, weights=None)
tuned = build_architecture(arch, in_channels=3, num_classes=15, weights=None)
tuned.load_state_dict(source.state_dict())
with torch.no_grad():
    for p in tuned.parameters():
        p.add_(0.01 * p.std() * torch.randn_like(p) if p.numel() > 1 else 0)
probe = Split(torch.randint(0, 256, (n, 3, 224, 224), dtype=torch.uint8), torch.arange(n) % 15)
per_image = map_bytes(probe_shapes(arch, 224))
plan = ChunkPlan(n, n, "whole") if whole else chunk_plan(source, n, per_image, "batch", budget=chunk_bytes)
start = time.perf_counter()
params = tables.DynamicsParams(alphas=ALPHAS)
distances = tables._distances(ProbeMaps(source, probe, plan, bn="batch"), ProbeMaps(tuned, probe, plan, bn="batch"),
                              probe.labels, params)
rows = [row for d in distances.values() for row in d.rows()]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(dict(kept=kept, n=n, chunk_images=plan.images, wall_s=time.perf_counter() - start, peak_gb=peak / 1e9,
                      predicted_gb=predicted_peak_bytes(plan, probe_shapes(arch, 224), arch) / 1e9, rows=len(rows), arch=arch,
                      spilled=plan.spilled)))
"""

SMALL = 2**28  # 0.25 GiB of both nets' maps: 5 VGG19 images a chunk


def _child(n: int, chunk_bytes: int, whole: bool, arch: str = "vgg19") -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(chunk_bytes), "whole" if whole else "chunked", arch],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run() -> dict[str, list[dict]]:
    from repchange.studies.b.streaming import CHUNK_BYTES

    images = CHUNK_BYTES // (2 * 24_485_888)  # VGG19's images a chunk at the default budget
    return dict(whole=[_child(n, 0, True) for n in (5, 10)],
                small_chunks=[_child(n, SMALL, False) for n in (5, 10, 20, 40)],
                default_chunk=[_child(n, CHUNK_BYTES, False) for n in (images, 3 * images, 300)],
                batch_statistics=[_child(300, CHUNK_BYTES, False, arch) for arch in ("resnet50", "densenet121")])


def report(result: dict[str, list[dict]]) -> None:
    print("[12] one VGG19 distance table at 224 px (one checkpoint, 15 classes), peak resident memory:")
    for name, runs in result.items():
        for r in runs:
            print(f"  {name:>16}: {r['arch']}, {r['n']:>3} probes, {r['chunk_images']:>3} a chunk: {r['peak_gb']:.2f} GB "
                  f"(predicted {r['predicted_gb']:.2f}), {r['wall_s']:.0f} s ({r['wall_s'] / r['n']:.1f} s an image)")
    whole = result["whole"]
    slope = (whole[1]["peak_gb"] - whole[0]["peak_gb"]) / (whole[1]["n"] - whole[0]["n"])
    chunks = [r["peak_gb"] for r in result["small_chunks"]]
    default = result["default_chunk"]
    print(f"  held whole: {slope:.3f} GB per probe image, so 300 probes ≈ {whole[0]['peak_gb'] + slope * (300 - whole[0]['n']):.0f} GB;"
          f" in chunks of 5: {min(chunks):.2f}-{max(chunks):.2f} GB from 1 to 8 chunks; the default chunk "
          f"({default[0]['chunk_images']} images): {default[0]['peak_gb']:.2f} GB at one chunk, {default[1]['peak_gb']:.2f} GB "
          f"at three, {default[2]['peak_gb']:.2f} GB at 300 probe images")


if __name__ == "__main__":
    report(run())
