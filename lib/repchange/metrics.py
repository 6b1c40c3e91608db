"""Representational similarity metrics.

Inputs are (n, p) and (n, q) arrays or tensors whose rows are the same n samples in the same
order. All accumulation is in float64. Results are Python floats.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["centred_gram", "cka_from_grams", "linear_cka", "unbiased_hsic"]

ArrayLike = np.ndarray | torch.Tensor


def _as_float64(x: ArrayLike, name: str) -> torch.Tensor:
    t = torch.as_tensor(x).detach().to("cpu", torch.float64)
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values (shape {tuple(t.shape)})")
    return t


def _pair(x: ArrayLike, y: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    xt, yt = _as_float64(x, "X"), _as_float64(y, "Y")
    if xt.shape[0] != yt.shape[0]:
        raise ValueError(
            f"X and Y must have the same number of samples (rows): got X {tuple(xt.shape)} and Y {tuple(yt.shape)}"
        )
    return xt, yt


def _centre(x: torch.Tensor, name: str) -> torch.Tensor:
    xc = x - x.mean(0, keepdim=True)
    if not bool((xc != 0).any()):
        raise ValueError(f"{name} is constant across samples (shape {tuple(x.shape)}): similarity is undefined")
    return xc


def centred_gram(x: ArrayLike) -> torch.Tensor:
    """Gram matrix ``Xc Xcᵀ`` (n, n) of the column-centred features, float64."""
    xc = _centre(_as_float64(x, "X"), "X")
    return xc @ xc.T


def unbiased_hsic(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Song et al.'s unbiased HSIC estimator from two (n, n) Gram matrices (n > 3).

    ``[tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1 / ((n-1)(n-2)) - 2/(n-2) · 1ᵀK̃L̃1] / (n(n-3))`` with the diagonals
    of K̃, L̃ set to zero. Invariant to centring the features, so centred Grams may be passed.
    """
    n = k.shape[0]
    if n < 4:
        raise ValueError(f"the unbiased HSIC estimator needs at least 4 samples, got {n}")
    kt = k - torch.diag(torch.diag(k))
    lt = l - torch.diag(torch.diag(l))
    trace = (kt * lt).sum()
    sums = kt.sum() * lt.sum() / ((n - 1) * (n - 2))
    cross = 2.0 / (n - 2) * (kt.sum(0) @ lt.sum(1))
    return (trace + sums - cross) / (n * (n - 3))


def cka_from_grams(k: torch.Tensor, l: torch.Tensor, *, debiased: bool = False) -> float:
    """Linear CKA from centred Gram matrices (see :func:`centred_gram`)."""
    if k.shape != l.shape:
        raise ValueError(f"Gram matrices differ in shape: {tuple(k.shape)} vs {tuple(l.shape)}")
    if debiased:
        xy, xx, yy = unbiased_hsic(k, l), unbiased_hsic(k, k), unbiased_hsic(l, l)
    else:
        xy, xx, yy = (k * l).sum(), (k * k).sum(), (l * l).sum()
    return float(xy / torch.sqrt(xx * yy))


def linear_cka(x: ArrayLike, y: ArrayLike, *, debiased: bool = False) -> float:
    """Linear CKA (Kornblith et al. 2019) between X (n, p) and Y (n, q).

    ``||Ycᵀ Xc||²_F / (||Xcᵀ Xc||_F ||Ycᵀ Yc||_F)`` on column-centred features, in [0, 1].
    Computed from the (p, q) feature covariances when both p and q are at most n, else from
    the (n, n) Gram matrices. ``debiased=True`` replaces HSIC by its unbiased estimator
    (Song et al. 2012), whose value for independent random features is near 0 rather than
    near p/(n+p); it can be slightly negative.
    """
    xt, yt = _pair(x, y)
    xc, yc = _centre(xt, "X"), _centre(yt, "Y")
    n, p, q = xc.shape[0], xc.shape[1], yc.shape[1]
    if debiased or max(p, q) > n:
        return cka_from_grams(xc @ xc.T, yc @ yc.T, debiased=debiased)
    xy = torch.linalg.matrix_norm(yc.T @ xc) ** 2
    xx = torch.linalg.matrix_norm(xc.T @ xc)
    yy = torch.linalg.matrix_norm(yc.T @ yc)
    return float(xy / (xx * yy))
