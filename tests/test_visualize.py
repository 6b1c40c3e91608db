"""Class-based crops and sample heatmaps on images and maps the tests make, with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repchange.nets.receptive_field import ReceptiveField
from repchange.studies.b import visualize

IDENTITY_3 = ReceptiveField(jump=1.0, size=3.0, start=0.0)  # a 3x3 conv with padding 1: unit (r, c) sees r±1, c±1


def _images(n: int = 3, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _maps_peaking_at(points: list[tuple[int, int]], values: list[float], size: int = 8) -> torch.Tensor:
    """(n, 2, size, size) maps: filter 0 peaks at ``points`` with ``values``; filter 1 is silent (all zero)."""
    maps = torch.zeros(len(points), 2, size, size)
    for k, ((r, c), v) in enumerate(zip(points, values)):
        maps[k, 0] = 0.01 * v
        maps[k, 0, r, c] = v
    return maps


def test_class_crops_average_receptive_fields_weighted_by_activation() -> None:
    images, labels = _images(), torch.tensor([0, 0, 1])
    maps = _maps_peaking_at([(2, 3), (5, 5), (4, 4)], [1.0, 3.0, 2.0])
    crops = visualize.class_crops(images, labels, maps, IDENTITY_3, filters=[0, 1])
    assert crops.crops.shape == (2, 2, 1, 3, 3) and crops.classes == (0, 1)
    pixels = images.numpy().astype(float)
    expected = (1.0 * pixels[0, :, 1:4, 2:5] + 3.0 * pixels[1, :, 4:7, 4:7]) / 4.0
    np.testing.assert_allclose(crops.crops[0, 0], expected)
    np.testing.assert_allclose(crops.crops[0, 1], pixels[2, :, 3:6, 3:6])
    assert crops.weight[0].tolist() == [4.0, 2.0]
    assert crops.weight[1].tolist() == [0.0, 0.0] and np.isnan(crops.crops[1]).all()  # the silent filter


def test_crops_keep_the_receptive_field_size_at_the_border_with_nan_outside() -> None:
    images = _images(n=1)
    crops = visualize.class_crops(images, torch.tensor([0]), _maps_peaking_at([(0, 0)], [1.0]), IDENTITY_3, [0])
    crop = crops.crops[0, 0, 0]
    assert np.isnan(crop[0]).all() and np.isnan(crop[:, 0]).all()  # row -1 and column -1 lie outside
    np.testing.assert_allclose(crop[1:, 1:], images.numpy()[0, 0, :2, :2].astype(float))
    wide = ReceptiveField(jump=2.0, size=15.0, start=0.5)  # larger than the 8-pixel image
    crop = visualize.class_crops(images, torch.tensor([0]), _maps_peaking_at([(1, 1)], [1.0], size=4), wide,
                                 [0]).crops[0, 0, 0]
    assert crop.shape == (15, 15) and np.isfinite(crop).sum() == 64  # every pixel of the image, once


def test_crop_change_and_heatmap_change_are_one_for_unchanged_filters() -> None:
    images, labels = _images(), torch.tensor([0, 1, 1])
    maps = _maps_peaking_at([(2, 3), (5, 5), (4, 4)], [1.0, 3.0, 2.0])
    crops = visualize.class_crops(images, labels, maps, IDENTITY_3, [0])
    assert visualize.crop_change(crops, crops).r.to_numpy() == pytest.approx(1.0)
    moved = visualize.class_crops(images, labels, _maps_peaking_at([(5, 2), (1, 6), (6, 1)], [1.0, 3.0, 2.0]),
                                  IDENTITY_3, [0])
    assert (visualize.crop_change(crops, moved).r < 0.99).all()
    heat = visualize.heatmaps(maps, [0, 1], image_size=16)
    assert heat.shape == (2, 3, 16, 16) and heat[1].max() == 0 and heat[0].max() > 0
    r = visualize.heatmap_change(heat, heat)
    assert r[0] == pytest.approx(1.0) and np.isnan(r[1]).all()  # a silent filter has no pattern to compare
    assert (visualize.heatmap_change(heat, visualize.heatmaps(maps.flip(-1), [0, 1], 16))[0] < 0.9).all()


def test_filter_change_ranks_filters_and_sets_dead_ones_apart() -> None:
    source = torch.rand(10, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    after = source.clone()
    after[:, 1] = torch.rand(10, 5, 5, generator=torch.Generator().manual_seed(2))  # filter 1 rewritten
    after[:, 2] = 0.0  # filter 2 died
    changes = visualize.filter_change(source, after)
    assert changes["filter"].tolist() == [1, 0, 2]
    assert changes.distance.iloc[1] == pytest.approx(0.0, abs=1e-12) and changes.distance.iloc[0] > 0.1
    assert np.isnan(changes.distance.iloc[2]) and changes.dead_fraction.iloc[2] == 1.0
    assert visualize.pick_filters(changes) == (1, 0)
    with pytest.raises(ValueError, match="no filter of this layer is live"):
        visualize.pick_filters(changes[changes["filter"] == 2])


def test_bad_inputs_name_the_problem() -> None:
    images, maps = _images(), _maps_peaking_at([(0, 0)] * 3, [1.0] * 3)
    with pytest.raises(ValueError, match=r"filters \[5\] out of range: the layer has 2 filters"):
        visualize.class_crops(images, torch.tensor([0, 0, 1]), maps, IDENTITY_3, [5])
    with pytest.raises(ValueError, match="same n"):
        visualize.class_crops(images[:2], torch.tensor([0, 0]), maps, IDENTITY_3, [0])
    with pytest.raises(ValueError, match=r"filters \[-1\] out of range"):
        visualize.heatmaps(maps, [-1], 8)
    with pytest.raises(ValueError, match="differ in shape"):
        visualize.heatmap_change(np.zeros((1, 2, 4, 4)), np.zeros((1, 3, 4, 4)))
