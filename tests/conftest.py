"""Shared fixtures: an isolated run store, and small data sets the tests write themselves."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

# `make test` runs two test workers side by side (pytest-xdist). Before torch loads here, and so in every worker and
# kernel started from here: threads sleep at OpenMP's barriers instead of spinning, so that a two-thread step beside a
# busy worker is not slowed severalfold (`make bench` [10]: conv4 training on two threads beside one busy process).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    import torch


@pytest.fixture
def store_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty run store for one test (also exported as REPCHANGE_STORE)."""
    root = tmp_path / "store"
    monkeypatch.setenv("REPCHANGE_STORE", str(root))
    return root


def two_small_nets(seed: int = 0) -> tuple["torch.nn.Module", "torch.nn.Module", "torch.Tensor"]:
    """Two independently initialised (Linear 6→40, Tanh, Linear 40→30) nets and a (60, 6) probe, from ``seed``."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 40), nn.Tanh(), nn.Linear(40, 30))
    other = nn.Sequential(nn.Linear(6, 40), nn.Tanh(), nn.Linear(40, 30))
    return net, other, torch.randn(60, 6)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) as a gzipped IDX file, the MNIST family's format."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def make_fashion_mnist_tree(folder: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict:
    """Four idx.gz files with random images and labels; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        write_idx(folder / f"{stem}.gz", array)
    return arrays


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The notebook tier's files first, in their own order: `make test` hands whole files to its workers in this order
    (pytest-xdist, ``--dist loadfile --no-loadscope-reorder``), so the two longest — the smoke book with its
    determinism rebuild, and the rehearsal book — start at once on two workers and the short files fill in beside."""
    items.sort(key=lambda item: item.get_closest_marker("notebook") is None)
