"""Independent runs side by side: bit-identical to serial, never oversubscribed, errors named."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from repchange.book import sweep
from repchange.data import datasets as data
from repchange.runs import parallel
from repchange.runs import progress
from repchange.nets.conv4 import build
from repchange.runs.runtime import Runtime
from repchange.runs.store import Store
from repchange.runs.trainer import OptimiserSpec, train
from repchange.studies.a.pretraining import TRAINING_CODE, PretrainConfig, pretrain, pretrain_all

TINY = PretrainConfig(dataset="fashion_mnist", epochs=2, train_size=160, eval_size=40, width=8,
                      optimiser=OptimiserSpec("sgd", lr=0.05, batch_size=32))


def _weights(store: Store, cfg: PretrainConfig) -> dict[str, torch.Tensor]:
    run = pretrain(cfg, data.load("fashion_mnist"), runtime=Runtime(store, "cpu"))
    return run.model_at(cfg.epochs).state_dict()


@pytest.mark.slow
def test_pool_is_bit_identical_to_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfgs = [replace(TINY, seed=s) for s in (1, 2, 3)]
    pooled, serial = Store(tmp_path / "pooled"), Store(tmp_path / "serial")
    pretrain_all(cfgs, runtime=Runtime(pooled, "cpu"))  # spawn pool of 2 workers
    monkeypatch.setenv("REPCHANGE_WORKERS", "1")
    torch.set_num_threads(2)  # the calling process's own setting must not leak into training
    pretrain_all(cfgs, runtime=Runtime(serial, "cpu"))
    for cfg in cfgs:
        assert pooled.has("study_a/pretrain", cfg, TRAINING_CODE)
        a, b = _weights(pooled, cfg), _weights(serial, cfg)
        assert all(torch.equal(a[k], b[k]) for k in a), f"seed {cfg.seed}: pool and serial differ"
    assert torch.get_num_threads() == 2  # restored after training


@pytest.mark.slow
def test_failing_job_names_itself_and_keeps_finished_runs(tmp_path: Path) -> None:
    store = Store(tmp_path)
    good = replace(TINY, seed=1)
    bad = replace(TINY, seed=2, train_size=100_000)  # more images than the train split has
    with pytest.raises(RuntimeError, match=r"pre-train fashion_mnist seed 2 .*exceeds"):
        pretrain_all([bad, good], runtime=Runtime(store, "cpu"))
    assert store.has("study_a/pretrain", good, TRAINING_CODE)


def test_worker_settings_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPCHANGE_WORKERS", "0")
    with pytest.raises(ValueError, match="REPCHANGE_WORKERS must be a positive integer"):
        parallel.workers()
    monkeypatch.setenv("REPCHANGE_WORKERS", "3")
    assert parallel.workers() == 3
    monkeypatch.delenv("REPCHANGE_WORKERS")
    monkeypatch.setenv("REPCHANGE_TRAIN_THREADS", "2")
    assert parallel.workers() == max(1, parallel.cores() // 2)


def _report_threads(cell: int) -> pd.DataFrame:
    import os

    return pd.DataFrame([dict(cell=cell, threads=torch.get_num_threads(), workers=os.environ.get("REPCHANGE_WORKERS"),
                              omp=os.environ.get("OMP_NUM_THREADS"))])


@pytest.mark.slow
def test_sweep_workers_never_oversubscribe(tmp_path: Path) -> None:
    sweep.run_cells(sweep.CallTask(_report_threads), [{"cell": 1}, {"cell": 2}], tmp_path, workers=2, progress=False)
    table = sweep.collect(tmp_path, "table")
    expected = max(1, parallel.cores() // 2)
    assert (table.threads == expected).all() and (table.omp.astype(int) == expected).all()
    assert (table.workers.astype(int) == 1).all()  # no nested training pools inside a sweep cell


def test_progress_events_reach_the_terminal(tmp_path: Path) -> None:
    lines: list[str] = []
    ds = data.load("fashion_mnist")
    with progress.follow(tmp_path / "progress.jsonl", lines.append, heartbeat_s=0.0, poll_s=0.05):
        train(build("conv4", in_channels=1, num_classes=10, image_size=28, width=8),
              ds.train.subset(slice(0, 64)), ds.test.subset(slice(0, 32)), epochs=2,
              optimiser=OptimiserSpec("sgd", lr=0.01), seed=1, run_dir=tmp_path / "run", device="cpu",
              desc="tiny run")
        parallel.run_jobs([parallel.Job(print, label="job a"), parallel.Job(print, label="job b")], n_workers=1)
    text = "\n".join(lines)
    assert "training tiny run: epoch 2/2" in text and "images/s" in text
    assert "training runs: 2/2 done (job b" in text and "ETA" in text
    events = [json.loads(line) for line in (tmp_path / "progress.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in events if e["kind"] == "epoch"] == [1, 2]


def test_evaluation_only_at_the_chosen_epochs(tmp_path: Path) -> None:
    ds = data.load("fashion_mnist")
    history = train(build("conv4", in_channels=1, num_classes=10, image_size=28, width=8),
                    ds.train.subset(slice(0, 64)), ds.test.subset(slice(0, 32)), epochs=3,
                    optimiser=OptimiserSpec("sgd", lr=0.01), seed=1, run_dir=tmp_path, device="cpu",
                    eval_epochs=[0, 3])
    measured = history.set_index("epoch").test_acc.notna()
    assert measured.to_dict() == {0: True, 1: False, 2: False, 3: True}
    assert history.train_acc.iloc[1:].notna().all()


def test_counted_loops_report_slow_items_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setattr(progress, "QUIET_S", 0.05)
    lines: list[str] = []
    with progress.follow(tmp_path / "progress.jsonl", lines.append, poll_s=0.02):
        for item in progress.counted(["fast", "slow", "fast again"], "CKA tables", lambda s: f"item {s}"):
            if item == "slow":
                time.sleep(0.1)
    text = "\n".join(lines)
    assert "CKA tables: 2/3 done (item slow" in text
    assert "item fast" not in text  # a loaded table passes silently


def _sleep_and_report(path: str) -> None:
    import os
    import time

    Path(path).write_text(str(os.getpid()))
    time.sleep(60)


@pytest.mark.slow
def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import sys\n"
        "sys.path.insert(0, %r)\n"
        "from repchange.runs import parallel\n"
        "import test_parallel as t\n"
        "if __name__ == '__main__':\n"
        "    jobs = [parallel.Job(t._sleep_and_report, dict(path=%r)), parallel.Job(t._sleep_and_report, dict(path=%r))]\n"
        "    parallel.run_jobs(jobs, n_workers=2)\n" % (str(Path(__file__).parent), str(tmp_path / "a"),
                                                       str(tmp_path / "b")))
    parent = subprocess.Popen([sys.executable, str(script)])
    deadline = time.time() + 60
    while not ((tmp_path / "a").exists() and (tmp_path / "b").exists()) and time.time() < deadline:
        time.sleep(0.2)
    workers = [int((tmp_path / n).read_text()) for n in ("a", "b")]
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    time.sleep(2)
    alive = []
    for pid in workers:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their killed parent"


def test_an_interrupt_to_the_process_group_stops_the_parent_and_no_worker_prints_a_traceback(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    # The parent sets Python's own handler first: a process started with SIGINT ignored (a background job of a
    # non-interactive shell, as the fresh-clone runs were) passes the ignore on to its children, and Python installs
    # no handler where SIGINT is ignored, so the parent slept through the signal and the test waited out 60 s.
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, pathlib, signal, time\n"
        "from repchange.runs import parallel\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # as a kernel: never the ignore a shell passed on\n"
        "def meet(folder):  # each of the two workers runs one job: both have started when run_jobs returns\n"
        "    pathlib.Path(folder, str(os.getpid())).touch()\n"
        "    while len(list(pathlib.Path(folder).iterdir())) < 2:\n"
        "        time.sleep(0.05)\n"
        "if __name__ == '__main__':\n"
        "    jobs = [parallel.Job(meet, dict(folder=%r)) for _ in range(2)]\n"
        "    parallel.run_jobs(jobs, n_workers=2)  # the pool is kept, its workers idle\n"
        "    try:\n"
        "        print('ready', flush=True)\n"
        "        for _ in range(600):  # short sleeps: the signal may land on another thread, which wakes no sleep\n"
        "            time.sleep(0.1)\n"
        "    except KeyboardInterrupt:\n"
        "        print('interrupted', flush=True)\n" % str(tmp_path / "met"))
    (tmp_path / "met").mkdir()
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True, env={**os.environ, "REPCHANGE_KEEP_POOL": "1"})
    assert parent.stdout.readline().strip() == "ready"
    os.killpg(parent.pid, signal.SIGINT)  # as Jupyter interrupts or shuts down a kernel: the whole group
    out, err = parent.communicate(timeout=60)
    assert "interrupted" in out, (parent.returncode, err)
    assert "KeyboardInterrupt" not in err, err  # the idle workers printed one traceback each before


def test_study_a_tables_from_the_pool_equal_the_serial_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """The chapters' CKA tables: each table's seeds computed in the pool (all tables' seeds in one queue) and
    stored whole; computed in the calling process instead, the same tables to the bit."""
    import shutil

    from conftest import make_fashion_mnist_tree

    from repchange.studies.a import tables

    make_fashion_mnist_tree(tmp_path / "fm", n_train=80, n_test=60)
    pre = PretrainConfig(epochs=2, train_size=48, eval_size=40, width=8)
    degrees = tables.DegreeSweepParams(pre, seeds=(1, 2, 3), degrees=(0, 9), n_probe=16)
    finetuning = tables.FinetuneSweepParams(tables.FinetuneConfig(pre, epochs=1, train_size=32, eval_size=20),
                                            seeds=(1, 2), cross_domain="digits", degrees=(0,), n_probe=16)
    store = Store(tmp_path / "store")
    runtime = Runtime(store, "cpu", data_root=str(tmp_path / "fm"))
    by_degree, fine = tables.degree_sweep(degrees, runtime), tables.finetune_sweep(finetuning, runtime)
    assert sorted(by_degree.groupby("degree").seed.unique().map(sorted).tolist()) == [[1, 2, 3], [1, 2, 3]]
    assert len(list((tmp_path / "store" / "study_a" / "cka_to_init").iterdir())) == 2  # stored whole, per degree
    assert set(fine.labels) == {"clean", "shift s=seed"} and set(fine.domain) == {"same", "cross"}
    monkeypatch.setenv("REPCHANGE_WORKERS", "1")
    for kind in ("cka_to_init", "finetune_cka"):
        shutil.rmtree(tmp_path / "store" / "study_a" / kind)
    pd.testing.assert_frame_equal(tables.degree_sweep(degrees, runtime), by_degree)
    pd.testing.assert_frame_equal(tables.finetune_sweep(finetuning, runtime), fine)


def test_missing_tables_lists_each_table_once(tmp_path: Path) -> None:
    """Two jobs for one stored table (one kind, key and code) are one job: the pool would otherwise compute it
    twice, one worker waiting on the store's lock."""
    import pandas as pd

    from repchange.runs.table_pool import (AssembledTable, TableJob, TablePart, assembled_tables, missing_tables,
                                           stored_tables)

    store = Store(tmp_path)
    first, same, other = (TableJob("t", dict(x=1), pd.DataFrame, dict(data=dict(v=[1]))),
                          TableJob("t", dict(x=1), pd.DataFrame, dict(data=dict(v=[9])), label="again"),
                          TableJob("t", dict(x=2), pd.DataFrame, dict(data=dict(v=[2]))))
    assert missing_tables([first, same, other], store) == [first, other]
    tables = stored_tables([first, same, other], Runtime(store, "cpu"), "tables")
    assert [t.v.tolist() for t in tables] == [[1], [1], [2]]  # the second job reads the first's table
    assert missing_tables([first, same, other], store) == []
    # tables assembled from parts: the same rule, and the duplicate reads the one stored table
    whole = AssembledTable("w", dict(x=1), (TablePart(pd.DataFrame, dict(data=dict(v=[1]))),
                                             TablePart(pd.DataFrame, dict(data=dict(v=[2])))))
    twin = replace(whole, parts=(TablePart(pd.DataFrame, dict(data=dict(v=[7]))),))
    assert missing_tables([whole, twin], store) == [whole]
    assert [t.v.tolist() for t in assembled_tables([whole, twin], Runtime(store, "cpu"), "tables")] == [[1, 2], [1, 2]]


def test_a_stored_table_is_keyed_by_the_module_that_computes_it() -> None:
    """A table whose key leaves out its own function's module would be served stale after an edit there (Study B's
    tables were, until studies.b.tables joined their TABLE_CODE)."""
    from repchange.runs.table_pool import AssembledTable, TableJob, TablePart
    from repchange.studies.b import tables as b_tables

    with pytest.raises(ValueError, match=r"leaves out studies.b.tables"):
        TableJob("study_b/x", {}, b_tables._last_checkpoint_table, code=("measure.cka",))
    with pytest.raises(ValueError, match=r"leaves out studies.b.tables"):
        AssembledTable("study_b/x", {}, (TablePart(b_tables._last_checkpoint_table),), code=("measure.cka",))
    TableJob("study_b/x", {}, b_tables._last_checkpoint_table, code=b_tables.TABLE_CODE)  # as the study keys it


def test_small_runs_share_a_cuda_device_only_where_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduling of REPCHANGE_DEVICE_RUNS with a CUDA device named (the training itself is not run here)."""
    import importlib

    from repchange.studies.a import finetuning, pretraining
    from repchange.studies.b import runs as b_runs

    for name in parallel.SHARES_DEVICE:  # the names resolve: a renamed job function would silently stop sharing
        module, function = name.split(":")
        assert callable(getattr(importlib.import_module(module), function))
    study_a = [parallel.Job(pretraining._pretrain_job, label=str(i)) for i in range(5)]
    mixed = study_a[:2] + [parallel.Job(b_runs._finetune_job, label="vgg19")]
    monkeypatch.setenv("REPCHANGE_WORKERS", "2")
    assert parallel.pool_size_for(study_a, device="cuda") == 1  # the default: one run at a time on the device
    monkeypatch.setenv("REPCHANGE_DEVICE_RUNS", "3")
    assert parallel.pool_size_for(study_a, device="cuda:0") == 3
    assert parallel.pool_size_for(study_a[:2], device="cuda") == 2  # never more than there are runs
    assert parallel.pool_size_for([parallel.Job(finetuning._finetune_job)] * 4, device="cuda") == 3
    assert parallel.pool_size_for(mixed, device="cuda") == 1  # Study B's nets train one at a time
    assert parallel.pool_size_for(study_a, device="cpu") == 2  # the CPU's workers, as before
    monkeypatch.setattr(parallel, "_cuda", lambda: True)
    assert parallel.pool_size_for(study_a, device="auto") == 3
    monkeypatch.setenv("REPCHANGE_DEVICE_RUNS", "0")
    with pytest.raises(ValueError, match="REPCHANGE_DEVICE_RUNS must be a positive integer"):
        parallel.pool_size_for(study_a, device="cuda")
