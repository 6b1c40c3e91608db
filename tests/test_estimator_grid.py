"""Claims across estimators: the grid, the agreement count, and Study A's estimator tables' similarities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_fashion_mnist_tree
from test_claims import CONTRADICT_A, OFFLINE, _agreement, _dynamics, _study_a_tables, _study_a_world, _study_b_world

from repchange.studies import claims, estimator_grid


def _two_estimator_tables() -> dict[str, pd.DataFrame]:
    """Study A tables whose "cka" rows support every claim and whose "procrustes" rows contradict A3-size."""
    supporting = _study_a_tables(_study_a_world())
    world = _study_a_world()
    CONTRADICT_A["A3-size"](world)
    other = _study_a_tables(world)
    out = {}
    for name, frame in supporting.items():
        if "metric" in frame:
            alt = other[name][other[name].metric == "cka"].assign(metric="procrustes")
            frame = pd.concat([frame, alt], ignore_index=True)
        out[name] = frame
    return out


def test_the_grid_sets_each_estimators_verdicts_side_by_side_and_counts_agreement() -> None:
    tables = _two_estimator_tables()
    parts = {label: claims.ledger(claims.study_a_claims(**tables, metric=metric))
             for label, metric in (("biased CKA", "cka"), ("Procrustes", "procrustes"))}
    table = estimator_grid.grid(parts)
    assert list(table.columns) == ["biased CKA", "Procrustes"] and list(table.index) == list(parts["biased CKA"].key)
    assert table.loc["A3-size", "biased CKA"] == "holds" and table.loc["A3-size", "Procrustes"] == "does not hold"
    moved = ["A3-size", "A3-size [all layers]"]  # the contradiction moves the reading beside it too
    assert table.loc["A3-size [all layers]", "Procrustes"] == "does not hold"
    pd.testing.assert_series_equal(table.drop(index=moved)["Procrustes"], table.drop(index=moved)["biased CKA"],
                                   check_names=False)
    counts = estimator_grid.agreement(parts["biased CKA"], table).set_axis(parts["biased CKA"].key)
    assert counts["A3-size"] == "1/2" and counts["A1-depth"] == "2/2"
    # training accuracy and loss read no estimator: no cells, "–", counted nowhere (they would agree by construction)
    free = ["A2-train-fit", "A2-test-falls", "A2-loss-slower"]
    assert table.loc[free].isna().all().all() and (counts[free] == "–").all()


def test_study_b_rows_count_only_for_their_own_metric() -> None:
    world = _study_b_world()
    dynamics, agreement = _dynamics(world, OFFLINE), _agreement(world, OFFLINE)
    parts = {"PWSM α=0": claims.ledger(claims.study_b_claims(dynamics, agreement, alpha=0.0)),
             "per-filter Procrustes": claims.ledger(claims.study_b_claims(dynamics, agreement,
                                                                         metric="procrustes_filter"))}
    table = estimator_grid.grid(parts, {"PWSM α=0": "pwsm_alpha_0", "per-filter Procrustes": "procrustes_filter"})
    assert "B-depth" in table.index and "B-depth (pwsm_alpha_0)" not in table.index
    assert table.loc["B-depth"].tolist() == ["holds", "holds"]
    assert table.loc["B-metrics-alike", "per-filter Procrustes"] == "not measured"  # a claim about two metrics
    ledger = parts["PWSM α=0"]
    counts = estimator_grid.agreement(ledger, table).set_axis(ledger.key)
    assert counts["B-depth (pwsm_alpha_0)"] == "2/2" and counts["B-metrics-alike"] == "1/1"
    assert counts["B-awa2-vs-scene"] == "–"  # not measured here


@pytest.mark.parametrize("key, expected", [("B-depth (pwsm_alpha_0.5)", ("B-depth", "pwsm_alpha_0.5")),
                                           ("B-upward (procrustes_filter)", ("B-upward", "procrustes_filter")),
                                           ("A5b-random-unlearns (logits)", ("A5b-random-unlearns (logits)", None))])
def test_generic_keys_drop_only_a_metric_suffix(key: str, expected: tuple) -> None:
    assert estimator_grid.generic_key(key) == expected


def test_every_study_a_estimator_is_a_similarity_that_is_one_for_identical_representations() -> None:
    from repchange.measure.metrics import Factors
    from repchange.studies.a.estimators import ESTIMATORS, similarities

    rng = np.random.default_rng(0)
    x = Factors(rng.standard_normal((120, 40)))
    same, other = similarities(x, x), similarities(x, Factors(rng.standard_normal((120, 40))))
    assert set(same) == set(ESTIMATORS)
    assert all(v == pytest.approx(1.0) for v in same.values()), same
    assert all(other[m] < same[m] - 0.3 for m in ESTIMATORS), other


def test_study_a_estimator_tables_come_from_the_pool_with_the_serial_numbers(
            store_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The grid's Study A tables: one stored table per (config, seed), computed in the worker pool on one
    thread each; recomputed in the calling process they are the same to the bit."""
    import shutil
    from dataclasses import replace

    from repchange.runs.runtime import Runtime
    from repchange.runs.store import Store
    from repchange.studies.a import tables as a_tables
    from repchange.studies.a.estimators import ESTIMATORS, estimator_tables

    make_fashion_mnist_tree(tmp_path / "fm", n_train=80, n_test=60)
    pre = a_tables.PretrainConfig(epochs=1, train_size=48, eval_size=40, width=8)
    seeds = (1, 2)
    params = dict(
        pretraining=a_tables.CkaToInitParams(pre, seeds, n_probe=16),
        degrees=a_tables.DegreeSweepParams(pre, seeds, degrees=(0, 9), n_probe=16),
        sizes=a_tables.SizeSweepParams(pre, seeds, train_sizes=(16, 48), n_probe=16),
        finetuning=a_tables.FinetuneSweepParams(a_tables.FinetuneConfig(pre, epochs=1, train_size=32, eval_size=20),
                                                seeds, cross_domain="digits", degrees=(0,), n_probe=16))
    store = Store(store_root)
    tables = estimator_tables(**params, bn="batch", runtime=Runtime(store, "cpu", data_root=str(tmp_path / "fm")))
    assert set(tables) == {"pretraining", "degrees", "sizes", "finetuning"}
    for name, frame in tables.items():
        assert set(frame.metric) == set(ESTIMATORS) and set(frame.seed) == set(seeds), name
        assert frame.value.between(-1 - 1e-9, 1 + 1e-9).all(), name
    assert set(tables["pretraining"].comparison) == {"init", "independent_init"}
    assert set(tables["degrees"].degree) == {0, 9} and tables["sizes"].equal_steps.any()
    assert set(tables["finetuning"].comparison) == {"pretrained", "pretrain_init", "independent_init", "chance"}
    # one table per (config, seed), shared where the chapters share runs: 2 seeds x (d=0 with the chance
    # comparison, d=0, d=9 = size 48 at d=9, size 16 at d=9, size 16 at d=9 for equal steps)
    assert len(list((store_root / "study_a" / "estimators_pretraining").iterdir())) == 2 * 5
    # computed in the calling process instead of two workers: the same numbers to the bit
    monkeypatch.setenv("REPCHANGE_WORKERS", "1")
    for kind in ("estimators_pretraining", "estimators_finetuning"):
        shutil.rmtree(store_root / "study_a" / kind)
    serial = estimator_tables(**params, bn="batch", runtime=Runtime(store, "cpu", data_root=str(tmp_path / "fm")))
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(serial[name], frame, obj=name)
    # a subset of the seeds reads the stored per-seed tables
    again = estimator_tables(**{**params, "pretraining": replace(params["pretraining"], seeds=(2,))}, bn="batch",
                             runtime=Runtime(store, "cpu", data_root=str(tmp_path / "fm")))
    pd.testing.assert_frame_equal(again["pretraining"], tables["pretraining"][tables["pretraining"].seed == 2]
                                  .reset_index(drop=True))
