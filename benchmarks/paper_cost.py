"""`make bench`, part 13: the `paper` profile's Study B tables, their cost predicted per chapter from measured units.

Measured here, on one thread, per architecture at 224 pixels (random weights and images: cost, not science), in a
fresh child process each: the seconds of one probe image of a distance table at one checkpoint (every probed layer's
per-filter Procrustes distance and PWSM at the book's three alphas, :func:`repchange.studies.b.tables._distances`),
and of one probe image of the metric agreement (three per-filter distances, :func:`~repchange.studies.b.tables._agreement_distances`).

Predicted from them for the `paper` profile (``notebooks/params/paper.yaml``: three nets × three targets, checkpoints
0, 1, 3, 5, 7, 10, 15, 300 probe images): each chapter's table CPU hours, its largest table's resident memory
(:func:`repchange.studies.b.streaming.predicted_peak_bytes`), how many tables fit side by side on the stated machine
(16 cores, 128 GB: :func:`~repchange.studies.b.streaming.tables_at_once`) and so its wall clock on those cores, and
the run store's disk. Fine-tuning's time and GPU memory are not predicted: no GPU was at hand to measure a unit of
them, and a CPU's unit says nothing of a GPU's.

Run alone: ``python benchmarks/paper_cost.py``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

ARCHS = ("vgg19", "resnet50", "densenet121")
TARGET_CLASSES = {"scene15": 15, "awa2": 50, "fruits360": 131}  # the paper's targets
CHECKPOINTS = (0, 1, 3, 5, 7, 10, 15)
N_PROBE, IMAGES_PER_CLASS, CORES, RAM = 300, 16, 16, 128 * 10**9
# probe images per measured unit: ResNet50's conv5_x (2,048 channels of 7 x 7) needs 42 for PWSM below alpha 1
N_UNIT = {"vgg19": 6, "resnet50": 42, "densenet121": 6}

CHILD = """
import json, sys, time
import torch
from repchange.data.datasets import Split
from repchange.measure.metrics import ALPHAS
from repchange.nets.architectures import build_architecture
from repchange.runs.allocator import keep_freed_memory
from repchange.studies.b import tables
from repchange.studies.b.streaming import ChunkPlan, ProbeMaps
arch, n = sys.argv[1], int(sys.argv[2])
keep_freed_memory()
torch.set_num_threads(1); torch.manual_seed(0)
nets = [build_architecture(arch, in_channels=3, num_classes=15, weights=None) for _ in range(2)]
probe = Split(torch.randint(0, 256, (n, 3, 224, 224), dtype=torch.uint8), torch.arange(n) % 3)
plan = ChunkPlan(n, n, "one chunk")
maps = [ProbeMaps(net, probe, plan, bn="batch") for net in nets]
for m in maps:
    m.chunk(slice(0, n))  # extraction apart: a forward pass costs little beside the metrics
start = time.perf_counter()
rows = [r for d in tables._distances(*maps, probe.labels, tables.DynamicsParams(alphas=ALPHAS)).values() for r in d.rows()]
dynamics = time.perf_counter() - start
start = time.perf_counter()
tables._agreement_distances(*maps, torch.ones(n, dtype=torch.bool), "rows")
agreement = time.perf_counter() - start
print(json.dumps(dict(arch=arch, n=n, dynamics_s_per_image=dynamics / n, agreement_s_per_image=agreement / n)))
"""


def measure(arch: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, arch, str(N_UNIT[arch])], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def predict(units: dict[str, dict]) -> list[dict]:
    """One row per chapter and net: tables, CPU hours, largest table's GB, tables at once, wall hours, disk GB."""
    from repchange.studies.b import streaming

    rows = []
    for arch in ARCHS:
        unit = units[arch]
        per_image = streaming.map_bytes(streaming.probe_shapes(arch, 224, 3))
        plan = streaming.table_plan(arch, N_PROBE, 224, 3, "batch")
        peak = streaming.predicted_peak_bytes(plan, per_image, arch)
        at_once = max(1, min(CORES, int(0.8 * RAM // peak)))
        agreement_images = sum(min(N_PROBE, IMAGES_PER_CLASS * k) for k in TARGET_CLASSES.values())
        chapters = {
            "b1 (distance tables)": (len(TARGET_CLASSES), len(TARGET_CLASSES) * len(CHECKPOINTS) * N_PROBE
                                     * unit["dynamics_s_per_image"]),
            "b2 (metric agreement)": (len(TARGET_CLASSES), (len(CHECKPOINTS) - 1) * agreement_images
                                      * unit["agreement_s_per_image"]),
        }
        # a checkpoint per saved epoch and the resume state (weights and Adam's two moments) per fine-tuning
        disk_gb = streaming.weight_bytes(arch) * (len(CHECKPOINTS) + 3) * len(TARGET_CLASSES) / 1e9
        for chapter, (count, seconds) in chapters.items():
            waves = math.ceil(count / min(at_once, count))
            rows.append(dict(chapter=chapter, arch=arch, tables=count, cpu_hours=seconds / 3600,
                             table_gb=peak / 1e9, at_once=min(at_once, count),
                             wall_hours=seconds / count * waves / 3600,
                             disk_gb=disk_gb if chapter.startswith("b1") else 0.0))
    return rows


def main() -> dict:
    units = {arch: measure(arch) for arch in ARCHS}
    rows = predict(units)
    print(f"\n[13] the paper profile's Study B tables on 16 cores and 128 GB (units measured here on one thread, "
          f"probe images: {N_UNIT}):")
    for arch, unit in units.items():
        print(f"  {arch}: {unit['dynamics_s_per_image']:.2f} s a probe image and checkpoint (distances), "
              f"{unit['agreement_s_per_image']:.2f} s (agreement)")
    print("  | chapter | net | tables | CPU hours | one table's RAM | at once | wall hours | run store on disk |")
    for r in rows:
        disk = f"{r['disk_gb']:.1f} GB" if r["disk_gb"] else "(b1's runs)"
        print(f"  | {r['chapter']} | {r['arch']} | {r['tables']} | {r['cpu_hours']:.1f} | {r['table_gb']:.1f} GB | "
              f"{r['at_once']} | {r['wall_hours']:.1f} | {disk} |")
    total = sum(r["cpu_hours"] for r in rows)
    print(f"  all: {total:.0f} CPU hours of tables; on 16 cores, as many at once as fit, about "
          f"{sum(r['wall_hours'] for r in rows):.1f} h of wall clock one chapter and net after another")
    return dict(units=units, rows=rows)


if __name__ == "__main__":
    main()
