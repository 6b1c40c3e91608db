"""Representational similarity metrics.

Inputs are (n, p) and (n, q) arrays or tensors whose rows are the same n samples in the same
order, or :class:`Factors` built from them. All accumulation is in float64, on the inputs'
device (a CUDA tensor is compared on its GPU); results are Python floats.

:class:`Factors` is the cache: one per (checkpoint, layer, probe set). It centres the features
once and computes each derived quantity (Gram matrix, covariance, their eigendecompositions,
whitening maps) the first time a metric asks, then every comparison partner reuses it.

Every public function and class here that computes a similarity is a *kernel* (:mod:`repchange.measure.kernels`) with
a version (the shared helper :func:`whitening_from_eigh` is held through the kernels that call it): stored results
are keyed by those versions, not by this file's text, so a refactor that keeps the values keeps every stored table;
``tests/test_kernels.py`` holds each kernel to its golden values and fails when values move without a new version.
Which form a metric uses is chosen per pair: the (p, q) feature form when both p and q are at
most n, else the (n, n) Gram form.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Iterable

import numpy as np
import torch

from repchange.measure.kernels import kernel
from repchange.base.threads import torch_threads

__all__ = [
    "ALPHAS",
    "Factors",
    "MinibatchCKA",
    "centred_gram",
    "cka_from_grams",
    "gram_parts",
    "double_centred",
    "CENTRINGS",
    "filter_cka",
    "filter_procrustes_similarity",
    "FilterWhitened",
    "filter_pwsm",
    "linear_cka",
    "minibatch_cka",
    "knn_overlap",
    "mutual_knn",
    "neighbours_from_gram",
    "pearson",
    "procrustes_angle",
    "pwsm",
    "pwsm_alphas",
    "pwsm_key",
    "whitening_from_eigh",
    "hsic_floor",
    "normalised_hsic",
    "rbf_cka",
    "rbf_gram",
    "unbiased_hsic",
    "UndefinedSimilarity",
]

KEYED_BY_KERNELS = True  # stored results name these kernels' versions, not this file's text (measure.kernels)
ArrayLike = np.ndarray | torch.Tensor
ALPHAS = (0.0, 0.5, 1.0)  # PWSM's alphas in both books' chapters: full whitening, partial, none (Procrustes)
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
                raise ValueError(
                    f"partial whitening with alpha={alpha} needs at least as many samples as features, but "
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


@kernel(1)
def centred_gram(x: ArrayLike) -> torch.Tensor:
    """Gram matrix ``Xc Xcᵀ`` (n, n) of the column-centred features, float64."""
    return Factors(x).gram


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


@kernel(1)
def gram_parts(x: torch.Tensor, name: str = "X") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The zero-diagonal centred Gram matrix of one batch (b, p) of features, its row sums and its total: what the
    unbiased HSIC reads (a batch constant across its samples gives zeros)."""
    return _hollow_parts(_gram_or_zero(_as_matrix(x, name), name))


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


@kernel(1)
def normalised_hsic(xy: torch.Tensor | float, xx: torch.Tensor | float, yy: torch.Tensor | float, n: int,
                    what: str = "CKA", floor_x: float = 0.0, floor_y: float = 0.0) -> float:
    """``xy / sqrt(xx · yy)``, the CKA of three HSIC values, refused when a self-HSIC is at or below its
    floor (0, or the rounding level :func:`hsic_floor` of an unbiased estimate).

    The biased self-HSIC is a squared norm (0 only for a constant representation); the unbiased
    estimate falls to 0 where all samples but one are equal (a layer dead on all but one probe image)
    and can come out a rounding-level ±1e-17 there, where the ratio is meaningless (two negatives make
    a positive product). Raises :class:`UndefinedSimilarity` naming the values and n, never a NaN."""
    xx, yy = float(xx), float(yy)
    if not (xx > floor_x and yy > floor_y and xx > 0 and yy > 0):
        raise UndefinedSimilarity(f"undefined: self-HSIC <= 0 at n = {n}, to rounding ({what}: HSIC(X, X) = {xx:.3g}, "
                                  f"HSIC(Y, Y) = {yy:.3g}); use more samples or the biased estimator")
    return float(xy) / math.sqrt(xx * yy)


@kernel(1)
def cka_from_grams(k: torch.Tensor, l: torch.Tensor, *, debiased: bool = False) -> float:
    """Linear CKA from centred Gram matrices (see :func:`centred_gram`); :class:`UndefinedSimilarity`
    where a self-HSIC is at or below 0."""
    if k.shape != l.shape:
        raise ValueError(f"Gram matrices differ in shape: {tuple(k.shape)} vs {tuple(l.shape)}")
    if debiased:
        kp, lp = _hollow_parts(k), _hollow_parts(l)
        return normalised_hsic(_unbiased_hsic_from_parts(kp, lp), _unbiased_hsic_from_parts(kp, kp),
                               _unbiased_hsic_from_parts(lp, lp), k.shape[0], "debiased CKA", hsic_floor(kp),
                               hsic_floor(lp))
    return normalised_hsic((k * l).sum(), (k * k).sum(), (l * l).sum(), k.shape[0], "CKA")


@kernel(1)
def linear_cka(x: ArrayLike | Factors, y: ArrayLike | Factors, *, debiased: bool = False) -> float:
    """Linear CKA (Kornblith et al. 2019) between X (n, p) and Y (n, q).

    ``||Ycᵀ Xc||²_F / (||Xcᵀ Xc||_F ||Ycᵀ Yc||_F)`` on column-centred features, in [0, 1].
    Invariant to orthogonal maps and isotropic scaling of either input, not to general
    invertible maps. ``debiased=True`` replaces HSIC by its unbiased estimator (Song et al.
    2012), whose value for independent random features is near 0 rather than near p/(n+p);
    it can be slightly negative. Raises :class:`UndefinedSimilarity` (never returns NaN) where
    a representation is constant or, debiased, a self-HSIC estimate is at or below 0.
    """
    fx, fy = _pair(x, y)
    if debiased:
        if fx.n < 4:
            raise ValueError(f"the unbiased HSIC estimator needs at least 4 samples, got {fx.n}")
        if _feature_form(fx, fy):  # O(n(p + q)) memory: no (n, n) Gram matrix
            cross = _unbiased_hsic_features(fx, fy, torch.linalg.matrix_norm(fy.x.T @ fx.x) ** 2)
        else:
            cross = _unbiased_hsic_from_parts(fx.hollow_gram, fy.hollow_gram)
        return normalised_hsic(cross, fx.self_hsic_unbiased, fy.self_hsic_unbiased, fx.n, "debiased CKA",
                               fx.self_hsic_floor, fy.self_hsic_floor)
    if _feature_form(fx, fy):
        cross = torch.linalg.matrix_norm(fy.x.T @ fx.x) ** 2
    else:
        cross = (fx.gram * fy.gram).sum()
    return float(cross / (fx.self_norm * fy.self_norm))


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


def _median(values: torch.Tensor) -> torch.Tensor:
    """The median as numpy takes it (the mean of the two middle values of an even count)."""
    flat = values.flatten()
    m = flat.numel()
    low = flat.kthvalue((m + 1) // 2).values
    return low if m % 2 else (low + flat.kthvalue(m // 2 + 1).values) / 2


@kernel(1)
def double_centred(k: torch.Tensor) -> torch.Tensor:
    """``H K H`` of an (n, n) kernel matrix, H the centring matrix."""
    return k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()


@kernel(1)
def rbf_gram(f: Factors, sigma: float = 1.0) -> torch.Tensor:
    """The centred RBF kernel matrix (n, n) ``H exp(-d²_ij / (2 sigma² median(d²))) H`` from the cached Gram,
    with the median over all n² squared distances, the zero diagonal included: Kornblith et al. 2019's code
    (``gram_rbf(x, threshold=sigma)``). Cached on ``f`` per ``sigma``, like its whitening maps."""
    if not sigma > 0:
        raise ValueError(f"sigma must be positive (a multiple of the median distance), got {sigma}")
    if sigma not in f._rbf:
        f._rbf[sigma] = _rbf_gram(f, sigma)
    return f._rbf[sigma]


def _rbf_gram(f: Factors, sigma: float) -> torch.Tensor:
    gram = f.gram
    norms = torch.diagonal(gram)
    squared = (norms[:, None] + norms[None, :] - 2 * gram).clamp_min(0)
    median = _median(squared)
    if not median > 0:
        raise UndefinedSimilarity(f"undefined: the median squared distance between samples of {f.name} is 0: "
                                  f"RBF CKA has no bandwidth")
    return double_centred(torch.exp(-squared / (2 * sigma**2 * median)))


@kernel(1)
def rbf_cka(x: ArrayLike | Factors, y: ArrayLike | Factors, *, sigma: float = 1.0) -> float:
    """CKA with an RBF kernel (Kornblith et al. 2019), in [0, 1]: ``<K, L>_F / (||K||_F ||L||_F)`` of the
    centred kernel matrices of :func:`rbf_gram`, bandwidth² ``sigma²`` times each side's median squared distance.
    Invariant to orthogonal maps, isotropic scaling and translation; approaches linear CKA as ``sigma``
    grows. Raises :class:`UndefinedSimilarity` where a side has no spread."""
    fx, fy = _pair(x, y)
    k, l = rbf_gram(fx, sigma), rbf_gram(fy, sigma)
    return normalised_hsic((k * l).sum(), (k * k).sum(), (l * l).sum(), fx.n, "RBF CKA")


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


CENTRINGS = ("rows", "columns")


def _filter_maps(a: ArrayLike, b: ArrayLike, centre: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both (..., H, W) stacks centred as ``centre`` says, in float64, and a mask of the constant
    (dead) maps of either, of the leading shape."""
    if centre not in CENTRINGS:
        raise ValueError(f"centre must be one of {CENTRINGS}, got {centre!r}")
    at, bt = _tensor(a).to(torch.float64), _tensor(b).to(torch.float64)
    if at.shape != bt.shape or at.ndim < 2:
        raise ValueError(f"maps must have the same shape (..., H, W): got {tuple(at.shape)} and {tuple(bt.shape)}")
    if not (torch.isfinite(at).all() and torch.isfinite(bt).all()):
        raise ValueError("feature maps contain NaN or infinite values")
    axis = -1 if centre == "rows" else -2
    ac, bc = at - at.mean(axis, keepdim=True), bt - bt.mean(axis, keepdim=True)
    dead = (torch.linalg.matrix_norm(ac) == 0) | (torch.linalg.matrix_norm(bc) == 0)
    return ac, bc, dead


@kernel(1)
def filter_procrustes_similarity(a: ArrayLike, b: ArrayLike, *, centre: str = "rows") -> torch.Tensor:
    """The per-filter Procrustes similarity (Behzadi-Khormouji et al.) of (..., H, W) maps, in [0, 1].

    Each H×W map is centred, scaled to unit Frobenius norm and scored ``||A*ᵀB*||_*``.
    ``centre="rows"`` subtracts each row's mean (the authors' code, ``mean(dim=1)`` on an H×W
    map); ``centre="columns"`` subtracts the mean row, as ``scipy.spatial.procrustes`` does, and
    then ``1 - score²`` is scipy's disparity. Constant maps (dead filters; with row centring also
    maps constant along every row) give NaN. Vectorised over the leading axes; float64 of the
    leading shape.
    """
    ac, bc, dead = _filter_maps(a, b, centre)
    norms = torch.linalg.matrix_norm(ac, keepdim=True) * torch.linalg.matrix_norm(bc, keepdim=True)
    cross = ac.transpose(-1, -2) @ bc / torch.where(norms > 0, norms, torch.ones_like(norms))
    with torch_threads(1):  # a batch of small SVDs: one thread is faster, and robust to a busy machine
        score = torch.linalg.svdvals(cross).sum(-1)
    return torch.where(dead, torch.full_like(score, torch.nan), score.clamp(0, 1))


@kernel(1)
def filter_cka(a: ArrayLike, b: ArrayLike, *, centre: str = "rows") -> torch.Tensor:
    """Per-filter linear CKA of (..., H, W) maps, in [0, 1], in the orientation of the authors' code and of
    :func:`filter_procrustes_similarity`: the H rows are samples, the W columns features.

    Each map is first centred as Procrustes centres it (``centre``); CKA's own centring of the samples
    (the HSIC centring matrix of the authors' code) then subtracts the mean row, which changes nothing
    for ``centre="columns"``. The score is ``||AᵀB||²_F / (||AᵀA||_F ||BᵀB||_F)``. NaN where either map
    is constant. Vectorised over the leading axes; float64 of the leading shape.
    """
    ac, bc, dead = _filter_maps(a, b, centre)
    ac, bc = ac - ac.mean(-2, keepdim=True), bc - bc.mean(-2, keepdim=True)
    at_, bt_ = ac.transpose(-1, -2), bc.transpose(-1, -2)
    cross = torch.linalg.matrix_norm(at_ @ bc) ** 2
    norms = torch.linalg.matrix_norm(at_ @ ac) * torch.linalg.matrix_norm(bt_ @ bc)
    score = cross / torch.where(norms > 0, norms, torch.ones_like(norms))
    return torch.where(dead | (norms == 0), torch.full_like(score, torch.nan), score.clamp(0, 1))


def _filter_whitened(m: torch.Tensor, alpha: float) -> torch.Tensor:
    """(..., H, W) maps times ``αI + (1-α) C̃^(-1/2)``, C̃ = MᵀM / H over its mean eigenvalue; directions
    of zero variance are left out of the whitening (as :meth:`Factors.whitening`)."""
    if alpha == 1.0:
        return m
    with torch_threads(1):  # see filter_procrustes_similarity
        values, vectors = torch.linalg.eigh(m.transpose(-1, -2) @ m / m.shape[-2])
    values = values.clamp_min(0)
    mean = values.mean(-1, keepdim=True)
    values = values / torch.where(mean > 0, mean, torch.ones_like(mean))
    keep = values > EIG_RTOL * values.amax(-1, keepdim=True)
    inv_sqrt = torch.where(keep, values.clamp_min(torch.finfo(values.dtype).tiny).rsqrt(), torch.zeros_like(values))
    eye = torch.eye(m.shape[-1], dtype=m.dtype, device=m.device)
    return m @ (alpha * eye + (1 - alpha) * (vectors * inv_sqrt.unsqueeze(-2)) @ vectors.transpose(-1, -2))


@kernel(1)
class FilterWhitened:
    """One side of :func:`filter_pwsm`, computed once: (..., H, W) maps centred as ``centre`` says and
    whitened at ``alpha`` (``maps``), and the mask of constant maps (``dead``). a source net meets
    every checkpoint: whiten it once."""

    def __init__(self, maps: ArrayLike, *, alpha: float, centre: str = "rows") -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        centred, _, dead = _filter_maps(maps, maps, centre)
        self.alpha, self.centre, self.dead = alpha, centre, dead
        self.maps = _filter_whitened(centred, alpha)
        self.norms = torch.linalg.matrix_norm(self.maps)


@kernel(1)
def filter_pwsm(a: ArrayLike | FilterWhitened, b: ArrayLike | FilterWhitened, *, alpha: float,
                centre: str = "rows") -> torch.Tensor:
    """Per-filter partial-whitening shape metric (the paper's Eq. 1 applied to one filter's map), radians in
    [0, π/2], of (..., H, W) maps in the orientation and centring of :func:`filter_procrustes_similarity`
    (rows are samples, columns features): ``arccos(||φ(A)ᵀφ(B)||_* / (||φ(A)||_F ||φ(B)||_F))`` with
    ``φ(M) = M (αI + (1-α) C̃^(-1/2))`` (see :func:`pwsm`). ``alpha=1`` is the arccos of the per-filter
    Procrustes similarity. With fewer samples than features (H ≤ W) full whitening (α = 0) leaves little
    to compare. NaN where either map is constant. Either side may be a :class:`FilterWhitened` of the same
    ``alpha`` and ``centre`` (computed once, reused). Vectorised over the leading axes; float64.
    """
    pa, pb = (x if isinstance(x, FilterWhitened) else FilterWhitened(x, alpha=alpha, centre=centre) for x in (a, b))
    for side in (pa, pb):
        if (side.alpha, side.centre) != (alpha, centre):
            raise ValueError(f"a FilterWhitened of alpha={side.alpha}, centre={side.centre!r} passed to filter_pwsm "
                             f"with alpha={alpha}, centre={centre!r}")
    if pa.maps.shape != pb.maps.shape:
        raise ValueError(f"maps must have the same shape (..., H, W): got {tuple(pa.maps.shape)} and "
                         f"{tuple(pb.maps.shape)}")
    with torch_threads(1):  # see filter_procrustes_similarity
        nuclear = torch.linalg.svdvals(pa.maps.transpose(-1, -2) @ pb.maps).sum(-1)
    norms = pa.norms * pb.norms
    cosine = (nuclear / torch.where(norms > 0, norms, torch.ones_like(norms))).clamp(0, 1)
    return torch.where(pa.dead | pb.dead | (norms == 0), torch.full_like(cosine, torch.nan), torch.arccos(cosine))


@kernel(1)
def pearson(a: ArrayLike, b: ArrayLike) -> float:
    """Pearson r between two equal-length vectors, over the positions where both are finite."""
    at = _tensor(a).to(torch.float64).flatten()
    bt = _tensor(b).to(torch.float64).flatten()
    if at.shape != bt.shape:
        raise ValueError(f"pearson needs equal lengths, got {at.numel()} and {bt.numel()}")
    keep = torch.isfinite(at) & torch.isfinite(bt)
    if int(keep.sum()) < 3:
        raise ValueError(f"pearson needs at least 3 positions where both values are finite, got {int(keep.sum())}")
    ac, bc = at[keep] - at[keep].mean(), bt[keep] - bt[keep].mean()
    denom = torch.sqrt((ac * ac).sum() * (bc * bc).sum())
    if denom == 0:
        raise ValueError("pearson is undefined: one of the inputs is constant where both are finite")
    return float((ac * bc).sum() / denom)


@kernel(1)
class MinibatchCKA:
    """Streaming linear CKA over minibatches (Nguyen et al. 2021): memory independent of n.

    Each ``update(x_batch, y_batch)`` (b, p), (b, q) adds one batch's HSIC(K, L), HSIC(K, K),
    HSIC(L, L); ``value`` is ``mean HSIC(K,L) / sqrt(mean HSIC(K,K) · mean HSIC(L,L))``.
    With ``debiased=True`` (the default) the unbiased estimator is used and the result
    estimates the same population quantity as full-data debiased CKA. A batch constant on one side has a zero
    centred Gram matrix there: it adds exactly 0 to HSIC(K, L) and to that side's self-HSIC, and its other side's
    self-HSIC, so it is counted, never dropped (dropping it would bias the value upward); a side constant on every
    batch leaves the value undefined.
    """

    def __init__(self, *, debiased: bool = True) -> None:
        self.debiased = debiased
        self._sums = torch.zeros(3, dtype=torch.float64)
        self._floors = torch.zeros(2, dtype=torch.float64)
        self.batches = self.samples = 0

    def update(self, x: ArrayLike, y: ArrayLike) -> None:
        x, y = _as_matrix(x, "X"), _as_matrix(y, "Y")
        if len(x) != len(y):
            raise ValueError(f"X and Y must have the same number of samples (rows), got {len(x)} and {len(y)}")
        k, l = _gram_or_zero(x, "X"), _gram_or_zero(y, "Y")
        if k.device != l.device:
            raise ValueError(f"X and Y lie on different devices ({x.device} and {y.device}); move one with .to(device) first")
        if self.debiased:
            self.update_parts(_hollow_parts(k), _hollow_parts(l))
            return
        self._sums += torch.stack([(k * l).sum(), (k * k).sum(), (l * l).sum()]).cpu()
        self.batches += 1
        self.samples += len(x)

    def update_parts(self, kp: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                     lp: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
        """The debiased update from each side's zero-diagonal centred Gram parts (hollow (b, b), its row sums, its
        total; :func:`gram_parts`), e.g. a reference's parts computed once and kept across updates."""
        if not self.debiased:
            raise ValueError("update_parts serves the debiased estimator (MinibatchCKA(debiased=True))")
        if kp[0].shape != lp[0].shape:
            raise ValueError(f"X and Y must have the same number of samples (rows), got {len(kp[0])} and {len(lp[0])}")
        terms = [_unbiased_hsic_from_parts(kp, lp), _unbiased_hsic_from_parts(kp, kp), _unbiased_hsic_from_parts(lp, lp)]
        self._floors += torch.tensor([hsic_floor(kp), hsic_floor(lp)], dtype=torch.float64)
        self._sums += torch.stack(terms).cpu()
        self.batches += 1
        self.samples += len(kp[0])

    @property
    def value(self) -> float:
        if self.batches == 0:
            raise ValueError("MinibatchCKA has seen no batches")
        xy, xx, yy = self._sums
        return normalised_hsic(xy, xx, yy, self.samples, f"minibatch CKA over {self.batches} batches",
                               float(self._floors[0]), float(self._floors[1]))


@kernel(1)
def minibatch_cka(batches: Iterable[tuple[ArrayLike, ArrayLike]], *, debiased: bool = True) -> float:
    """CKA accumulated over an iterable of ``(x_batch, y_batch)`` pairs; see :class:`MinibatchCKA`."""
    acc = MinibatchCKA(debiased=debiased)
    for x, y in batches:
        acc.update(x, y)
    return acc.value
