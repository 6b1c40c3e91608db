"""PWSM on positions-as-samples from each group's moments equals PWSM on the positions themselves."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repchange.measure.features import positions_as_samples
from repchange.measure.metrics import ALPHAS, Factors, UndefinedSimilarity, pwsm_alphas
from repchange.measure.position_moments import GroupMoments, pair_moments, pwsm_alphas_from_moments, reference_moments


def _maps(seed: int, n: int, c: int, h: int, offset: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.relu(torch.randn(n, c, h, h, generator=g)) + offset
    y = torch.relu(x + 0.5 * torch.randn(n, c, h, h, generator=g))
    return x, y


def _direct(x: torch.Tensor, y: torch.Tensor, alphas: list[float]) -> dict[float, float]:
    return pwsm_alphas(Factors(positions_as_samples(x)), Factors(positions_as_samples(y)), alphas)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 12), c=st.integers(1, 12), h=st.integers(1, 6),
       classes=st.integers(1, 3), offset=st.sampled_from([0.0, 3.0, 100.0]))
def test_each_group_equals_pwsm_on_its_own_positions(seed: int, n: int, c: int, h: int, classes: int,
                                                     offset: float) -> None:
    x, y = _maps(seed, n, c, h, offset)
    labels = torch.arange(n) % classes
    moments = pair_moments(x, y, labels)
    assert set(moments) == {"all", *(str(k) for k in range(classes))}
    for group, group_moments in moments.items():
        mask = torch.ones(n, dtype=torch.bool) if group == "all" else labels == int(group)
        positions = int(mask.sum()) * h * h
        alphas = [a for a in ALPHAS if a == 1.0 or positions >= c]
        px, py = positions_as_samples(x[mask]), positions_as_samples(y[mask])
        if (px == px[:1]).all() or (py == py[:1]).all():  # a side with one value per channel at every position
            with pytest.raises(UndefinedSimilarity):
                pwsm_alphas_from_moments(group_moments, alphas)
            continue
        direct = _direct(x[mask], y[mask], alphas)
        assert group_moments.count == positions
        for alpha, value in pwsm_alphas_from_moments(group_moments, alphas).items():
            if positions < c:  # a narrow group: the Gram form on its positions, the very computation of pwsm_alphas
                assert group_moments.positions is not None and value == direct[alpha]
                continue
            assert group_moments.positions is None
            # an angle near 0 is arccos near 1, where a cosine off by d moves it by sqrt(2d): full whitening of a
            # group with as many positions as channels is ill-conditioned (d up to ~1e-11, found by hypothesis at
            # seed 236, n 8, c 3, h 1: 0 against 1.3e-6 rad, both zero but for rounding); and whitening a group of
            # barely more positions than channels magnifies the two computations' float order (found by hypothesis at
            # seed 97, n 11, c 11, h 2: 12 positions of 11 channels, alpha 0, 2.1e-5 rad apart; alpha 1 to 1e-16)
            conditioned = alpha == 1.0 or positions >= 2 * c
            assert value == pytest.approx(direct[alpha], abs=1e-10 if conditioned and direct[alpha] >= 1e-4 else 1e-4)


def test_the_groups_add_up_and_the_chunk_size_changes_nothing_that_matters() -> None:
    x, y = _maps(1, 20, 16, 9, offset=5.0)
    labels = torch.arange(20) % 4
    whole, one_image_at_a_time = pair_moments(x, y, labels), pair_moments(x, y, labels, elements=1)
    alone = pair_moments(x, y)["all"]
    for group in whole:
        for a, b in zip(_matrices(whole[group]), _matrices(one_image_at_a_time[group])):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    for a, b in zip(_matrices(whole["all"]), _matrices(alone)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert whole["all"].count == sum(whole[str(k)].count for k in range(4)) == 20 * 81


def _matrices(group: GroupMoments) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return group.x.cov, group.y.cov, group.cross


def test_a_reference_computed_once_serves_every_map_compared_with_it() -> None:
    x, y = _maps(6, 24, 10, 5, offset=2.0)
    later = torch.relu(y + torch.randn(y.shape, generator=torch.Generator().manual_seed(7)))
    labels = torch.arange(24) % 3
    reference = reference_moments(x, labels)
    for other in (y, later):
        shared, alone = pair_moments(x, other, labels, reference=reference), pair_moments(x, other, labels)
        assert set(shared) == set(alone) == {"all", "0", "1", "2"}
        for group in alone:
            assert shared[group].x is reference.sides[group]  # the reference side itself, not a recomputation
            for a, b in zip(_matrices(shared[group]), _matrices(alone[group])):
                torch.testing.assert_close(a, b, rtol=0, atol=0)
            assert pwsm_alphas_from_moments(shared[group], ALPHAS) == pwsm_alphas_from_moments(alone[group], ALPHAS)
    first = reference.sides["all"].eigh
    pwsm_alphas_from_moments(pair_moments(x, later, labels, reference=reference)["all"], ALPHAS)
    assert reference.sides["all"].eigh is first  # the reference's eigendecomposition is computed once


def test_narrow_groups_are_kept_as_positions_and_their_gram_root_is_computed_once() -> None:
    """Classes of fewer positions than channels (5 classes of 6 images of 2 x 2 positions, 40 channels) take
    alpha = 1 from the (N, N) Gram form; all probes together (120 positions) from the (C, C) moments."""
    x, y = _maps(9, 30, 40, 2, offset=1.0)
    later = torch.relu(y + torch.randn(y.shape, generator=torch.Generator().manual_seed(10)))
    labels = torch.arange(30) % 5
    reference = reference_moments(x, labels)
    assert set(reference.positions) == {"0", "1", "2", "3", "4"}  # 24 positions < 40 channels; "all" has 120
    roots = []
    for other in (y, later):
        moments = pair_moments(x, other, labels, reference=reference)
        assert moments["all"].positions is None
        for group in reference.positions:
            mask = labels == int(group)
            assert moments[group].positions[0] is reference.positions[group]
            value = pwsm_alphas_from_moments(moments[group], [1.0])[1.0]
            assert value == _direct(x[mask], other[mask], [1.0])[1.0]
            with pytest.raises(ValueError, match="at least as many samples as features"):
                pwsm_alphas_from_moments(moments[group], [0.5])  # whitening stays undefined there
        roots.append(reference.positions["0"].gram_sqrt)
    assert roots[0] is roots[1]  # the reference's Gram square root is computed once, for both checkpoints
    dead = pair_moments(x, torch.zeros_like(x), labels, reference=reference)
    assert dead["0"].positions is None  # a constant side is not kept: the metric is undefined there
    with pytest.raises(UndefinedSimilarity, match="constant"):
        pwsm_alphas_from_moments(dead["0"], [1.0])


def test_a_reference_of_other_maps_or_labels_is_refused() -> None:
    x, y = _maps(8, 12, 6, 4)
    labels = torch.arange(12) % 2
    reference = reference_moments(x, labels)
    with pytest.raises(ValueError, match="reference was computed from other maps or labels"):
        pair_moments(x, y, torch.arange(12) % 3, reference=reference)
    with pytest.raises(ValueError, match="reference was computed from other maps or labels"):
        pair_moments(x, y, reference=reference)
    with pytest.raises(ValueError, match="reference was computed from other maps or labels"):
        pair_moments(x[:6], y[:6], labels[:6], reference=reference)


def test_the_metric_reads_shape_and_not_a_rotation_or_scale_of_the_channels() -> None:
    x, _ = _maps(2, 30, 8, 7)
    rotation, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(3)))
    turned = 2.5 * torch.einsum("nchw,cd->ndhw", x, rotation)
    same = pwsm_alphas_from_moments(pair_moments(x, turned)["all"], ALPHAS)
    unrelated = pwsm_alphas_from_moments(pair_moments(x, _maps(4, 30, 8, 7)[0])["all"], ALPHAS)
    for alpha in ALPHAS:
        assert same[alpha] < 1e-6  # Procrustes-invariant at every alpha: a rotation and scale is no change
        assert unrelated[alpha] > 0.1  # independent maps are far apart


def test_bad_input_is_refused_with_its_reason() -> None:
    x, y = _maps(5, 6, 16, 1)  # 6 positions of 16 channels
    with pytest.raises(ValueError, match="alpha=0.5 needs at least as many samples as features.*6 positions of 16"):
        pwsm_alphas_from_moments(pair_moments(x, y)["all"], [0.5], name="maps")
    assert pwsm_alphas_from_moments(pair_moments(x, y)["all"], [1.0])[1.0] > 0  # alpha = 1 is defined
    with pytest.raises(UndefinedSimilarity, match=r"undefined: dead \(y\) is constant"):
        pwsm_alphas_from_moments(pair_moments(x, torch.zeros_like(x))["all"], [1.0], name="dead")
    with pytest.raises(ValueError, match="same shape|one shape"):
        pair_moments(x, y[:, :8])
    with pytest.raises(ValueError, match="NaN or infinite"):
        pair_moments(x, torch.full_like(y, float("nan")))
    with pytest.raises(ValueError, match="one per image"):
        pair_moments(x, y, torch.zeros(5))
