"""Measuring under ``torch.distributed`` (DDP): rank 0 measures, the other ranks wait for it.

The model is read through its DDP wrapper (``.module``): a forward pass of the wrapper is a collective (it
broadcasts buffers), which would hang when only one rank runs it. DDP keeps every rank's replica equal, so
rank 0's measurement is the run's.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["barrier", "is_measuring_rank", "unwrapped"]


def _active() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def is_measuring_rank() -> bool:
    """True outside ``torch.distributed``, and on rank 0 inside it."""
    return not _active() or torch.distributed.get_rank() == 0


def barrier() -> None:
    """Wait for every rank (a no-op outside ``torch.distributed``)."""
    if _active():
        torch.distributed.barrier()


def unwrapped(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` or ``DataParallel`` wrapper (layer names as the user's model
    has them), else ``model``."""
    wrappers = (nn.parallel.DistributedDataParallel, nn.DataParallel)
    return model.module if isinstance(model, wrappers) else model
