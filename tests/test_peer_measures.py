"""The peers' measures against their published definitions, written out here in numpy as recipes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import rankdata

from repchange.measure.registry import MEASURES, Sides, evaluate
from repchange.measure.metrics import Factors, UndefinedSimilarity, mutual_knn
from repchange.measure.peers import cknna, mutual_knn_uncentred, pwcca, rsa, svcca
from repchange.tool.track import Tracker


def _data(n: int = 120, p: int = 12, q: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    y = np.tanh(x @ rng.normal(size=(p, q))) + 0.4 * rng.normal(size=(n, q)) + 0.3
    return x, y


def _platonic_knn(a: np.ndarray, k: int) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    s = a @ a.T
    np.fill_diagonal(s, -1e8)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def _recipe_mutual_knn(a: np.ndarray, b: np.ndarray, k: int) -> float:
    n = len(a)
    ma, mb = np.zeros((n, n)), np.zeros((n, n))
    ma[np.arange(n)[:, None], _platonic_knn(a, k)] = 1
    mb[np.arange(n)[:, None], _platonic_knn(b, k)] = 1
    return float(((ma * mb).sum(1) / k).mean())


def _recipe_hsic(k: np.ndarray, l: np.ndarray) -> float:  # platonic-rep's hsic_unbiased
    m = len(k)
    kt, lt = k.copy(), l.copy()
    np.fill_diagonal(kt, 0)
    np.fill_diagonal(lt, 0)
    return float(((kt * lt.T).sum() + kt.sum() * lt.sum() / ((m - 1) * (m - 2)) - 2 * (kt @ lt).sum() / (m - 2))
                 / (m * (m - 3)))


def _recipe_cknna(a: np.ndarray, b: np.ndarray, k: int) -> float:  # platonic-rep's cknna, without its + 1e-6
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    kk, ll = a @ a.T, b @ b.T
    n = len(a)

    def sim(k1: np.ndarray, k2: np.ndarray) -> float:
        masks = []
        for kernel in (k1, k2):
            hat = kernel.copy()
            np.fill_diagonal(hat, -np.inf)
            mask = np.zeros((n, n))
            mask[np.arange(n)[:, None], np.argsort(-hat, axis=1)[:, :k]] = 1
            masks.append(mask)
        both = masks[0] * masks[1]
        return _recipe_hsic(both * k1, both * k2)

    return sim(kk, ll) / math.sqrt(sim(kk, kk) * sim(ll, ll))


def _inverse_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return v @ np.diag(w ** -0.5) @ v.T


def _recipe_cca(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical correlations by whitening the covariances, and X's canonical directions (columns)."""
    a, b = a - a.mean(0), b - b.mean(0)
    wa, wb = _inverse_sqrt(a.T @ a), _inverse_sqrt(b.T @ b)
    u, rho, _ = np.linalg.svd(wa @ (a.T @ b) @ wb, full_matrices=False)
    return rho, wa @ u, a


def _recipe_svcca(a: np.ndarray, b: np.ndarray, keep: float = 0.99) -> float:
    reduced = []
    for m in (a, b):
        m = m - m.mean(0)
        u, s, _ = np.linalg.svd(m, full_matrices=False)
        d = int(np.searchsorted(np.cumsum(s ** 2) / (s ** 2).sum(), keep)) + 1
        reduced.append(u[:, :d] * s[:d])
    rho, _, _ = _recipe_cca(*reduced)
    return float(rho.mean())


def _recipe_pwcca(a: np.ndarray, b: np.ndarray) -> float:
    rho, directions, centred = _recipe_cca(a, b)
    h = centred @ directions[:, : len(rho)]
    h /= np.linalg.norm(h, axis=0)
    alpha = np.abs(h.T @ centred).sum(1)
    return float((alpha * rho).sum() / alpha.sum())


def _recipe_rsa(a: np.ndarray, b: np.ndarray) -> float:
    i, j = np.triu_indices(len(a), 1)
    da, db = (1 - np.corrcoef(a))[i, j], (1 - np.corrcoef(b))[i, j]
    return float(np.corrcoef(rankdata(da), rankdata(db))[0, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_measure_equals_its_published_recipe(seed: int) -> None:
    x, y = _data(seed=seed)
    assert mutual_knn_uncentred(x, y, k=10) == pytest.approx(_recipe_mutual_knn(x, y, 10), abs=1e-12)
    assert cknna(x, y, k=10) == pytest.approx(_recipe_cknna(x, y, 10), abs=1e-10)
    assert svcca(x, y) == pytest.approx(_recipe_svcca(x, y), abs=1e-10)
    assert pwcca(x, y) == pytest.approx(_recipe_pwcca(x, y), abs=1e-10)
    assert rsa(x, y) == pytest.approx(_recipe_rsa(x, y), abs=1e-10)


def test_a_shifted_copy_separates_centred_from_platonic_mutual_knn() -> None:
    """The issue's case: centring makes a shifted copy the same representation; platonic-rep's cosine does not."""
    x, _ = _data()
    shifted = x + 3.0
    assert mutual_knn(x, shifted, k=10) == pytest.approx(1.0)
    assert mutual_knn_uncentred(x, shifted, k=10) < 0.8
    assert mutual_knn_uncentred(x, shifted, k=10) == pytest.approx(_recipe_mutual_knn(x, shifted, 10), abs=1e-12)


def test_identity_invariances_and_chance() -> None:
    x, y = _data()
    rng = np.random.default_rng(5)
    invertible = rng.normal(size=(16, 16)) + 4 * np.eye(16)
    for measure in (mutual_knn_uncentred, cknna, svcca, pwcca, rsa):
        assert measure(x, x) == pytest.approx(1.0, abs=1e-9), measure.__name__
    assert pwcca(x, y @ invertible) == pytest.approx(pwcca(x, y), abs=1e-9)  # CCA: Y up to an invertible map
    assert rsa(x, 2.5 * x + 7.0) == pytest.approx(1.0, abs=1e-9)
    unrelated = rng.normal(size=(120, 16))
    for measure in (svcca, pwcca, rsa, mutual_knn_uncentred):
        assert measure(x, unrelated) < measure(x, y) - 0.2, measure.__name__  # the statistic can come out low


def test_cca_on_too_many_dimensions_is_named_undefined() -> None:
    x, y = _data(n=20, p=12, q=16)
    assert math.isnan(evaluate("pwcca", Sides(Factors(torch.tensor(x)), Factors(torch.tensor(y))))[0])
    with pytest.raises(UndefinedSimilarity, match=r"12 \+ 16 dimensions on n = 20 samples"):
        pwcca(x, y)
    with pytest.raises(UndefinedSimilarity, match="same value on every feature"):
        rsa(np.ones((20, 1)) * np.arange(20)[:, None], x)


def test_the_tracker_measures_the_peers_with_their_direction() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.Tanh(), torch.nn.Linear(10, 5))
    names = ("mutual_knn_uncentred", "cknna", "svcca", "pwcca", "rsa")
    tracker = Tracker(model, torch.randn(80, 6), layers=["1", "2"], metrics=names, k=5, null=20)
    rows = tracker.update(0)
    assert rows.query("layer == '2'").set_index("metric").value.to_dict() == pytest.approx(dict.fromkeys(names, 1.0))
    assert all(MEASURES[m].higher_is_better for m in names) and rows.higher_is_better.all()
    assert rows.p_value.notna().all()
