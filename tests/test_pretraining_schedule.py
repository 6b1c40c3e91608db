"""Study A's training schedules: which epochs a run evaluates and keeps, and equal SGD steps across sizes."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from repchange.studies.a import summaries
from repchange.studies.a import tables
from repchange.studies.a.pretraining import (PretrainConfig, checkpoint_epochs, evaluated_epochs, ledger_epochs,
                                             matched_epochs)


def test_short_runs_keep_every_epoch_and_evaluate_every_second() -> None:
    assert evaluated_epochs(16) == (0, 2, 4, 5, 6, 8, 10, 12, 14, 16)
    assert checkpoint_epochs(16) == tuple(range(17))
    assert set(ledger_epochs(32)) <= set(evaluated_epochs(32)) and checkpoint_epochs(32) == tuple(range(33))


def test_long_runs_evaluate_and_keep_about_sixteen_epochs_and_every_budget() -> None:
    epochs = evaluated_epochs(256)
    assert set(range(0, 257, 16)) <= set(epochs) and set(ledger_epochs(256)) <= set(epochs)
    assert len(epochs) == 17 + 4  # 0, 16, ..., 256 and the budgets 5, 10, 20, 40 (80 is a multiple of 16)
    assert checkpoint_epochs(256) == epochs


@pytest.mark.parametrize("epochs, size, reference, expected", [
    (16, 64, 1024, 256),  # 512 steps either way
    (2, 64, 640, 20),  # the smoke profile: 20 steps per epoch against 2
    (16, 100, 1024, 128),  # 4 batches of 100 images (the last partial) against 32
    (16, 1024, 1024, 16),
])
def test_matched_epochs_take_as_many_sgd_steps(epochs: int, size: int, reference: int, expected: int) -> None:
    assert matched_epochs(epochs, size, reference) == expected


def test_matched_epochs_refuse_a_non_positive_input() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        matched_epochs(16, 0, 1024)


def test_the_size_sweep_adds_one_equal_steps_run_of_the_smallest_size() -> None:
    params = tables.SizeSweepParams(PretrainConfig(epochs=16), seeds=(1, 2), train_sizes=(256, 64, 1024))
    steps = tables.equal_steps_table(params)
    assert steps.pretrain.train_size == 64 and steps.pretrain.epochs == 256 and steps.measured_epochs == (0, 256)
    assert steps.pretrain.degree == params.degree and steps.seeds == (1, 2)
    assert tables.equal_steps_table(replace(params, equal_steps=False)) is None
    assert tables.equal_steps_table(replace(params, train_sizes=(64,))) is None
    whole = replace(params, train_sizes=(64, None))
    with pytest.raises(ValueError, match="needs the split's length"):
        tables.equal_steps_table(whole)
    assert tables.equal_steps_table(whole, n_train=60_000).pretrain.epochs == 16 * 1875 // 2


def _sweep() -> pd.DataFrame:
    rows = []
    for size, epoch, steps, value in ((64, 16, False, 0.9), (1024, 16, False, 0.6), (64, 256, True, 0.7)):
        for seed in (1, 2):
            for layer, scale in (("block1", 1.0), ("logits", 0.5)):
                rows.append(dict(train_size=size, epoch=epoch, equal_steps=steps, seed=seed, layer=layer,
                                 metric="cka", comparison="init", value=value * scale))
    return pd.DataFrame(rows)


def test_the_equal_steps_view_sets_the_three_runs_side_by_side() -> None:
    view = summaries.equal_steps_view(_sweep())
    assert list(view.columns) == ["layer", "64 images, 16 epochs", "64 images, 256 epochs (equal steps)",
                                  "1024 images, 16 epochs"]
    assert view.set_index("layer").loc["block1"].tolist() == pytest.approx([0.9, 0.7, 0.6])
    assert summaries.equal_steps_sentence(view) == (
        "mean CKA to the init of the layers before logits: 0.900 (64 images, 16 epochs), 0.700 (64 images, 256 "
        "epochs (equal steps)), 0.600 (1024 images, 16 epochs).")
    assert summaries.equal_steps_view(_sweep().assign(equal_steps=False)).empty
    assert summaries.equal_steps_sentence(pd.DataFrame()).startswith("not measured here")
