"""Which device a run uses: the one function both the trainer and the tool call.

Listed in the studies' ``TRAINING_CODE`` (its definition keys every stored training, as it did inside the trainer).
The names a user may write are checked in :mod:`repchange.base.device_checks`.
"""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
