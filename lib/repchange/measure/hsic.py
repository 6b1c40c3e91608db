"""The unbiased HSIC estimator (Song et al. 2012) from (n, n) Gram matrices or centred features, and its
rounding floor: what debiased CKA and each side's cached self-HSIC (:class:`~repchange.measure.factors.Factors`) share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from repchange.measure.kernels import kernel

if TYPE_CHECKING:  # a hint only: Factors reads this module
    from repchange.measure.factors import Factors

KEYED_BY_KERNELS = True  # stored results name these kernels' versions, not this file's text (measure.kernels)
__all__ = ["hsic_floor", "unbiased_hsic"]


def _unbiased_hsic_from_parts(
    kx: tuple[torch.Tensor, torch.Tensor, torch.Tensor], ly: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    (k, k_rows, k_sum), (l, l_rows, l_sum) = kx, ly
    n = k.shape[0]
    trace = (k * l).sum()
    return (trace + k_sum * l_sum / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (k_rows @ l_rows)) / (n * (n - 3))


def _unbiased_hsic_features(fx: Factors, fy: Factors, cross_sq: torch.Tensor) -> torch.Tensor:
    """The unbiased HSIC of :func:`unbiased_hsic` from centred features, ``cross_sq = ||XcᵀYc||²_F = tr(KL)``.

    With centred features ``K1 = 0``, so with ``d_K = diag(K)``: ``tr(K̃L̃) = tr(KL) − d_K·d_L``,
    ``1ᵀK̃1 = −tr K`` and ``1ᵀK̃L̃1 = d_K·d_L`` — the same estimator, rearranged (equal to rounding)."""
    n = fx.n
    dk, dl = fx.sq_norms, fy.sq_norms
    both = dk @ dl
    return (cross_sq - both + dk.sum() * dl.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * both) / (n * (n - 3))


def _hollow_parts(k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``K̃`` (the Gram matrix with a zero diagonal), its row sums and its total."""
    n = k.shape[0]
    if n < 4:
        raise ValueError(f"the unbiased HSIC estimator needs at least 4 samples, got {n}")
    hollow = k - torch.diag(torch.diagonal(k))
    rows = hollow.sum(1)
    return hollow, rows, rows.sum()


@kernel(1)
def unbiased_hsic(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Song et al.'s unbiased HSIC estimator from two (n, n) Gram matrices (n > 3).

    ``[tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1 / ((n-1)(n-2)) - 2/(n-2) · 1ᵀK̃L̃1] / (n(n-3))`` with the diagonals
    of K̃, L̃ set to zero. Invariant to centring the features, so centred Grams may be passed.
    """
    return _unbiased_hsic_from_parts(_hollow_parts(k), _hollow_parts(l))


HSIC_RTOL = 1e-10  # a self-HSIC below this fraction of its first term's size counts as 0 (rounding)


@kernel(1)
def hsic_floor(parts: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> float:
    """The size below which an unbiased self-HSIC of these hollow-Gram parts is rounding: ``HSIC_RTOL``
    times its trace term ``||K̃||²_F / (n(n-3))``."""
    k = parts[0]
    n = k.shape[0]
    return HSIC_RTOL * float((k * k).sum()) / (n * (n - 3))
