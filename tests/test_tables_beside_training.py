"""A GPU run's tables start on the CPU's worker pool as soon as the run they read is trained, beside the next run's
training (runs.parallel.run_beside, runs.table_pool.tables_beside_training). No GPU here: the same scheduling runs
with the foreground on the CPU (what CUDA would train one run after another), and the tables it stores are the
tables of the ordinary path, to the bit."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from repchange.runs import parallel, table_pool
from repchange.runs.runtime import Runtime
from repchange.runs.store import Store
from repchange.studies.b import runs, tables


def _stamp(folder: str, name: str, seconds: float = 0.0) -> str:
    """Write when this job started and ended (module-level: workers import it)."""
    start = time.time()
    time.sleep(seconds)
    (Path(folder) / f"{name}.txt").write_text(f"{start} {time.time()}")
    return name


def _fail(message: str) -> None:
    raise ValueError(message)


def _times(folder: Path, name: str) -> tuple[float, float]:
    start, end = (folder / f"{name}.txt").read_text().split()
    return float(start), float(end)


def test_each_runs_tables_start_while_the_next_run_trains(tmp_path: Path) -> None:
    folder = str(tmp_path)
    parallel.run_beside([], ready=[parallel.Job(_stamp, dict(folder=folder, name="warm"))] * 2, n_workers=2)
    foreground = [(parallel.Job(_stamp, dict(folder=folder, name=f"train{i}", seconds=2.0), label=f"run {i}"),
                   [parallel.Job(_stamp, dict(folder=folder, name=f"table{i}", seconds=0.2), label=f"table {i}")])
                  for i in range(3)]
    parallel.run_beside(foreground, n_workers=2)
    for i in range(3):
        trained_end = _times(tmp_path, f"train{i}")[1]
        table_start, _ = _times(tmp_path, f"table{i}")
        assert table_start >= trained_end, f"table {i} started before its run was trained"
        if i < 2:  # beside the next training, not after it
            assert table_start < _times(tmp_path, f"train{i + 1}")[1], f"table {i} waited for the next run's training"
    assert _times(tmp_path, "train1")[0] >= _times(tmp_path, "train0")[1]  # the runs one after another


def test_a_failing_run_stops_the_rest_and_keeps_what_finished(tmp_path: Path) -> None:
    folder = str(tmp_path)
    def stamp(name: str) -> parallel.Job:
        return parallel.Job(_stamp, dict(folder=folder, name=name))

    foreground = [(stamp("train0"), [stamp("table0")]),
                  (parallel.Job(_fail, dict(message="no such data"), label="run 1"), [stamp("table1")]),
                  (stamp("train2"), [])]
    with pytest.raises(RuntimeError, match="run 1 failed: ValueError: no such data"):
        parallel.run_beside(foreground, n_workers=2)
    assert (tmp_path / "table0.txt").exists(), "a table already started was not left to finish"
    assert not (tmp_path / "train2.txt").exists() and not (tmp_path / "table1.txt").exists()


def test_a_failing_table_is_named(tmp_path: Path) -> None:
    foreground = [(parallel.Job(_stamp, dict(folder=str(tmp_path), name="train0")),
                   [parallel.Job(_fail, dict(message="bad maps"), label="vgg19 on scene15")])]
    with pytest.raises(RuntimeError, match="result tables: vgg19 on scene15 failed: ValueError: bad maps"):
        parallel.run_beside(foreground, n_workers=1)


def test_where_a_gpu_runs_tables_are_computed_is_a_checked_choice(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    runtime = Runtime(Store(tmp_path), "cpu")
    assert table_pool.table_device_choice() == "cpu"
    assert not table_pool.beside_training(runtime)  # a CPU run trains in the pool itself
    assert table_pool.table_runtime(runtime) is runtime
    monkeypatch.setenv("REPCHANGE_TABLE_DEVICE", "gpu")
    with pytest.raises(ValueError, match=r"REPCHANGE_TABLE_DEVICE must be one of \['cpu', 'run'\], got 'gpu'"):
        table_pool.table_device_choice()


@pytest.mark.slow
def test_tables_computed_beside_training_are_the_ordinary_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    finetune = runs.FinetuneBConfig(source=runs.SourceConfig(arch="vgg_small", epochs=1, train_size=256), epochs=2,
                                    checkpoints=(0, 1, 2), train_size=64, eval_size=40)
    params = tables.DynamicsParams(finetune=finetune, archs=("vgg_small",), targets=("digits", "fashion_heldout"),
                                   n_probe=20)
    ordinary = tables.dynamics(params, Runtime(Store(tmp_path / "ordinary"), "cpu"))
    trained_here: list[str] = []
    train_all = runs.train_all

    def train_here(cfgs: list, runtime: Runtime) -> None:
        trained_here.extend(c.target for c in cfgs)
        monkeypatch.setenv("REPCHANGE_WORKERS", "1")  # in this process, as CUDA trains
        try:
            train_all(cfgs, runtime=runtime)
        finally:
            monkeypatch.delenv("REPCHANGE_WORKERS")

    monkeypatch.setattr(tables, "beside_training", lambda runtime: True)  # as where the runs train on CUDA
    monkeypatch.setattr(tables, "train_all", train_here)
    beside = tables.dynamics(params, Runtime(Store(tmp_path / "beside"), "cpu"))
    assert trained_here == ["digits", "fashion_heldout"], "the runs were not trained one at a time"
    pd.testing.assert_frame_equal(beside, ordinary, check_exact=True)
