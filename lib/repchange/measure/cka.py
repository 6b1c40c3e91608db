"""The CKA family: linear CKA (biased and unbiased HSIC), RBF-kernel CKA, and CKA streamed over minibatches.

Rows are the same n samples on both sides (see :mod:`repchange.measure.factors`); values in float64.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

from repchange.measure.factors import (ArrayLike, Factors, UndefinedSimilarity, _as_matrix, _feature_form,
    _gram_or_zero, _pair)
from repchange.measure.hsic import _hollow_parts, _unbiased_hsic_features, _unbiased_hsic_from_parts, hsic_floor
from repchange.measure.kernels import kernel

KEYED_BY_KERNELS = True  # stored results name these kernels' versions, not this file's text (measure.kernels)
__all__ = ["MinibatchCKA", "centred_gram", "cka_from_grams", "double_centred", "gram_parts", "linear_cka",
           "minibatch_cka", "normalised_hsic", "rbf_cka", "rbf_gram"]


@kernel(1)
def centred_gram(x: ArrayLike) -> torch.Tensor:
    """Gram matrix ``Xc Xcᵀ`` (n, n) of the column-centred features, float64."""
    return Factors(x).gram


@kernel(1)
def gram_parts(x: torch.Tensor, name: str = "X") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The zero-diagonal centred Gram matrix of one batch (b, p) of features, its row sums and its total: what the
    unbiased HSIC reads (a batch constant across its samples gives zeros)."""
    return _hollow_parts(_gram_or_zero(_as_matrix(x, name), name))


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
