"""`make bench`, part 13: the `paper` profile's Study B tables, their cost predicted per chapter from measured units.

Measured here, on one thread, per architecture at 224 pixels (random weights and images: cost, not science), in a
fresh child process each: the seconds of one probe image of a distance table at one checkpoint (every probed layer's
per-filter Procrustes distance and PWSM at the book's three alphas, :func:`repchange.studies.b.tables._distances`),
and of one probe image of the metric agreement (three per-filter distances, :func:`~repchange.studies.b.tables._agreement_distances`).

Predicted from them for the `paper` profile (``notebooks/params/paper.yaml``: three nets × three targets, checkpoints
0, 1, 3, 5, 7, 10, 15, 300 probe images): each chapter's table CPU hours, each net's table's resident memory
(:func:`repchange.studies.b.streaming.predicted_peak_bytes`), and its wall clock on the stated machine (16 cores,
128 GB): the longest tables first, each starting when a core and its memory are free, as the book's pool runs them;
and the run store's disk. Fine-tuning's time and GPU memory are not predicted: no GPU was at hand to measure a unit of
them, and a CPU's unit says nothing of a GPU's.

Run alone: ``python benchmarks/paper_cost.py``.
"""

from __future__ import annotations

import json
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


def _wall(durations: list[float], needs: list[int]) -> tuple[float, int]:
    """Wall seconds of tables of ``durations`` and peak bytes ``needs`` on CORES cores and 80 % of RAM, the longest
    first as the pool queues them, each starting when a core and its memory are free; and the most run at once."""
    running: list[tuple[float, int]] = []  # (finish time, bytes)
    clock, most = 0.0, 0
    for duration, need in sorted(zip(durations, needs), reverse=True):
        while len(running) >= CORES or sum(b for _, b in running) + need > 0.8 * RAM:
            running.sort()
            clock, _ = running.pop(0)
        running.append((clock + duration, need))
        most = max(most, len(running))
    return max(f for f, _ in running), most


def predict(units: dict[str, dict]) -> list[dict]:
    """One row per chapter: its tables, CPU hours, the largest table's GB, the most at once, wall hours, disk GB."""
    from repchange.studies.b import streaming

    agreement_images = {t: min(N_PROBE, IMAGES_PER_CLASS * k) for t, k in TARGET_CLASSES.items()}
    chapters = {"b1 (distance tables)": lambda arch, target: len(CHECKPOINTS) * N_PROBE
                * units[arch]["dynamics_s_per_image"],
                "b2 (metric agreement)": lambda arch, target: (len(CHECKPOINTS) - 1) * agreement_images[target]
                * units[arch]["agreement_s_per_image"]}
    need = {arch: streaming.predicted_peak_bytes(streaming.table_plan(arch, N_PROBE, 224, 3, "batch"),
                                                 streaming.probe_shapes(arch, 224, 3), arch)
            for arch in ARCHS}
    # a checkpoint per saved epoch and the resume state (weights and Adam's two moments) per fine-tuning
    disk = sum(streaming.weight_bytes(arch) * (len(CHECKPOINTS) + 3) * len(TARGET_CLASSES) for arch in ARCHS)
    rows = []
    for chapter, seconds in chapters.items():
        tables = [(arch, seconds(arch, target)) for arch in ARCHS for target in TARGET_CLASSES]
        wall, most = _wall([t for _, t in tables], [need[a] for a, _ in tables])
        rows.append(dict(chapter=chapter, tables=len(tables), cpu_hours=sum(t for _, t in tables) / 3600,
                         table_gb={a: need[a] / 1e9 for a in ARCHS}, at_once=most, wall_hours=wall / 3600,
                         disk_gb=disk / 1e9 if chapter.startswith("b1") else 0.0))
    return rows


def main() -> dict:
    units = {arch: measure(arch) for arch in ARCHS}
    rows = predict(units)
    print(f"\n[13] the paper profile's Study B tables on 16 cores and 128 GB (units measured here on one thread, "
          f"probe images: {N_UNIT}):")
    for arch, unit in units.items():
        print(f"  {arch}: {unit['dynamics_s_per_image']:.2f} s a probe image and checkpoint (distances), "
              f"{unit['agreement_s_per_image']:.2f} s (agreement)")
    print("  | chapter | tables | CPU hours | one table's RAM | at once | wall hours | run store on disk |")
    for r in rows:
        disk = f"{r['disk_gb']:.1f} GB" if r["disk_gb"] else "(b1's runs)"
        ram = ", ".join(f"{a} {gb:.1f} GB" for a, gb in r["table_gb"].items())
        print(f"  | {r['chapter']} | {r['tables']} | {r['cpu_hours']:.1f} | {ram} | {r['at_once']} | "
              f"{r['wall_hours']:.2f} | {disk} |")
    print(f"  both: {sum(r['cpu_hours'] for r in rows):.1f} CPU hours, {sum(r['wall_hours'] for r in rows):.1f} h of "
          f"wall clock on 16 cores and 128 GB, the longest tables first")
    return dict(units=units, rows=rows)


if __name__ == "__main__":
    main()
