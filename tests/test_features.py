from __future__ import annotations

import pytest
import torch

from repchange.data.datasets import Split
from repchange.measure.features import extract
from repchange.nets.conv4 import Conv4


def probe(n: int = 6) -> Split:
    g = torch.Generator().manual_seed(0)
    return Split(torch.randint(0, 256, (n, 1, 16, 16), generator=g, dtype=torch.uint8), torch.zeros(n, dtype=torch.int64))


def test_extract_returns_flattened_activations_in_probe_order() -> None:
    torch.manual_seed(0)
    model = Conv4(1, 3, 16, width=4).train()
    acts = extract(model, model.probe_layers, probe(), batch_size=4, bn="eval")
    assert {k: tuple(v.shape) for k, v in acts.items()} == {
        "block1": (6, 256), "block2": (6, 64), "block3": (6, 16), "block4": (6, 4), "logits": (6, 3)}
    model.eval()
    from repchange.data.datasets import normalise
    with torch.no_grad():
        assert torch.allclose(acts["logits"], model(normalise(probe().images)), atol=1e-6)
    assert all(not m._forward_hooks for m in model.modules())


def test_batch_mode_uses_each_batchs_statistics_and_leaves_running_statistics_alone() -> None:
    from repchange.data.datasets import normalise

    torch.manual_seed(0)
    model = Conv4(1, 3, 16, width=4).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    acts = extract(model, model.probe_layers, probe(), batch_size=3, bn="batch")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats untouched
    assert not model.training and all(m.track_running_stats for m in model.modules() if hasattr(m, "track_running_stats"))
    reference = Conv4(1, 3, 16, width=4)
    reference.load_state_dict(before)
    reference.train()  # training mode: BatchNorm normalises with the batch's own statistics
    with torch.no_grad():
        images = normalise(probe().images)
        expected = torch.cat([reference(images[:3]), reference(images[3:])])
    assert torch.allclose(acts["logits"], expected, atol=1e-5)
    with pytest.raises(ValueError, match="bn must be one of"):
        extract(model, model.probe_layers, probe(), bn="running")


def test_training_mode_is_restored() -> None:
    model = Conv4(1, 3, 16, width=4).train()
    extract(model, model.probe_layers, probe())
    assert model.training


def test_nan_activations_name_the_layer() -> None:
    model = Conv4(1, 3, 16, width=4)
    with torch.no_grad():
        model.blocks[2][0].weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="layer 'block3' produced NaN"):
        extract(model, model.probe_layers, probe())


def test_layer_factors_wrap_every_probed_layer() -> None:
    from repchange.measure.features import layer_factors

    torch.manual_seed(0)
    model = Conv4(1, 3, 16, width=4)
    factors = layer_factors(model, probe())
    assert list(factors) == list(model.probe_layers)
    assert factors["block1"].shape == (6, 256) and factors["logits"].name == "logits"


@pytest.mark.parametrize("bn", ["batch", "eval"])
def test_each_modules_own_mode_is_restored_a_frozen_batchnorm_stays_frozen(bn: str) -> None:
    """A training model whose first BatchNorm the user froze (eval mode, running statistics fixed): after an
    extraction that BatchNorm is still in eval mode and every other module still trains."""
    model = Conv4(1, 3, 16, width=4).train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    norms[0].eval()
    before = {name: m.training for name, m in model.named_modules()}
    running = norms[0].running_mean.clone()
    extract(model, model.probe_layers, probe(), bn=bn)
    assert {name: m.training for name, m in model.named_modules()} == before
    assert not norms[0].training and norms[1].training and model.training
    assert torch.equal(norms[0].running_mean, running)
