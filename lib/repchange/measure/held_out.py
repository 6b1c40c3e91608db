"""Shape distances fitted on one half of the probe and scored on the other (netrep's fit/score; Williams et al. 2021).

In-sample, the optimal alignment is fitted to the very samples it is scored on, so two *independent* random
representations look aligned once they are wide: the in-sample Procrustes distance of two independent (n, p) Gaussian
matrices falls from about pi/2 as p/n grows, because a rotation of p dimensions can fit n points. Fitted on some rows
and scored on others, the alignment has to generalise: two independent representations stay near pi/2 at any width.

Conventions (as :func:`repchange.measure.shape.pwsm`, of which these are the held-out form): rows are the same probe
samples on both sides; each side is centred by its fitting rows' mean; at ``alpha < 1`` each side is partially
whitened by its fitting rows' covariance (over its mean eigenvalue: scale-free), which needs at least as many fitting
rows as features (else the value is undefined); the alignment is fitted, and the scoring rows are read, within the
directions the fitting rows span (beyond them a rotation is not identified: with more features than fitting rows
netrep's full SVD completes it arbitrarily); the alignment is the isometry ``Q`` between the two spans that
maximises ``<X Q, Y>`` on the fitting rows; the score is the angle ``arccos(<Xs Q, Ys> / (|Xs| |Ys|))`` in radians
between the scoring rows' components in those spans, in [0, pi] (above pi/2 where the held-out rows are aligned
against each other). With at least as many fitting rows as features (full rank), this is netrep's LinearMetric
fit/score. Float64.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from repchange.measure.factors import (
    ArrayLike,
    Factors,
    UndefinedSimilarity,
    _as_matrix,
    _as_paired_matrices,
)
from repchange.measure.kernels import kernel

KEYED_BY_KERNELS = True  # stored results name these kernels' versions, not this file's text (measure.kernels)
__all__ = ["fit_score_shape", "held_out_rows", "held_out_shape"]

SVD_RTOL = 1e-10  # singular values of the fitting rows below this fraction of the largest span no direction


def _centred(x: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float64) - mean


def _fitted_side(fit: torch.Tensor, alpha: float, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, map) of one side: its fitting rows' mean and, at alpha < 1, their partial-whitening map (else None)."""
    mean = fit.to(torch.float64).mean(dim=0)
    if alpha >= 1:
        return mean, None
    return mean, Factors(fit, f"{name} (fitting rows)").whitening(alpha)  # raises undefined where n < p


def _span(rows: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """An orthonormal basis of the directions the fitting ``rows`` (n, p) span (singular values below SVD_RTOL of the
    largest dropped): (the rows' coordinates in it (n, r), a function giving other rows' coordinates (m, r)). Wider
    than tall, the basis comes from the (n, n) Gram matrix: no (p, p) or (n, p) factor is formed."""
    n, p = rows.shape
    if p <= n:
        _, s, vh = torch.linalg.svd(rows, full_matrices=False)
        basis = vh[s > SVD_RTOL * s.max()].T
        return rows @ basis, lambda other: other @ basis
    values, vectors = torch.linalg.eigh(rows @ rows.T)
    keep = values > (SVD_RTOL ** 2) * values.max()
    u, s = vectors[:, keep], values[keep].sqrt()
    return u * s, lambda other: (other @ rows.T) @ u / s


@kernel(1)
def fit_score_shape(x_fit: ArrayLike, y_fit: ArrayLike, x_score: ArrayLike, y_score: ArrayLike, *,
                    alpha: float = 1.0) -> float:
    """The shape distance at ``alpha`` (1: angular Procrustes) aligned on the fitting rows ``x_fit`` (n, p) and
    ``y_fit`` (n, q), scored on ``x_score`` (m, p) and ``y_score`` (m, q), in radians (see the module docstring).
    On the same rows it equals the in-sample :func:`~repchange.measure.shape.pwsm` (and Procrustes at alpha = 1)."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    xf, yf = _as_matrix(x_fit, "X (fitting rows)"), _as_matrix(y_fit, "Y (fitting rows)")
    xs, ys = _as_matrix(x_score, "X (scoring rows)"), _as_matrix(y_score, "Y (scoring rows)")
    if len(xf) != len(yf) or len(xs) != len(ys) or xf.shape[1] != xs.shape[1] or yf.shape[1] != ys.shape[1]:
        raise ValueError(f"fitting rows {tuple(xf.shape)}, {tuple(yf.shape)} and scoring rows {tuple(xs.shape)}, "
                         f"{tuple(ys.shape)} must pair the same samples with the same features")
    (mx, zx), (my, zy) = _fitted_side(xf, alpha, "X"), _fitted_side(yf, alpha, "Y")
    xw, yw = _centred(xf, mx), _centred(yf, my)
    xt, yt = _centred(xs, mx), _centred(ys, my)
    if zx is not None:
        xw, xt, yw, yt = xw @ zx, xt @ zx, yw @ zy, yt @ zy
    if not bool(xw.abs().max() > 0) or not bool(yw.abs().max() > 0):
        raise UndefinedSimilarity("undefined: a side is constant across its fitting rows: no alignment to fit")
    (cx, to_x), (cy, to_y) = _span(xw), _span(yw)
    p, _, rh = torch.linalg.svd(cx.T @ cy, full_matrices=False)  # X_wᵀ Y_w in the two bases = P Σ Rᵀ
    tx, ty = to_x(xt), to_y(yt)  # the scoring rows within the directions the fitting rows span
    norms = torch.linalg.norm(tx) * torch.linalg.norm(ty)
    if not bool(norms > 0):
        raise UndefinedSimilarity("undefined: the scoring rows have no component where the fitting rows vary")
    aligned_x, aligned_y = tx @ p, ty @ rh.T
    cosine = float((aligned_x * aligned_y).sum() / norms)
    return math.acos(min(1.0, max(-1.0, cosine)))


@kernel(1)
def held_out_rows(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(fitting rows, scoring rows) of ``n`` samples: a permutation drawn from ``seed``, its first half fits."""
    if n < 4:
        raise ValueError(f"a held-out distance needs at least 4 samples (2 to fit, 2 to score), got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[: n // 2], order[n // 2:]


@kernel(1)
def held_out_shape(x: ArrayLike, y: ArrayLike, *, alpha: float = 1.0, seed: int = 0) -> float:
    """:func:`fit_score_shape` of ``x`` (n, p) and ``y`` (n, q), aligned on half the rows and scored on the other
    half (:func:`held_out_rows` from ``seed``)."""
    xt, yt = _as_paired_matrices(x, y)
    fit, score = held_out_rows(len(xt), seed)
    fit, score = fit.to(xt.device), score.to(xt.device)
    return fit_score_shape(xt[fit], yt[fit], xt[score], yt[score], alpha=alpha)
