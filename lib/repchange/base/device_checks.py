"""Which device a run may ask for: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, refused in one line when this
machine lacks it (before any work, and naming ``device: auto``)."""

from __future__ import annotations

import re

import torch

__all__ = ["DEVICE_PATTERN", "check_device"]

DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device(device: str) -> None:
    """Raise ValueError (one line, naming ``device: auto``) unless ``device`` names a device this machine has:
    ``auto``, ``cpu``, ``cuda``, ``cuda:N`` (N below the CUDA device count) or ``mps``."""
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise ValueError(f"device {device!r} is none of 'auto' (CUDA when present, else the CPU), 'cpu', 'cuda', "
                         f"'cuda:N' or 'mps'")
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.partition(":")[2] or 0)
        if count == 0:
            raise ValueError(f"device {device!r} was asked for, but this machine has no CUDA device "
                             f"(torch.cuda.is_available() is False); use device: auto (CUDA when present, else the "
                             f"CPU) or device: cpu")
        if index >= count:
            raise ValueError(f"device {device!r} was asked for, but this machine has {count} CUDA device(s) "
                             f"(cuda:0..cuda:{count - 1}); use device: auto or one of those")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for, but this machine has no Apple GPU; use device: auto or cpu")
