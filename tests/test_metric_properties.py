"""Property tests (hypothesis) of the similarity measures' invariances, on random shapes and data.

The example tests in test_metrics.py pin each measure to its textbook formula; these check that
the invariances the papers rely on hold for every shape hypothesis draws (a failing example is
shrunk to the smallest shape and printed).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repchange.measure.metrics import Factors, linear_cka, minibatch_cka, procrustes_angle, pwsm

# Derandomised so CI draws the same examples every run; REPCHANGE_HYPOTHESIS_EXAMPLES=2000 searches wider.
SETTINGS = settings(max_examples=int(os.environ.get("REPCHANGE_HYPOTHESIS_EXAMPLES", 30)), deadline=None,
                    derandomize="REPCHANGE_HYPOTHESIS_EXAMPLES" not in os.environ)


@st.composite
def pairs(draw, min_samples_per_feature: int = 0) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """Two related representations of the same n samples: x (n, p) and y = x A + noise (n, q)."""
    p = draw(st.integers(1, 24))
    q = draw(st.integers(1, 24))
    n = draw(st.integers(max(6, min_samples_per_feature * max(p, q)), max(70, min_samples_per_feature * max(p, q))))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, p)) * rng.uniform(0.1, 10, size=p)
    y = x @ rng.standard_normal((p, q)) + draw(st.floats(0.05, 3.0)) * rng.standard_normal((n, q))
    return x, y, rng


def orthogonal(rng: np.random.Generator, p: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((p, p)))
    return q * np.sign(np.diag(r))


@SETTINGS
@given(pairs(), st.booleans())
def test_cka_is_symmetric_bounded_and_invariant_to_rotation_scale_shift_and_sample_order(data, debiased) -> None:
    x, y, rng = data
    base = linear_cka(x, y, debiased=debiased)
    assert linear_cka(y, x, debiased=debiased) == pytest.approx(base, abs=1e-9)
    if not debiased:
        assert -1e-12 <= base <= 1 + 1e-12
    assert linear_cka(x, x, debiased=debiased) == pytest.approx(1.0, abs=1e-9)
    moved = rng.uniform(0.01, 100) * x @ orthogonal(rng, x.shape[1]) + rng.standard_normal(x.shape[1])
    assert linear_cka(moved, y, debiased=debiased) == pytest.approx(base, abs=1e-7)
    order = rng.permutation(len(x))
    assert linear_cka(x[order], y[order], debiased=debiased) == pytest.approx(base, abs=1e-9)


@SETTINGS
@given(pairs())
def test_cka_changes_when_only_one_side_is_reordered(data) -> None:
    """The invariances above are not vacuous: pairing samples wrongly changes CKA."""
    x, y, rng = data
    if x.shape[0] < 10 or np.linalg.matrix_rank(x - x.mean(0)) == 0:
        return
    shuffled = linear_cka(x[rng.permutation(len(x))], y)
    assert linear_cka(x, y) != pytest.approx(shuffled, abs=1e-12)


@SETTINGS
@given(pairs())
def test_procrustes_is_symmetric_bounded_and_zero_for_a_similarity_transform(data) -> None:
    x, y, rng = data
    angle = procrustes_angle(x, y)
    assert 0.0 <= angle <= np.pi / 2 + 1e-12
    assert procrustes_angle(y, x) == pytest.approx(angle, abs=1e-10)
    moved = rng.uniform(0.01, 100) * x @ orthogonal(rng, x.shape[1]) + rng.standard_normal(x.shape[1])
    assert procrustes_angle(x, moved) == pytest.approx(0.0, abs=1e-5)


@SETTINGS
@given(pairs(min_samples_per_feature=3), st.floats(0.0, 1.0))
def test_pwsm_is_symmetric_scale_free_and_equals_procrustes_at_alpha_one(data, alpha) -> None:
    x, y, rng = data
    base = pwsm(x, y, alpha=alpha)
    assert 0.0 <= base <= np.pi / 2 + 1e-9
    assert pwsm(y, x, alpha=alpha) == pytest.approx(base, abs=1e-7)
    assert pwsm(rng.uniform(0.01, 100) * x, y, alpha=alpha) == pytest.approx(base, abs=1e-7)
    assert pwsm(x, y, alpha=1.0) == pytest.approx(procrustes_angle(x, y), abs=1e-9)


@SETTINGS
@given(st.integers(2, 12), st.integers(30, 60), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_pwsm_obeys_the_triangle_inequality(p, n, alpha, seed) -> None:
    rng = np.random.default_rng(seed)
    common = rng.standard_normal((n, p))
    a, b, c = (common + rng.uniform(0.1, 2) * rng.standard_normal((n, p)) for _ in range(3))
    assert pwsm(a, c, alpha=alpha) <= pwsm(a, b, alpha=alpha) + pwsm(b, c, alpha=alpha) + 1e-9


@SETTINGS
@given(pairs(), st.booleans())
def test_cached_factors_give_the_same_values_as_raw_activations(data, debiased) -> None:
    x, y, _ = data
    fx, fy = Factors(x), Factors(y)
    assert linear_cka(fx, fy, debiased=debiased) == pytest.approx(linear_cka(x, y, debiased=debiased), abs=1e-10)
    assert procrustes_angle(fx, fy) == pytest.approx(procrustes_angle(x, y), abs=1e-8)


@SETTINGS
@given(pairs())
def test_minibatch_cka_of_one_batch_is_debiased_cka(data) -> None:
    x, y, _ = data
    assert minibatch_cka([(x, y)]) == pytest.approx(linear_cka(x, y, debiased=True), abs=1e-9)
