"""Layers of any ``nn.Module`` named by module path, and forward hooks that read their outputs.

A layer is a module path of ``model.named_modules()``: an exact name, a glob pattern matched part
by part between the dots (``"layer*"`` is ``layer1`` … ``layer4``, not their submodules;
``"encoder.layers.*"`` every encoder block), ``"name@k"`` for the k-th call (from 0) of a module used several times in one
forward pass (a bare name means its *last* call), or ``"stages"``: the output at the end of
each resolution stage, the outermost module whose output feeds each down-sampling, and the
last stage (for torchvision's VGG and ResNet these are Study B's layers; see :func:`stage_ends`).
"stages" reads 4-D outputs as (N, C, H, W): it suits convolutional nets (VGG, ResNet, DenseNet,
MobileNet, EfficientNet), not nets that permute to channels-last inside blocks (ConvNeXt) or
transformers; name their layers instead.

``"hidden_states"`` reads a Hugging Face model's ``output_hidden_states`` (the embeddings' output, then every
block's: ``hidden_states.0`` … ``hidden_states.L``) from its forward pass, with no hooks; ``"hidden_states.3"``
names one of them.

A module that returns a tuple, a mapping or a model-output object is read through a **selector**
(``select=``): an index (``0``), a key or attribute name (``"last_hidden_state"``), a function of the
output, or a mapping from layer name to one of those. Without one such a layer stops and says so.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from repchange.measure.features import extraction_mode

__all__ = ["HIDDEN_STATES", "Layer", "Selector", "Tap", "resolve_layers", "select_output", "stage_ends"]

Selector = int | str | Callable[[Any], torch.Tensor] | None


@dataclass(frozen=True)
class Layer:
    """One tracked output: ``name`` as written in the table, the module ``path``, and which
    ``call`` of it in a forward pass (None: the last)."""

    name: str
    path: str
    call: int | None = None


HIDDEN_STATES = "hidden_states"  # a Layer path: the model's own output_hidden_states, ``call`` its index

# ---------------------------------------------------------------------------------------------
# Layers


def _parse(spec: str) -> tuple[str, int | None]:
    path, _, call = spec.partition("@")
    if call and not call.isdigit():
        raise ValueError(f"layer {spec!r}: the part after '@' must be a call index 0, 1, ..., got {call!r}")
    return path, int(call) if call else None


def _glob_match(name: str, pattern: str) -> bool:
    """``pattern`` matches ``name`` part by part between the dots (a ``*`` never crosses a dot)."""
    parts, wanted = name.split("."), pattern.split(".")
    return len(parts) == len(wanted) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted))


def _unknown_layer(spec: str, names: list[str]) -> ValueError:
    close = difflib.get_close_matches(spec, names, n=5, cutoff=0.4)
    hint = f"closest names: {close}" if close else f"the model's modules begin {names[:8]}"
    return ValueError(f"the model has no module {spec!r}; {hint} (see model.named_modules())")


def resolve_layers(model: nn.Module, layers: str | Sequence[str] | None, example: Any = None) -> list[Layer]:
    """The :class:`Layer` list that ``layers`` names in ``model`` (see the module docstring).

    None takes ``model.probe_layers`` when the model has them (repchange's nets), else "stages";
    "stages" needs ``example``, one input batch. Raises ValueError for a name that does not
    exist, listing the closest module names."""
    if layers is None:
        probe_layers = getattr(model, "probe_layers", None)
        if probe_layers:
            paths = {id(m): p for p, m in model.named_modules()}
            return [Layer(name, paths[id(module)]) for name, module in probe_layers.items()]
        layers = "stages"
    if isinstance(layers, str):
        layers = [layers]
    names = [p for p, _ in model.named_modules() if p]
    chosen: list[Layer] = []
    for spec in layers:
        if spec == HIDDEN_STATES or spec.startswith(HIDDEN_STATES + "."):
            chosen += _hidden_state_layers(model, spec, example)
            continue
        if spec == "stages":
            if example is None:
                raise ValueError("layers='stages' needs one example input batch to find the stages")
            chosen += stage_ends(model, example)
            continue
        path, call = _parse(spec)
        if any(ch in path for ch in "*?["):
            matched = [p for p in names if _glob_match(p, path)]
            if not matched:
                raise _unknown_layer(spec, names)
            chosen += [Layer(p if call is None else f"{p}@{call}", p, call) for p in matched]
        elif path in names:
            chosen.append(Layer(spec, path, call))
        else:
            raise _unknown_layer(spec, names)
    seen: set[str] = set()
    unique = [l for l in chosen if not (l.name in seen or seen.add(l.name))]
    if not unique:
        raise ValueError(f"layers={layers!r} names no module of the model")
    return unique


def _hidden_states(model: nn.Module, batch: Any) -> tuple[torch.Tensor, ...]:
    """``model``'s ``hidden_states`` on ``batch`` (keyword inputs with ``output_hidden_states=True``)."""
    try:
        out = model(**batch, output_hidden_states=True) if isinstance(batch, Mapping) else \
            model(batch, output_hidden_states=True)
    except TypeError as err:
        raise ValueError(f"layers='hidden_states' reads a Hugging Face model's output_hidden_states, and "
                         f"{type(model).__name__}'s forward does not take it ({err}); name its modules instead") \
            from None
    states = getattr(out, "hidden_states", None)
    if states is None and isinstance(out, Mapping):
        states = out.get("hidden_states")
    if not isinstance(states, (tuple, list)) or not states:
        raise ValueError(f"{type(model).__name__} returned no hidden_states with output_hidden_states=True; "
                         f"name its modules instead")
    return tuple(states)


def _hidden_state_layers(model: nn.Module, spec: str, example: Any) -> list[Layer]:
    if example is None:
        raise ValueError("layers='hidden_states' needs one example input batch to count the hidden states")
    with extraction_mode(model, "eval"):
        count = len(_hidden_states(model, example))
    if spec == HIDDEN_STATES:
        return [Layer(f"{HIDDEN_STATES}.{i}", HIDDEN_STATES, i) for i in range(count)]
    index = spec[len(HIDDEN_STATES) + 1:]
    if not index.isdigit() or int(index) >= count:
        raise ValueError(f"layer {spec!r}: the model gives hidden states 0..{count - 1} ('hidden_states.0' is the "
                         f"embeddings' output)")
    return [Layer(spec, HIDDEN_STATES, int(index))]


@dataclass
class _Call:
    path: str
    k: int  # which call of the module in the forward pass
    start: int
    end: int = -1
    input: Any = None
    output: Any = None

    def size(self, t: Any) -> int | None:
        return t.shape[-2] * t.shape[-1] if isinstance(t, torch.Tensor) and t.ndim == 4 else None


def _record_calls(model: nn.Module, example: Any) -> list[_Call]:
    """Every module call of one forward pass, with when it started and finished (one clock) and
    its first input and output (kept alive, so tensor ids stay unique)."""
    calls: list[_Call] = []
    open_calls: dict[str, list[_Call]] = {}
    counts: dict[str, int] = {}
    clock = iter(range(1 << 30))

    def pre(path: str, _module: nn.Module, inputs: tuple) -> None:
        call = _Call(path, counts.get(path, 0), next(clock), input=inputs[0] if inputs else None)
        counts[path] = call.k + 1
        open_calls.setdefault(path, []).append(call)
        calls.append(call)

    def post(path: str, _module: nn.Module, _inputs: Any, output: Any) -> None:
        call = open_calls[path].pop()
        call.end, call.output = next(clock), output

    handles = []
    for path, module in model.named_modules():
        if path:
            handles += [module.register_forward_pre_hook(partial(pre, path)),
                        module.register_forward_hook(partial(post, path))]
    try:
        with extraction_mode(model, "eval"):
            _forward(model, example)
    finally:
        for h in handles:
            h.remove()
    return calls


def _forward(model: nn.Module, batch: Any) -> Any:
    """``model(**batch)`` for keyword inputs, else ``model(batch)``."""
    return model(**batch) if isinstance(batch, Mapping) else model(batch)


def select_output(output: Any, select: Selector, layer: str) -> torch.Tensor:
    """The tensor ``select`` picks from a module's ``output`` (see the module docstring)."""
    if select is None:
        picked = output
    elif callable(select):
        picked = select(output)
    elif isinstance(select, int):
        if not isinstance(output, (tuple, list)):
            raise ValueError(f"layer {layer!r}: select={select} indexes a tuple, but the layer returns "
                             f"{type(output).__name__}")
        picked = output[select]
    elif isinstance(output, Mapping):
        if select not in output:
            raise ValueError(f"layer {layer!r}: select={select!r} is not among its output's keys {list(output)}")
        picked = output[select]
    else:
        if not hasattr(output, select):
            raise ValueError(f"layer {layer!r}: its output ({type(output).__name__}) has no attribute {select!r}")
        picked = getattr(output, select)
    if not isinstance(picked, torch.Tensor):
        kinds = (f"a tuple of {len(output)}" if isinstance(output, (tuple, list)) else type(output).__name__)
        raise ValueError(f"layer {layer!r} returns {kinds}, not a tensor; pass select= (an index such as 0, a key "
                         f"or attribute such as 'last_hidden_state', or a function of the output), or track one "
                         f"of its submodules")
    return picked


def stage_ends(model: nn.Module, example: Any) -> list[Layer]:
    """The output at the end of each resolution stage of ``model`` on ``example`` (N, C, H, W).

    A *down-sampling call* is a module call whose 4-D output is spatially smaller than its 4-D
    input (a global pooling to 1x1 counts only as the last one: earlier ones are gates such as
    squeeze-and-excitation). For the outermost of them whose input some module produced (a
    residual stage such as ResNet's ``layer2``, or VGG's max-pool inside ``features``), the outermost module that
    produced that input ends a stage. The last stage ends with the outermost module around the
    last parametrised layer, at its resolution, when no down-sampling follows it. Returns the
    ends in forward order, with ``@k`` where that module is called more than once per pass.
    """
    modules = dict(model.named_modules())
    calls = _record_calls(model, example)
    producer: dict[int, _Call] = {}
    for call in sorted(calls, key=lambda c: c.end):  # the outermost (last to finish) producer wins
        if isinstance(call.output, torch.Tensor):
            producer[id(call.output)] = call

    def shrinks(c: _Call) -> bool:
        a, b = c.size(c.input), c.size(c.output)
        return a is not None and b is not None and b < a

    def produced(c: _Call) -> _Call | None:
        made = producer.get(id(c.input))
        return made if made is not None and made.end < c.start else None

    shrinking = [c for c in calls if shrinks(c)]
    final_pool = max(shrinking, key=lambda c: c.start) if shrinking else None
    # a global pooling to 1x1 before the last one is a gate (squeeze-and-excitation), not a stage
    crossing = [c for c in shrinking if produced(c) is not None and (c.size(c.output) > 1 or c is final_pool)]
    outermost = [c for c in crossing if not any(o.start < c.start and c.end < o.end for o in crossing)]
    ends = [produced(c) for c in outermost]
    own_params = [c for c in calls if c.size(c.output) is not None
                  and any(True for _ in modules[c.path].parameters(recurse=False))]
    if own_params:
        last = own_params[-1]
        if not any(shrinks(c) and c.start > last.end for c in calls):
            around = [c for c in calls if c.start <= last.start and c.end >= last.end
                      and c.size(c.output) == last.size(last.output)]
            ends.append(max(around, key=lambda c: c.end))
    if not ends:
        raise ValueError("found no stage: the model's 4-D outputs never shrink in spatial size; name the layers")
    counts = {c.path: c.k + 1 for c in calls}
    unique = {(c.path, c.k): c for c in sorted(ends, key=lambda c: c.end)}
    return [Layer(c.path if counts[c.path] == 1 else f"{c.path}@{c.k}", c.path,
                  None if counts[c.path] == 1 else c.k) for c in unique.values()]


class Tap:
    """Forward hooks keeping, for each layer, the output of its chosen call in the current pass.
    The hooks are attached only while the tap is entered (``with tap:``), never during training."""

    def __init__(self, model: nn.Module, layers: list[Layer],
                 select: Selector | Mapping[str, Selector] = None) -> None:
        modules = dict(model.named_modules())
        self._states = [l for l in layers if l.path == HIDDEN_STATES]  # read from output_hidden_states, not hooks
        hooked = [l for l in layers if l.path != HIDDEN_STATES]
        missing = [l.path for l in hooked if l.path not in modules]
        if missing:
            raise _unknown_layer(missing[0], [p for p in modules if p])
        self.layers = layers
        if isinstance(select, Mapping):
            unknown = sorted(set(select) - {l.name for l in layers})
            if unknown:
                raise ValueError(f"select names layers {unknown} that are not tracked ({[l.name for l in layers]})")
            self._select = {l.name: select.get(l.name) for l in layers}
        else:
            self._select = {l.name: select for l in layers}
        self.outputs: dict[str, torch.Tensor] = {}
        self._calls: dict[str, int] = {}
        self._hooked = hooked
        self._modules = {p: modules[p] for p in dict.fromkeys(l.path for l in hooked)}
        self._handles: list[Any] = []

    def __enter__(self) -> "Tap":
        self._handles = [m.register_forward_hook(partial(self._hook, p)) for p, m in self._modules.items()]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles, self.outputs = [], {}

    def _hook(self, path: str, _module: nn.Module, _inputs: Any, output: Any) -> None:
        k = self._calls.get(path, 0)
        self._calls[path] = k + 1
        for layer in self._hooked:
            if layer.path == path and layer.call in (None, k):
                self.outputs[layer.name] = select_output(output, self._select[layer.name], layer.name)

    def __call__(self, model: nn.Module, x: Any) -> dict[str, torch.Tensor]:
        """Each layer's output on one batch ``x`` (a tensor, or a mapping passed as keyword inputs)."""
        self.outputs, self._calls = {}, {}
        if self._states:
            states = _hidden_states(model, x)
            self.outputs.update({l.name: states[l.call] for l in self._states if l.call < len(states)})
        else:
            _forward(model, x)
        for layer in self.layers:
            if layer.name not in self.outputs:
                calls = self._calls.get(layer.path, 0)
                raise ValueError(f"layer {layer.name!r} was called {calls} time(s) in the forward pass"
                                 + (f"; call indices run 0..{calls - 1}" if calls else ""))
        return dict(self.outputs)
