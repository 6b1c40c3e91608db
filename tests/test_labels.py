from __future__ import annotations

import numpy as np
import pytest
import torch

from repchange.data.labels import partially_random, shifted

D = 10


def test_degree_zero_is_the_clean_task() -> None:
    y = torch.arange(100) % D
    assert torch.equal(partially_random(y, 0, D, seed=3), y)


@pytest.mark.parametrize("degree", [1, 2, 4, 9])
def test_offsets_are_uniform_on_zero_to_degree(degree: int) -> None:
    n = 50_000
    y = torch.from_numpy(np.random.default_rng(0).integers(0, D, n))
    offsets = ((partially_random(y, degree, D, seed=7) - y) % D).numpy()
    counts = np.bincount(offsets, minlength=D)
    assert counts[degree + 1 :].sum() == 0  # Y never exceeds d
    expected = n / (degree + 1)
    sigma = np.sqrt(n * (1 / (degree + 1)) * (1 - 1 / (degree + 1)))
    assert np.all(np.abs(counts[: degree + 1] - expected) < 5 * sigma)


def test_full_degree_makes_labels_independent_of_the_class() -> None:
    n = 60_000
    y = torch.arange(n) % D
    yd = partially_random(y, D - 1, D, seed=11)
    table = np.zeros((D, D))
    np.add.at(table, (y.numpy(), yd.numpy()), 1)
    per_class = n / D
    expected = per_class / D
    assert np.all(np.abs(table - expected) < 5 * np.sqrt(per_class * 0.1 * 0.9))


def test_same_seed_same_labels_other_seed_other_labels() -> None:
    y = torch.arange(1000) % D
    a, b, c = (partially_random(y, 4, D, seed=s) for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(partially_random(y, 4, D, seed=[1, 0]), partially_random(y, 4, D, seed=[1, 0]))
    assert not torch.equal(partially_random(y, 4, D, seed=[1, 0]), partially_random(y, 4, D, seed=[1, 1]))


def test_shifted_labels_formula() -> None:
    y = torch.arange(D)
    assert shifted(y, 3, D).tolist() == [(i + 3) % D for i in range(D)]


@pytest.mark.parametrize("degree", [-1, D, 25])
def test_out_of_range_degree_names_the_valid_range(degree: int) -> None:
    with pytest.raises(ValueError, match=r"degree .* out of range: it must lie in 0\.\.9"):
        partially_random(torch.zeros(5, dtype=torch.int64), degree, D, seed=0)


@pytest.mark.parametrize("shift", [0, D, -2])
def test_out_of_range_shift_names_the_valid_range(shift: int) -> None:
    with pytest.raises(ValueError, match=r"shift .* out of range: it must lie in 1\.\.9"):
        shifted(torch.zeros(5, dtype=torch.int64), shift, D)


def test_labels_outside_the_classes_are_rejected() -> None:
    with pytest.raises(ValueError, match="must lie in 0..9"):
        shifted(torch.tensor([0, 12]), 1, D)
