from __future__ import annotations

import pytest
import torch
from torch import nn

from repchange.nets.conv4 import Conv4, build


@pytest.mark.parametrize("channels,size,flat", [(1, 28, [12544, 3136, 576, 64]), (3, 32, [16384, 4096, 1024, 256])])
def test_conv4_probe_layer_sizes(channels: int, size: int, flat: list[int]) -> None:
    model = Conv4(channels, 10, size)
    sizes = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, name=name: sizes.__setitem__(name, out.flatten(1).shape[1]))
             for name, m in model.probe_layers.items()]
    assert model(torch.zeros(2, channels, size, size)).shape == (2, 10)
    for h in hooks:
        h.remove()
    assert list(model.probe_layers) == ["block1", "block2", "block3", "block4", "logits"]
    assert [sizes[f"block{i}"] for i in range(1, 5)] == flat and sizes["logits"] == 10


def test_bn_order_option() -> None:
    code_order = [type(m) for m in Conv4(1, 10, 28).blocks[0]]
    text_order = [type(m) for m in Conv4(1, 10, 28, bn_order="bn_relu").blocks[0]]
    assert code_order == [nn.Conv2d, nn.ReLU, nn.BatchNorm2d, nn.MaxPool2d]
    assert text_order == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d]
    with pytest.raises(ValueError, match="unknown bn_order"):
        Conv4(1, 10, 28, bn_order="relu_relu")  # type: ignore[arg-type]


def test_too_small_images_and_unknown_architectures_are_errors() -> None:
    with pytest.raises(ValueError, match="too small"):
        Conv4(1, 10, 8)
    with pytest.raises(ValueError, match="unknown architecture 'vgg99'"):
        build("vgg99", in_channels=1, num_classes=10, image_size=28)
