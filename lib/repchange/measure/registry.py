"""The similarity measures by name: which way is "more similar", their range, one evaluation that
never yields a bare NaN, and the value on re-indexed probe samples (for nulls and bootstraps).

A measure compares two layers' activations on the same n probe samples. It reads the cached
:class:`~repchange.measure.metrics.Factors` of each side (rows = probe samples) and, for the per-filter
measure, the raw (n, C, H, W) maps. :func:`evaluate` returns ``(value, note)``: the note is ``""``
or the reason the value is undefined (``"undefined: self-HSIC <= 0 at n = 6 ..."``), recorded beside
a NaN in every table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from repchange.measure.cka import double_centred, linear_cka, normalised_hsic, rbf_cka, rbf_gram
from repchange.measure.factors import Factors, UndefinedSimilarity
from repchange.measure.held_out import held_out_shape
from repchange.measure.moment_shape import moment_procrustes
from repchange.measure.hsic import _hollow_parts, _unbiased_hsic_from_parts, hsic_floor
from repchange.measure.neighbours import knn_overlap, mutual_knn, neighbours_from_gram
from repchange.measure.per_filter import filter_procrustes_similarity
from repchange.measure.shape import procrustes_angle, pwsm
from repchange.measure.peers import cknna, mutual_knn_uncentred, pwcca, rsa, svcca

__all__ = ["ALPHA_METRICS", "MEASURES", "Measure", "Sides", "biased_cka_chance", "check_metrics", "evaluate", "resampled"]


@dataclass
class Sides:
    """One layer pair on the same probe samples: each side's factors and, for per-filter measures,
    its raw maps (n, C, H, W). ``alpha``, ``k`` and ``sigma`` parametrise pwsm, mutual_knn, rbf_cka."""

    x: Factors
    y: Factors
    maps_x: torch.Tensor | None = None
    maps_y: torch.Tensor | None = None
    alpha: float = math.nan
    k: int = 10
    sigma: float = 1.0


@dataclass(frozen=True)
class Measure:
    """``name`` as in tables; ``higher_is_better`` (True: a similarity, 1 = same; False: a distance,
    0 = same); ``low, high``: its range; ``needs_maps``: reads the raw (n, C, H, W) maps; ``compute``: its value on
    one layer pair (:class:`Sides`), raising :class:`UndefinedSimilarity` where it has none."""

    name: str
    higher_is_better: bool
    low: float
    high: float
    description: str
    compute: Callable[["Sides"], float] = field(compare=False, repr=False)
    needs_maps: bool = False


def _filter_procrustes(s: Sides) -> float:
    if s.maps_x is None or s.maps_y is None:
        raise ValueError("filter_procrustes needs the raw (N, C, H, W) maps of both layers")
    return _nanmean_or_undefined(filter_procrustes_similarity(s.maps_x, s.maps_y))


def _nanmean_or_undefined(scores: torch.Tensor) -> float:
    if bool(torch.isnan(scores).all()):
        raise UndefinedSimilarity("undefined: every filter map is constant (dead) on every probe image")
    return float(torch.nanmean(scores))


MEASURES: dict[str, Measure] = {m.name: m for m in (
    Measure("cka", True, 0.0, 1.0, "linear CKA, biased HSIC (the papers' estimator)", lambda s: linear_cka(s.x, s.y)),
    Measure("cka_debiased", True, -1.0, 1.0, "linear CKA, unbiased HSIC (Song et al. 2012)",
            lambda s: linear_cka(s.x, s.y, debiased=True)),
    Measure("rbf_cka", True, 0.0, 1.0, "RBF-kernel CKA, bandwidth = sigma x median distance",
            lambda s: rbf_cka(s.x, s.y, sigma=s.sigma)),
    Measure("mutual_knn", True, 0.0, 1.0, "mutual k-nearest-neighbour alignment (Huh et al. 2024)",
            lambda s: mutual_knn(s.x, s.y, k=s.k)),
    Measure("procrustes", False, 0.0, math.pi / 2, "angular orthogonal Procrustes distance, radians",
            lambda s: procrustes_angle(s.x, s.y)),
    Measure("pwsm", False, 0.0, math.pi / 2, "partial-whitening shape metric at alpha, radians",
            lambda s: pwsm(s.x, s.y, alpha=s.alpha)),
    Measure("filter_procrustes", True, 0.0, 1.0, "per-filter Procrustes similarity (Behzadi-Khormouji et al.), mean",
            _filter_procrustes, needs_maps=True),
    Measure("mutual_knn_uncentred", True, 0.0, 1.0, "mutual k-NN as platonic-rep computes it (features not centred)",
            lambda s: mutual_knn_uncentred(s.x, s.y, k=s.k)),
    Measure("cknna", True, -math.inf, 1.0, "CKNNA (Huh et al. 2024, platonic-rep's code), unbounded below",
            lambda s: cknna(s.x, s.y, k=s.k)),
    Measure("svcca", True, 0.0, 1.0, "SVCCA (Raghu et al. 2017): mean canonical correlation, 99 % of variance kept",
            lambda s: svcca(s.x, s.y)),
    Measure("pwcca", True, 0.0, 1.0, "PWCCA (Morcos et al. 2018): canonical correlations weighted by X's share",
            lambda s: pwcca(s.x, s.y)),
    Measure("rsa", True, -1.0, 1.0, "RSA: Spearman correlation of correlation-distance RDMs", lambda s: rsa(s.x, s.y)),
    Measure("procrustes_heldout", False, 0.0, math.pi, "angular Procrustes distance aligned on half the probe, scored "
            "on the other half (netrep's fit/score), radians", lambda s: held_out_shape(s.x._raw, s.y._raw)),
    Measure("pwsm_heldout", False, 0.0, math.pi, "PWSM at alpha aligned on half the probe, scored on the other half, "
            "radians", lambda s: held_out_shape(s.x._raw, s.y._raw, alpha=s.alpha)),
    Measure("procrustes_moments", False, 0.0, math.pi / 2, "angular Procrustes distance of the population, estimated "
            "from moments of the cross-covariance (Pospisil et al. 2024), radians",
            lambda s: moment_procrustes(s.x._raw, s.y._raw).distance),
)}
ALPHA_METRICS = ("pwsm", "pwsm_heldout")  # computed at each of the alphas


def check_metrics(metrics: Sequence[str], alphas: Sequence[float]) -> None:
    """Refuse, before any work, unknown measure names, pwsm without alphas (or alphas without pwsm) and
    alphas outside [0, 1]."""
    unknown = [m for m in metrics if m not in MEASURES]
    if unknown or not metrics:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(MEASURES)}")
    if any(m in ALPHA_METRICS for m in metrics) != bool(alphas):
        named = [m for m in metrics if m in ALPHA_METRICS]
        raise ValueError(f"metric {named[0]!r} needs alphas (e.g. alphas=(0.0, 0.5))" if named else
                         f"alphas need a metric computed at them: one of {list(ALPHA_METRICS)}")
    bad_alpha = [a for a in alphas if not 0 <= a <= 1]
    if bad_alpha:
        raise ValueError(f"alphas must lie in [0, 1], got {bad_alpha}")


def _value(name: str, s: Sides) -> float:
    if name not in MEASURES:
        raise ValueError(f"unknown measure {name!r}; choose from {list(MEASURES)}")
    return MEASURES[name].compute(s)


def evaluate(name: str, sides: Sides) -> tuple[float, str]:
    """``(value, "")``, or ``(nan, "undefined: ...")`` where the measure has no value on these inputs."""
    try:
        return _value(name, sides), ""
    except UndefinedSimilarity as err:
        return math.nan, str(err)


# ---------------------------------------------------------------------------------------------
# Values on re-indexed samples: X's rows ix against Y's rows iy (a permutation, or a bootstrap draw)


def _sub(k: torch.Tensor, idx: torch.Tensor | None) -> torch.Tensor:
    return k if idx is None else k[idx[:, None], idx[None, :]]


class _Resampler:
    """The value of a measure on (X[ix], Y[iy]) (None: all rows in order) from cached (n, n) matrices
    where the measure allows it (CKA family, mutual k-NN: O(n²) a draw), else from factors of the
    re-indexed rows. X's matrices for ``ix=None`` are prepared once (a permutation null re-indexes Y only)."""

    def __init__(self, name: str, sides: Sides) -> None:
        self.name, self.s = name, sides
        if name in ("cka", "cka_debiased", "mutual_knn"):
            self.kx, self.ky = sides.x.gram, sides.y.gram
        elif name == "rbf_cka":  # the bandwidth of the whole probe set is kept for every draw
            self.kx, self.ky = rbf_gram(sides.x, sides.sigma), rbf_gram(sides.y, sides.sigma)
        if name in ("cka", "rbf_cka"):  # the cached Grams are centred over all rows; a permutation keeps that
            self.fixed = (self.kx, (self.kx * self.kx).sum())
        elif name == "cka_debiased":
            parts = _hollow_parts(self.kx)
            self.fixed = (parts, _unbiased_hsic_from_parts(parts, parts), hsic_floor(parts))
            # a permutation of Y's rows permutes its hollow Gram and row sums and keeps its self-HSIC
            self.y_parts = _hollow_parts(self.ky)
            self.y_self = (_unbiased_hsic_from_parts(self.y_parts, self.y_parts), hsic_floor(self.y_parts))
        if name in ("cka", "rbf_cka"):
            self.y_self_norm = (self.ky * self.ky).sum()
        elif name == "mutual_knn":
            self.fixed = neighbours_from_gram(self.kx, sides.k)

    def __call__(self, ix: torch.Tensor | None, iy: torch.Tensor | None) -> float:
        name, s = self.name, self.s
        n = s.x.n if ix is None else len(ix)
        if name in ("cka", "rbf_cka"):
            if ix is None:  # a permutation: Y's Gram re-indexed, both norms unchanged
                k, kk = self.fixed
                return normalised_hsic((k * _sub(self.ky, iy)).sum(), kk, self.y_self_norm, n)
            k, l = double_centred(_sub(self.kx, ix)), double_centred(_sub(self.ky, iy))
            return normalised_hsic((k * l).sum(), (k * k).sum(), (l * l).sum(), n)
        if name == "cka_debiased" and ix is None and iy is not None:
            kp, kk, floor_k = self.fixed
            hollow, rows, total = self.y_parts
            lp = (_sub(hollow, iy), rows[iy], total)
            return normalised_hsic(_unbiased_hsic_from_parts(kp, lp), kk, self.y_self[0], n, "debiased CKA",
                                   floor_k, self.y_self[1])
        if name == "cka_debiased":
            if ix is None:
                kp, kk, floor_k = self.fixed
            else:
                kp = _hollow_parts(_sub(self.kx, ix))
                kk, floor_k = _unbiased_hsic_from_parts(kp, kp), hsic_floor(kp)
            lp = _hollow_parts(_sub(self.ky, iy))
            return normalised_hsic(_unbiased_hsic_from_parts(kp, lp), kk, _unbiased_hsic_from_parts(lp, lp), n,
                                   "debiased CKA", floor_k, hsic_floor(lp))
        if name == "mutual_knn":  # a permutation keeps the sample set, and so the centring
            nx = self.fixed if ix is None else neighbours_from_gram(_sub(self.kx, ix), s.k)
            return knn_overlap(nx, neighbours_from_gram(_sub(self.ky, iy), s.k))
        take = (lambda t: t) if ix is None else (lambda t: t[ix])
        take_y = (lambda t: t) if iy is None else (lambda t: t[iy])
        rows = Sides(Factors(take(s.x._raw), s.x.name), Factors(take_y(s.y._raw), s.y.name),
                     None if s.maps_x is None else take(s.maps_x), None if s.maps_y is None else take_y(s.maps_y),
                     s.alpha, s.k, s.sigma)
        return _value(name, rows)


def resampled(name: str, sides: Sides) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """A function ``(ix, iy) -> value`` of ``name`` on X's rows ``ix`` against Y's rows ``iy`` (index
    tensors of equal length, or None for every row in order): the cached matrices are re-indexed, not recomputed, for the CKA family.
    It raises :class:`UndefinedSimilarity` where a draw has no value."""
    if name not in MEASURES:
        raise ValueError(f"unknown measure {name!r}; choose from {list(MEASURES)}")
    return _Resampler(name, sides)


def biased_cka_chance(n: int, p: int, q: int) -> float:
    """Biased linear CKA expected between independent iid features of widths p and q on n samples:
    ``sqrt(pq / ((n + p)(n + q)))`` (E tr(KL) = npq, E||K||²_F ≈ np(n + p)); p/(n + p) when p = q."""
    return math.sqrt(p * q / ((n + p) * (n + q)))
