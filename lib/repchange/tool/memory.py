"""The peak memory of a measurement, predicted before any activation is read, and a clear refusal where it won't fit.

A measurement holds every probed layer's activations (float32, both sides), then factorises one layer pair at a
time (float64). What a pair's factors take depends on the metric and on whether the features are narrower than
the probe (:func:`layer_bytes`):

- linear CKA (biased and debiased), Procrustes and PWSM work in *feature form* when p ≤ n: the centred features
  (n·p) and the (p, p) covariance and its eigendecomposition, never an (n, n) matrix;
- wider layers (p > n) use the (n, n) Gram matrix instead (with its zero-diagonal copy for debiased CKA and an
  eigendecomposition for Procrustes and PWSM);
- RBF CKA and mutual k-NN always need (n, n) matrices (distances, kernel);
- a permutation null or a bootstrap of the CKA family or mutual k-NN re-indexes cached (n, n) matrices.

:func:`predicted_peak` adds the held activations to the largest pair's factors; :func:`check_fits` refuses with
the size needed, the size available and what would fit (streaming, a smaller probe, fewer layers, other metrics).
``make bench`` compares the prediction with the measured peak.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import torch

from repchange.base.memory import MEMORY_SHARE, available_bytes, gib

__all__ = ["MEMORY_SHARE", "ProbeTooLarge", "available_bytes", "check_fits", "gib", "layer_bytes", "predicted_peak"]

F32, F64 = 4, 8
LINEAR = ("cka", "cka_debiased", "procrustes", "pwsm", "procrustes_heldout", "pwsm_heldout")
SHAPE = {"procrustes", "pwsm", "procrustes_heldout", "pwsm_heldout"}  # an eigendecomposition or SVD of their own
ALWAYS_GRAM = ("rbf_cka", "mutual_knn", "mutual_knn_uncentred", "cknna", "rsa", "procrustes_moments")
CCA = ("svcca", "pwcca")
RESAMPLED_WITH_GRAMS = ("cka", "cka_debiased", "rbf_cka", "mutual_knn")


class ProbeTooLarge(ValueError):
    """The probe set's activations and factors would not fit in memory."""


def layer_bytes(n: int, p: int, metrics: Iterable[str], resampled: bool = False, gram_form: bool | None = None) -> int:
    """Float64 bytes one side's factors take for ``metrics`` at ``n`` samples (rows) and ``p`` features;
    ``gram_form``: whether the pair is wider than the probe (default: this side is, p > n)."""
    metrics = set(metrics)
    gram_form = p > n if gram_form is None else gram_form
    total = 0
    linear = metrics & set(LINEAR)
    if linear:
        if not gram_form:
            total += F64 * n * p + F64 * p * p  # centred features, covariance
            if linear & SHAPE:
                total += 2 * F64 * p * p  # its eigendecomposition, the whitening map
        else:
            total += F64 * n * n  # Gram matrix
            if "cka_debiased" in linear:
                total += F64 * n * n  # its zero-diagonal copy
            if linear & SHAPE:
                total += 2 * F64 * n * n  # its eigendecomposition and square root
    if "rbf_cka" in metrics:
        total += 4 * F64 * n * n  # squared distances, kernel, centred kernel and a temporary
    if "mutual_knn" in metrics:
        total += 2 * F64 * n * n  # Gram matrix, distances
    if "mutual_knn_uncentred" in metrics:
        total += F64 * n * p + 2 * F64 * n * n  # a float64 copy of the rows, the cosine matrix, its masked copy
    if "cknna" in metrics:
        total += F64 * n * p + 7 * F64 * n * n  # cosine, two masks, their product, masked kernels, temporaries
    if "procrustes_moments" in metrics:
        total += F64 * n * p + 9 * F64 * n * n  # centred rows; Gram, its triangle, square root, product, chain, draws
    if "rsa" in metrics:
        total += F64 * n * p + 2 * F64 * n * n + 3 * F64 * n * n // 2  # rows, correlations, indices, ranks
    if metrics & set(CCA):
        total += 2 * F64 * n * p + F64 * n * min(n, p) + F64 * p * p  # centred copy, SVD's U and Vᵀ
    if resampled and metrics & set(RESAMPLED_WITH_GRAMS):
        total += 2 * F64 * n * n  # the cached Grams a null or bootstrap re-indexes
    return total


def predicted_peak(n: int, shapes_a: Mapping[str, tuple[int, int]], shapes_b: Mapping[str, tuple[int, int]],
                   pairs: Sequence[tuple[str, str]], metrics: Iterable[str], resampled: bool = False) -> int:
    """Peak bytes of measuring ``pairs`` (a layer of A, a layer of B) on ``n`` probe samples: every layer's
    activations held (float32, both sides) plus the largest pair's factors on both sides, their cross product and
    the (n, n) temporaries of the Gram form (an elementwise product; the zero-diagonal copy's diagonal).
    ``shapes_*``: per layer, (rows per probe sample, features per row) in the chosen view (rows > 1 with positions
    as samples)."""
    metrics = set(metrics)
    held = sum(F32 * n * r * f for r, f in (*shapes_a.values(), *shapes_b.values()))

    def pair(a: str, b: str) -> int:
        (ra, p), (rb, q) = shapes_a[a], shapes_b[b]
        rows = n * max(ra, rb)
        gram_form = max(p, q) > rows
        sides = layer_bytes(n * ra, p, metrics, resampled, gram_form) + layer_bytes(n * rb, q, metrics, resampled,
                                                                                   gram_form)
        linear = metrics & set(LINEAR)
        cross = F64 * p * q if linear and not gram_form else 0  # the (p, q) product of the feature form
        uses_grams = (linear and gram_form) or metrics & set(ALWAYS_GRAM)
        temporaries = F64 * rows * rows * (bool(uses_grams) + ("cka_debiased" in linear and gram_form))
        return sides + cross + temporaries

    return held + max((pair(a, b) for a, b in pairs), default=0)


def check_fits(need: int, device: torch.device, what: str, options: str) -> None:
    """Raise :class:`ProbeTooLarge` when ``need`` bytes exceed :data:`MEMORY_SHARE` of what ``device`` has free:
    ``what`` says what needs it, ``options`` what would fit."""
    have = available_bytes(device)
    if need > MEMORY_SHARE * have:
        raise ProbeTooLarge(f"{what} need about {gib(need)} at their peak, and {gib(have)} is available on {device}: "
                            f"{options}")
