"""Neighbourhood agreement: mutual k-nearest neighbours (Huh et al. 2024) from Gram matrices.
"""

from __future__ import annotations

import torch

from repchange.measure.factors import ArrayLike, Factors, _pair
from repchange.measure.kernels import kernel

KEYED_BY_KERNELS = True  # stored results name these kernels' versions, not this file's text (measure.kernels)
__all__ = ["knn_overlap", "mutual_knn", "neighbours_from_gram"]


def _neighbours(f: Factors, k: int) -> torch.Tensor:
    """(n, k) indices of each sample's k nearest others by cosine similarity of the centred features."""
    return neighbours_from_gram(f.gram, k)


@kernel(1)
def neighbours_from_gram(gram: torch.Tensor, k: int) -> torch.Tensor:
    """(n, k) indices of each sample's k nearest others by cosine similarity, from a Gram matrix (n, n)."""
    norms = torch.sqrt(torch.diagonal(gram).clamp_min(torch.finfo(gram.dtype).tiny))
    cosine = gram / (norms[:, None] * norms[None, :])
    cosine.fill_diagonal_(-torch.inf)
    return cosine.topk(k, dim=1).indices


@kernel(1)
def mutual_knn(x: ArrayLike | Factors, y: ArrayLike | Factors, *, k: int = 10) -> float:
    """Mutual k-nearest-neighbour alignment (Huh et al. 2024), in [0, 1]: the mean over samples of the
    share of a sample's k nearest neighbours in X that are also among its k nearest in Y.

    Neighbours by cosine similarity, as Huh et al. (who L2-normalise each sample), here of the
    column-centred features the other metrics use (from the cached Gram matrix). 1 iff every sample
    has the same neighbour set in both; about k / (n − 1) for unrelated representations. Invariant
    to orthogonal maps and isotropic scaling; not to shifts of individual features. Needs k < n.
    """
    fx, fy = _pair(x, y)
    if not 1 <= k < fx.n:
        raise ValueError(f"k must lie in 1..n-1 = 1..{fx.n - 1}, got {k}")
    return knn_overlap(_neighbours(fx, k), _neighbours(fy, k))


@kernel(1)
def knn_overlap(nx: torch.Tensor, ny: torch.Tensor) -> float:
    """The mean share of shared neighbours of two (n, k) neighbour-index tables."""
    n, k = nx.shape
    in_x = torch.zeros(n, n, dtype=torch.bool, device=nx.device).scatter_(1, nx, True)
    return float(in_x.gather(1, ny).sum(dtype=torch.float64) / (n * k))
