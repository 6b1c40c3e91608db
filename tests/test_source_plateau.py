"""studies.b.source_plateau: the source nets' test-accuracy curve and the plateau rule, which can come out
either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repchange.runs.runtime import Runtime
from repchange.runs.store import Store
from repchange.studies.b import runs, source_plateau


def _curve(values: list[float]) -> pd.Series:
    return pd.Series(values, index=range(1, len(values) + 1))


def test_the_gain_compares_the_last_window_with_the_one_before() -> None:
    linear = _curve([0.5 + 0.01 * e for e in range(1, 9)])
    g = source_plateau.gains(linear, window=2)
    assert list(g.index) == [4, 5, 6, 7, 8]
    np.testing.assert_allclose(g.to_numpy(), 0.02)  # two epochs apart at 0.01 per epoch


def test_a_curve_that_flattens_has_a_plateau_and_one_that_still_rises_has_none() -> None:
    flattening = _curve([0.6, 0.75, 0.83, 0.87, 0.885, 0.89, 0.892, 0.893])
    rising = _curve([0.5, 0.56, 0.62, 0.68, 0.74, 0.80, 0.86, 0.92])
    # gains (W = 2): e4 0.155, e5 0.103, e6 0.0375, e7 0.0135, e8 0.0055
    assert source_plateau.plateau_epoch(flattening, window=2, tolerance=0.01) == 8
    assert source_plateau.plateau_epoch(flattening, window=2, tolerance=0.02) == 7
    assert source_plateau.plateau_epoch(rising, window=2, tolerance=0.01) is None
    assert source_plateau.plateau_epoch(_curve([0.9, 0.9, 0.9]), window=2) is None  # too short to judge


def test_the_table_says_reached_only_where_the_mean_curve_flattens() -> None:
    rows = []
    for seed, jitter in ((1, 0.004), (2, -0.004)):
        for e, (flat, rise) in enumerate(zip([0.8, 0.87, 0.9, 0.9, 0.9, 0.9], [0.5, 0.58, 0.66, 0.74, 0.82, 0.9]), 1):
            rows += [{"arch": "flat_net", "seed": seed, "epoch": e, "test_acc": flat + jitter, "train_acc": flat},
                     {"arch": "rising_net", "seed": seed, "epoch": e, "test_acc": rise + jitter, "train_acc": rise}]
    table = source_plateau.plateau_table(pd.DataFrame(rows), window=2, tolerance=0.01).set_index("arch")
    # flat_net's gains: e4 0.065, e5 0.015, e6 0.0
    assert table.loc["flat_net", "reached"] and table.loc["flat_net", "plateau_epoch"] == 6
    assert not table.loc["rising_net", "reached"] and pd.isna(table.loc["rising_net", "plateau_epoch"])
    assert table.loc["rising_net", "last_gain"] == pytest.approx(0.16)
    assert table.loc["flat_net", "seeds"] == 2 and table.loc["flat_net", "epochs"] == 6


def test_source_runs_record_test_accuracy_after_every_epoch(tmp_path: Path) -> None:
    source = runs.SourceConfig(arch="vgg_small", epochs=3, train_size=128)
    curves = source_plateau.source_curves(source, ["vgg_small"], [1, 2], Runtime(store=Store(tmp_path)))
    assert list(curves.epoch) == [1, 2, 3, 1, 2, 3] and list(curves.seed) == [1, 1, 1, 2, 2, 2]
    assert curves.test_acc.between(0, 1).all() and curves.test_acc.notna().all()
    with pytest.raises(ValueError, match="pre-trained elsewhere"):
        source_plateau.source_curves(replace_arch(source), ["resnet50"], [1], Runtime(store=Store(tmp_path)))


def replace_arch(source: runs.SourceConfig) -> runs.SourceConfig:
    from dataclasses import replace
    return replace(source, weights=None)


def test_the_sentence_says_reached_not_reached_or_too_short() -> None:
    table = pd.DataFrame([
        {"arch": "a", "epochs": 10, "last_acc": 0.9, "last_gain": 0.002, "plateau_epoch": 8, "reached": True},
        {"arch": "b", "epochs": 10, "last_acc": 0.8, "last_gain": 0.03, "plateau_epoch": None, "reached": False},
        {"arch": "c", "epochs": 2, "last_acc": 0.7, "last_gain": np.nan, "plateau_epoch": None, "reached": False}])
    text = source_plateau.sentence(table, window=3, tolerance=0.01)
    assert "**a** reached its plateau at epoch 8 of 10" in text
    assert "**b** had **not** reached it after 10 epochs (last gain +0.030, not below 0.01" in text
    assert "**c** trained 2 epochs, too few to judge (the rule needs at least 6)" in text
