"""Fixed inputs for every kernel of ``measure.metrics`` (:mod:`repchange.measure.kernels`): each case returns the floats
that stand for the kernel's values on them. The goldens in ``kernel_goldens.json`` hold those floats per version;
``python tests/test_kernels.py`` records them after a kernel's version was raised on purpose.

Inputs cover both forms a metric chooses between (features narrower than the probe, and wider: the Gram form), a
representation with a dead unit, and maps with a dead filter.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from repchange.measure import held_out
from repchange.measure import moment_shape
from repchange.measure import metrics as m


def _inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20261207)
    x = rng.standard_normal((40, 12))
    y = x @ rng.standard_normal((12, 9)) + 0.5 * rng.standard_normal((40, 9))
    wide_x = rng.standard_normal((20, 50))
    wide_y = np.tanh(wide_x[:, :30]) + 0.3 * rng.standard_normal((20, 30))
    dead = y.copy()
    dead[:, 0] = 1.0  # a unit constant over the probe
    maps_a = rng.standard_normal((3, 4, 6, 5))  # (images, filters, H, W)
    maps_b = maps_a + 0.4 * rng.standard_normal(maps_a.shape)
    maps_b[:, 2] = 0.0  # a dead filter
    return dict(x=x, y=y, wide_x=wide_x, wide_y=wide_y, dead=dead, maps_a=maps_a, maps_b=maps_b)


def _summary(t: torch.Tensor | np.ndarray) -> list[float]:
    """A tensor as four floats: its sum, its sum of squares, and two entries (NaN entries as themselves)."""
    a = np.asarray(t.detach().cpu() if isinstance(t, torch.Tensor) else t, dtype=float)
    flat = a.reshape(-1)
    finite = flat[np.isfinite(flat)]
    return [float(finite.sum()), float((finite ** 2).sum()), float(flat[0]), float(flat[len(flat) // 2])]


def _factors(i: dict) -> list[float]:
    f = m.Factors(i["x"])
    return [*_summary(f.gram), *_summary(f.cov), float(f.self_hsic_unbiased), *_summary(f.whitening(0.5)),
            *_summary(f.whitening(0.0)), *_summary(f.gram_sqrt)]


def _minibatch(i: dict, debiased: bool) -> list[float]:
    mb = m.MinibatchCKA(debiased=debiased)
    for rows in (slice(0, 15), slice(15, 30), slice(30, 40)):
        mb.update(i["x"][rows], i["y"][rows])
    return [mb.value]


def _grams(i: dict) -> tuple[torch.Tensor, torch.Tensor]:
    return m.centred_gram(i["x"]), m.centred_gram(i["y"])


CASES: dict[str, Callable[[dict], list[float]]] = {
    "Factors": _factors,
    "MinibatchCKA": lambda i: _minibatch(i, True) + _minibatch(i, False),
    "centred_gram": lambda i: _summary(m.centred_gram(i["x"])),
    "cka_from_grams": lambda i: [m.cka_from_grams(*_grams(i)), m.cka_from_grams(*_grams(i), debiased=True)],
    "gram_parts": lambda i: [v for part in m.gram_parts(torch.as_tensor(i["x"])) for v in _summary(part)],
    "double_centred": lambda i: _summary(m.double_centred(torch.as_tensor(i["x"] @ i["x"].T))),
    "filter_cka": lambda i: _summary(m.filter_cka(i["maps_a"], i["maps_b"]))
    + _summary(m.filter_cka(i["maps_a"], i["maps_b"], centre="columns")),
    "filter_procrustes_similarity": lambda i: _summary(m.filter_procrustes_similarity(i["maps_a"], i["maps_b"]))
    + _summary(m.filter_procrustes_similarity(i["maps_a"], i["maps_b"], centre="columns")),
    "FilterWhitened": lambda i: _summary(m.FilterWhitened(i["maps_a"], alpha=0.5).maps),
    "filter_pwsm": lambda i: [v for alpha in (0.0, 0.5, 1.0)
                              for v in _summary(m.filter_pwsm(i["maps_a"], i["maps_b"], alpha=alpha))],
    "linear_cka": lambda i: [m.linear_cka(i["x"], i["y"]), m.linear_cka(i["x"], i["y"], debiased=True),
                             m.linear_cka(i["wide_x"], i["wide_y"]), m.linear_cka(i["wide_x"], i["wide_y"], debiased=True),
                             m.linear_cka(i["x"], i["dead"])],
    "minibatch_cka": lambda i: [m.minibatch_cka((i["x"][r:r + 16], i["y"][r:r + 16]) for r in (0, 16, 32))],
    "knn_overlap": lambda i: [m.knn_overlap(m.neighbours_from_gram(torch.as_tensor(i["x"] @ i["x"].T), 5),
                                            m.neighbours_from_gram(torch.as_tensor(i["y"] @ i["y"].T), 5))],
    "mutual_knn": lambda i: [m.mutual_knn(i["x"], i["y"], k=5), m.mutual_knn(i["wide_x"], i["wide_y"], k=3)],
    "neighbours_from_gram": lambda i: _summary(m.neighbours_from_gram(torch.as_tensor(i["x"] @ i["x"].T), 5)),
    "pearson": lambda i: [m.pearson(i["x"][:, 0], i["y"][:, 0])],
    "procrustes_angle": lambda i: [m.procrustes_angle(i["x"], i["y"]), m.procrustes_angle(i["wide_x"], i["wide_y"]),
                                   m.procrustes_angle(i["x"], i["dead"])],
    "pwsm": lambda i: [m.pwsm(i["x"], i["y"], alpha=a) for a in (0.0, 0.5, 1.0)]
    + [m.pwsm(i["x"], i["y"], alpha=0.5, scale_free=False), m.pwsm(i["x"], i["dead"], alpha=0.0)],
    "fit_score_shape": lambda i: [held_out.fit_score_shape(i["x"][:20], i["y"][:20], i["x"][20:], i["y"][20:], alpha=a)
                                  for a in (0.0, 0.5, 1.0)] + [held_out.fit_score_shape(
                                      i["wide_x"][:10], i["wide_y"][:10], i["wide_x"][10:], i["wide_y"][10:])],
    "held_out_rows": lambda i: [float(v) for part in held_out.held_out_rows(11, seed=3) for v in part],
    "held_out_shape": lambda i: [held_out.held_out_shape(i["x"], i["y"], alpha=0.5, seed=1),
                                 held_out.held_out_shape(i["wide_x"], i["wide_y"])],
    "chain_moments": lambda i: list(moment_shape.chain_moments(i["x"], i["y"], moments=6))
    + list(moment_shape.chain_moments(i["wide_x"], i["wide_y"], moments=3)),
    "polynomial_weights": lambda i: _polynomial(np.cov(i["x"][:, :5], rowvar=False) * 1e-3),
    "moment_procrustes": lambda i: [getattr(r, f) for r in (moment_shape.moment_procrustes(i["x"], i["y"], moments=6),
                                                            moment_shape.moment_procrustes(i["wide_x"], i["wide_y"],
                                                                                           moments=4, seed=1))
                                    for f in ("distance", "similarity", "in_sample", "bias", "std")],
    "pwsm_alphas": lambda i: list(m.pwsm_alphas(i["x"], i["y"], (0.0, 0.25, 0.5, 1.0)).values()),
    "hsic_floor": lambda i: [m.hsic_floor(m.gram_parts(torch.as_tensor(i["x"])))],
    "normalised_hsic": lambda i: [m.normalised_hsic(0.3, 0.5, 0.7, 40), m.normalised_hsic(-0.1, 2.0, 0.25, 40)],
    "rbf_cka": lambda i: [m.rbf_cka(i["x"], i["y"]), m.rbf_cka(i["x"], i["y"], sigma=0.5)],
    "rbf_gram": lambda i: _summary(m.rbf_gram(m.Factors(i["x"]), 1.0)),
    "unbiased_hsic": lambda i: [float(m.unbiased_hsic(*_grams(i)))],
}


def _polynomial(covariance: np.ndarray) -> list[float]:
    weights, deviation = moment_shape.polynomial_weights(covariance, n_eigenvalues=9, bias_limit=2.0)
    return [*weights, deviation]


def compute() -> dict[str, list[float]]:
    """Every case's floats on the fixed inputs, in float64 on the CPU."""
    inputs = _inputs()
    return {name: [float(v) for v in case(inputs)] for name, case in CASES.items()}
