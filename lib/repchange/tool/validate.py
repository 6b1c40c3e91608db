"""Which measure to trust on *your* model and probe: controlled changes to its own activations, and how each measure
reads them (``repchange validate``).

Each layer's activations X (probe samples × features, in the chosen view) are changed in ways whose answer is known,
and every measure compares X with the changed X':

- what a measure should **ignore** (an isometry or a relabelling of features: its value should stay at X against
  itself): an orthogonal transform (eight random Householder reflections), an isotropic rescaling (× 3.7), a
  permutation of the features;
- what it should **catch**: the top principal component deleted (the direction of most variance removed);
- **artefacts** a trustworthy measure moves little under (Davari et al., ICLR 2023; Timkey & van Schijndel 2021):
  5 % of the probe samples translated far along one direction, one "rogue" feature of ten times the largest
  feature's spread appended;
- and the **null**: the rows shuffled (X against unrelated samples of itself), which fixes each measure's scale;
- where the user supplies one, a **twin**: the same layer of another model on the same probe samples (the same
  architecture trained again from another seed, or re-initialised). How far it reads is reported, not judged: an
  independently trained net need not be an isometry of this one, but its reading is the scale a change must exceed to
  be more than what retraining gives (Ding et al. 2021's specificity test reads measures against seed changes).

Each change is reported as a share of the way from X-against-itself to the null: ``change = |v - v_identity| /
|v_null - v_identity|`` (0: the measure did not move; 1: it moved as far as unrelated samples take it), with its
median and 95 % interval over ``resamples`` subsamples of the probe (80 % of the samples, at least 12, without
replacement; the probe needs at least 15). A
measure *ignores* a change when the interval's upper end is below :data:`IGNORE_BELOW`, *catches* one when its lower
end is above :data:`CATCH_ABOVE`, and is *robust* to an artefact when the upper end is below :data:`ROBUST_BELOW`.
Where the null lies within :data:`NO_ROOM` of the identity (relative to the measure's range), the measure cannot tell
unrelated samples from the same ones on this layer, and every share is left undefined.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from repchange.measure.factors import Factors
from repchange.measure.registry import ALPHA_METRICS, MEASURES, Sides, evaluate
from repchange.tool.hooks import Selector, resolve_layers
from repchange.tool.probes import Probe, floating_dtype, to_device
from repchange.tool.readout import factors_or_reason, layer_activations
from repchange.tool.request import Request
from repchange.tool.views import Pool, as_samples

__all__ = ["CATCH_ABOVE", "CONSTRUCTIONS", "DEFAULT_METRICS", "IGNORE_BELOW", "NO_ROOM", "ROBUST_BELOW", "TWIN",
           "Construction",
           "advice", "plot_report", "trust", "validate", "validate_activations", "validate_checkpoint"]

IGNORE_BELOW = 0.05  # a change's share of the way to the null a measure should stay under where it should ignore it
CATCH_ABOVE = 0.05  # ... and exceed where it should catch it
ROBUST_BELOW = 0.25  # ... and stay under for an artefact
NO_ROOM = 0.02  # a null this close to the identity (a share of the measure's range): the measure cannot tell
DEFAULT_METRICS = ("cka", "cka_debiased", "procrustes", "procrustes_heldout", "mutual_knn")
EXAMPLE_ROWS = 4
SUBSAMPLE = 0.8  # each resample's share of the probe samples (without replacement)
MIN_SUBSAMPLE = 12  # samples in a resample at the least: mutual k-NN's 10 neighbours and the sample itself, and one
MIN_SAMPLES = 15  # probe samples at the least, so that a resample of MIN_SUBSAMPLE leaves some out


@dataclass(frozen=True)
class Construction:
    """A change with a known answer: ``kind`` is "ignore", "catch", "artefact" or "null"; ``apply(x, generator)``
    returns the changed (n, p') float64 activations of (n, p) float64 ``x``."""

    name: str
    kind: str
    apply: Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _orthogonal(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """``x`` times a random orthogonal matrix: a product of eight Householder reflections (any width, no p × p)."""
    out = x.clone()
    for _ in range(8):
        v = torch.randn(x.shape[1], generator=g, dtype=torch.float64)
        v = v / torch.linalg.norm(v)
        out = out - 2.0 * (out @ v)[:, None] * v[None, :]
    return out


def _without_top_component(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    centred = x - x.mean(dim=0)
    top = torch.linalg.svd(centred, full_matrices=False)[2][0]
    return centred - (centred @ top)[:, None] * top[None, :]


def _subset_translated(x: torch.Tensor, g: torch.Generator, share: float = 0.05, scale: float = 10.0) -> torch.Tensor:
    """``share`` of the rows moved by ``scale`` × the rows' RMS distance from their mean along one random direction."""
    n = len(x)
    rows = torch.randperm(n, generator=g)[: max(1, math.ceil(share * n))]
    direction = torch.randn(x.shape[1], generator=g, dtype=torch.float64)
    spread = torch.sqrt(((x - x.mean(dim=0)) ** 2).sum(dim=1).mean())
    out = x.clone()
    out[rows] += scale * spread * direction / torch.linalg.norm(direction)
    return out


def _rogue_feature(x: torch.Tensor, g: torch.Generator, scale: float = 10.0) -> torch.Tensor:
    rogue = torch.randn(len(x), 1, generator=g, dtype=torch.float64) * scale * x.std(dim=0).max().clamp_min(1e-12)
    return torch.cat([x, rogue], dim=1)


CONSTRUCTIONS: tuple[Construction, ...] = (
    Construction("orthogonal transform", "ignore", _orthogonal),
    Construction("isotropic rescaling", "ignore", lambda x, g: 3.7 * x),
    Construction("features permuted", "ignore", lambda x, g: x[:, torch.randperm(x.shape[1], generator=g)]),
    Construction("top component deleted", "catch", _without_top_component),
    Construction("5 % of samples translated", "artefact", _subset_translated),
    Construction("one rogue feature", "artefact", _rogue_feature),
    Construction("rows shuffled", "null", lambda x, g: x[torch.randperm(len(x), generator=g)]),
)


def _value(metric: str, fx: Factors | str, fy: Factors | str, alpha: float) -> float:
    """The measure's value, NaN where undefined: a side constant (:func:`~repchange.tool.readout.factors_or_reason`
    gave its reason), or the measure itself. The factors are shared by every measure of one resample."""
    if isinstance(fx, str) or isinstance(fy, str):
        return math.nan
    return evaluate(metric, Sides(fx, fy, alpha=alpha))[0]


def _alphas(metrics: Sequence[str], alpha: float) -> tuple[float, ...]:
    """``(alpha,)`` where a metric is computed at alphas (:data:`~repchange.measure.registry.ALPHA_METRICS`)."""
    return (alpha,) if any(m in ALPHA_METRICS for m in metrics) else ()


TWIN = "reseeded twin"  # the construction name of a user's twin model


def validate_activations(activations: Mapping[str, torch.Tensor], *, metrics: Sequence[str] = DEFAULT_METRICS,
                         alpha: float = 0.5, resamples: int = 10, seed: int = 0, progress: bool = True,
                         twins: Mapping[str, torch.Tensor] | None = None) -> pd.DataFrame:
    """The report's rows for layers' activations ``{layer: (n, p) samples × features}`` (see the module docstring):
    layer, metric, construction, kind, identity (X against itself), value and null (medians over the resamples),
    change (median share of the way to the null) with change_low, change_high (95 %), note. ``twins``: the same
    layers of a twin model on the same samples in the same order (rows "reseeded twin", kind "twin"; a layer's
    width may differ). ``progress``: a bar on a terminal (layers × resamples)."""
    for metric in metrics:
        if metric not in MEASURES or MEASURES[metric].needs_maps:
            raise ValueError(f"validate compares (samples × features) activations: {metric!r} is not one of "
                             f"{[m for m in MEASURES if not MEASURES[m].needs_maps]}")
    if resamples < 2:
        raise ValueError(f"resamples must be at least 2 (the interval needs them), got {resamples}")
    if twins is not None:
        unpaired = sorted(set(activations) ^ set(twins))
        mismatched = {layer: (len(a), len(twins[layer])) for layer, a in activations.items()
                      if layer in twins and len(twins[layer]) != len(a)}
        if unpaired or mismatched:
            raise ValueError(f"twins must give the same layers on the same probe samples: unpaired layers "
                             f"{unpaired}, sample counts (model, twin) {mismatched}")
    short = {layer: len(a) for layer, a in activations.items() if len(a) < MIN_SAMPLES}
    if short:
        raise ValueError(f"validate needs at least {MIN_SAMPLES} probe samples (each resample keeps "
                         f"{SUBSAMPLE:.0%}, at least {MIN_SUBSAMPLE}); got {short}")
    rows = []
    bar = tqdm(total=len(activations) * resamples, desc="validate: layers × resamples", unit="draw",
               disable=None if progress else True, leave=False)
    for layer, acts in activations.items():
        x_all = acts.detach().to(torch.float64).cpu()
        n = len(x_all)
        draws: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        for r in range(resamples):
            g = torch.Generator().manual_seed(seed * 100_003 + r)
            rows_drawn = torch.randperm(n, generator=g)[: max(MIN_SUBSAMPLE, int(SUBSAMPLE * n))]
            x = x_all[rows_drawn]
            fx = factors_or_reason(x, f"{layer} (resample {r})")
            changed = {c.name: factors_or_reason(c.apply(x, g), f"{layer} ({c.name})") for c in CONSTRUCTIONS}
            if twins is not None:  # the twin's same samples
                changed[TWIN] = factors_or_reason(twins[layer].detach().to(torch.float64).cpu()[rows_drawn],
                                                  f"{layer} (twin)")
            for metric in metrics:
                identity = _value(metric, fx, fx, alpha)
                null = _value(metric, fx, changed["rows shuffled"], alpha)
                for name in changed:
                    draws.setdefault((metric, name), []).append((identity, _value(metric, fx, changed[name], alpha),
                                                                 null))
            bar.update()
        for metric in metrics:
            m = MEASURES[metric]
            width = (m.high - m.low) if math.isfinite(m.high - m.low) else 1.0
            kinds = [(c.name, c.kind) for c in CONSTRUCTIONS] + ([(TWIN, "twin")] if twins is not None else [])
            for name, kind in kinds:
                d = np.array(draws[(metric, name)])
                identity, value, null = np.nanmedian(d, axis=0)
                room = np.abs(d[:, 2] - d[:, 0])
                share = np.abs(d[:, 1] - d[:, 0]) / np.where(room > 0, room, np.nan)
                no_room = not np.isfinite(np.nanmedian(room)) or np.nanmedian(room) < NO_ROOM * width
                note = "" if not no_room else (f"no room: shuffled rows read {null:.3g} against {identity:.3g} for "
                                               f"the samples themselves; this measure cannot tell them apart here")
                low, mid, high = (np.nanquantile(share, [0.025, 0.5, 0.975]) if not no_room and
                                  np.isfinite(share).any() else (math.nan,) * 3)
                rows.append(dict(layer=layer, metric=metric, construction=name, kind=kind, identity=identity,
                                 value=value, null=null, change=mid, change_low=low, change_high=high, note=note))
    bar.close()
    return pd.DataFrame(rows)


def trust(report: pd.DataFrame) -> pd.DataFrame:
    """Per layer and metric: whether it ignores every "ignore" change, catches the deleted component, and is robust
    to each artefact (True, False, or None where undefined), by :data:`IGNORE_BELOW`, :data:`CATCH_ABOVE` and
    :data:`ROBUST_BELOW` on the 95 % interval."""
    out = []
    for (layer, metric), rows in report.groupby(["layer", "metric"], sort=False):
        def all_of(kind: str, test: Callable[[pd.Series], bool]) -> bool | None:
            part = rows[rows.kind == kind]
            return None if part.change_high.isna().any() else bool(all(test(r) for _, r in part.iterrows()))

        out.append(dict(layer=layer, metric=metric,
                        ignores=all_of("ignore", lambda r: r.change_high < IGNORE_BELOW),
                        catches=all_of("catch", lambda r: r.change_low > CATCH_ABOVE),
                        robust=all_of("artefact", lambda r: r.change_high < ROBUST_BELOW)))
    return pd.DataFrame(out)


def advice(report: pd.DataFrame) -> str:
    """One plain paragraph: which measures ignored what they should and caught what they should at every layer, and
    the measures ranked by how far the artefacts moved them (the worst upper end over layers and artefacts)."""
    verdicts = trust(report)
    sentences = []
    for column, words in (("ignores", "moved under a change it should ignore"),
                          ("catches", "missed the deleted top component")):
        for metric, rows in verdicts.groupby("metric", sort=False):
            bad = rows[rows[column] == False].layer.tolist()  # noqa: E712 - None (undefined) is not False
            if bad:
                sentences.append(f"{metric} {words} at {', '.join(bad)}.")
    undefined = verdicts[verdicts[["ignores", "catches", "robust"]].isna().any(axis=1)]
    for metric, rows in undefined.groupby("metric", sort=False):
        sentences.append(f"{metric} could not tell shuffled samples from the same ones at {', '.join(rows.layer)}: "
                         f"no verdict there.")
    passed = [m for m, rows in verdicts.groupby("metric", sort=False)
              if (rows.ignores != False).all() and (rows.catches != False).all()]  # noqa: E712
    head = ("Every measure ignored the isometries and the relabelled features and caught the deleted top component"
            if len(passed) == verdicts.metric.nunique() else
            f"{', '.join(passed) or 'No measure'} ignored the isometries and the relabelled features and caught the "
            f"deleted top component at every layer where it could be read") + "."
    twin = report[report.kind == "twin"].groupby("metric", sort=False).change
    if len(twin.size()):
        scale = ", ".join(f"{m} {low:.2f}–{high:.2f}" for m, low, high in
                          zip(twin.min().index, twin.min(), twin.max()) if np.isfinite(low))
        if scale:
            sentences.append(f"The reseeded twin read, as a share of the way to shuffled rows over the layers: "
                             f"{scale}; a change smaller than its measure's share is within what retraining gives.")
    artefacts = report[report.kind == "artefact"].groupby("metric", sort=False).change_high.max().dropna().sort_values()
    if len(artefacts):
        ranked = ", ".join(f"{m} ({v:.2f}{', further than unrelated samples' if v > 1 else ''})"
                           for m, v in artefacts.items())
        sentences.append(f"Moved by artefacts (5 % of the samples translated far; one rogue feature), as a share of "
                         f"the way to shuffled rows at worst, least first: {ranked}.")
        trusted = [m for m in artefacts.index if m in passed and artefacts[m] < ROBUST_BELOW]
        sentences.append(f"To ask whether a layer changed, trust {', '.join(trusted)} first." if trusted else
                         f"No measure that passed stayed under {ROBUST_BELOW} of the way to unrelated samples under "
                         f"the artefacts: read values beside a permutation null, and look for outlying samples and "
                         f"dominant features before trusting a change.")
    return " ".join([head, *sentences])


def plot_report(report: pd.DataFrame, title: str = "") -> Any:
    """Heatmap of each measure's median change (share of the way to the null; the largest over layers) under each
    construction, the construction's kind under its name."""
    import matplotlib.pyplot as plt

    from repchange.base.plotting import PAGE_WIDTH_IN, fit_axis_texts, wrapped

    order = [c.name for c in CONSTRUCTIONS if c.kind != "null"] + ([TWIN] if (report.kind == "twin").any() else [])
    worst = report[report.kind != "null"].groupby(["metric", "construction"]).change.max().unstack()[order]
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 0.5 * len(worst) + 3.2))
    image = ax.imshow(worst.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    kinds = {c.name: c.kind for c in CONSTRUCTIONS} | {TWIN: "twin"}
    ax.set_xticks(range(len(order)), [f"{name}\n({kinds[name]})" for name in order], rotation=30, ha="right",
                  fontsize=9)
    ax.set_yticks(range(len(worst)), worst.index, fontsize=9)
    for (i, j), v in np.ndenumerate(worst.to_numpy(dtype=float)):
        ax.text(j, i, "–" if not np.isfinite(v) else f"{v:.2f}", ha="center", va="center",
                color="white" if np.isfinite(v) and v < 0.5 else "black", fontsize=9)
    fig.colorbar(image, ax=ax, label="share of the way to shuffled rows")
    ax.set_title(wrapped(title or "Each measure under changes with known answers (largest over layers)", fig,
                         size_pt=10), fontsize=10)
    fig.tight_layout()
    fit_axis_texts(fig)
    return fig


def validate(model: nn.Module, probe: Any, *, layers: str | Sequence[str] | None = "stages",
             metrics: Sequence[str] = DEFAULT_METRICS, alpha: float = 0.5, view: str | Pool = "flatten",
             select: Selector | Mapping[str, Selector] = None, bn: str = "eval", batch_size: int = 256,
             probe_seed: int | None = 0, resamples: int = 10, seed: int = 0, twin: nn.Module | None = None
             ) -> pd.DataFrame:
    """The grounding report of ``metrics`` on ``model``'s ``layers`` over ``probe`` (see the module docstring): rows
    as :func:`validate_activations`; ``alpha`` is PWSM's where a pwsm metric is asked; ``twin``: a model with the same
    layer names (another seed's training, or a re-initialisation), read on the same probe samples. Checked before any
    activation."""
    request = Request(metrics=tuple(metrics), alphas=_alphas(metrics, alpha), view=view, bn=bn, batch_size=batch_size)
    request.check_between_layers()  # per-filter measures and the positions view do not apply here
    if resamples < 2:
        raise ValueError(f"resamples must be at least 2 (the interval needs them), got {resamples}")
    device = next(model.parameters()).device
    reader = Probe(probe, batch_size, probe_seed)
    first = to_device(reader.first(model, EXAMPLE_ROWS), device, floating_dtype(model))
    resolved = resolve_layers(model, layers, first)
    acts = layer_activations(model, reader, resolved, select=select, bn=bn, device=device, what="the model",
                             view=view)
    twins = None
    if twin is not None:
        twin_layers = resolve_layers(twin, [layer.name for layer in resolved], first)
        twin_acts = layer_activations(twin, reader, twin_layers, select=select, bn=bn, device=device,
                                      what="the twin", view=view)
        twins = {name: as_samples(a, view) for name, a in twin_acts.items()}
    return validate_activations({name: as_samples(a, view) for name, a in acts.items()}, metrics=request.metrics,
                                alpha=alpha, resamples=resamples, seed=seed, twins=twins)


def validate_checkpoint(arch: str, checkpoint: str | os.PathLike, probe: str, *,
                        layers: str | Sequence[str] | None = "stages", metrics: Sequence[str] = DEFAULT_METRICS,
                        view: str = "flatten", n_probe: int | None = 200, image_size: int | None = None,
                        num_classes: int | None = None, resamples: int = 10, bn: str = "eval", device: str = "auto",
                        out: str | os.PathLike, twin: str | os.PathLike | None = None) -> str:
    """``repchange validate``: the report of ``metrics`` on ``arch`` loaded from ``checkpoint`` over the probe (an
    ImageFolder root or a book data set, as ``repchange compare`` reads them), written to ``out`` as validate.csv
    (every row) and validate.png (the heatmap); returns the advice. ``twin``: a checkpoint of the same architecture
    (another seed's training), read beside the constructions. Every argument is checked before the checkpoint is
    read."""
    from repchange.base.device_checks import check_device
    from repchange.base.devices import resolve_device
    from repchange.tool.compare import (_load_into, _num_classes, build_model, compare_request,
                                        load_checkpoint_state, load_probe)

    check_device(device)
    compare_request(metrics=metrics, alphas=_alphas(metrics, 0.5), view=view,
                    view_b=None, null=0, bootstrap=0, bn=bn, streaming=False, n_probe=n_probe,
                    image_size=image_size, num_classes=num_classes, out=out)
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 2:
        raise ValueError(f"resamples (--resamples) must be a whole number of at least 2, got {resamples!r}")
    if n_probe is not None and n_probe < MIN_SAMPLES:
        raise ValueError(f"n_probe (--n-probe) must be at least {MIN_SAMPLES} for validate (each resample keeps "
                         f"{SUBSAMPLE:.0%} of the samples, at least {MIN_SUBSAMPLE}), got {n_probe}")
    if twin is not None and not Path(twin).expanduser().is_file():
        raise ValueError(f"twin (--twin) must be a state-dict file, got {twin!r}: no such file")
    state = load_checkpoint_state(checkpoint)
    model = build_model(arch, num_classes if num_classes is not None else _num_classes(state))
    _load_into(model, state, str(checkpoint), arch)
    twin_model = None
    if twin is not None:
        twin_state = load_checkpoint_state(twin)
        twin_model = build_model(arch, num_classes if num_classes is not None else _num_classes(twin_state))
        _load_into(twin_model, twin_state, str(twin), arch)
        twin_model.to(resolve_device(device))
    first = next((m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), None)
    images, described = load_probe(probe, n_probe, image_size=image_size,
                                   channels=first.in_channels if isinstance(first, nn.Conv2d) else 3)
    model.to(resolve_device(device))
    report = validate(model, images, layers=layers, metrics=metrics, view=view, bn=bn, resamples=resamples,
                      twin=twin_model)
    target = Path(out).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    report.to_csv(target / "validate.csv", index=False)
    fig = plot_report(report, f"{arch} ({checkpoint}) on {described}")
    fig.savefig(target / "validate.png", dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return advice(report)
