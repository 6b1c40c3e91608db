"""Tables made in the notebook's process against the worker pool, quiet and beside one busy process
(shared by `make bench` parts 8 and 9)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Callable

import numpy as np
import pandas as pd

LOADS = ("quiet", "one busy process beside")


def compare(kernel: Callable[[], pd.DataFrame], pool: Callable[[], pd.DataFrame], keys: list[str]
            ) -> dict[str, float]:
    """Seconds of each way under each of :data:`LOADS` (``"<load>: kernel_s"``, ``"<load>: pool_s"``), their
    ratio (``"<load>: speed_ratio"``, kernel / pool) and the largest difference of the two quiet tables'
    ``value`` after sorting both by ``keys`` (``max_difference``)."""
    out: dict[str, float] = {}
    results = {}
    for load in LOADS:
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load != "quiet" else None
        try:
            for way, fn in (("kernel", kernel), ("pool", pool)):
                start = time.perf_counter()
                results[(load, way)] = fn()
                out[f"{load}: {way}_s"] = time.perf_counter() - start
        finally:
            if busy is not None:
                busy.kill()
        out[f"{load}: speed_ratio"] = out[f"{load}: kernel_s"] / out[f"{load}: pool_s"]
    a = results[("quiet", "kernel")].sort_values(keys).reset_index(drop=True)
    b = results[("quiet", "pool")].sort_values(keys).reset_index(drop=True)
    out["max_difference"] = float(np.nanmax(np.abs(a.value.to_numpy() - b.value.to_numpy())))
    return out
