"""Stored result tables computed side by side, like training runs: one worker process per core.

A results table (one run's similarities at some epochs) is a function of stored runs, so the tables
a page needs are independent jobs. Computed in the notebook's process they would run one after
another on torch's default threads, where the small eigendecompositions and SVDs of the metrics
gain little from a second thread and lose much when anything else uses the cores (one 500 x 500
``eigh`` took 1.2 s on two threads beside a busy process, against tens of milliseconds on one).

:func:`stored_tables` asks the store once which tables it lacks, computes those in the pool of
:func:`repchange.runs.parallel.run_jobs` and reads every table through :func:`stored_table`, which
pins :func:`~repchange.runs.parallel.train_threads` threads wherever it runs: a table's numbers do
not depend on how many tables are computed beside it (pool and serial agree to the bit, tested).
:func:`assembled_tables` does the same for tables stored whole but computed in parts (one per seed),
storing each table in this process as soon as its last part arrives.

Where the runs train on a GPU they train one after another in the notebook's process, and the CPU's cores would
idle: :func:`table_runtime` then computes the tables on the CPU (``REPCHANGE_TABLE_DEVICE``, default ``cpu``;
``run``: on the run's device, after the training, one at a time) and :func:`tables_beside_training` starts each
table in the worker pool as soon as the run it reads is stored, beside the next run's training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence, TypeVar

import pandas as pd

from repchange.base.devices import resolve_device
from repchange.base.threads import torch_threads
from repchange.runs.parallel import Job, run_beside, run_jobs, train_threads, workers
from repchange.runs.runtime import Runtime
from repchange.runs.store import Store

T = TypeVar("T", "TableJob", "AssembledTable")

__all__ = ["TABLE_DEVICES", "AssembledTable", "TableJob", "TablePart", "assembled_tables", "beside_training",
           "check_keyed", "missing_tables", "stored_table", "stored_tables", "table_device_choice", "table_runtime",
           "tables_beside_training"]

TABLE_DEVICES = ("cpu", "run")  # REPCHANGE_TABLE_DEVICE: where a GPU run's tables are computed


@dataclass(frozen=True)
class TableJob:
    """The table ``function(**kwargs)`` (module-level, so workers can import it), stored as ``kind`` under
    ``key`` with the source fingerprint of the modules ``code``; ``label`` names it in progress and errors,
    ``cost`` orders the queue (largest first)."""

    kind: str
    key: dict[str, Any]
    function: Callable[..., pd.DataFrame]
    kwargs: dict[str, Any] = field(default_factory=dict)
    code: tuple[str, ...] = ()
    label: str = ""
    cost: float = 1.0

    def __post_init__(self) -> None:
        check_keyed(self.function, self.code, self.kind)


def check_keyed(function: Callable[..., Any], code: tuple[str, ...], kind: str) -> None:
    """Refuse a stored table whose key's ``code`` leaves out the module of the ``function`` that computes it: an edit
    there would change the table and not its key, so the store would serve the old table as the new one."""
    if not function.__module__.startswith("repchange."):  # code outside the library enters no key
        return
    module = function.__module__.removeprefix("repchange.")
    if module not in code:
        raise ValueError(f"the {kind} table is computed by {module}.{function.__qualname__}, but its key's code "
                         f"{list(code)} leaves out {module}: add it, or an edit there would not re-key the table")


def stored_table(job: TableJob, store: Store) -> pd.DataFrame:
    """``job``'s table: loaded if stored, else computed on ``train_threads()`` threads and stored."""
    with torch_threads(train_threads()):
        return store.table(job.kind, job.key, lambda: job.function(**job.kwargs), code=job.code)


def missing_tables(jobs: Sequence[T], store: Store) -> list[T]:
    """The ``jobs`` (:class:`TableJob` or :class:`AssembledTable`) whose table the store does not serve, each table
    once (two jobs with one kind, key and code are one table: computing it twice would leave a worker waiting on
    the store's lock)."""
    distinct: dict = {}
    for job in jobs:
        distinct.setdefault(store.run_dir(job.kind, job.key, job.code), job)
    return [job for path, job in distinct.items() if not store.serves(path)]


def stored_tables(jobs: Sequence[TableJob], runtime: Runtime, desc: str,
                  missing: Sequence[TableJob] | None = None, n_workers: int | None = None) -> list[pd.DataFrame]:
    """Every job's table, in order: the ``missing`` ones (default: :func:`missing_tables`) computed first in
    the worker pool (``n_workers``: at most this many at once; default one per worker), then all read from the
    store. The runs a table reads should be trained before (a worker would otherwise train them on its one thread,
    serially within that table)."""
    todo = missing_tables(jobs, runtime.store) if missing is None else missing
    run_jobs([Job(stored_table, dict(job=job, store=runtime.store), label=job.label, cost=job.cost) for job in todo],
             n_workers=n_workers, device=runtime.device, desc=desc)
    return [stored_table(job, runtime.store) for job in jobs]


def table_device_choice() -> str:
    """``$REPCHANGE_TABLE_DEVICE``: ``cpu`` (default: a GPU run's tables on the CPU's worker pool, beside its
    training) or ``run`` (on the run's own device, after its training, one at a time in this process)."""
    choice = os.environ.get("REPCHANGE_TABLE_DEVICE", "") or "cpu"
    if choice not in TABLE_DEVICES:
        raise ValueError(f"$REPCHANGE_TABLE_DEVICE must be one of {list(TABLE_DEVICES)}, got {choice!r}: 'cpu' "
                         f"computes a GPU run's tables on the CPU beside its training, 'run' on the GPU after it")
    return choice


def beside_training(runtime: Runtime) -> bool:
    """Whether ``runtime``'s tables are computed on the CPU beside its training: its runs train on another device
    (CUDA) and :func:`table_device_choice` is ``cpu``. A CPU run trains in the worker pool itself."""
    return resolve_device(runtime.device).type != "cpu" and table_device_choice() == "cpu"


def table_runtime(runtime: Runtime) -> Runtime:
    """The runtime a table is computed under: ``runtime`` on the CPU where :func:`beside_training` (the same store
    and data; a run's key holds no device, so the table reads the runs trained on the GPU), else ``runtime``."""
    return replace(runtime, device="cpu") if beside_training(runtime) else runtime


def tables_beside_training(trainings: Sequence[tuple[Job, Sequence[TableJob]]], runtime: Runtime, desc: str,
                           n_workers: int | None = None) -> None:
    """Each ``trainings[i] = (training, tables)``: the training run in this process (on the device, one after
    another), and its ``tables`` (those that read nothing else untrained) computed into the store in the worker pool
    as soon as it finishes, at most ``n_workers`` at once (default one core fewer than the workers: this process
    feeds the device). Read them with :func:`stored_table`."""
    run_beside([(training, [Job(stored_table, dict(job=t, store=runtime.store), label=t.label, cost=t.cost)
                            for t in tables]) for training, tables in trainings],
               n_workers=n_workers or max(1, workers() - 1), desc="training on the device", background_desc=desc)


@dataclass(frozen=True)
class TablePart:
    """One part of an :class:`AssembledTable`: the rows ``function(**kwargs)`` (module-level), e.g. one seed's."""

    function: Callable[..., pd.DataFrame]
    kwargs: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    cost: float = 1.0


@dataclass(frozen=True)
class AssembledTable:
    """A table stored whole as ``kind`` under ``key`` (code fingerprint ``code``): its ``parts``' rows, in order."""

    kind: str
    key: dict[str, Any]
    parts: tuple[TablePart, ...]
    code: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for part in self.parts:
            check_keyed(part.function, self.code, self.kind)


def _part_rows(function: Callable[..., pd.DataFrame], kwargs: dict[str, Any]) -> pd.DataFrame:
    """A part's rows on ``train_threads()`` threads wherever it runs (a worker's job)."""
    with torch_threads(train_threads()):
        return function(**kwargs)


def assembled_tables(tables: Sequence[AssembledTable], runtime: Runtime, desc: str) -> list[pd.DataFrame]:
    """Every table, in order: the parts of those the store lacks computed side by side in the worker pool (all
    tables' parts in one queue), each table stored as soon as its last part arrives, then all read from the
    store. For tables whose parts are worth computing apart (seeds) but that are read, and stored, whole."""
    store = runtime.store
    todo = missing_tables(tables, store)
    owner = [(i, j) for i, t in enumerate(todo) for j in range(len(t.parts))]
    arrived: list[dict[int, pd.DataFrame]] = [{} for _ in todo]

    def collect(index: int, rows: pd.DataFrame) -> None:
        table_index, part_index = owner[index]
        arrived[table_index][part_index] = rows
        table = todo[table_index]
        if len(arrived[table_index]) == len(table.parts):
            frames = [arrived[table_index].pop(j) for j in range(len(table.parts))]
            store.table(table.kind, table.key, lambda: pd.concat(frames, ignore_index=True), code=table.code)

    run_jobs([Job(_part_rows, dict(function=part.function, kwargs=part.kwargs), label=part.label, cost=part.cost)
              for t in todo for part in t.parts], device=runtime.device, desc=desc, on_result=collect)
    return [store.table(t.kind, t.key, lambda: _not_computed(t), code=t.code) for t in tables]


def _not_computed(table: AssembledTable) -> pd.DataFrame:
    raise RuntimeError(f"the {table.kind} table was not stored after its parts were computed")
