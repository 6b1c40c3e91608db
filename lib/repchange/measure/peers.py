"""The peers' measures, on the same cached factors: platonic-rep's mutual k-NN and CKNNA, SVCCA, PWCCA and RSA.

Each takes two (n, p) / (n, q) representations of the same n samples (arrays or
:class:`~repchange.measure.metrics.Factors`) and returns a float; where it has no value it raises
:class:`~repchange.measure.metrics.UndefinedSimilarity` with the reason.

- ``mutual_knn_uncentred`` and ``cknna`` follow platonic-rep's code (Huh et al. 2024, ``metrics.py`` with the
  features L2-normalised per sample as its ``measure_alignment.py`` does): neighbours by the cosine of the
  features *as given*, not column-centred (:func:`repchange.measure.metrics.mutual_knn` centres them, as every
  other measure here does; the two differ where a shift dominates the features). CKNNA's denominator has no
  ``+ 1e-6``; a self-term ≤ 0 is named undefined instead.
- ``svcca`` (Raghu et al. 2017): each side reduced to the singular directions that keep 99 % of its variance,
  then the mean canonical correlation of the two reductions.
- ``pwcca`` (Morcos et al. 2018): the canonical correlations weighted by how much of X each canonical variate
  accounts for, ``α_i = Σ_j |⟨h_i, x_j⟩|`` (h_i the i-th canonical variate of X, x_j X's j-th centred feature); not
  symmetric: X is the reference.
- ``rsa`` (Kriegeskorte et al. 2008): the Spearman correlation of the two representational dissimilarity
  matrices (1 − Pearson correlation between samples' patterns), over the pairs above the diagonal (scipy).

CCA on r_x + r_y > n − 1 dimensions has canonical correlations of 1 whatever the data; svcca and pwcca name such
a value undefined instead of returning it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from repchange.measure.factors import ArrayLike, Factors, UndefinedSimilarity, _pair
from repchange.measure.neighbours import knn_overlap

__all__ = ["SVCCA_KEEP", "cknna", "mutual_knn_uncentred", "pwcca", "rsa", "svcca"]

SVCCA_KEEP = 0.99  # share of variance the SVD step keeps (Raghu et al. 2017)


def _check_k(k: int, n: int, least: int = 1) -> None:
    if not least <= k < n:
        raise ValueError(f"k must lie in {least}..n-1 = {least}..{n - 1}, got {k}")


def _nearest(cosine: torch.Tensor, k: int) -> torch.Tensor:
    """(n, k) indices of each sample's k most cosine-similar other samples."""
    masked = cosine.clone()
    masked.fill_diagonal_(-torch.inf)
    return masked.topk(k, dim=1).indices


def mutual_knn_uncentred(x: ArrayLike | Factors, y: ArrayLike | Factors, *, k: int = 10) -> float:
    """Mutual k-NN alignment as platonic-rep computes it, in [0, 1]: neighbours by the cosine of the
    uncentred features. About k / (n − 1) for unrelated representations; needs k < n."""
    fx, fy = _pair(x, y)
    _check_k(k, fx.n)
    return knn_overlap(_nearest(fx.cosine, k), _nearest(fy.cosine, k))


def _hsic_as_written(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Song et al.'s unbiased HSIC in the form platonic-rep writes it, which also serves the non-symmetric masked
    kernels of CKNNA: [Σ K̃∘L̃ᵀ + 1ᵀK̃1·1ᵀL̃1 / ((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3)), zero diagonals."""
    n = k.shape[0]
    kt, lt = k - torch.diag(torch.diagonal(k)), l - torch.diag(torch.diagonal(l))
    return ((kt * lt.T).sum() + kt.sum() * lt.sum() / ((n - 1) * (n - 2))
            - 2.0 * (kt.sum(0) @ lt.sum(1)) / (n - 2)) / (n * (n - 3))


def cknna(x: ArrayLike | Factors, y: ArrayLike | Factors, *, k: int = 10) -> float:
    """CKNNA (Huh et al. 2024, platonic-rep's code): the unbiased HSIC of the cosine kernels restricted to pairs
    that are k-nearest neighbours in both, normalised by each side's own (restricted to its own neighbours).
    1 for the same neighbourhoods and kernels; not bounded below by 0. Needs 2 ≤ k < n and n ≥ 4."""
    fx, fy = _pair(x, y)
    if fx.n < 4:
        raise ValueError(f"cknna's unbiased HSIC needs at least 4 samples, got {fx.n}")
    _check_k(k, fx.n, least=2)
    kx, ky = fx.cosine, fy.cosine
    mask_x = torch.zeros_like(kx).scatter_(1, _nearest(kx, k), 1.0)
    mask_y = torch.zeros_like(ky).scatter_(1, _nearest(ky, k), 1.0)
    both = mask_x * mask_y
    cross = _hsic_as_written(both * kx, both * ky)
    own_x, own_y = _hsic_as_written(mask_x * kx, mask_x * kx), _hsic_as_written(mask_y * ky, mask_y * ky)
    if own_x <= 0 or own_y <= 0:
        raise UndefinedSimilarity(f"undefined: CKNNA's self-term of {fx.name if own_x <= 0 else fy.name} is "
                                  f"≤ 0 at n = {fx.n}, k = {k} (platonic-rep's + 1e-6 would hide it)")
    return float(cross / torch.sqrt(own_x * own_y))


def _basis(f: Factors, keep: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """An orthonormal basis (n, r) of the span of X's centred columns, and its singular values: every direction
    above rounding, or (``keep``) the leading ones that hold that share of the variance."""
    u, s, _ = torch.linalg.svd(f.x, full_matrices=False)
    rank = int((s > s[0] * max(f.n, f.p) * torch.finfo(s.dtype).eps).sum())
    if keep is not None:
        share = torch.cumsum(s[:rank] ** 2, 0) / (s[:rank] ** 2).sum()
        rank = min(rank, int(torch.searchsorted(share, torch.tensor(keep, dtype=share.dtype))) + 1)
    return u[:, :rank], s[:rank]


def _canonical(fx: Factors, fy: Factors, keep: float | None, what: str
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(correlations, X's basis, the rotation of X's basis onto its canonical variates), refused where the two
    spans must share a direction whatever the data (r_x + r_y > n − 1)."""
    qx, _ = _basis(fx, keep)
    qy, _ = _basis(fy, keep)
    forced = qx.shape[1] + qy.shape[1] - (fx.n - 1)
    if forced > 0:
        raise UndefinedSimilarity(f"undefined: {what} of {qx.shape[1]} + {qy.shape[1]} dimensions on n = {fx.n} "
                                  f"samples has {forced} canonical correlation(s) of 1 whatever the data; use more "
                                  f"probe samples, a pooled view or svcca's reduction")
    u, rho, _ = torch.linalg.svd(qx.T @ qy, full_matrices=False)
    return rho.clamp(0.0, 1.0), qx, u


def svcca(x: ArrayLike | Factors, y: ArrayLike | Factors, *, keep: float = SVCCA_KEEP) -> float:
    """SVCCA (Raghu et al. 2017), in [0, 1]: the mean canonical correlation between the two representations reduced
    to the singular directions holding ``keep`` of their variance. Invariant to invertible linear maps of either
    reduction."""
    fx, fy = _pair(x, y)
    rho, _, _ = _canonical(fx, fy, keep, "SVCCA")
    return float(rho.mean())


def pwcca(x: ArrayLike | Factors, y: ArrayLike | Factors) -> float:
    """PWCCA (Morcos et al. 2018), in [0, 1]: Σ α_i ρ_i / Σ α_i, the canonical correlations ρ_i weighted by
    ``α_i = Σ_j |⟨h_i, x_j⟩|``, the share of X's centred features x_j its unit canonical variate h_i accounts for.
    X is the reference (the weights are X's). Invariant to invertible linear maps of Y."""
    fx, fy = _pair(x, y)
    rho, qx, u = _canonical(fx, fy, None, "PWCCA")
    variates = qx @ u[:, : len(rho)]  # (n, c), orthonormal columns
    weights = (variates.T @ fx.x).abs().sum(1)
    return float((weights * rho).sum() / weights.sum())


def _rdm_upper(f: Factors) -> np.ndarray:
    """The correlation distances 1 − r between samples' patterns, above the diagonal (n (n − 1) / 2,)."""
    rows = f._raw.to(torch.float64)
    rows = rows - rows.mean(1, keepdim=True)
    norms = rows.norm(dim=1)
    flat = int((norms <= 1e-12 * max(float(norms.max()), 1e-300)).sum())
    if flat:
        raise UndefinedSimilarity(f"undefined: {flat} sample(s) of {f.name} have the same value on every feature; "
                                  f"their correlation distance to the others is undefined")
    unit = rows / norms[:, None]
    i, j = torch.triu_indices(f.n, f.n, offset=1)
    return (1.0 - (unit @ unit.T)[i, j]).numpy(force=True)


def rsa(x: ArrayLike | Factors, y: ArrayLike | Factors) -> float:
    """Representational similarity analysis, in [−1, 1]: the Spearman correlation of the two correlation-distance
    RDMs over the sample pairs above the diagonal (scipy's ``spearmanr``). Needs n ≥ 3 and patterns that vary."""
    from scipy.stats import spearmanr

    fx, fy = _pair(x, y)
    if fx.n < 3:
        raise ValueError(f"rsa compares the distances of at least 3 samples, got {fx.n}")
    a, b = _rdm_upper(fx), _rdm_upper(fy)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise UndefinedSimilarity("undefined: one RDM is constant (every pair of samples equally dissimilar)")
    value = float(spearmanr(a, b).statistic)
    if not math.isfinite(value):
        raise UndefinedSimilarity("undefined: the RDMs' rank correlation has no value (a rank vector without spread)")
    return value
