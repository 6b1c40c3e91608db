"""The fine-tuned networks of Behzadi-Khormouji et al.: torchvision VGG19 / ResNet50 / DenseNet121 and small nets of the same families.

Every builder returns an ``nn.Module`` with ``probe_layers``: an ordered ``{name: module}`` of
the ReLU outputs at the ends of major blocks, named as Behzadi-Khormouji et al. name them,
and ``family`` (``vgg`` | ``resnet`` | ``densenet``). Outputs of the probed modules are
(N, C, H, W) maps.

- ``vgg19``: ``features[3, 8, 17, 26, 35]`` = conv1_2 … conv5_4 (after ReLU).
- ``resnet50``: the stem ReLU (``conv1``) and the output of the last bottleneck of each stage
  (``conv2_x`` … ``conv5_x``; a bottleneck's output *is* its final ReLU's output -- its
  ``relu`` module runs three times per block, so the block is hooked instead).
- ``densenet121``: ``relu2`` of the last dense layer of each block (``denseblock1`` …
  ``denseblock4``) and the ReLU of each transition (``transition1`` … ``transition3``).

Small nets (``vgg_small``, ``resnet_small``, ``densenet_small``) keep each family's
structure (stacked 3x3 convs; residual basic blocks; dense blocks with bottlenecks and
transitions) at a width and depth that trains on 2 CPU cores, for any input size >= 16 px.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from repchange.data.datasets import IMAGENET_STATS

__all__ = ["ARCHITECTURES", "PRETRAINED_WEIGHTS_HELP", "WeightsNotFoundError", "build_architecture"]


class WeightsNotFoundError(FileNotFoundError):
    """Pre-trained weights were asked for but are neither in torchvision's cache nor in a named file."""


PRETRAINED_WEIGHTS_HELP = (
    "put torchvision's ImageNet weight file in its cache ($TORCH_HOME/hub/checkpoints, "
    "default ~/.cache/torch/hub/checkpoints), or pass weights=<path to a state-dict file>, "
    "or pass weights=None for a randomly initialised net"
)


# --- small nets -----------------------------------------------------------------------------


def _conv_relu(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=False)]


class VGGSmall(nn.Module):
    """4 VGG blocks of 3x3 convs (widths 16, 32, 64, 128; 2 convs each), max-pool between blocks.

    Probed: the last ReLU of each block, ``conv1_2`` … ``conv4_2``.
    """

    family = "vgg"

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        layers: list[nn.Module] = []
        probe_index, c = [], in_channels
        for i, w in enumerate(widths):
            if i:
                layers.append(nn.MaxPool2d(2))
            layers += _conv_relu(c, w) + _conv_relu(w, w)
            probe_index.append(len(layers) - 1)
            c = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)
        self.probe_layers = OrderedDict(
            (f"conv{i + 1}_2", self.features[j]) for i, j in enumerate(probe_index))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class BasicBlock(nn.Module):
    """ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN, plus a (1x1 strided) shortcut, then ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
                         if stride != 1 or c_in != c_out else nn.Identity())
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResNetSmall(nn.Module):
    """Stem conv3x3(16)-BN-ReLU, then 4 stages of 2 basic blocks (16, 32, 64, 128; strides 1, 2, 2, 2).

    Probed: the stem ReLU ``conv1`` and the final ReLU of each stage, ``conv2_x`` … ``conv5_x``.
    """

    family = "resnet"

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        stages, c = [], widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(c, w, stride), BasicBlock(w, w, 1)))
            c = w
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        self.probe_layers = OrderedDict([("conv1", self.relu)] + [
            (f"conv{i + 2}_x", stage[-1].relu2) for i, stage in enumerate(stages)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k) on the concatenation of all earlier features."""

    def __init__(self, c_in: int, growth: int):
        super().__init__()
        self.norm1, self.relu1 = nn.BatchNorm2d(c_in), nn.ReLU()
        self.conv1 = nn.Conv2d(c_in, 4 * growth, 1, bias=False)
        self.norm2, self.relu2 = nn.BatchNorm2d(4 * growth), nn.ReLU()
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))], 1)


class Transition(nn.Module):
    """BN-ReLU-conv1x1 (halving channels)-avgpool2."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.norm, self.relu = nn.BatchNorm2d(c_in), nn.ReLU()
        self.conv = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(self.relu(self.norm(x))))


class DenseNetSmall(nn.Module):
    """Stem conv3x3(2k), then 3 dense blocks of 4 layers (growth k = 12) with 2 transitions.

    Probed: ``relu2`` of each block's last dense layer (``denseblock1`` …) and each transition's
    ReLU (``transition1``, ``transition2``), in forward order.
    """

    family = "densenet"

    def __init__(self, in_channels: int = 1, num_classes: int = 10, growth: int = 12, layers_per_block: int = 4,
                 blocks: int = 3):
        super().__init__()
        c = 2 * growth
        self.conv0 = nn.Conv2d(in_channels, c, 3, padding=1, bias=False)
        modules: list[nn.Module] = []
        probes: list[tuple[str, nn.Module]] = []
        for b in range(blocks):
            block = nn.Sequential(*[DenseLayer(c + i * growth, growth) for i in range(layers_per_block)])
            modules.append(block)
            c += layers_per_block * growth
            probes.append((f"denseblock{b + 1}", block[-1].relu2))
            if b < blocks - 1:
                transition = Transition(c, c // 2)
                modules.append(transition)
                probes.append((f"transition{b + 1}", transition.relu))
                c //= 2
        self.blocks = nn.Sequential(*modules)
        self.norm, self.relu = nn.BatchNorm2d(c), nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)
        self.probe_layers = OrderedDict(probes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.norm(self.blocks(self.conv0(x))))
        return self.classifier(torch.flatten(self.pool(x), 1))


# --- torchvision nets -----------------------------------------------------------------------


def _load_weights(model: nn.Module, name: str, weights: str | os.PathLike | None) -> None:
    """``weights``: None (random), ``"imagenet"`` (torchvision's cached file) or a state-dict path."""
    if weights is None:
        return
    if str(weights) == "imagenet":
        from torchvision.models import get_model_weights

        enum = get_model_weights(name).IMAGENET1K_V1
        hub = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
        if not hub.exists():
            raise WeightsNotFoundError(f"ImageNet weights for {name} are not in the local cache ({hub}); "
                                       f"nothing is downloaded at run time. To get them: {PRETRAINED_WEIGHTS_HELP}")
        state = torch.load(hub, map_location="cpu", weights_only=True)
    else:
        path = Path(weights).expanduser()
        if not path.exists():
            raise WeightsNotFoundError(f"weights file {path} does not exist. {PRETRAINED_WEIGHTS_HELP}")
        state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)


def _vgg19(num_classes: int, weights: str | os.PathLike | None) -> nn.Module:
    from torchvision.models import vgg19

    model = vgg19(weights=None)
    _load_weights(model, "vgg19", weights)
    _replace_head(model.classifier, 6, num_classes)
    names = ("conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4")
    model.probe_layers = OrderedDict((n, model.features[i]) for n, i in zip(names, (3, 8, 17, 26, 35)))
    model.family = "vgg"
    return model


def _resnet50(num_classes: int, weights: str | os.PathLike | None) -> nn.Module:
    from torchvision.models import resnet50

    model = resnet50(weights=None)
    _load_weights(model, "resnet50", weights)
    if num_classes != model.fc.out_features:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    model.probe_layers = OrderedDict([("conv1", model.relu)] + [
        (f"conv{i + 2}_x", getattr(model, f"layer{i + 1}")[-1]) for i in range(4)])
    model.family = "resnet"
    return model


def _densenet121(num_classes: int, weights: str | os.PathLike | None) -> nn.Module:
    from torchvision.models import densenet121

    model = densenet121(weights=None)
    _load_weights(model, "densenet121", weights)
    if num_classes != model.classifier.out_features:
        model.classifier = nn.Linear(model.classifier.in_features, num_classes)
    f = model.features
    probes = []
    for b in range(1, 5):
        block = getattr(f, f"denseblock{b}")
        probes.append((f"denseblock{b}", list(block.children())[-1].relu2))
        if b < 4:
            probes.append((f"transition{b}", getattr(f, f"transition{b}").relu))
    model.probe_layers = OrderedDict(probes)
    model.family = "densenet"
    return model


def _replace_head(classifier: nn.Sequential, index: int, num_classes: int) -> None:
    old = classifier[index]
    if old.out_features != num_classes:
        classifier[index] = nn.Linear(old.in_features, num_classes)


ARCHITECTURES = {
    "vgg_small": "small VGG (4 blocks, 16-128 channels)",
    "resnet_small": "small ResNet (4 stages of 2 basic blocks, 16-128 channels)",
    "densenet_small": "small DenseNet (3 dense blocks of 4 layers, growth 12)",
    "vgg19": "torchvision VGG19",
    "resnet50": "torchvision ResNet50",
    "densenet121": "torchvision DenseNet121",
}


def build_architecture(name: str, *, in_channels: int = 3, num_classes: int = 10,
                       weights: str | os.PathLike | None = None) -> nn.Module:
    """A net by name (see :data:`ARCHITECTURES`), with ``probe_layers`` and ``family``.

    ``weights`` (torchvision nets only): None for a random init, ``"imagenet"`` for torchvision's
    ImageNet weights from the local cache, or a path to a state-dict file; a new head is fitted
    when ``num_classes`` differs from the weights'. Torchvision nets take 3-channel input and carry
    ``input_stats`` (ImageNet mean/std), which training and feature extraction apply.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose one of {sorted(ARCHITECTURES)}")
    small = {"vgg_small": VGGSmall, "resnet_small": ResNetSmall, "densenet_small": DenseNetSmall}
    if name in small:
        if weights is not None:
            raise ValueError(f"{name} has no published weights; pre-train it with the book's source task instead")
        return small[name](in_channels=in_channels, num_classes=num_classes)
    if in_channels != 3:
        raise ValueError(f"{name} takes 3-channel images, got in_channels={in_channels}; "
                         f"repeat grey images over 3 channels (DataSet.conformed_to((3, H, W)))")
    model = {"vgg19": _vgg19, "resnet50": _resnet50, "densenet121": _densenet121}[name](num_classes, weights)
    model.input_stats = IMAGENET_STATS  # the torchvision nets see images normalised as in ImageNet training
    return model
