"""Per-filter metrics in chunks: the same values as one batch, to the bit, whatever the chunking."""

from __future__ import annotations

import pytest
import torch

from repchange.measure import filter_chunks
from repchange.measure import metrics


def _maps(seed: int, shape: tuple[int, ...] = (5, 7, 6, 6)) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (n, C, H, W) ReLU-like map stacks with a dead filter, a dead image map and a constant-row map."""
    g = torch.Generator().manual_seed(seed)
    a = torch.relu(torch.randn(*shape, generator=g))
    b = torch.relu(a + 0.3 * torch.randn(*shape, generator=g))
    a[:, 2] = 0  # a dead filter on every image
    b[3, 4] = 0  # one dead map on one side
    a[1, 5] = torch.arange(shape[-1], dtype=a.dtype)  # every row the same: constant along rows
    return a, b


def _same(x: torch.Tensor, y: torch.Tensor) -> bool:
    """Equal to the bit, NaN where the other is NaN."""
    return x.shape == y.shape and torch.equal(torch.isnan(x), torch.isnan(y)) and torch.equal(x.nan_to_num(), y.nan_to_num())


@pytest.mark.parametrize("elements", [1, 36, 100, 36 * 7, 10**9])  # a map per chunk, several, one chunk
@pytest.mark.parametrize("centre", metrics.CENTRINGS)
def test_chunked_metrics_equal_the_batched_ones_to_the_bit(elements: int, centre: str) -> None:
    a, b = _maps(0)
    assert _same(filter_chunks.procrustes_similarity(a, b, centre=centre, elements=elements),
                 metrics.filter_procrustes_similarity(a, b, centre=centre))
    assert _same(filter_chunks.cka(a, b, centre=centre, elements=elements), metrics.filter_cka(a, b, centre=centre))
    for alpha in (0.0, 0.5, 1.0):
        whole = metrics.filter_pwsm(a, b, alpha=alpha, centre=centre)
        assert _same(filter_chunks.pwsm(a, b, alpha=alpha, centre=centre, elements=elements), whole)
        whitened = filter_chunks.ChunkedWhitened(a, alpha=alpha, centre=centre, elements=elements)
        assert _same(filter_chunks.pwsm(whitened, b, alpha=alpha, centre=centre, elements=elements), whole)


def test_the_chunked_values_are_not_vacuous() -> None:
    """The comparison above would pass on all-NaN output: the values vary, dead maps are NaN, live ones finite."""
    a, b = _maps(1)
    sim = filter_chunks.procrustes_similarity(a, b, elements=36)
    assert torch.isnan(sim[:, 2]).all() and torch.isnan(sim[3, 4])
    live = sim[~torch.isnan(sim)]
    assert live.numel() > 20 and float(live.std()) > 0.01 and bool(((live >= 0) & (live <= 1)).all())


def test_chunk_slices_cover_every_map_once_within_the_bound() -> None:
    slices = filter_chunks.chunk_slices((4, 9, 5, 5), elements=60)  # 36 maps of 25 elements: 2 maps per chunk
    assert [s.stop - s.start for s in slices] == [2] * 18
    assert filter_chunks.chunk_slices((3, 2, 100, 100), elements=10) == [slice(i, i + 1) for i in range(6)]


def test_mismatched_inputs_are_refused() -> None:
    a, b = _maps(2)
    with pytest.raises(ValueError, match="same shape"):
        filter_chunks.procrustes_similarity(a, b[:, :3])
    whitened = filter_chunks.ChunkedWhitened(a, alpha=0.5, elements=36)
    with pytest.raises(ValueError, match="elements per chunk"):
        filter_chunks.pwsm(whitened, b, alpha=0.5, elements=72)
    with pytest.raises(ValueError, match="alpha"):
        filter_chunks.pwsm(whitened, b, alpha=0.0, elements=36)
