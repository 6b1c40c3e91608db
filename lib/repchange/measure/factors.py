"""The shared ground of every similarity: one representation's cached factors, and the input checks.

Inputs are (n, p) and (n, q) arrays or tensors whose rows are the same n samples in the same order, or
:class:`Factors` built from them. All accumulation is in float64, on the inputs' device (a CUDA tensor is compared
on its GPU); results are Python floats.

:class:`Factors` is the cache: one per (checkpoint, layer, probe set). It centres the features once and computes
each derived quantity (Gram matrix, covariance, their eigendecompositions, whitening maps) the first time a metric
asks, then every comparison partner reuses it. Which form a metric uses is chosen per pair: the (p, q) feature form
when both p and q are at most n, else the (n, n) Gram form.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch

from repchange.measure.hsic import (HSIC_RTOL, _hollow_parts, _unbiased_hsic_features, _unbiased_hsic_from_parts,
    hsic_floor)
from repchange.measure.kernels import kernel

KEYED_BY_KERNELS = True  # stored results name these kernels' versions, not this file's text (measure.kernels)
__all__ = ["Factors", "UndefinedSimilarity", "whitening_from_eigh"]

ArrayLike = np.ndarray | torch.Tensor
EIG_RTOL = 1e-10  # eigenvalues below this fraction of the largest count as zero
GRAM_CHUNK = 2048  # feature columns converted to float64 at a time when building a Gram matrix


class UndefinedSimilarity(ValueError):
    """A similarity that has no value on these inputs: a representation constant across samples, or a
    self-HSIC estimate at or below 0 (the debiased estimator at small n). The message begins
    ``undefined:`` and says why; tables record it beside a NaN (:mod:`repchange.measure.registry`)."""


def _tensor(x: ArrayLike) -> torch.Tensor:
    """A tensor view of ``x`` on its own device (numpy: the CPU); read-only numpy arrays (pandas
    hands those out) are copied first."""
    if isinstance(x, np.ndarray) and not x.flags.writeable:
        x = x.copy()
    return torch.as_tensor(x).detach()


def _as_matrix(x: ArrayLike, name: str) -> torch.Tensor:
    t = _tensor(x)
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 samples, got shape {tuple(t.shape)}")
    if t.is_complex():
        raise ValueError(f"{name} must be real-valued, got {t.dtype}")
    return t


def _as_paired_matrices(x: ArrayLike, y: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` and ``y`` as (samples, features) matrices of the same samples (rows): :func:`_as_matrix` of each, and
    their row counts equal."""
    xt, yt = _as_matrix(x, "X"), _as_matrix(y, "Y")
    if len(xt) != len(yt):
        raise ValueError(f"X and Y must have the same number of samples (rows): got X {tuple(xt.shape)} and Y "
                         f"{tuple(yt.shape)}")
    return xt, yt


def _column_blocks(p: int) -> range:
    return range(0, p, GRAM_CHUNK)


def _psd_power(values: torch.Tensor, vectors: torch.Tensor, power: float) -> torch.Tensor:
    """``V diag(λ^power) Vᵀ`` with eigenvalues below ``EIG_RTOL·max`` treated as zero."""
    keep = values > EIG_RTOL * values.max().clamp_min(0)
    scaled = torch.where(keep, values.clamp_min(0).pow(power), torch.zeros_like(values))
    return (vectors * scaled) @ vectors.T


@kernel(1)
class Factors:
    """Cached factors of one representation X (n, p), column-centred, in float64.

    ``name`` is used in error messages. Derived quantities are computed on first use:
    ``gram`` (n, n) = Xc Xcᵀ, ``cov`` (p, p) = Xcᵀ Xc / n, their eigendecompositions,
    ``gram_sqrt`` and ``whitening(alpha)``. The input is kept as given (e.g. float32); the
    Gram matrix is accumulated in float64 over blocks of columns, so wide representations
    never need a full float64 copy unless a feature-space metric asks for ``x``.
    """

    def __init__(self, x: ArrayLike, name: str = "X") -> None:
        raw = _as_matrix(x, name)
        self.name = name
        self._raw = raw
        self.means = torch.cat([raw[:, j : j + GRAM_CHUNK].to(torch.float64).mean(0) for j in _column_blocks(raw.shape[1])])
        if not bool(torch.isfinite(self.means).all()):  # a NaN or infinity makes its column's mean non-finite
            raise ValueError(f"{name} contains NaN or infinite values (shape {tuple(raw.shape)})")
        if not bool((raw != raw[:1]).any()):
            raise UndefinedSimilarity(f"undefined: {name} is constant across samples (shape {tuple(raw.shape)}), "
                                      f"e.g. a dead layer: it has no self-similarity to normalise by")
        self._whitening: dict[tuple[float, bool], torch.Tensor] = {}
        self._rbf: dict[float, torch.Tensor] = {}  # centred RBF kernel matrices by bandwidth factor

    @property
    def n(self) -> int:
        return self._raw.shape[0]

    @property
    def p(self) -> int:
        return self._raw.shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.p)

    @cached_property
    def x(self) -> torch.Tensor:
        """The centred features (n, p), float64."""
        return self._raw.to(torch.float64) - self.means

    @cached_property
    def cosine(self) -> torch.Tensor:
        """(n, n) cosine similarity of the rows as given (not centred), float64: each row divided by
        max(its norm, 1e-12), as ``torch.nn.functional.normalize`` (platonic-rep's features)."""
        raw = self._raw.to(torch.float64)
        unit = raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return unit @ unit.T

    @cached_property
    def gram(self) -> torch.Tensor:
        if "x" in self.__dict__:
            return self.x @ self.x.T
        gram = torch.zeros(self.n, self.n, dtype=torch.float64, device=self._raw.device)
        for j in _column_blocks(self.p):
            block = self._raw[:, j : j + GRAM_CHUNK].to(torch.float64) - self.means[j : j + GRAM_CHUNK]
            gram += block @ block.T
        return gram

    @cached_property
    def cov(self) -> torch.Tensor:
        return self.x.T @ self.x / self.n

    @cached_property
    def squared_norm(self) -> torch.Tensor:
        """``||Xc||²_F`` = trace of the Gram matrix."""
        return torch.diagonal(self.gram).sum() if self.p > self.n else (self.x * self.x).sum()

    @cached_property
    def self_norm(self) -> torch.Tensor:
        """``||XcᵀXc||_F = ||Xc Xcᵀ||_F``, from whichever of the two products is smaller."""
        return torch.linalg.matrix_norm(self.cov) * self.n if self.p <= self.n else torch.linalg.matrix_norm(self.gram)

    @cached_property
    def sq_norms(self) -> torch.Tensor:
        """The Gram matrix's diagonal ``||x_i − mean||²`` (n,), float64, without forming the Gram matrix."""
        if "gram" in self.__dict__:
            return torch.diagonal(self.gram).clone()
        return sum((((self._raw[:, j : j + GRAM_CHUNK].to(torch.float64) - self.means[j : j + GRAM_CHUNK]) ** 2).sum(1)
                    for j in _column_blocks(self.p)), torch.zeros(self.n, dtype=torch.float64, device=self._raw.device))

    @cached_property
    def hollow_gram(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The Gram matrix with a zero diagonal, its row sums and its total: the unbiased HSIC's parts."""
        return _hollow_parts(self.gram)

    @cached_property
    def self_hsic_unbiased(self) -> torch.Tensor:
        if self.p <= self.n:  # feature form: no (n, n) matrix
            return _unbiased_hsic_features(self, self, self.self_norm ** 2)
        return _unbiased_hsic_from_parts(self.hollow_gram, self.hollow_gram)

    @cached_property
    def self_hsic_floor(self) -> float:
        """:func:`hsic_floor` of this side: ``HSIC_RTOL · ||K̃||²_F / (n(n−3))``, in feature form where p ≤ n."""
        if self.p <= self.n:
            n = self.n
            return HSIC_RTOL * float(self.self_norm ** 2 - self.sq_norms @ self.sq_norms) / (n * (n - 3))
        return hsic_floor(self.hollow_gram)

    @cached_property
    def gram_sqrt(self) -> torch.Tensor:
        values, vectors = torch.linalg.eigh(self.gram)
        return _psd_power(values, vectors, 0.5)

    @cached_property
    def cov_eigh(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.linalg.eigh(self.cov)

    def whitening(self, alpha: float, *, scale_free: bool = True) -> torch.Tensor:
        """(p, p) map ``αI + (1-α) C̃^(-1/2)``, C̃ = cov / its mean eigenvalue (pseudo-inverse on null space).

        ``scale_free=False`` uses the covariance itself (netrep's convention): then the balance of
        the two terms, and so the metric at 0 < α < 1, depends on the features' scale."""
        key = (alpha, scale_free)
        if key not in self._whitening:
            if alpha < 1 and self.n < self.p:
                raise UndefinedSimilarity(  # a ValueError: callers that refuse it keep doing so; tables record it
                    f"undefined: partial whitening with alpha={alpha} needs at least as many samples as features, but "
                    f"{self.name} has shape {self.shape}; use alpha=1, more samples, or fewer features"
                )
            self._whitening[key] = whitening_from_eigh(*self.cov_eigh, alpha, scale_free=scale_free)
        return self._whitening[key]


def whitening_from_eigh(values: torch.Tensor, vectors: torch.Tensor, alpha: float, *, scale_free: bool = True
                        ) -> torch.Tensor:
    """(p, p) map ``αI + (1-α) C̃^(-1/2)`` from the eigendecomposition (``torch.linalg.eigh``) of a (p, p)
    covariance C; C̃ = C over its mean eigenvalue (``scale_free``) or C itself; eigenvalues below
    :data:`EIG_RTOL` of the largest are left out of the inverse (pseudo-inverse on the null space). Float64.
    A helper of :meth:`Factors.whitening` and :mod:`repchange.measure.position_moments`, not a kernel of its own: its
    values are held by the goldens of :class:`Factors` and :func:`pwsm` (both conventions)."""
    if scale_free:
        values = values / values.clamp_min(0).mean()
    inv_sqrt = _psd_power(values, vectors, -0.5)
    eye = torch.eye(len(values), dtype=torch.float64, device=inv_sqrt.device)
    return alpha * eye + (1 - alpha) * inv_sqrt


def _gram_or_zero(x: torch.Tensor, name: str) -> torch.Tensor:
    """The centred Gram matrix (n, n) of ``x`` (n, p) in float64; exactly zero when ``x`` is constant across rows."""
    if not bool((x != x[:1]).any()):
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} contains NaN or infinite values (shape {tuple(x.shape)})")
        return torch.zeros(len(x), len(x), dtype=torch.float64, device=x.device)
    return Factors(x, name).gram


def _factors(x: ArrayLike | Factors, name: str) -> Factors:
    return x if isinstance(x, Factors) else Factors(x, name)


def _pair(x: ArrayLike | Factors, y: ArrayLike | Factors) -> tuple[Factors, Factors]:
    fx, fy = _factors(x, "X"), _factors(y, "Y")
    if fx._raw.device != fy._raw.device:
        raise ValueError(f"X and Y lie on different devices ({fx._raw.device} and {fy._raw.device}); "
                         f"move one with .to(device) first")
    if fx.n != fy.n:
        raise ValueError(
            f"X and Y must have the same number of samples (rows): got X {fx.shape} and Y {fy.shape}"
        )
    return fx, fy


def _feature_form(fx: Factors, fy: Factors) -> bool:
    return max(fx.p, fy.p) <= fx.n
