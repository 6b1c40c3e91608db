"""Every similarity measure by one import: the kernels of the measure families, re-exported.

The families, one module each: :mod:`~repchange.measure.factors` (the cached factors of one representation and the
input checks), :mod:`~repchange.measure.hsic` (the unbiased HSIC estimator), :mod:`~repchange.measure.cka` (linear,
debiased, RBF and minibatch CKA), :mod:`~repchange.measure.shape` (Procrustes, PWSM), :mod:`~repchange.measure.neighbours`
(mutual k-NN) and :mod:`~repchange.measure.per_filter` (per-filter maps). Every public function and class there that
computes a similarity is a *kernel* (:mod:`repchange.measure.kernels`) with a version: stored results are keyed by
those versions, not by the files' text, so moving a kernel between families keeps every stored table; a table's
``*_CODE`` names the families through :data:`METRIC_CODE`.
"""

from __future__ import annotations

from repchange.measure.hsic import hsic_floor, unbiased_hsic
from repchange.measure.factors import Factors, UndefinedSimilarity, whitening_from_eigh
from repchange.measure.cka import (MinibatchCKA, centred_gram, cka_from_grams, double_centred, gram_parts, linear_cka,
    minibatch_cka, normalised_hsic, rbf_cka, rbf_gram)
from repchange.measure.shape import ALPHAS, procrustes_angle, pwsm, pwsm_alphas, pwsm_key
from repchange.measure.neighbours import knn_overlap, mutual_knn, neighbours_from_gram
from repchange.measure.per_filter import (CENTRINGS, FilterWhitened, filter_cka, filter_procrustes_similarity,
    filter_pwsm, pearson)

METRIC_CODE = tuple(f"measure.{family}" for family in ("hsic", "factors", "cka", "shape", "neighbours", "per_filter"))
__all__ = ["ALPHAS", "CENTRINGS", "METRIC_CODE", "Factors", "FilterWhitened", "MinibatchCKA", "UndefinedSimilarity", "centred_gram",
           "cka_from_grams", "double_centred", "filter_cka", "filter_procrustes_similarity", "filter_pwsm",
           "gram_parts", "hsic_floor", "knn_overlap", "linear_cka", "minibatch_cka", "mutual_knn",
           "neighbours_from_gram", "normalised_hsic", "pearson", "procrustes_angle", "pwsm", "pwsm_alphas",
           "pwsm_key", "rbf_cka", "rbf_gram", "unbiased_hsic", "whitening_from_eigh"]
