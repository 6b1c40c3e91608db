"""Sweeps: grids, per-cell idempotence and failure reports, on a real Dask LocalCluster and local processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from repchange.book import runner, sweep

A1 = runner.project_root() / "notebooks" / "a1_cka_pretraining.py"
TINY = {"a_seeds": [1], "a_pretrain_epochs": 1, "a_pretrain_size": 128, "a_pretrain_eval_size": 100, "a_probe_size": 50,
        "a_width": 16}


def test_grid_is_the_cartesian_product_in_order() -> None:
    cells = sweep.grid(seeds=[[1], [2]], epochs=[2, 5, 9])
    assert len(cells) == 6
    assert cells[0] == {"seeds": [1], "epochs": 2} and cells[-1] == {"seeds": [2], "epochs": 9}
    with pytest.raises(ValueError, match="sweep axis 'epochs' must be a non-empty list"):
        sweep.grid(epochs=[])
    with pytest.raises(ValueError, match="sweep axis 'dataset' must be a non-empty list"):
        sweep.grid(dataset="digits")


def test_cell_names_are_readable_unique_and_stable() -> None:
    a, b = sweep.cell_name({"seeds": [1, 2], "data_root": "/x y"}), sweep.cell_name({"seeds": [1, 2, 3]})
    assert a.startswith("data_root=-x-y_seeds=1-2_") and a != b
    assert sweep.cell_name({"data_root": "/x y", "seeds": [1, 2]}) == a  # key order does not matter
    assert sweep.cell_name({"seeds": "1-2"}) != sweep.cell_name({"seeds": [1, 2]})  # the hash tells them apart


def test_a_misspelt_parameter_fails_the_sweep_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['epoch'\]"):
        sweep.sweep_notebook(A1, sweep.grid(epoch=[1, 2]), profile="smoke", out=tmp_path / "s")
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['epochs'\] \('epochs' is now 'a_pretrain_epochs'\)"):
        sweep.sweep_notebook(A1, sweep.grid(epochs=[1, 2]), profile="smoke", out=tmp_path / "s")
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_notebook_sweep_on_a_dask_local_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")  # installed by the test extra
    monkeypatch.setenv("REPCHANGE_STORE", str(tmp_path / "store"))  # workers inherit it
    out = tmp_path / "sweep"
    cells = sweep.grid(a_dataset=["fashion_mnist", "cifar10"])  # CIFAR-10 is not installed here: that cell fails
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        report = sweep.sweep_notebook(A1, cells, profile="smoke", base=TINY, out=out, executor=client, progress=False)
        status = report.set_index("a_dataset").status
        assert status.to_dict() == {"fashion_mnist": "done", "cifar10": "failed"}
        error = report.set_index("a_dataset").error["cifar10"]
        assert "data set 'cifar10' not found" in error and "To get it" in error
        good, bad = (out / sweep.cell_name(c) for c in cells)
        assert (good / "done.json").exists() and not (good / "failed.json").exists()
        assert "traceback" in json.loads((bad / "failed.json").read_text())
        assert (bad / "a1_cka_pretraining.ipynb").exists()  # the failed copy is kept for reading
        assert pd.read_csv(out / "sweep.csv").status.tolist() == report.status.tolist()

        # Again, with a retry: the finished cell is skipped, the failed one runs twice more and fails again.
        executed = (good / "a1_cka_pretraining.ipynb").stat().st_mtime_ns
        again = sweep.sweep_notebook(A1, cells, profile="smoke", base=TINY, out=out, executor=client,
                                     retries=1, progress=False).set_index("a_dataset")
        assert again.status.to_dict() == {"fashion_mnist": "skipped", "cifar10": "failed"}
        assert again.attempts.to_dict() == {"fashion_mnist": 1, "cifar10": 2}
        assert (good / "a1_cka_pretraining.ipynb").stat().st_mtime_ns == executed

    table = sweep.collect(out, "a1_cka_to_init")
    assert set(table.a_dataset) == {"fashion_mnist"} and len(table) > 0
    stored = pd.read_csv(good / "results" / "a1_cka_to_init.csv")
    assert len(table) == len(stored) and table.value.tolist() == stored.value.tolist()
    with pytest.raises(FileNotFoundError, match="no finished cell .* has a table 'nothing'"):
        sweep.collect(out, "nothing")


def flaky_table(size: int, marker: str) -> pd.DataFrame:
    """Fails the first time it is called for ``marker`` (e.g. a node lost its scratch disk), then works."""
    path = Path(marker)
    if not path.exists():
        path.write_text("seen")
        raise RuntimeError("scratch disk full")
    return pd.DataFrame({"i": range(size), "square": [i * i for i in range(size)]})


@pytest.mark.slow
def test_call_sweep_on_local_processes_retries_a_failed_cell(tmp_path: Path) -> None:
    cells = [{"size": n, "marker": str(tmp_path / f"m{n}")} for n in (2, 3)]
    report = sweep.run_cells(sweep.CallTask(flaky_table), cells, tmp_path / "calls", workers=2, retries=1,
                             progress=False)
    assert report.status.tolist() == ["done", "done"] and report.attempts.tolist() == [2, 2]
    table = sweep.collect(tmp_path / "calls", "table")
    assert sorted(table["size"].value_counts().to_dict().items()) == [(2, 2), (3, 3)]
    assert table.query("i == 2").square.tolist() == [4]

    lone = [{"size": 1, "marker": str(tmp_path / "m1")}]
    once = sweep.run_cells(sweep.CallTask(flaky_table), lone, tmp_path / "once", workers=1, progress=False)
    assert once.status.tolist() == ["failed"] and once.error.tolist() == ["RuntimeError: scratch disk full"]


@pytest.mark.slow
def test_cli_sweep_reports_each_cell_and_exits_nonzero_on_a_failure(tmp_path: Path) -> None:
    # a size the door cannot know is too large (the split's length is read with the data): the cell runs and fails
    args = [sys.executable, "-m", "repchange", "sweep", str(A1), "--profile", "smoke", "-g", "a_pretrain_size",
            "[100000]", "--out", str(tmp_path / "cli"), "--workers", "1"]
    env = {**__import__("os").environ, "REPCHANGE_STORE": str(tmp_path / "store")}
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "exceeds the 60000 training images" in proc.stdout and "0 of 1 cells finished" in proc.stdout
    # a value the door refuses stops the whole sweep before any cell runs, naming the parameter
    bad = [*args[:args.index("-g")], "-g", "a_pretrain_epochs", "[3, 0]", "--out", str(tmp_path / "refused"),
           "--workers", "1"]
    proc = subprocess.run(bad, capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "a_pretrain_epochs = 0: must be at least 1" in proc.stderr
    assert not (tmp_path / "refused").exists()
