"""Study B's visualisation chapters (Figs. 5-8): one fine-tuning run's maps and the filters to show.

Both chapters (class-based crops, sample-based heatmaps) look into the same run of the dynamics
chapter and show, per chosen layer, the most and the least changed filter between the source net
(epoch 0) and the last checkpoint (:func:`repchange.studies.b.visualize.pick_filters`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from repchange.core.data import Split
from repchange.core.receptive_field import ReceptiveField
from repchange.core.runtime import Runtime
from repchange.studies.b import visualize
from repchange.studies.b.runs import FinetuneBConfig
from repchange.studies.b.tables import DynamicsParams, checkpoint_maps, describe, run_config

__all__ = ["FilterChoice", "choose_filters"]


@dataclass
class FilterChoice:
    """``maps[epoch][layer]``: (n, C, H, W) on ``probe``; ``changes[layer]``: per-filter distance table;
    ``chosen[layer]``: (most, least) changed filter; ``epochs``: the checkpoints, first = the source."""

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
    probe, maps, fields = checkpoint_maps(cfg, layers, probe_size, runtime, bn=bn)
    epochs = sorted(maps)
    if layers is None:
        names = list(maps[epochs[0]])
        layers = [names[1], names[-2]] if len(names) > 2 else names
    changes = {layer: visualize.filter_change(maps[epochs[0]][layer], maps[epochs[-1]][layer]) for layer in layers}
    chosen = {layer: visualize.pick_filters(changes[layer]) for layer in layers}
    return FilterChoice(cfg, probe, maps, fields, epochs, list(layers), changes, chosen,
                        describe(params, targets=[target]))
