"""Label corruptions (Goerttler & Obermayer's): partially random labels and shifted labels.

Both are pure functions of the labels ``y`` (int64, shape (N,)) with ``D = num_classes``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = ["partially_random", "shifted"]


def _check_labels(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    y = torch.as_tensor(y, dtype=torch.int64)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {tuple(y.shape)}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, found {int(y.min())}..{int(y.max())}")
    return y


def partially_random(y: torch.Tensor, degree: int, num_classes: int, seed: int | Sequence[int]) -> torch.Tensor:
    """Labels of randomness degree ``d``: ``y_d = (y + Y) mod D`` with ``Y ~ Uniform{0..d}``.

    One draw of ``Y`` per sample, fixed by ``seed`` (an int or a sequence of ints, as numpy's
    ``default_rng`` takes; the same seed gives the same labels).
    ``d = 0`` returns ``y`` unchanged; ``d = D - 1`` makes every label uniform on {0..D-1},
    independent of ``y``. ``degree`` must lie in ``0..D-1``.
    """
    y = _check_labels(y, num_classes)
    if not 0 <= int(degree) <= num_classes - 1:
        raise ValueError(
            f"label randomness degree {degree} is out of range: it must lie in 0..{num_classes - 1} "
            f"(0 = clean labels, {num_classes - 1} = fully random) for {num_classes} classes"
        )
    offsets = np.random.default_rng(list(seed) if isinstance(seed, Sequence) else seed).integers(0, int(degree) + 1, size=y.shape[0])
    return (y + torch.from_numpy(offsets)) % num_classes


def shifted(y: torch.Tensor, shift: int, num_classes: int) -> torch.Tensor:
    """Shifted labels ``y_s = (y + s) mod D``: a new task on the same images, ``s`` in ``1..D-1``."""
    y = _check_labels(y, num_classes)
    if not 1 <= int(shift) <= num_classes - 1:
        raise ValueError(
            f"label shift {shift} is out of range: it must lie in 1..{num_classes - 1} for {num_classes} classes"
        )
    return (y + int(shift)) % num_classes
