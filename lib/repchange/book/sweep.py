"""Parameter sweeps: a grid of notebook runs (papermill) or experiment calls on any executor.

    cells = grid(a_seeds=[[1], [2], [3]], a_degrees=[[0], [9]])
    report = sweep_notebook("notebooks/a3_cka_vs_degree.py", cells, profile="smoke", out="runs/sweeps/a3")
    table = collect("runs/sweeps/a3", "a3_cka_by_degree")      # every cell's table, with its parameters

The executor is anything with the ``concurrent.futures`` interface (``submit`` returning
futures with ``done()`` and ``result()``): a local process pool by default, a Dask
``distributed.Client`` on a cluster, a submitit executor on Slurm.

Each cell has its own folder ``<out>/<cell>/`` (``params.json``, its outputs, and
``done.json`` or ``failed.json``). A cell whose ``done.json`` exists is skipped, so running a
sweep again redoes only the cells that failed or never ran. Training inside a cell goes
through the run store: cells that need the same run train it once (the store locks it).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
import traceback
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
from tqdm.auto import tqdm

from repchange.base.files import atomic_write

__all__ = ["CallTask", "NotebookTask", "cell_name", "collect", "grid", "run_cells", "sweep_notebook"]

DONE, FAILED, PARAMS = "done.json", "failed.json", "params.json"


def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """The cartesian product of ``axes`` (``name -> list of values``) as a list of parameter dicts.

    ``grid(a_seeds=[[1], [2]], a_pretrain_epochs=[2, 5])`` gives 4 cells; the last axis varies fastest.
    """
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not len(values):
            raise ValueError(f"sweep axis {name!r} must be a non-empty list of values, got {values!r}")
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))]


def cell_name(parameters: Mapping[str, Any]) -> str:
    """A readable, unique folder name for one cell: ``name=value`` pairs plus a short hash."""
    canonical = json.dumps(parameters, sort_keys=True, default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:8]
    def text(value: Any) -> str:
        return "-".join(text(v) for v in value) if isinstance(value, (list, tuple)) else str(value)

    readable = "_".join(f"{k}={text(v)}" for k, v in sorted(parameters.items()))
    readable = "".join(c if c.isalnum() or c in "=-._" else "-" for c in readable)
    return f"{readable[:80]}_{digest}"


@dataclass(frozen=True)
class NotebookTask:
    """Execute ``notebook`` with papermill: profile, then ``base`` overrides, then the cell's parameters.

    Outputs in the cell folder: ``<stem>.ipynb`` (kept on failure, with the traceback) and
    ``results/`` (the notebook's saved tables).
    """

    notebook: str
    profile: str = "default"
    base: tuple[tuple[str, Any], ...] = ()

    def parameters(self, cell: Mapping[str, Any]) -> dict[str, Any]:
        from repchange.book import runner

        return runner.resolve_parameters(Path(self.notebook), self.profile, {**dict(self.base), **cell})

    def __call__(self, cell: Mapping[str, Any], folder: Path) -> None:
        from repchange.book import runner

        nb = Path(self.notebook)
        runner.execute(nb, folder / f"{nb.stem}.ipynb", self.parameters(cell), results_dir=folder / "results")


@dataclass(frozen=True)
class CallTask:
    """Call ``function(**cell)``; a returned DataFrame is written to ``table.csv`` in the cell folder.

    ``function`` must be importable by the workers (a module-level function of an installed package).
    """

    function: Callable[..., Any]

    def __call__(self, cell: Mapping[str, Any], folder: Path) -> None:
        result = self.function(**cell)
        if isinstance(result, pd.DataFrame):
            atomic_write(folder / "table.csv", lambda p: result.to_csv(p, index=False))


def _run_cell(task: Callable[[Mapping[str, Any], Path], None], cell: Mapping[str, Any], folder: str) -> dict:
    """Run one cell in a worker, recording done.json or failed.json; never raises for a task error."""
    path = Path(folder)
    if (path / DONE).exists():
        return {"status": "skipped", "seconds": 0.0, "error": ""}
    path.mkdir(parents=True, exist_ok=True)
    (path / FAILED).unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        task(cell, path)
    except Exception as err:  # recorded per cell; the sweep goes on with the others
        record = {"status": "failed", "seconds": time.perf_counter() - start,
                  "error": f"{type(err).__name__}: {err}".strip()}
        atomic_write(path / FAILED, lambda p: p.write_text(
            json.dumps({**record, "traceback": traceback.format_exc()}, indent=2)))
        return record
    record = {"status": "done", "seconds": time.perf_counter() - start, "error": ""}
    atomic_write(path / DONE, lambda p: p.write_text(json.dumps(record, indent=2)))
    return record


def _pin_cell_worker(threads: int) -> None:
    """A sweep worker (and the notebook kernels it starts) uses ``threads`` threads and trains one run at a time."""
    os.environ.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), REPCHANGE_WORKERS="1",
                      REPCHANGE_PROGRESS="0")
    import torch

    torch.set_num_threads(threads)


def _default_executor(workers: int | None) -> Executor:
    """A local spawn pool (not fork: the driver may hold torch threads and open kernels) whose
    workers x threads <= cores: with N workers each gets cores // N threads, and their cells
    train their runs one after another (no nested pools)."""
    from repchange.runs.parallel import cores

    n = workers or cores()
    return ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"), initializer=_pin_cell_worker,
                               initargs=(max(1, cores() // n),))


def run_cells(
    task: Callable[[Mapping[str, Any], Path], None],
    cells: Sequence[Mapping[str, Any]],
    out: str | os.PathLike,
    *,
    executor: Any = None,
    workers: int | None = None,
    retries: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Run ``task(cell, folder)`` for every cell not yet done; return and save the report.

    ``executor``: any object with ``submit(fn, *args)`` whose futures have ``done()`` and
    ``result()`` (``None``: a local spawn process pool with ``workers`` processes, closed at
    the end). A failed cell is submitted again up to ``retries`` times. The report — one row per
    cell: ``cell``, ``status`` (done / skipped / failed), ``attempts``, ``seconds``, ``error``,
    then the cell's parameters — is written to ``<out>/sweep.csv`` (``report.attrs["report"]``) after every finished cell,
    so an interrupted sweep still says what it did.
    """
    if retries < 0:
        raise ValueError(f"retries must be at least 0, got {retries}")
    out = Path(out).resolve()
    names = [cell_name(cell) for cell in cells]
    if len(set(names)) != len(names):
        raise ValueError("the sweep has duplicate cells; give each cell different parameters")
    for cell, name in zip(cells, names):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / PARAMS).exists():
            atomic_write(folder / PARAMS, lambda p, c=cell: p.write_text(json.dumps(dict(c), indent=2, default=str)))
    own = executor is None
    executor = _default_executor(workers) if own else executor
    rows: dict[str, dict] = {n: {"cell": n, "status": "pending", "attempts": 0, "seconds": 0.0, "error": "", **c}
                             for n, c in zip(names, cells)}

    def save() -> pd.DataFrame:
        frame = pd.DataFrame(list(rows.values()))
        frame.attrs["report"] = str(out / "sweep.csv")
        atomic_write(out / "sweep.csv", lambda p: frame.to_csv(p, index=False))
        return frame

    # Dask deduplicates "pure" calls with equal arguments: a retry must be a new task.
    options = {"pure": False} if type(executor).__module__.startswith("distributed") else {}

    def submit(index: int) -> Any:
        rows[names[index]]["attempts"] += 1
        return executor.submit(_run_cell, task, dict(cells[index]), str(out / names[index]), **options)

    pending = {submit(i): i for i in range(len(cells))}
    bar = tqdm(total=len(cells), desc=f"sweep {out.name}", disable=not progress)
    try:
        while pending:
            finished = [f for f in pending if f.done()]
            if not finished:
                time.sleep(0.2)
                continue
            for future in finished:
                index = pending.pop(future)
                row = rows[names[index]]
                try:
                    record = future.result()
                except Exception as err:  # the worker itself died (killed, out of memory, lost node)
                    record = {"status": "failed", "seconds": 0.0, "error": f"worker lost: {type(err).__name__}: {err}"}
                row.update(status=record["status"], seconds=row["seconds"] + record["seconds"], error=record["error"])
                if record["status"] == "failed" and row["attempts"] <= retries:
                    pending[submit(index)] = index
                    continue
                bar.update(1)
                bar.set_postfix_str(f"{sum(r['status'] == 'failed' for r in rows.values())} failed")
                save()
    finally:
        bar.close()
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
    return save()


def sweep_notebook(
    notebook: str | os.PathLike,
    cells: Sequence[Mapping[str, Any]],
    *,
    profile: str = "default",
    base: Mapping[str, Any] | None = None,
    out: str | os.PathLike | None = None,
    executor: Any = None,
    workers: int | None = None,
    retries: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Execute ``notebook`` once per cell (profile, then ``base``, then the cell's parameters).

    Every cell's parameters are resolved before anything runs, so a misspelt parameter fails
    the whole sweep at once, naming the notebook's parameters. ``out`` defaults to
    ``runs/sweeps/<stem>-<profile>``. See :func:`run_cells` for the executor and the report.
    """
    from repchange.book import runner

    notebook = Path(notebook).resolve()
    task = NotebookTask(str(notebook), profile, tuple(sorted((base or {}).items())))
    for cell in cells:
        task.parameters(cell)  # raises ValueError for an unknown parameter or profile
    out = Path(out) if out is not None else runner.project_root() / "runs" / "sweeps" / f"{notebook.stem}-{profile}"
    return run_cells(task, cells, out, executor=executor, workers=workers, retries=retries, progress=progress)


def collect(out: str | os.PathLike, table: str) -> pd.DataFrame:
    """Every finished cell's ``table`` (``results/<table>.csv`` or ``table.csv``) with its parameters.

    Parameter columns are prefixed ``param_`` where a table already has a column of that name;
    list values are written as text. Raises FileNotFoundError when no finished cell has the table.
    """
    frames = []
    for folder in sorted(Path(out).iterdir()):
        if not (folder / DONE).exists():
            continue
        path = folder / "results" / f"{table}.csv"
        path = path if path.exists() else folder / f"{table}.csv"
        if not path.exists():
            continue
        frame = pd.read_csv(path)
        params = json.loads((folder / PARAMS).read_text())
        for key, value in params.items():
            column = f"param_{key}" if key in frame.columns else key
            frame[column] = value if not isinstance(value, (list, dict)) else json.dumps(value)
        frame["cell"] = folder.name
        frames.append(frame)
    if not frames:
        raise FileNotFoundError(f"no finished cell under {out} has a table {table!r} "
                                f"(looked for results/{table}.csv and {table}.csv)")
    return pd.concat(frames, ignore_index=True)
