"""Receptive-field geometry of probed layers, computed from the module graph (torch.fx).

Conventions (Dang Ha The Hien's receptive-field arithmetic): coordinates are input pixel
indices, pixel centres at integers. For a layer, ``jump`` is the input distance between two
adjacent units, ``size`` the side of a unit's receptive field and ``start`` the centre of the
receptive field of unit (0, 0). A conv or pool of kernel k, stride s, padding p, dilation d maps

    jump' = jump·s,  size' = size + (k − 1)·d·jump,  start' = start + ((k − 1)·d / 2 − p)·jump.

Where branches meet (residual add, dense concat) the receptive field is the union of the
branches' (their jumps must agree). Square kernels and inputs are assumed.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
from torch import fx, nn

__all__ = ["ReceptiveField", "receptive_fields"]


@dataclass(frozen=True)
class ReceptiveField:
    """Geometry of one layer's units in input pixels: ``jump``, ``size``, ``start`` (see module doc)."""

    jump: float
    size: float
    start: float

    def centre(self, row: int, col: int) -> tuple[float, float]:
        return self.start + row * self.jump, self.start + col * self.jump

    def box(self, row: int, col: int, image_size: int) -> tuple[int, int, int, int]:
        """Pixel box (top, left, bottom, right), bottom/right exclusive, clipped to the image."""
        half = (self.size - 1) / 2
        cy, cx = self.centre(row, col)
        top, left = max(0, int(round(cy - half))), max(0, int(round(cx - half)))
        bottom = min(image_size, int(round(cy + half)) + 1)
        right = min(image_size, int(round(cx + half)) + 1)
        return top, left, bottom, right

    def _span(self) -> tuple[float, float]:
        half = (self.size - 1) / 2
        return self.start - half, self.start + half


_PASS_MODULES = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Identity, nn.Dropout, nn.Sigmoid, nn.GELU,
                 nn.SiLU)
_WINDOW_MODULES = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
_GLOBAL_MODULES = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Linear, nn.Flatten)
_PASS_FUNCTIONS = {operator.add, operator.iadd, operator.mul, torch.add, torch.cat, torch.relu,
                   nn.functional.relu, torch.mul}
_PASS_METHODS = {"relu", "relu_", "contiguous", "add", "add_", "mul", "clone"}


def _single(value: int | tuple[int, ...], what: str, module: nn.Module) -> int:
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ValueError(f"non-square {what} {value} in {module}: receptive fields assume square windows")
        return int(value[0])
    return int(value)


def _window(rf: ReceptiveField, module: nn.Module) -> ReceptiveField:
    k = _single(module.kernel_size, "kernel", module)
    s = _single(module.stride, "stride", module)
    p = _single(module.padding, "padding", module) if not isinstance(module.padding, str) else None
    d = _single(getattr(module, "dilation", 1), "dilation", module)
    if p is None:
        raise ValueError(f"string padding {module.padding!r} in {module} is not supported")
    return ReceptiveField(rf.jump * s, rf.size + (k - 1) * d * rf.jump, rf.start + ((k - 1) * d / 2 - p) * rf.jump)


def _union(fields: list[ReceptiveField]) -> ReceptiveField | None:
    if len({f.jump for f in fields}) != 1:
        return None
    lo = min(f._span()[0] for f in fields)
    hi = max(f._span()[1] for f in fields)
    return ReceptiveField(fields[0].jump, hi - lo + 1, (lo + hi) / 2)


def _inputs(arg: object, geometry: dict[fx.Node, ReceptiveField | None]) -> list[ReceptiveField | None]:
    if isinstance(arg, fx.Node):
        return [geometry.get(arg)] if arg in geometry else []
    if isinstance(arg, (list, tuple)):
        return [g for a in arg for g in _inputs(a, geometry)]
    return []


def receptive_fields(model: nn.Module, layers: dict[str, nn.Module] | None = None) -> dict[str, ReceptiveField]:
    """Receptive-field geometry of each module in ``layers`` (default ``model.probe_layers``).

    A probed module's output is the last graph node it (or, for a container such as a ResNet
    bottleneck, any of its submodules) produces. Raises ValueError naming a layer whose
    geometry cannot be derived (e.g. after global pooling or through an unknown operation).
    """
    layers = layers if layers is not None else model.probe_layers
    names = {id(m): n for n, m in model.named_modules()}
    wanted = {}
    for label, module in layers.items():
        if id(module) not in names:
            raise ValueError(f"probed layer {label!r} is not a submodule of the model")
        wanted[label] = names[id(module)]
    graph = fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    geometry: dict[fx.Node, ReceptiveField | None] = {}
    last_node: dict[str, fx.Node] = {}
    for node in graph.nodes:
        ins = [g for a in (*node.args, *node.kwargs.values()) for g in _inputs(a, geometry)]
        known = [g for g in ins if g is not None]
        result: ReceptiveField | None
        if node.op == "placeholder":
            result = ReceptiveField(1.0, 1.0, 0.0)
        elif node.op == "call_module":
            module = modules[node.target]
            if not ins or None in ins:
                result = None
            elif isinstance(module, _WINDOW_MODULES):
                result = _window(ins[0], module)
            elif isinstance(module, _PASS_MODULES):
                result = ins[0]
            else:
                result = None  # global pooling, linear layers, anything unknown
            for label, qualified in wanted.items():
                if node.target == qualified or node.target.startswith(qualified + "."):
                    last_node[label] = node
        elif node.op == "call_function" and node.target in _PASS_FUNCTIONS:
            result = _union(known) if known and len(known) == len(ins) else None
        elif node.op == "call_method" and node.target in _PASS_METHODS:
            result = _union(known) if known and len(known) == len(ins) else None
        else:
            result = None
        geometry[node] = result
    out = {}
    for label in layers:
        node = last_node.get(label)
        if node is None or geometry.get(node) is None:
            raise ValueError(f"cannot derive the receptive field of probed layer {label!r} "
                             f"({wanted[label]}) from the module graph")
        out[label] = geometry[node]
    return out
