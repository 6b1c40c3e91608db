"""The moment estimator of the Procrustes distance (Pospisil et al. 2024): its moments written out as their definition,
its polynomial checked against a second solver, and what it changes where the plug-in is biased."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import LinearConstraint, minimize

from repchange.measure.factors import Factors, UndefinedSimilarity
from repchange.measure.moment_shape import chain_moments, moment_procrustes, polynomial_weights
from repchange.measure.registry import MEASURES, Sides, evaluate
from repchange.measure.shape import procrustes_angle


def _chains_by_definition(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """The mean over every increasing chain i1 < ... < i2k of Kx[i1,i2] Ky[i2,i3] ... Ky[i2k,i1] (centred sides,
    Kx = x xᵀ / n), times n^(2k): one loop per chain."""
    n = len(x)
    xc, yc = x - x.mean(0), y - y.mean(0)
    kx, ky = xc @ xc.T / n, yc @ yc.T / n
    total, count = 0.0, 0
    for chain in itertools.combinations(range(n), 2 * k):
        product = 1.0
        for j in range(2 * k):
            gram = kx if j % 2 == 0 else ky
            product *= gram[chain[j], chain[(j + 1) % (2 * k)]]
        total += product
        count += 1
    return n ** (2 * k) * total / count


def test_the_moments_are_the_chain_averages_of_their_definition() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 3))
    y = x @ rng.standard_normal((3, 4)) + 0.5 * rng.standard_normal((9, 4))
    got = chain_moments(x, y, moments=3)
    assert got == pytest.approx([_chains_by_definition(x, y, k) for k in (1, 2, 3)], rel=1e-10)
    with pytest.raises(UndefinedSimilarity, match="3 moments need at least 6 samples"):
        chain_moments(x[:5], y[:5], moments=3)


def test_the_moments_are_unbiased_where_the_plug_in_is_not() -> None:
    """Over 400 draws of n = 40 samples of 30 features, the first two moments average to tr((Σxy Σyx)^k) within
    their standard error and a 1/n allowance for the centring; the plug-in's first moment is inflated severalfold."""
    rng = np.random.default_rng(1)
    p, n = 30, 40
    mixing = rng.standard_normal((p, p)) / math.sqrt(p)
    sxy = 0.3 * mixing  # x ~ N(0, I), y = 0.3 x M + noise: Σxy = 0.3 M
    truth = [float(np.trace(np.linalg.matrix_power(sxy @ sxy.T, k))) for k in (1, 2)]
    draws, plug_in = [], []
    for _ in range(400):
        x = rng.standard_normal((n, p))
        y = x @ sxy + rng.standard_normal((n, p))
        draws.append(chain_moments(x, y, moments=2))
        c = (x - x.mean(0)).T @ (y - y.mean(0)) / n
        plug_in.append(float(np.trace(c @ c.T)))
    draws = np.array(draws)
    for k in range(2):
        error = draws[:, k].std() / math.sqrt(len(draws))
        assert abs(draws[:, k].mean() - truth[k]) < 4 * error + 2 * truth[k] / n, (k, draws[:, k].mean(), truth[k])
    assert np.mean(plug_in) > 3 * truth[0]


def test_the_polynomial_solves_its_programme_as_a_second_solver_does() -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 6))
    covariance = a @ a.T * 1e-3
    grid = 60  # trust-constr takes minutes on the estimator's 500 points
    gamma, deviation = polynomial_weights(covariance, n_eigenvalues=20, bias_limit=3.0, grid=grid)
    lam = np.linspace(0, 1, grid)
    powers = lam[:, None] ** np.arange(1, 7)[None, :]
    assert np.abs(powers @ gamma - np.sqrt(lam)).max() <= deviation + 1e-8 and 20 * deviation <= 3.0 + 1e-8

    quad = np.zeros((7, 7))
    quad[:6, :6], quad[6, 6] = covariance, 400.0
    rows = np.vstack([np.hstack([powers, -np.ones((grid, 1))]), np.hstack([powers, np.ones((grid, 1))]),
                      np.r_[np.zeros(6), 20.0][None, :]])
    bounds = LinearConstraint(rows, np.r_[np.full(grid, -np.inf), np.sqrt(lam), -np.inf],
                              np.r_[np.sqrt(lam), np.full(grid, np.inf), 3.0])
    other = minimize(lambda z: z @ quad @ z, np.r_[np.zeros(6), 1.0], jac=lambda z: 2 * quad @ z,
                     constraints=[bounds], method="trust-constr", options={"gtol": 1e-12, "maxiter": 5000})
    objective = lambda z: z @ quad @ z  # noqa: E731
    assert other.status in (1, 2) and objective(np.r_[gamma, deviation]) <= objective(other.x) * (1 + 1e-4)


def _correlated(p: int, n: int, similarity: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n samples of x, y (p features each, identity covariances) with Σxy = similarity · R for a random rotation R:
    the population's Procrustes similarity is ``similarity``."""
    rng = np.random.default_rng(seed)
    rotation = np.linalg.qr(rng.standard_normal((p, p)))[0]
    x = rng.standard_normal((n, p))
    y = similarity * x @ rotation + math.sqrt(1 - similarity ** 2) * rng.standard_normal((n, p))
    return x, y


def test_wider_than_the_probe_independent_sides_read_unrelated_where_the_plug_in_reads_alignment() -> None:
    """100 features on 60 samples, independent sides (truth pi/2): the plug-in distance reads about 0.55 rad, the
    moment estimate within 0.05 rad of pi/2 (measured over 5 draws: 1.557 and 0.553 rad)."""
    estimates = [moment_procrustes(*_correlated(100, 60, 0.0, seed), seed=seed) for seed in range(5)]
    assert abs(np.mean([e.distance for e in estimates]) - math.pi / 2) < 0.05
    assert np.mean([e.in_sample for e in estimates]) < 0.8
    x, y = _correlated(100, 60, 0.0, 0)
    assert estimates[0].in_sample == pytest.approx(procrustes_angle(x, y), abs=1e-9)


@pytest.mark.parametrize("features, similarity", [(20, 0.6), (50, 0.6), (50, 0.9), (100, 0.3)])
def test_the_stated_bias_and_spread_cover_the_population_value(features: int, similarity: float) -> None:
    """On 200 samples the estimate's error in similarity stays within its own bias bound plus three bootstrap standard
    deviations (the estimator is biased by design where the spectrum is flat: at 50 features and similarity 0.9 it
    read 0.985 with a bound of 0.10 and a spread of 0.045), while the plug-in's error grows with the width."""
    for seed in range(3):
        result = moment_procrustes(*_correlated(features, 200, similarity, seed), seed=seed)
        assert abs(result.similarity - similarity) <= result.bias + 3 * result.std, result
        assert 0 < result.bias + 3 * result.std < 0.5


def test_a_rotation_reads_near_zero_and_the_measure_is_registered() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((120, 8)) * np.linspace(0.5, 2.0, 8)
    rotation = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    result = moment_procrustes(x, x @ rotation)
    assert result.distance < 0.3 and result.bias >= 0 and result.std >= 0
    measure = MEASURES["procrustes_moments"]
    assert not measure.higher_is_better and measure.high == math.pi / 2
    sides = Sides(Factors(torch.as_tensor(x), "x"), Factors(torch.as_tensor(x @ rotation), "y"))
    assert evaluate("procrustes_moments", sides) == (pytest.approx(result.distance, abs=1e-12), "")
    assert evaluate("procrustes_moments", Sides(Factors(torch.as_tensor(x[:15]), "x"),
                                                Factors(torch.as_tensor(x[:15]), "y")))[1].startswith("undefined")
    with pytest.raises(ValueError, match="resamples at least 2"):
        moment_procrustes(x, x, resamples=1)


def test_the_layer_matrix_and_the_tracker_give_the_moment_value_beside_the_in_sample_one() -> None:
    from conftest import two_small_nets

    from repchange.tool.layer_matrix import layer_matrix
    from repchange.tool.track import Tracker

    net, other, probe = two_small_nets()
    table = layer_matrix(net, other, probe, layers_a=["1"], layers_b=["1", "2"],
                         metrics=("procrustes", "procrustes_moments"))
    assert set(table.metric) == {"procrustes", "procrustes_moments"} and table.value.notna().all()
    tracked = Tracker(net, probe, layers=["1"], metrics=("procrustes", "procrustes_moments"), reference=other,
                      probe_seed=None).update(0).set_index("metric").value  # the probe in the order given
    with torch.no_grad():
        reference, model = other[:2](probe), net[:2](probe)
    assert tracked["procrustes_moments"] == pytest.approx(moment_procrustes(reference, model).distance, abs=1e-9)
    # the increasing chains read the samples' order and which side is X (the authors' code's estimator)
    assert moment_procrustes(model, reference).distance != pytest.approx(tracked["procrustes_moments"], abs=1e-3)
    assert tracked["procrustes"] < tracked["procrustes_moments"]  # the plug-in reads the nets closer than this
