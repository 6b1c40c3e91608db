"""Study B's visualisations of single filters: class-based receptive-field crops and sample heatmaps.

Conventions: ``maps`` are one layer's ReLU outputs (n, F, h, w) on probe images (n, C, H, W)
of uint8 pixels; a filter's *unit* at map position (row, col) sees the receptive-field box of
:class:`repchange.nets.receptive_field.ReceptiveField`. Crops keep the full receptive-field size
``S = round(rf.size)``: pixels that fall outside the image are NaN (shown blank), so crops of
units at the border line up with crops of central units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from repchange.measure import filter_chunks
from repchange.nets.receptive_field import ReceptiveField

__all__ = ["ClassCrops", "class_crops", "crop_change", "filter_change", "heatmaps", "heatmap_change", "pick_filters"]


def _check_maps(images: torch.Tensor, maps: torch.Tensor) -> None:
    if images.ndim != 4 or maps.ndim != 4 or images.shape[0] != maps.shape[0]:
        raise ValueError(f"images must be (n, C, H, W) and maps (n, F, h, w) with the same n; got "
                         f"{tuple(images.shape)} and {tuple(maps.shape)}")
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"square images expected, got {tuple(images.shape[2:])}")


def filter_change(source_maps: torch.Tensor, maps: torch.Tensor) -> pd.DataFrame:
    """Per filter of one layer: ``distance`` = 1 − nan-mean over images of the per-filter Procrustes
    similarity between source and fine-tuned maps (n, F, h, w), and ``dead_fraction`` (share of images
    where either map is without shape). Rows sorted from most to least changed; NaN distance last."""
    similarity = filter_chunks.procrustes_similarity(source_maps, maps).numpy()  # (n, F)
    dead = np.isnan(similarity)
    live_counts = (~dead).sum(0)
    sums = np.where(dead, 0.0, similarity).sum(0)
    distance = np.where(live_counts > 0, 1 - sums / np.maximum(live_counts, 1), np.nan)
    frame = pd.DataFrame(dict(filter=np.arange(similarity.shape[1]), distance=distance,
                              dead_fraction=dead.mean(0)))
    return frame.sort_values("distance", ascending=False, na_position="last").reset_index(drop=True)


@dataclass(frozen=True)
class ClassCrops:
    """Activation-weighted mean receptive-field crops.

    ``crops`` (F, K, C, S, S): per filter and class, the mean over that class's images of the crop
    around the filter's strongest unit, weighted by that unit's activation (NaN where no image of
    the class activates the filter, or outside every contributing image). ``weight`` (F, K): the
    summed activations (0 = the filter is silent on the class).
    """

    crops: np.ndarray
    weight: np.ndarray
    filters: tuple[int, ...]
    classes: tuple[int, ...]


def class_crops(images: torch.Tensor, labels: torch.Tensor, maps: torch.Tensor, rf: ReceptiveField,
                filters: list[int], classes: list[int] | None = None) -> ClassCrops:
    """Class-based visualisation of ``filters``: for every image, the arg-max unit of the filter's
    map, its receptive-field crop of the image, and the activation-weighted average per class."""
    _check_maps(images, maps)
    bad = [f for f in filters if not 0 <= f < maps.shape[1]]
    if bad:
        raise ValueError(f"filters {bad} out of range: the layer has {maps.shape[1]} filters")
    classes = sorted(set(labels.tolist())) if classes is None else list(classes)
    n, channels, size, _ = images.shape
    side = max(1, int(round(rf.size)))
    pad = side + int(np.ceil(abs(rf.start))) + 1
    padded = np.full((n, channels, size + 2 * pad, size + 2 * pad), np.nan)
    padded[:, :, pad:pad + size, pad:pad + size] = images.numpy().astype(np.float64)
    width = maps.shape[3]
    crops = np.full((len(filters), len(classes), channels, side, side), np.nan)
    weight = np.zeros((len(filters), len(classes)))
    for i, f in enumerate(filters):
        flat = maps[:, f].reshape(n, -1)
        values, where = flat.max(1)
        rows, cols = (where // width).tolist(), (where % width).tolist()
        for j, cls in enumerate(classes):
            total = np.zeros((channels, side, side))
            mass = np.zeros((channels, side, side))
            for k in torch.nonzero(labels == cls).flatten().tolist():
                a = float(values[k])
                if a <= 0:
                    continue
                cy, cx = rf.centre(rows[k], cols[k])
                top = int(round(cy - (side - 1) / 2)) + pad
                left = int(round(cx - (side - 1) / 2)) + pad
                crop = padded[k, :, top:top + side, left:left + side]
                inside = ~np.isnan(crop)
                total += np.where(inside, a * crop, 0.0)
                mass += np.where(inside, a, 0.0)
                weight[i, j] += a
            crops[i, j] = np.where(mass > 0, total / np.where(mass > 0, mass, 1.0), np.nan)
    return ClassCrops(crops=crops, weight=weight, filters=tuple(filters), classes=tuple(classes))


def crop_change(before: ClassCrops, after: ClassCrops) -> pd.DataFrame:
    """Pearson r between the mean crops before and after (pixels inside the image in both), per filter
    and class: 1 = the filter still responds to the same pattern. Columns filter, cls, r."""
    if before.filters != after.filters or before.classes != after.classes or before.crops.shape != after.crops.shape:
        raise ValueError("the two ClassCrops must cover the same filters, classes and crop size")
    rows = []
    for i, f in enumerate(before.filters):
        for j, cls in enumerate(before.classes):
            a, b = before.crops[i, j].ravel(), after.crops[i, j].ravel()
            both = ~(np.isnan(a) | np.isnan(b))
            r = np.corrcoef(a[both], b[both])[0, 1] if both.sum() > 2 and a[both].std() > 0 and b[both].std() > 0 \
                else np.nan
            rows.append(dict(filter=f, cls=cls, r=r))
    return pd.DataFrame(rows)


def heatmaps(maps: torch.Tensor, filters: list[int], image_size: int) -> np.ndarray:
    """Sample-based visualisation: the maps (n, F, h, w) of ``filters`` resized (bilinear) to the
    image, returned as (len(filters), n, image_size, image_size), in activation units."""
    if maps.ndim != 4:
        raise ValueError(f"maps must be (n, F, h, w), got {tuple(maps.shape)}")
    bad = [f for f in filters if not 0 <= f < maps.shape[1]]
    if bad:
        raise ValueError(f"filters {bad} out of range: the layer has {maps.shape[1]} filters")
    chosen = maps[:, list(filters)].float()
    resized = F.interpolate(chosen, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return resized.permute(1, 0, 2, 3).numpy()


def heatmap_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Pearson r between two heatmap stacks (F, n, H, W) per filter and sample (F, n); NaN where either
    map is constant (e.g. a silent filter)."""
    if before.shape != after.shape:
        raise ValueError(f"heatmap stacks differ in shape: {before.shape} and {after.shape}")
    a = before.reshape(*before.shape[:2], -1)
    b = after.reshape(*after.shape[:2], -1)
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    denominator = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(-1) / denominator, np.nan)


def pick_filters(changes: pd.DataFrame, *, max_dead: float = 0.5) -> tuple[int, int]:
    """(most changed, least changed) filter among those with shape on at least ``1 - max_dead`` of the
    images, from :func:`filter_change`'s table."""
    live = changes[(changes.dead_fraction <= max_dead) & changes.distance.notna()]
    if live.empty:
        raise ValueError(f"no filter of this layer is live on at least {1 - max_dead:.0%} of the probe images; "
                         "pick another layer or raise max_dead")
    return int(live["filter"].iloc[0]), int(live["filter"].iloc[-1])
