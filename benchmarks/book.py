"""`make bench`, part 4: a book chapter built serially against in parallel, in one run.

The chapter is Study A's Figure 2 (``notebooks/a2_label_degrees.py``, default profile: 5 seeds x
5 label degrees = 25 pre-training runs), executed by papermill from an empty run store twice:

- serial, as the book ran before the pool: one process, 2 threads per run
  (``REPCHANGE_WORKERS=1 REPCHANGE_TRAIN_THREADS=2``);
- parallel, the book's default: one single-threaded worker per core.

Reported: both wall times and their ratio. (The two builds' numbers differ in the last digits
because a CPU run's floats depend on its thread count; that the pool is bit-identical to serial
at the same thread count is tested in ``tests/test_parallel.py``.)

Run alone: ``python benchmarks/book.py [--quick]`` (--quick: 2 seeds).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from repchange.book import runner

NOTEBOOK = runner.project_root() / "notebooks" / "a2_label_degrees.py"
SETUPS = {"serial (1 process x 2 threads)": {"REPCHANGE_WORKERS": "1", "REPCHANGE_TRAIN_THREADS": "2"},
          "parallel (book default)": {}}


def main(quick: bool = False) -> dict[str, float]:
    overrides = {"a_seeds": [1, 2]} if quick else None
    params = runner.resolve_parameters(NOTEBOOK, "default", overrides)
    values = runner.effective_parameters(NOTEBOOK, "default", overrides)
    runs = len(values["a_seeds"]) * len(values["a_degrees"])
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for k, (label, env) in enumerate(SETUPS.items()):
            start = time.perf_counter()
            runner.execute(NOTEBOOK, tmp / f"a2-{k}.ipynb", params, results_dir=tmp / f"results-{k}",
                           extra_env={"REPCHANGE_STORE": str(tmp / f"store-{k}"), **env})
            times[label] = time.perf_counter() - start
    serial, parallel = times.values()
    print(f"\n[book] {NOTEBOOK.name}, default profile, {runs} pre-training runs from an empty store:")
    for label, seconds in times.items():
        print(f"  {label:<32} {seconds:7.0f} s  ({seconds / runs:5.1f} s per run)")
    print(f"  parallel / serial speed-up: {serial / parallel:.2f}x")
    return {**times, "runs": runs, "speedup": serial / parallel}


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
