"""Held-out shape distances: their definitions written out in numpy, and what they change on random features."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from repchange.measure.factors import UndefinedSimilarity
from repchange.measure.held_out import fit_score_shape, held_out_rows, held_out_shape
from repchange.measure.registry import MEASURES, Sides, evaluate
from repchange.measure.factors import Factors
from repchange.measure.shape import procrustes_angle, pwsm


def _numpy_fit_score(xf, yf, xs, ys, alpha):
    """netrep's LinearMetric fit/score written out (scale-free whitening, as this library's pwsm), full rank p <= n."""
    def side(fit):
        mean = fit.mean(0)
        c = fit - mean
        if alpha >= 1:
            return mean, np.eye(fit.shape[1])
        cov = c.T @ c / len(c)
        vals, vecs = np.linalg.eigh(cov / vals_mean(cov))
        return mean, alpha * np.eye(len(vals)) + (1 - alpha) * (vecs / np.sqrt(vals)) @ vecs.T

    def vals_mean(cov):
        return np.linalg.eigvalsh(cov).clip(0).mean()

    (mx, zx), (my, zy) = side(xf), side(yf)
    u, _, vt = np.linalg.svd(((xf - mx) @ zx).T @ ((yf - my) @ zy))
    tx, ty = (xs - mx) @ zx @ u, (ys - my) @ zy @ vt.T
    return math.acos(np.clip((tx * ty).sum() / (np.linalg.norm((xs - mx) @ zx) * np.linalg.norm((ys - my) @ zy)),
                             -1, 1))


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_fit_score_matches_its_definition_and_the_in_sample_metric_on_the_same_rows(alpha: float) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 6))
    y = x @ rng.standard_normal((6, 6)) + 0.4 * rng.standard_normal((60, 6))
    assert fit_score_shape(x[:30], y[:30], x[30:], y[30:], alpha=alpha) == pytest.approx(
        _numpy_fit_score(x[:30], y[:30], x[30:], y[30:], alpha), abs=1e-10)
    in_sample = pwsm(x, y, alpha=alpha) if alpha < 1 else procrustes_angle(x, y)
    assert fit_score_shape(x, y, x, y, alpha=alpha) == pytest.approx(in_sample, abs=1e-10)


def test_wider_than_the_probe_the_alignment_is_fitted_only_where_the_rows_span() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 50))
    y = np.tanh(x[:, :30]) + 0.1 * rng.standard_normal((20, 30))
    assert fit_score_shape(x, y, x, y) == pytest.approx(procrustes_angle(x, y), abs=1e-10)  # in-sample: equal
    rotation, _ = np.linalg.qr(rng.standard_normal((50, 50)))
    assert held_out_shape(x, x @ rotation) == pytest.approx(0.0, abs=1e-6)  # a rotation is free (arccos near 1)
    assert held_out_shape(x, x) == pytest.approx(0.0, abs=1e-6)  # wider than the fitting rows, X against itself is 0
    with pytest.raises(UndefinedSimilarity, match="partial whitening"):
        held_out_shape(x, y, alpha=0.5)  # 10 fitting rows cannot whiten 50 features


def test_independent_random_features_look_aligned_in_sample_and_unrelated_held_out() -> None:
    """The in-sample Procrustes distance of two independent (200, p) Gaussian matrices falls as p/n grows (a rotation
    of p dimensions fits n points); held out, it stays at pi/2 (measured on this machine: p/n 0.1 -> 10 gives
    in-sample 1.30 -> 0.23 rad, held-out 1.563-1.577 rad, 5 seeds each)."""
    rows = []
    for ratio in (0.1, 1.0, 5.0):
        gen = torch.Generator().manual_seed(int(10 * ratio))
        a, b = (torch.randn(200, int(200 * ratio), generator=gen, dtype=torch.float64) for _ in range(2))
        rows.append((procrustes_angle(a, b), held_out_shape(a, b)))
    in_sample, held = zip(*rows)
    assert in_sample[0] > in_sample[1] > in_sample[2] and in_sample[2] < 0.4
    assert all(abs(h - math.pi / 2) < 0.05 for h in held)


def test_the_split_is_seeded_and_refuses_too_few_samples() -> None:
    fit, score = held_out_rows(9, seed=2)
    assert len(fit) == 4 and len(score) == 5 and sorted(torch.cat([fit, score]).tolist()) == list(range(9))
    assert torch.equal(held_out_rows(9, seed=2)[0], fit) and not torch.equal(held_out_rows(9, seed=3)[0], fit)
    with pytest.raises(ValueError, match="at least 4 samples"):
        held_out_rows(3)


def test_the_held_out_measures_are_in_every_table_beside_the_in_sample_ones() -> None:
    rng = np.random.default_rng(3)
    x = torch.as_tensor(rng.standard_normal((40, 5)))
    sides = Sides(Factors(x), Factors(x + 0.1 * torch.as_tensor(rng.standard_normal((40, 5)))), alpha=0.5)
    value, note = evaluate("pwsm_heldout", sides)
    assert note == "" and value == pytest.approx(held_out_shape(sides.x._raw, sides.y._raw, alpha=0.5))
    assert not MEASURES["procrustes_heldout"].higher_is_better and MEASURES["procrustes_heldout"].high == math.pi
    with pytest.raises(UndefinedSimilarity, match="constant across its fitting rows"):
        held_out_shape(x, torch.ones(40, 5, dtype=torch.float64))


def test_compare_the_layer_matrix_and_the_tracker_give_the_held_out_value_beside_the_in_sample_one() -> None:
    from conftest import two_small_nets

    from repchange.tool.layer_matrix import layer_matrix
    from repchange.tool.track import Tracker

    net, other, probe = two_small_nets()
    table = layer_matrix(net, other, probe, layers_a=["1"], layers_b=["1", "2"],
                         metrics=("procrustes", "procrustes_heldout", "pwsm_heldout"), alphas=(0.5,))
    assert set(table.metric) == {"procrustes", "procrustes_heldout", "pwsm_heldout"}
    assert table.query("metric == 'pwsm_heldout'").alpha.tolist() == [0.5, 0.5]
    tracked = Tracker(net, probe, layers=["1"], metrics=("procrustes_heldout",), reference=other).update(0)
    assert tracked.value.iloc[0] == pytest.approx(table.query("metric == 'procrustes_heldout' and layer_b == '1'")
                                                  .value.iloc[0], abs=1e-12)  # symmetric in X and Y
