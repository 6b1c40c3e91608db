"""How much memory a device has free, and sizes in words: shared by the tool's and the tables' memory checks."""

from __future__ import annotations

import torch

__all__ = ["MEMORY_SHARE", "available_bytes", "gib"]

MEMORY_SHARE = 0.8  # of the memory available, the most a measurement or a table may plan to take


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device``: CUDA's free memory, or the system's available memory (unknown: unbounded)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].strip().split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return 1 << 62  # unknown: do not refuse


def gib(b: float) -> str:
    return f"{b / 2**30:.1f} GiB"
