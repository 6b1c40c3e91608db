"""Study B's visualisation chapters (Figs. 5-8): one fine-tuning run's maps and the filters to show.

Both chapters (class-based crops, sample-based heatmaps) look into the same run of the dynamics
chapter and show, per chosen layer, the most and the least changed filter between the source net
(epoch 0) and the last checkpoint (:func:`repchange.studies.b.visualize.pick_filters`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from repchange.data.datasets import Split
from repchange.nets.receptive_field import ReceptiveField
from repchange.runs.runtime import Runtime
from repchange.studies.b import visualize
from repchange.studies.b.runs import FinetuneBConfig
from repchange.nets.probe_shapes import probe_shapes
from repchange.studies.b.tables import DynamicsParams, checkpoint_maps, describe, input_shape, run_config

__all__ = ["FilterChoice", "choose_filters", "crop_changes", "heatmap_changes"]


@dataclass
class FilterChoice:
    """``maps[epoch][layer]``: (n, 2, H, W) on ``probe``, the maps of the layer's ``chosen`` filters only, in that
    order; ``changes[layer]``: per-filter distance table; ``chosen[layer]``: (most, least) changed filter (its index
    in the layer); ``epochs``: the checkpoints, first = the source."""

    cfg: FinetuneBConfig
    probe: Split
    maps: dict[int, dict[str, torch.Tensor]]
    fields: dict[str, ReceptiveField]
    epochs: list[int]
    layers: list[str]
    changes: dict[str, pd.DataFrame]
    chosen: dict[str, tuple[int, int]]
    describe: dict[str, str]

    def summary_lines(self) -> list[str]:
        return [f"{layer} (receptive field {self.fields[layer].size:g} px): most changed filter {most}, "
                f"least changed {least}" for layer, (most, least) in self.chosen.items()]


def choose_filters(params: DynamicsParams, arch: str, target: str, layers: list[str] | None, probe_size: int,
                   runtime: Runtime | None = None, *, bn: str = "batch") -> FilterChoice:
    """The run of ``arch`` on ``target`` (the dynamics chapter's, trained if missing), its maps at every
    checkpoint, and the most and least changed filter of each of ``layers`` (None: the second and the
    second-to-last probed layer)."""
    cfg = run_config(params, arch, target)
    if layers is None:  # chosen from the net's shapes, so that only these two layers' maps are held
        names = list(probe_shapes(arch, *input_shape(cfg)))
        layers = [names[1], names[-2]] if len(names) > 2 else names
    epochs = sorted(cfg.checkpoints)
    ends = [epochs[0], epochs[-1]]  # the filters are chosen on the source and the last checkpoint
    probe, maps, fields = checkpoint_maps(cfg, layers, probe_size, runtime, bn=bn, epochs=ends)
    changes = {layer: visualize.filter_change(maps[ends[0]][layer], maps[ends[1]][layer]) for layer in layers}
    chosen = {layer: visualize.pick_filters(changes[layer]) for layer in layers}
    shown = {layer: list(chosen[layer]) for layer in layers}
    maps = {e: {layer: m[:, shown[layer]].clone() for layer, m in maps[e].items()} for e in ends}  # the rest go
    if len(epochs) > 2:  # the epochs between: only the chosen filters' maps are kept as each is read
        maps.update(checkpoint_maps(cfg, layers, probe_size, runtime, bn=bn, epochs=epochs[1:-1], filters=shown)[1])
    return FilterChoice(cfg, probe, {e: maps[e] for e in epochs}, fields, epochs, list(layers), changes, chosen,
                        describe(params, targets=[target]))


ROLES = ("most", "least")  # the order of FilterChoice.chosen[layer]


def crop_changes(choice: FilterChoice, classes: list[int]) -> tuple[dict[str, dict], pd.DataFrame]:
    """Figs. 5-6 (b4): per chosen layer, the class-average receptive-field crops ``{epoch: ...}`` of its
    most and least changed filter (:func:`repchange.studies.b.visualize.class_crops`), and a table of
    the Pearson r between each filter's crop at the first and the last epoch, per class (columns of
    :func:`repchange.studies.b.visualize.crop_change` plus layer, role)."""
    first, last = choice.epochs[0], choice.epochs[-1]
    crops, agreement = {}, []
    for layer in choice.layers:
        filters = list(choice.chosen[layer])
        crops[layer] = {e: replace(visualize.class_crops(choice.probe.images, choice.probe.labels, choice.maps[e][layer],
                                                         choice.fields[layer], [0, 1], classes), filters=tuple(filters))
                        for e in choice.epochs}  # the maps hold the chosen filters only: their indices in the layer
        r = visualize.crop_change(crops[layer][first], crops[layer][last])
        agreement.append(r.assign(layer=layer, role=r["filter"].map(dict(zip(filters, ROLES)))))
    return crops, pd.concat(agreement, ignore_index=True)


def heatmap_changes(choice: FilterChoice) -> tuple[dict[str, dict[int, np.ndarray]], pd.DataFrame]:
    """Figs. 7-8 (b5): per chosen layer, the heatmaps ``{epoch: (2, n, H, W)}`` of its most and least
    changed filter over every probe image, and a table with one row per (layer, role): filter,
    heatmap_r (mean over images of the Pearson r between its first- and last-epoch heatmap),
    strength_ratio (strongest response at the last epoch / at the first) and distance."""
    size = choice.probe.images.shape[-1]
    first, last = choice.epochs[0], choice.epochs[-1]
    heat, records = {}, []
    for layer in choice.layers:
        filters = list(choice.chosen[layer])
        heat[layer] = {e: visualize.heatmaps(choice.maps[e][layer], [0, 1], size) for e in choice.epochs}
        r = visualize.heatmap_change(heat[layer][first], heat[layer][last])  # (2 filters, all probe images)
        distance = choice.changes[layer].set_index("filter").distance
        for k, (f, role) in enumerate(zip(filters, ROLES)):
            strength = heat[layer][last][k].max() / max(heat[layer][first][k].max(), 1e-12)
            records.append(dict(layer=layer, role=role, filter=f, heatmap_r=float(np.nanmean(r[k])),
                                strength_ratio=float(strength), distance=distance[f]))
    return heat, pd.DataFrame(records)
