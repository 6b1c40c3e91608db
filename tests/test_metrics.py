from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from repchange.metrics import centred_gram, cka_from_grams, linear_cka


def rand(n: int, p: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, p))


def textbook_cka(x: np.ndarray, y: np.ndarray) -> float:
    """HSIC = tr(K H L H) / (n-1)^2 with H the centring matrix; CKA its normalised form."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = x @ x.T, y @ y.T
    hsic = lambda a, b: np.trace(a @ h @ b @ h) / (n - 1) ** 2  # noqa: E731
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def u_statistic_hsic(k: np.ndarray, l: np.ndarray) -> float:
    """Unbiased HSIC as the average over all ordered 4-tuples of distinct samples (Song et al. 2012)."""
    n = k.shape[0]
    total, count = 0.0, 0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2 * k[i, j] * l[i, q]
        count += 1
    return total / count


@pytest.mark.parametrize("p,q", [(5, 3), (40, 7), (60, 80)])  # covariance form, mixed, Gram form
def test_matches_the_textbook_formula(p: int, q: int) -> None:
    x, y = rand(30, p, 0), rand(30, q, 1) + rand(30, 1, 2)
    assert linear_cka(x, y) == pytest.approx(textbook_cka(x, y), rel=1e-10)


def test_debiased_matches_the_u_statistic() -> None:
    x, y = rand(7, 3, 3), rand(7, 4, 4)
    expected = u_statistic_hsic(x @ x.T, y @ y.T) / np.sqrt(
        u_statistic_hsic(x @ x.T, x @ x.T) * u_statistic_hsic(y @ y.T, y @ y.T))
    assert linear_cka(x, y, debiased=True) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("debiased", [False, True])
def test_identity_symmetry_and_invariances(debiased: bool) -> None:
    x = rand(50, 20, 5)
    y = x @ rand(20, 20, 6) + 0.5 * rand(50, 20, 7)
    q, _ = np.linalg.qr(rand(20, 20, 8))
    assert linear_cka(x, x, debiased=debiased) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, y, debiased=debiased) == pytest.approx(linear_cka(y, x, debiased=debiased), abs=1e-12)
    base = linear_cka(x, y, debiased=debiased)
    assert linear_cka(x @ q, y, debiased=debiased) == pytest.approx(base, abs=1e-10)  # orthogonal map
    assert linear_cka(3.7 * x + 2.0, y, debiased=debiased) == pytest.approx(base, abs=1e-10)  # scale + shift
    squash = np.diag(np.linspace(0.05, 5, 20))  # invertible, not orthogonal
    assert abs(linear_cka(x @ squash, y, debiased=debiased) - base) > 1e-2


def test_one_column_each_is_squared_pearson() -> None:
    a, b = rand(40, 1, 9), rand(40, 1, 10) + rand(40, 1, 9)
    r = np.corrcoef(a[:, 0], b[:, 0])[0, 1]
    assert linear_cka(a, b) == pytest.approx(r**2, rel=1e-10)


def test_chance_level_of_biased_and_debiased_cka() -> None:
    n, p = 100, 400
    values = [linear_cka(rand(n, p, s), rand(n, p, 100 + s)) for s in range(5)]
    debiased = [linear_cka(rand(n, p, s), rand(n, p, 100 + s), debiased=True) for s in range(5)]
    # For iid Gaussian features, biased CKA sits near p / (n + p) (0.8 here); debiased near 0.
    assert np.mean(values) == pytest.approx(p / (n + p), abs=0.03)
    assert abs(np.mean(debiased)) < 0.02


def test_grams_give_the_same_answer_and_accept_tensors() -> None:
    x, y = rand(25, 30, 11), rand(25, 12, 12)
    k, l = centred_gram(torch.from_numpy(x).float()), centred_gram(y)
    assert cka_from_grams(k, l) == pytest.approx(linear_cka(x, y), rel=1e-6)
    assert cka_from_grams(k, l, debiased=True) == pytest.approx(linear_cka(x, y, debiased=True), abs=1e-6)


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"same number of samples.*\(10, 3\).*\(9, 3\)"):
        linear_cka(rand(10, 3, 0), rand(9, 3, 0))
    bad = rand(10, 3, 0)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        linear_cka(bad, rand(10, 3, 1))
    with pytest.raises(ValueError, match="constant across samples"):
        linear_cka(np.ones((10, 3)), rand(10, 3, 1))
    with pytest.raises(ValueError, match="2-D"):
        linear_cka(np.ones(10), rand(10, 3, 1))
    with pytest.raises(ValueError, match="at least 4 samples"):
        linear_cka(rand(3, 2, 0), rand(3, 2, 1), debiased=True)
