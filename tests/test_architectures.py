"""Study B's nets: probed layers, weights handling, and receptive fields derived from the module graph."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from repchange.nets.architectures import WeightsNotFoundError, build_architecture
from repchange.data.datasets import Split
from repchange.measure.features import extract
from repchange.nets.receptive_field import ReceptiveField, receptive_fields

SMALL = ["vgg_small", "resnet_small", "densenet_small"]


@pytest.mark.parametrize("name", SMALL)
def test_small_nets_train_shapes_and_probe_relu_maps(name: str) -> None:
    torch.manual_seed(0)
    model = build_architecture(name, in_channels=1, num_classes=10)
    x = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    assert model(x.float()).shape == (6, 10)
    maps = extract(model, model.probe_layers, Split(x, torch.zeros(6, dtype=torch.int64)), flatten=False)
    assert len(maps) >= 4
    for layer, acts in maps.items():
        assert acts.ndim == 4 and acts.shape[0] == 6, layer
        assert float(acts.min()) >= 0.0, f"{layer} is not a ReLU output"
    sizes = [acts.shape[-1] for acts in maps.values()]
    assert sizes == sorted(sizes, reverse=True)  # deeper = coarser


def _positive_linearised(model: nn.Module) -> nn.Module:
    """Every conv weight positive, BN the identity, eval mode: a unit's input gradient is nonzero on its whole RF."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.weight.data.abs_().add_(0.01)
        if isinstance(module, nn.BatchNorm2d):
            module.reset_parameters()
            module.reset_running_stats()
    return model.eval()


@pytest.mark.parametrize("name", SMALL)
def test_receptive_fields_match_the_gradient_support_of_a_central_unit(name: str) -> None:
    """Property: the computed box is exactly where the input can influence the unit (pools made average)."""
    torch.manual_seed(1)
    model = build_architecture(name, in_channels=1)
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.MaxPool2d):  # same geometry, but a gradient through every input of the window
                setattr(parent, child_name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding))
    model = _positive_linearised(model)
    fields = receptive_fields(model)
    size = 160
    for layer, module in model.probe_layers.items():
        out = {}
        handle = module.register_forward_hook(lambda _m, _i, o: out.__setitem__("maps", o))
        x = (torch.rand(1, 1, size, size) + 0.5).requires_grad_()
        model(x)
        handle.remove()
        maps = out["maps"]
        row = col = maps.shape[-1] // 2
        maps[0, :, row, col].sum().backward()
        support = (x.grad[0, 0].abs() > 0).nonzero()
        top, left = support.min(0).values.tolist()
        bottom, right = (support.max(0).values + 1).tolist()
        assert (top, left, bottom, right) == fields[layer].box(row, col, size), layer
        assert bottom - top == fields[layer].size, layer  # not clipped: the RF lies inside the image


def test_torchvision_receptive_fields_match_published_values() -> None:
    vgg = receptive_fields(build_architecture("vgg19"))
    assert (vgg["conv5_4"].jump, vgg["conv5_4"].size) == (16, 252)  # VGG19 conv5_4
    assert (vgg["conv1_2"].jump, vgg["conv1_2"].size) == (1, 5)
    resnet = receptive_fields(build_architecture("resnet50"))
    assert [(f.jump, f.size) for f in resnet.values()] == [(2, 7), (4, 35), (8, 91), (16, 267), (32, 427)]
    dense = receptive_fields(build_architecture("densenet121"))
    assert list(dense) == ["denseblock1", "transition1", "denseblock2", "transition2", "denseblock3",
                           "transition3", "denseblock4"]
    assert (dense["denseblock1"].jump, dense["denseblock1"].size) == (4, 51)  # stem 11 + 5 dense 3x3 convs at jump 4


def test_receptive_field_box_is_clipped_to_the_image() -> None:
    rf = ReceptiveField(jump=2.0, size=7.0, start=0.0)
    assert rf.box(0, 0, 28) == (0, 0, 4, 4)
    assert rf.box(5, 6, 28) == (7, 9, 14, 16)


def test_weights_errors_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsNotFoundError, match=r"not in the local cache.*weights=<path"):
        build_architecture("resnet50", weights="imagenet")
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        build_architecture("resnet50", weights=tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="unknown architecture 'alexnet'"):
        build_architecture("alexnet")
    with pytest.raises(ValueError, match="takes 3-channel images"):
        build_architecture("vgg19", in_channels=1)


def test_state_dict_weights_load_and_a_new_head_is_fitted(tmp_path: Path) -> None:
    torch.manual_seed(2)
    source = build_architecture("resnet50", num_classes=1000)
    path = tmp_path / "resnet50.pt"
    torch.save(source.state_dict(), path)
    model = build_architecture("resnet50", num_classes=15, weights=path)
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert model.fc.out_features == 15
