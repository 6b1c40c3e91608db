"""The angular Procrustes distance estimated from moments (Pospisil, Larsen, Harvey & Williams, ICLR 2024).

The in-sample (plug-in) Procrustes distance reads the nuclear norm of the *sample* cross-covariance, and a noisy
matrix's nuclear norm is inflated: with few samples and many features two unrelated representations look aligned
(:mod:`repchange.measure.held_out` measures the same effect). Pospisil et al. estimate the population quantity
instead. With centred sides ``x`` (n, p) and ``y`` (n, q), ``Σxy = E[x yᵀ]``, and ``λ_i`` the eigenvalues of
``Σxy Σyx``::

    similarity = ||Σxy||_* / sqrt(tr Σxx · tr Σyy),   ||Σxy||_* = Σ_i sqrt(λ_i),   distance = arccos(similarity)

1. The moments ``m_k = tr((Σxy Σyx)^k) = Σ_i λ_i^k`` (k = 1..K) are estimated without bias from the (n, n) Gram
   matrices ``Kx = x xᵀ / n``, ``Ky = y yᵀ / n``: ``m_k`` is the expectation of the closed chain
   ``Kx[i1,i2] Ky[i2,i3] … Kx[i(2k-1),i(2k)] Ky[i(2k),i1]`` over 2k *distinct* samples, and the estimate averages it
   over the increasing index chains ``i1 < … < i(2k)``, ``n^(2k) tr((A B)^(k-1) A Ky) / C(n, 2k)`` with ``A``, ``B``
   the strict upper triangles of ``Kx``, ``Ky`` (the authors' code's estimator; O(K n³)).
2. ``sqrt(λ)`` on ``[0, 1]`` is approximated by a polynomial ``Σ_k γ_k λ^k`` without a constant term (so that a
   zero eigenvalue contributes nothing), after both sides are scaled so that the sample cross-covariance's largest
   singular value is 1. The weights minimise ``(2 - a) γᵀ C γ + a N² t²`` where ``C`` is the moments' bootstrap
   covariance, ``t`` the largest deviation of the polynomial from ``sqrt`` on a grid of the interval, ``N =
   min(p, q)`` the number of eigenvalues (so ``N t`` bounds the bias) and ``a = 1`` (the authors' code's default,
   "minimize MSE"), under ``N t ≤ sqrt(tr Kx tr Ky)``, solved by cvxopt's interior-point QP solver as in the
   authors' code (SciPy's SLSQP reached the same optimum where it converged, but stopped short on about one draw in
   forty of ``make bench`` [15]: the degree-10 monomials' weights run to 1e4 and more).
3. ``similarity = Σ_k γ_k m̂_k / sqrt(tr Kx tr Ky)``, clipped to [0, 1] (the estimate can leave the range the
   quantity lies in; the record's ``clipped`` says so), and the distance is its arccos, in radians, in [0, pi/2].

The estimate depends on the samples' order and on which side is X (the chains are increasing in the sample index and
begin with an X link): unbiased whatever the order, but with a spread between orders that can exceed the spread between
bootstrap draws where n is small. ``orderings`` averages it over reorderings (a step towards the fully symmetric
U-statistic); the default, one ordering, is the authors' code's.

Conventions: rows are the same probe samples on both sides; each side is centred by its sample mean (the authors'
code assumes centred data; centring by the sample mean leaves a bias of order 1/n in the moments); float64; the
bootstrap draws rows with replacement from ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linprog

from repchange.measure.factors import ArrayLike, UndefinedSimilarity, _as_paired_matrices
from repchange.measure.kernels import kernel

KEYED_BY_KERNELS = True  # stored results name these kernels' versions, not this file's text (measure.kernels)
__all__ = ["MomentShape", "chain_moments", "moment_procrustes", "polynomial_weights"]

MOMENTS = 10  # K: the authors' code's default number of moments
RESAMPLES = 50  # bootstrap draws for the moments' covariance (the authors' code's bootstrap default)
GRID = 500  # points of [0, 1] on which the polynomial's deviation from sqrt is bounded (the authors' code's)


def _centred_grams(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(x)
    x, y = x.to(torch.float64), y.to(torch.float64)
    xc, yc = x - x.mean(0), y - y.mean(0)
    return xc @ xc.T / n, yc @ yc.T / n


def _log_chain_count(n: int, k: int) -> float:
    """log of n^(2k) / C(n, 2k): the normalisation of the increasing-chain sum."""
    return 2 * k * math.log(n) - (math.lgamma(n + 1) - math.lgamma(2 * k + 1) - math.lgamma(n - 2 * k + 1))


def _moments_from_grams(kx: torch.Tensor, ky: torch.Tensor, moments: int) -> np.ndarray:
    n = len(kx)
    a, b = torch.triu(kx, 1), torch.triu(ky, 1)
    ab = a @ b
    chain = a @ ky  # (A B)^(k-1) A Ky, from k = 1
    out = np.empty(moments)
    for k in range(1, moments + 1):
        if k > 1:
            chain = ab @ chain
        out[k - 1] = float(torch.trace(chain)) * math.exp(_log_chain_count(n, k))
    return out


def _enough_samples(x: ArrayLike, y: ArrayLike, moments: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The paired (samples, features) matrices, with at least 2 ``moments`` samples (a chain's distinct rows)."""
    xt, yt = _as_paired_matrices(x, y)
    if len(xt) < 2 * moments:
        raise UndefinedSimilarity(f"undefined: {moments} moments need at least {2 * moments} samples, got {len(xt)}")
    return xt, yt


@kernel(1)
def chain_moments(x: ArrayLike, y: ArrayLike, moments: int = MOMENTS) -> np.ndarray:
    """Unbiased estimates of ``tr((Σxy Σyx)^k)``, k = 1..``moments``, from ``x`` (n, p) and ``y`` (n, q) (rows:
    the same samples; each side centred by its mean): a float64 array of length ``moments`` (see the module
    docstring, step 1). Needs n >= 2 ``moments``."""
    xt, yt = _enough_samples(x, y, moments)
    return _moments_from_grams(*_centred_grams(xt, yt), moments)


@kernel(1)
def polynomial_weights(covariance: np.ndarray, n_eigenvalues: int, bias_limit: float, *, a: float = 1.0,
                       grid: int = GRID) -> tuple[np.ndarray, float]:
    """The weights ``γ`` (length K, for λ^1..λ^K) of the polynomial standing for ``sqrt`` on [0, 1], and its largest
    deviation ``t`` from ``sqrt`` on the grid: the solution of the quadratic programme of the module docstring,
    step 2, with the moments' (K, K) ``covariance``, by cvxopt's interior-point QP solver (as the authors' code).
    Raises :class:`UndefinedSimilarity` where no polynomial keeps ``N t`` under ``bias_limit`` or the solver fails."""
    from cvxopt import matrix, solvers  # imported here: the estimator's own dependency

    k = len(covariance)
    lam = np.linspace(0.0, 1.0, grid)
    powers = lam[:, None] ** np.arange(1, k + 1)[None, :]  # (grid, K)
    root = np.sqrt(lam)
    # the unknowns z = (γ, u) with u = N t, the bias bound: minimise (2 - a) γᵀ C γ + a u²
    quad = np.zeros((k + 1, k + 1))
    quad[:k, :k] = (2 - a) * covariance
    quad[k, k] = a
    quad /= max(float(np.abs(quad).max()), 1e-300)  # the objective's scale does not move its minimiser
    # |powers γ - root| <= u / N, and u <= bias_limit: G z <= h
    slack = np.full((grid, 1), -1.0 / n_eigenvalues)
    g = np.vstack([np.hstack([powers, slack]), np.hstack([-powers, slack]), np.r_[np.zeros(k), 1.0][None, :]])
    h = np.r_[root, -root, bias_limit]
    least = linprog(np.r_[np.zeros(k), 1.0], A_ub=g[:-1], b_ub=h[:-1], bounds=[(None, None)] * (k + 1),
                    method="highs")  # the least bias bound any polynomial of degree K reaches
    if least.status != 0:
        raise UndefinedSimilarity(f"undefined: no polynomial of degree {k} was found near sqrt ({least.message})")
    if least.x[k] >= bias_limit:
        raise UndefinedSimilarity(f"undefined: {n_eigenvalues} eigenvalues times the least deviation of a degree-{k} "
                                  f"polynomial from sqrt ({least.x[k] / n_eigenvalues:.3g}) reach the bias limit "
                                  f"{bias_limit:.3g}: too many features for the moment estimator")
    solution = solvers.qp(matrix(2 * quad), matrix(np.zeros(k + 1)), matrix(g), matrix(h),
                          options={"show_progress": False})
    if solution["status"] != "optimal":
        raise UndefinedSimilarity(f"undefined: the moment estimator's quadratic programme ended {solution['status']!r}; "
                                  f"its least bias bound {least.x[k]:.4g} against the limit {bias_limit:.4g}")
    z = np.array(solution["x"]).ravel()
    return z[:k], float(z[k]) / n_eigenvalues


@dataclass(frozen=True)
class MomentShape:
    """One moment estimate: ``distance`` (radians, in [0, pi/2]), ``similarity`` (before the clip), the plug-in
    ``in_sample`` distance on the same rows, the polynomial's bias bound ``bias`` and the bootstrap ``std`` of the
    similarity (both in similarity units), and whether the similarity was ``clipped`` into [0, 1]."""

    distance: float
    similarity: float
    in_sample: float
    bias: float
    std: float
    clipped: bool


@kernel(1)
def moment_procrustes(x: ArrayLike, y: ArrayLike, *, moments: int = MOMENTS, resamples: int = RESAMPLES,
                      orderings: int = 1, seed: int = 0) -> MomentShape:
    """The angular Procrustes distance of ``x`` (n, p) and ``y`` (n, q) estimated from ``moments`` chain moments,
    their covariance over ``resamples`` bootstrap draws from ``seed`` (see the module docstring). ``orderings`` > 1
    averages the moments over the samples' order and ``orderings - 1`` seeded reorderings, half of them with the
    sides' roles swapped (the increasing chains depend on both; 1, the default, is the authors' code's estimate on
    the order given; the reported ``std`` stays that of one ordering)."""
    if moments < 1 or resamples < 2 or orderings < 1:
        raise ValueError(f"moments must be at least 1, resamples at least 2 and orderings at least 1, got {moments}, "
                         f"{resamples} and {orderings}")
    xt, yt = _enough_samples(x, y, moments)
    n = len(xt)
    kx, ky = _centred_grams(xt, yt)
    # the cross-covariance's singular values are the square roots of the eigenvalues of Kx^(1/2) Ky Kx^(1/2)
    values, vectors = torch.linalg.eigh(kx)
    root_kx = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
    cross = torch.linalg.eigvalsh(root_kx @ ky @ root_kx).clamp(min=0)
    top = float(cross.max().sqrt())
    if not top > 0:
        raise UndefinedSimilarity("undefined: a side is constant over the probe, or the two are uncorrelated "
                                  "in every sample direction")
    kx, ky = kx / top, ky / top  # both sides scaled by top^(-1/2): the largest sample singular value is 1
    denominator = math.sqrt(float(torch.trace(kx)) * float(torch.trace(ky)))
    in_sample = float(cross.sqrt().sum()) / top / denominator
    rng = np.random.default_rng(seed)
    estimates = _moments_from_grams(kx, ky, moments)
    for r in range(1, orderings):
        order = torch.as_tensor(rng.permutation(n))
        first, second = (kx, ky) if r % 2 == 0 else (ky, kx)
        estimates = estimates + _moments_from_grams(first[order[:, None], order[None, :]],
                                                    second[order[:, None], order[None, :]], moments)
    estimates = estimates / orderings
    draws = np.empty((resamples, moments))
    for r in range(resamples):
        rows = torch.as_tensor(rng.integers(0, n, n))
        draws[r] = _moments_from_grams(kx[rows[:, None], rows[None, :]], ky[rows[:, None], rows[None, :]], moments)
    covariance = np.atleast_2d(np.cov(draws, rowvar=False))
    n_eigenvalues = min(xt.shape[1], yt.shape[1])  # the population's eigenvalues, however few the samples
    gamma, deviation = polynomial_weights(covariance, n_eigenvalues, denominator)
    similarity = float(estimates @ gamma) / denominator
    clipped = not 0.0 <= similarity <= 1.0
    return MomentShape(distance=math.acos(min(1.0, max(0.0, similarity))), similarity=similarity,
                       in_sample=math.acos(min(1.0, max(0.0, in_sample))),
                       bias=n_eigenvalues * deviation / denominator,
                       std=math.sqrt(max(float(gamma @ covariance @ gamma), 0.0)) / denominator, clipped=clipped)
