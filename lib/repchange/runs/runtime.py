"""Where and how runs execute: the store, the device, the data folder and whether data may be
downloaded. None of it is part of a run's key; one object carries it through every study function."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from repchange.data import datasets as data_mod
from repchange.runs.allocator import keep_freed_memory
from repchange.base.device_checks import check_device
from repchange.runs.store import Store

__all__ = ["Runtime"]


@dataclass(frozen=True)
class Runtime:
    """``Runtime()``: the default store (:func:`repchange.base.files.default_root`), CUDA when present
    else the CPU, data under ``$REPCHANGE_DATA`` or the default folders, no downloads. Picklable, so
    worker processes receive it whole."""

    store: Store = field(default_factory=Store)
    device: str = "auto"
    data_root: str | None = None
    download: bool = False

    def __post_init__(self) -> None:
        check_device(self.device)  # a device this machine lacks is refused here, before any work
        keep_freed_memory()  # the process that runs the studies: training and metrics without page-fault churn

    def load(self, name: str) -> data_mod.DataSet:
        """:func:`repchange.data.datasets.load` of ``name`` from this runtime's data folder, once per process."""
        return _load(name, self.data_root, self.download)


@functools.lru_cache(maxsize=4)
def _load(name: str, root: str | None, download: bool) -> data_mod.DataSet:
    return data_mod.load(name, root=root, download=download)
