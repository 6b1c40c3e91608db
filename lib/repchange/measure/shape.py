"""Shape metrics: the angular orthogonal Procrustes distance and the partial-whitening shape metric (PWSM).

Rows are the same n samples on both sides (see :mod:`repchange.measure.factors`); angles in radians, 0 = same.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

from repchange.measure.factors import ArrayLike, Factors, _feature_form, _pair
from repchange.measure.kernels import kernel

KEYED_BY_KERNELS = True  # stored results name these kernels' versions, not this file's text (measure.kernels)
__all__ = ["ALPHAS", "procrustes_angle", "pwsm", "pwsm_alphas", "pwsm_key"]

ALPHAS = (0.0, 0.5, 1.0)  # PWSM's alphas in both books' chapters: full whitening, partial, none (Procrustes)


def _nuclear_cross(fx: Factors, fy: Factors) -> torch.Tensor:
    """``||Xcᵀ Yc||_*``: singular values of the (p, q) cross product, or of ``K^½ L^½`` (n, n), which
    has the same ones (``Xc = U S Vᵀ`` gives ``K^½ = U S Uᵀ``). Not ``tr((K^½ L K^½)^½)``: the square
    roots of that product's rounding-level eigenvalues add up to errors of ~1e-8 rad and asymmetry."""
    if _feature_form(fx, fy):
        return torch.linalg.svdvals(fx.x.T @ fy.x).sum()
    return torch.linalg.svdvals(fx.gram_sqrt @ fy.gram_sqrt).sum()


def _angle(cosine: torch.Tensor | float) -> float:
    return float(math.acos(min(1.0, max(-1.0, float(cosine)))))


@kernel(1)
def procrustes_angle(x: ArrayLike | Factors, y: ArrayLike | Factors) -> float:
    """Angular orthogonal Procrustes distance, radians in [0, π/2].

    ``arccos(||X̃ᵀỸ||_* / (||X̃||_F ||Ỹ||_F))`` on column-centred inputs; 0 iff Y is an
    orthogonal transform of X up to scale. Different widths are allowed (zero-padding).
    """
    fx, fy = _pair(x, y)
    return _angle(_nuclear_cross(fx, fy) / torch.sqrt(fx.squared_norm * fy.squared_norm))


@kernel(1)
def pwsm(x: ArrayLike | Factors, y: ArrayLike | Factors, *, alpha: float, scale_free: bool = True) -> float:
    """Partial-whitening shape metric (Williams et al. 2021), angular score in radians.

    Each input is mapped by ``φ(X) = Xc (αI + (1-α) C̃^(-1/2))`` with ``C = XcᵀXc / n``
    normalised by its mean eigenvalue, then compared with :func:`procrustes_angle`. The score
    is unchanged by scaling an input or duplicating all rows. ``alpha=1`` is the Procrustes
    angle; ``alpha=0`` is ``arccos(Σρ_i / sqrt(p q))`` with ρ the canonical correlations
    (the mean canonical correlation when p = q). ``alpha < 1`` needs n ≥ p and n ≥ q.
    Directions of zero variance (e.g. dead units) are left out of the whitening.
    ``scale_free=False`` whitens with the raw covariance, as netrep does: identical at α = 0 and
    α = 1, different (and dependent on the features' scale) in between. Several alphas of one pair:
    :func:`pwsm_alphas` (one cross product for all of them).
    """
    return pwsm_alphas(x, y, (alpha,), scale_free=scale_free)[alpha]


@kernel(1)
def pwsm_alphas(x: ArrayLike | Factors, y: ArrayLike | Factors, alphas: Iterable[float], *,
                scale_free: bool = True) -> dict[float, float]:
    """:func:`pwsm` of one pair at each of ``alphas`` (``{alpha: radians}``), from one (p, q) cross product.

    ``φ(X)ᵀφ(Y) = W_x XcᵀYc W_y`` and ``||φ(X)||²_F = n tr(W_x C_x W_x)``, so no whitened (n, p) copy of either
    side is made: per alpha only (p, q)-sized products, on the whitening maps cached on each side's
    :class:`Factors`. Where a side has more features than samples only ``alpha=1`` is defined (Gram form)."""
    alphas = tuple(alphas)
    for alpha in alphas:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    fx, fy = _pair(x, y)
    if not _feature_form(fx, fy):
        wide = fx if fx.p > fx.n else fy
        for alpha in alphas:
            if alpha < 1.0:
                wide.whitening(alpha, scale_free=scale_free)  # raises: more features than samples
        angle = procrustes_angle(fx, fy)
        return {alpha: angle for alpha in alphas}
    cross = fx.x.T @ fy.x  # (p, q) = XcᵀYc
    out = {}
    for alpha in alphas:
        if alpha == 1.0:
            nuclear, norms = torch.linalg.svdvals(cross).sum(), fx.squared_norm * fy.squared_norm
        else:
            wx, wy = fx.whitening(alpha, scale_free=scale_free), fy.whitening(alpha, scale_free=scale_free)
            nuclear = torch.linalg.svdvals(wx @ cross @ wy).sum()
            norms = (fx.n * ((wx @ fx.cov) * wx).sum()) * (fy.n * ((wy @ fy.cov) * wy).sum())
        out[alpha] = _angle(nuclear / torch.sqrt(norms))
    return out


def pwsm_key(alpha: float) -> str:
    """The ``metric`` name of PWSM at ``alpha`` in the tables (``pwsm_alpha_0.5``); the table's
    ``alpha`` column carries the number itself, so nothing ever parses this name."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    return f"pwsm_alpha_{alpha:g}"
