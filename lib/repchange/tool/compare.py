"""Compare two checkpoints layer by layer, or every layer against every layer: a table, a figure,
an HTML report.

    repchange compare resnet18 before.pt after.pt --probe path/to/imagefolder --out report/
    repchange compare mypkg.nets:build a.pt b.pt --probe fashion_mnist --layers "layer*" --metrics cka procrustes
    repchange compare resnet18 a.pt b.pt --arch-b vit_b_16 --layers-b "encoder.layers.encoder_layer_*" \
        --view mean --view-b first --probe tree/ --null 200      # two architectures, layer × layer

With one architecture each layer of B is compared with the same layer of A (``--matrix``: every
layer of B with every layer of A); with ``--arch-b`` the two models differ and the report is the
layer × layer matrix with each layer's best match. ``--null N`` adds a permutation null (the band
under each curve, a p-value per value), ``--bootstrap B`` an interval for debiased CKA.

The architecture is a torchvision model name (built without weights, ``num_classes`` read from
the checkpoints' head) or ``module:function`` returning an ``nn.Module``. A checkpoint is a state
dict, or a dict holding one under ``state_dict`` or ``model``; the prefixes wrappers add (DataParallel's and
DDP's ``module.``, Lightning's ``model.``, ``torch.compile``'s ``_orig_mod.``) are taken off where that makes the
keys the model's (:func:`match_prefixes`). The probe is an ImageFolder root (``n_probe`` images spread over its
classes) or one of the book's data sets (its test split). Checkpoint A is the reference.
"""

from __future__ import annotations

import base64
import html
import importlib
import io
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch
from torch import nn

from repchange.data import datasets as data_mod
from repchange.data.datasets import IMAGENET_STATS, Split
from repchange.base.device_checks import check_device
from repchange.base.devices import resolve_device
from repchange.tool.layer_matrix import best_matches, measure_pairs, plot_matrix
from repchange.tool.readout import SmallProbeWarning
from repchange.tool.request import Request, RequestError
from repchange.tool.track import plot_table

__all__ = ["MIN_PROBE", "compare", "compare_request", "load_checkpoint_state", "load_probe", "build_model", "match_prefixes", "write_report"]


def load_checkpoint_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state dict in checkpoint file ``path`` (see the module docstring)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure gets the same advice
        raise ValueError(f"cannot read checkpoint {path} as a PyTorch state dict ({type(err).__name__}): save one "
                         f"with torch.save(model.state_dict(), path), or a dict holding it under 'state_dict' or "
                         f"'model' (a Lightning .ckpt is one)") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"checkpoint {path} holds no state dict (a mapping of names to tensors)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _num_classes(state: dict[str, torch.Tensor]) -> int | None:
    """Rows of the last 2-D weight (the classifier head of the torchvision nets)."""
    heads = [v for k, v in state.items() if k.endswith("weight") and v.ndim == 2]
    return int(heads[-1].shape[0]) if heads else None


def build_model(arch: str, num_classes: int | None = None) -> nn.Module:
    """A torchvision model by name (no weights), or ``module:function`` called with no arguments."""
    if ":" in arch:
        module_name, _, function = arch.partition(":")
        try:
            builder = getattr(importlib.import_module(module_name), function)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"cannot import the architecture {arch!r}: {err}") from None
        model = builder()
        if not isinstance(model, nn.Module):
            raise ValueError(f"{arch} returned {type(model).__name__}, not a torch.nn.Module")
        return model
    import torchvision

    names = torchvision.models.list_models()
    if arch not in names:
        import difflib

        close = difflib.get_close_matches(arch, names, n=5)
        raise ValueError(f"unknown architecture {arch!r}: not a torchvision model name (closest: {close}) nor "
                         f"'module:function'")
    kwargs = {"num_classes": num_classes} if num_classes is not None else {}
    model = torchvision.models.get_model(arch, weights=None, **kwargs)
    model.input_stats = IMAGENET_STATS  # torchvision's nets are trained on ImageNet-normalised images
    return model


def match_prefixes(state: dict[str, torch.Tensor], expected: set[str]) -> dict[str, torch.Tensor]:
    """``state`` with the wrappers' prefixes taken off where that makes its keys exactly ``expected`` (the
    model's): ``_orig_mod.`` (``torch.compile``) anywhere in a key, then leading components every key shares
    (Lightning's ``model.``, DDP's ``module.``, a user's ``net.``). A state that matches neither way is returned
    as it is, for :func:`_load_into` to name its mismatches."""
    if set(state) == expected:
        return state
    candidate = {k.replace("_orig_mod.", ""): v for k, v in state.items()}
    for _ in range(4):
        if set(candidate) == expected:
            return candidate
        heads = {k.split(".", 1)[0] for k in candidate}
        if len(heads) != 1 or not all("." in k for k in candidate):
            break
        candidate = {k.split(".", 1)[1]: v for k, v in candidate.items()}
    return candidate if set(candidate) == expected else state


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], label: str, arch: str) -> None:
    result = model.state_dict()
    state = match_prefixes(state, set(result))
    missing = [k for k in result if k not in state]
    unexpected = [k for k in state if k not in result]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in result.items()
              if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing (e.g. {missing[:3]})" if missing else "",
                 f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})" if unexpected else "",
                 f"{len(shapes)} of another shape (e.g. {shapes[:2]})" if shapes else ""]
        raise ValueError(f"checkpoint {label} does not fit {arch}: " + "; ".join(p for p in parts if p)
                         + ". Pass the architecture it was saved from")
    model.load_state_dict(state)


def load_probe(probe: str, n: int | None, *, image_size: int | None = None, channels: int = 3) -> tuple[Split, str]:
    """(probe images, a description): an ImageFolder root (``n`` images over its classes, decoded at
    ``image_size``, default 224) or a book data set (``n`` test images spread over its classes,
    resized to ``image_size`` when given, grey repeated to ``channels``)."""
    if Path(probe).expanduser().is_dir():
        from repchange.data.image_folders import read_probe_folder

        split = read_probe_folder(probe, n, image_size=image_size or 224)
        return split, f"{len(split)} images of the ImageFolder tree {Path(probe).expanduser()}"
    if probe not in data_mod.available():
        raise ValueError(f"probe {probe!r} is neither a folder nor a book data set; choose a folder "
                         f"<root>/<class>/<images> or one of {data_mod.available()}")
    try:
        ds = data_mod.load(probe)
    except ModuleNotFoundError as err:  # the light install has no scikit-learn (the digits data set's source)
        raise ValueError(f"the probe data set {probe!r} needs {err.name}, which the light install leaves out: "
                         f"pip install {'scikit-learn' if err.name == 'sklearn' else err.name}, or give an "
                         f"ImageFolder root as the probe") from None
    c, h, w = ds.image_shape
    ds = ds.conformed_to((max(c, channels), image_size or h, image_size or w))
    split = ds.test.stratified(n, seed=42)
    return split, f"{len(split)} test images of {ds.describe()}"


def compare(arch: str, checkpoint_a: str | os.PathLike, checkpoint_b: str | os.PathLike, probe: str, *,
            arch_b: str | None = None, layers: str | Sequence[str] | None = "stages",
            layers_b: str | Sequence[str] | None = None, matrix: bool = False,
            metrics: Sequence[str] = ("cka", "procrustes"), alphas: Sequence[float] = (), view: str = "flatten",
            view_b: str | None = None, null: int = 0, bootstrap: int = 0, n_probe: int | None = 500,
            image_size: int | None = None, num_classes: int | None = None, bn: str = "eval", streaming: bool = False,
            device: str = "auto", out: str | os.PathLike | None = None) -> pd.DataFrame:
    """The tidy table of checkpoint B against checkpoint A: per layer (layer, metric, alpha, value, ...)
    or, with ``matrix`` or ``arch_b``, every layer pair (layer_a, layer_b, ...).

    With ``out``, also writes ``compare.csv``, ``compare.png`` and ``compare.html`` there. Every
    input is checked before any activation is computed; a bad one stops with one message."""
    check_device(device)
    pairwise = matrix or arch_b is not None
    request = compare_request(metrics=metrics, alphas=alphas, view=view, view_b=view_b, null=null,
                              bootstrap=bootstrap, bn=bn, streaming=streaming, n_probe=n_probe, image_size=image_size,
                              num_classes=num_classes, out=out)
    if (layers_b is not None or view_b is not None) and not pairwise:
        raise ValueError("layers_b and view_b name B's side of a layer × layer matrix: add matrix=True (--matrix) "
                         "or name B's architecture (arch_b, --arch-b)")
    state_a, state_b = load_checkpoint_state(checkpoint_a), load_checkpoint_state(checkpoint_b)
    if arch_b is None and set(state_a) != set(state_b):
        only_a, only_b = sorted(set(state_a) - set(state_b)), sorted(set(state_b) - set(state_a))
        raise ValueError(f"the checkpoints are of different architectures: {len(only_a)} tensors only in A "
                         f"(e.g. {only_a[:3]}), {len(only_b)} only in B (e.g. {only_b[:3]}); name B's with --arch-b")
    model_a = build_model(arch, num_classes if num_classes is not None else _num_classes(state_a))
    model_b = build_model(arch_b or arch, num_classes if num_classes is not None else _num_classes(state_b))
    _load_into(model_a, state_a, f"A ({checkpoint_a})", arch)
    _load_into(model_b, state_b, f"B ({checkpoint_b})", arch_b or arch)
    first = next((m for m in model_a.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), None)
    channels = first.in_channels if isinstance(first, nn.Conv2d) else 3
    images, described = load_probe(probe, n_probe, image_size=image_size, channels=channels)
    dev = resolve_device(device)
    model_a.to(dev)
    model_b.to(dev)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SmallProbeWarning)
        table = _measure(model_a, model_b, images, pairwise, request, layers=layers, layers_b=layers_b)
    cautions = [str(w.message) for w in caught if issubclass(w.category, SmallProbeWarning)]
    for w in caught:  # what is not ours goes on as it came
        if not issubclass(w.category, SmallProbeWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for line in cautions:
        print(f"caution: {line}", file=sys.stderr)
    names = f"{arch}" if arch_b is None else f"A: {arch}, B: {arch_b}"
    table.attrs["provenance"] = (f"{names}: B = {checkpoint_b} against A = {checkpoint_a}; probe: {described}; "
                                 f"BatchNorm at extraction: {bn}; device: {dev}"
                                 + (f"; permutation null: {null} shuffles" if null else ""))
    table.attrs["cautions"] = cautions
    if out is not None:
        write_report(table, Path(out))
    return table


MIN_PROBE = 4  # debiased CKA's unbiased HSIC needs 4 samples; every other measure fewer


FLAGS = {"metrics": "--metrics", "alphas": "--alpha", "view": "--view", "view_b": "--view-b", "bn": "--bn",
         "null": "--null", "bootstrap": "--bootstrap", "streaming": "--streaming", "batch_size": "--batch-size"}


def _flagged(fields: str) -> str:
    """``metrics (--metrics), alphas (--alpha)``: the fields of a :class:`RequestError` with their flags."""
    names = [f.strip() for f in fields.split(",")]
    return ", ".join(f"{n} ({FLAGS[n]})" if n in FLAGS else n for n in names)


def compare_request(*, metrics: Sequence[str], alphas: Sequence[float], view: str, view_b: str | None, null: int,
                    bootstrap: int, bn: str, streaming: bool, n_probe: int | None, image_size: int | None,
                    num_classes: int | None, out: str | os.PathLike | None) -> Request:
    """The one checked :class:`~repchange.tool.request.Request` of a comparison, made before any checkpoint is read,
    and the checks of compare's own arguments; each message names the argument and its command-line flag."""
    try:
        request = Request(metrics=tuple(metrics), alphas=tuple(alphas), view=view, view_b=view_b, bn=bn, null=null,
                          bootstrap=bootstrap, streaming=streaming)
    except RequestError as error:  # the library's words, with the flags a command-line user typed
        raise ValueError(f"{_flagged(error.field)}: {error}") from None
    need = max([MIN_PROBE] + [11 for m in metrics if m in ("mutual_knn", "mutual_knn_uncentred", "cknna")])  # k = 10 neighbours and the sample
    if n_probe is not None and (isinstance(n_probe, bool) or not isinstance(n_probe, int) or n_probe < need):
        raise ValueError(f"n_probe (--n-probe) is the number of probe images, at least {need} for "
                         f"{', '.join(metrics)}; got {n_probe!r} (a few hundred give stable values)")
    for name, flag, value, least in (("image_size", "--image-size", image_size, 8),
                                     ("num_classes", "--num-classes", num_classes, 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise ValueError(f"{name} ({flag}) must be a whole number of at least {least}, got {value!r}")
    if out is not None:
        target = Path(out).expanduser()
        if target.exists() and not target.is_dir():
            raise ValueError(f"out (--out) names {target}, which is a file: the report is a folder "
                             f"(compare.csv, compare.png, compare.html); name a folder")
    return request


def _measure(model_a: nn.Module, model_b: nn.Module, images: Split, pairwise: bool, request: Request, *,
             layers: Any, layers_b: Any) -> pd.DataFrame:
    """The layer x layer matrix (``pairwise``), or each layer of B against the same layer of A, read once: columns
    layer, metric, alpha, value, ... (p-values adjusted over layers × metrics)."""
    if pairwise:
        return measure_pairs(model_a, model_b, images, request, layers_a=layers,
                             layers_b=layers if layers_b is None else layers_b)
    table = measure_pairs(model_a, model_b, images, request, layers_a=layers, layers_b=layers, matched=True)
    return table.drop(columns="layer_b").rename(columns={"layer_a": "layer"})


def _png(fig: object) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return base64.b64encode(buffer.getvalue()).decode()


def write_report(table: pd.DataFrame, out: Path) -> Path:
    """``compare.csv``, ``compare.png`` and a self-contained ``compare.html`` under ``out``; returns the HTML.
    A layer × layer table (``layer_a``, ``layer_b``) gets one heatmap per metric and the best matches."""
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "compare.csv", index=False)
    sections = []
    if "layer_a" in table:
        panels = table[["metric", "alpha"]].drop_duplicates().itertuples(index=False)
        for i, (metric, alpha) in enumerate(panels):
            fig = plot_matrix(table, metric, None if pd.isna(alpha) else float(alpha))
            if i == 0:
                fig.savefig(out / "compare.png", dpi=120)
            best = best_matches(table, metric, None if pd.isna(alpha) else float(alpha))
            sections.append(f"<h2>{html.escape(metric)}{'' if pd.isna(alpha) else f' α={alpha:g}'}</h2>"
                            f"<img alt='{html.escape(metric)}, layer by layer' src='data:image/png;base64,{_png(fig)}' "
                            f"style='max-width:100%'><h3>Best match of each layer</h3>"
                            f"{best.to_html(index=False, float_format=lambda v: f'{v:.4f}', na_rep='')}")
        heading = "Every layer against every layer"
    else:
        fig = plot_table(table)
        fig.savefig(out / "compare.png", dpi=120)
        sections.append(f"<img alt='metric per layer' src='data:image/png;base64,{_png(fig)}' style='max-width:100%'>")
        heading = "Representation change, layer by layer"
    provenance = html.escape(table.attrs.get("provenance", ""))
    cautions = "".join(f"<p class='caution'><b>Caution.</b> {html.escape(line)}</p>"
                       for line in table.attrs.get("cautions", []))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>repchange compare</title>"
            f"<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:2px 8px}}</style>"
            f"</head><body><h1>{heading}</h1><p>{provenance}</p>{cautions}{''.join(sections)}"
            f"<h2>Table</h2>{table.to_html(index=False, float_format=lambda v: f'{v:.4f}', na_rep='')}</body></html>")
    (out / "compare.html").write_text(page)
    return out / "compare.html"
