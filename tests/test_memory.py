"""Large probes within memory: debiased CKA without an (n, n) matrix, and a guard that predicts every metric's peak."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import repchange.tool.memory as memory
from repchange.measure.metrics import Factors, centred_gram, cka_from_grams, linear_cka
from repchange.tool.layer_matrix import layer_matrix
from repchange.tool.memory import ProbeTooLarge, layer_bytes, predicted_peak
from repchange.tool.track import Tracker


@settings(max_examples=40, deadline=None)
@given(n=st.integers(6, 60), p=st.integers(1, 80), q=st.integers(1, 80), seed=st.integers(0, 10_000),
       offset=st.floats(-50, 50))
def test_feature_form_debiased_cka_equals_the_gram_form_to_rounding(n: int, p: int, q: int, seed: int,
                                                                     offset: float) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p, generator=g, dtype=torch.float64) * 2 + offset  # uncentred: the estimator must not care
    y = x[:, : min(p, q)] @ torch.randn(min(p, q), q, generator=g, dtype=torch.float64) \
        + torch.randn(n, q, generator=g, dtype=torch.float64)
    try:
        gram = cka_from_grams(centred_gram(x), centred_gram(y), debiased=True)
    except Exception as err:  # undefined in Gram form: undefined in feature form too
        with pytest.raises(type(err)):
            linear_cka(x, y, debiased=True)
        return
    assert linear_cka(x, y, debiased=True) == pytest.approx(gram, abs=1e-9)


def test_narrow_layers_never_form_an_n_by_n_matrix() -> None:
    x, y = torch.randn(2_000, 16), torch.randn(2_000, 24)
    fx, fy = Factors(x), Factors(y)
    linear_cka(fx, fy, debiased=True)
    assert not {"gram", "hollow_gram"} & (set(fx.__dict__) | set(fy.__dict__))


def test_the_prediction_tells_gram_metrics_from_feature_form_ones_at_scale() -> None:
    n, p = 50_000, 2_048
    shapes = {"layer": (1, p)}
    feature_form = predicted_peak(n, shapes, shapes, [("layer", "layer")], ["cka", "cka_debiased", "procrustes"])
    grams = predicted_peak(n, shapes, shapes, [("layer", "layer")], ["cka_debiased", "mutual_knn", "rbf_cka"])
    assert feature_form < 3 * 2**30  # activations 0.8 GB + float64 features 1.6 GB
    assert grams > 100 * 2**30  # five (n, n) float64 matrices per side: 20 GB each
    assert layer_bytes(n, p, ["cka_debiased"], resampled=True) > layer_bytes(n, p, ["cka_debiased"]) + 2 * 8 * n * n - 1


class Wide(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 32)
        self.b = nn.Linear(32, 16)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += len(x)
        return self.b(torch.relu(self.a(x)))


def test_the_tracker_refuses_a_gram_metric_that_will_not_fit_before_reading_the_probe(monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda device: 3 * 2**20)  # 3 MiB
    model, probe = Wide(), torch.randn(400, 8)
    Tracker(model, probe, layers=["a", "b"], metrics=("cka_debiased",))  # feature form: well under 1 MiB
    model.calls = 0
    with pytest.raises(ProbeTooLarge, match=r"400 probe samples .*rbf_cka.* need about .* streaming=True"):
        Tracker(model, probe, layers=["a", "b"], metrics=("rbf_cka",))  # three (400, 400) float64 per side
    assert model.calls <= 8  # only the example rows that find the layers: nothing of the probe was read


def test_the_layer_matrix_is_guarded_too(monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda device: 2 * 2**20)
    a, b, probe = Wide(), Wide(), torch.randn(400, 8)
    assert len(layer_matrix(a, b, probe, layers_a=["a", "b"], layers_b=["a", "b"], metrics=("cka_debiased",))) == 4
    with pytest.raises(ProbeTooLarge, match=r"2 × 2 layers \(mutual_knn\)"):
        layer_matrix(a, b, probe, layers_a=["a", "b"], layers_b=["a", "b"], metrics=("mutual_knn",))
