"""Independent training runs side by side: one worker process per core, never oversubscribed.

Seeds, label degrees and conditions are independent runs. A training step at batch size 32
cannot keep two cores busy, so :func:`run_jobs` trains them in a pool of ``workers()``
processes, each pinned to ``train_threads()`` threads, so that workers x threads <= cores.

Every run trains on ``train_threads()`` threads wherever it runs -- in the pool or alone in
the calling process (:func:`repchange.runs.trainer.train` pins them) -- because a float32 CPU run's
numbers depend on its thread count (reductions split differently). So a run's numbers never
depend on how many runs train beside it: pool and serial are bit-identical (tested).

Result tables computed from stored runs go through the same pool (:mod:`repchange.runs.table_pool`).

The pool outlives the call: a notebook asks for runs and tables a dozen times, and each fresh pool paid
its workers' start (spawn, import torch and the studies: about 2 s of a core each). It is reused for as long
as what its workers run under is unchanged -- its size, the threads, the working directory, the whole
environment (handed to each worker explicitly, so a worker never runs with a stale data folder or store) and
the library's source files (an edited module gets fresh workers) -- and replaced when any of these changes.

Knobs (environment): ``REPCHANGE_TRAIN_THREADS`` (default 1), ``REPCHANGE_WORKERS`` (default
cores // train threads), ``REPCHANGE_KEEP_POOL=0`` (a fresh pool for every call). On CUDA the runs go one
after another in the calling process; :func:`run_beside` then keeps the CPU's cores busy with work that follows each
run (Study B's tables) while the next run trains on the device.

**Small runs sharing one GPU.** Study A's conv4 at batch 32 leaves a GPU mostly idle (each step waits on the
launch of small kernels), so several of its runs can train at once on one device, each in its own process
(its own CUDA context and kernels, which cuDNN picks by heuristics, not by timing: sharing does not change them).
``REPCHANGE_DEVICE_RUNS=K`` (default 1: one at a time, as before) trains up to K runs of the functions in
:data:`SHARES_DEVICE` side by side on CUDA. The
default stays 1 until a GPU measurement says which K pays (none was at hand when this was written); stacked seeds
(``torch.func``) would change a run's arithmetic and its key, and are not offered.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any, Callable, Iterator, Sequence

from repchange.runs import progress
from repchange.runs.allocator import keep_freed_memory

__all__ = ["Job", "SHARES_DEVICE", "cores", "device_runs", "pool_size_for", "run_beside", "run_jobs", "train_threads",
           "workers"]

# The job functions whose runs are small enough to share one CUDA device in processes side by side (Study A's conv4).
# Named here, not marked in their modules: those modules' text keys every stored Study A run.
SHARES_DEVICE = ("repchange.studies.a.pretraining:_pretrain_job", "repchange.studies.a.finetuning:_finetune_job")


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _positive_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"${name} must be a positive integer, got {raw!r}; unset it for the default ({default})")
    return value


def train_threads() -> int:
    """Threads of every training run (``$REPCHANGE_TRAIN_THREADS``, default 1)."""
    return _positive_env("REPCHANGE_TRAIN_THREADS", 1)


def device_runs() -> int:
    """Runs of :data:`SHARES_DEVICE`'s functions training at once on one CUDA device (``$REPCHANGE_DEVICE_RUNS``,
    default 1)."""
    return _positive_env("REPCHANGE_DEVICE_RUNS", 1)


def _shares_device(job: "Job") -> bool:
    return f"{job.function.__module__}:{job.function.__qualname__}" in SHARES_DEVICE


def workers() -> int:
    """Training worker processes (``$REPCHANGE_WORKERS``, default cores // train threads, at least 1)."""
    return _positive_env("REPCHANGE_WORKERS", max(1, cores() // train_threads()))


@dataclass(frozen=True)
class Job:
    """``function(**kwargs)``, a module-level function (workers import it); ``cost`` orders the queue
    (largest first, so the slowest run does not start last)."""

    function: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    cost: float = 1.0

    def __call__(self) -> Any:
        return self.function(**self.kwargs)


def _timed(job: Job) -> tuple[float, Any]:
    """Run ``job``; the seconds it took (measured where it ran, not counting time in the queue) and its result."""
    t0 = time.monotonic()
    result = job()
    return time.monotonic() - t0, result


def _die_with_parent() -> None:
    """Linux: ask the kernel to stop this worker when the process that started it dies, so a killed
    ``make book`` leaves no orphan training on the cores (finished runs are in the store already)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux/glibc: workers finish their current run, then exit
        pass


def _init_worker(threads: int, environ: dict[str, str] | None = None, cwd: str | None = None) -> None:
    import signal

    # An interrupt goes to the whole process group (Jupyter interrupts and shuts a kernel down that way): the
    # parent stops the workers itself (run_jobs' except clause, the exit handler), so a worker ignores it rather
    # than print a KeyboardInterrupt traceback per idle worker at every notebook's end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    _die_with_parent()
    keep_freed_memory()
    if environ is not None:  # exactly the environment the pool was made for
        os.environ.clear()
        os.environ.update(environ)
    if cwd is not None:
        os.chdir(cwd)
    os.environ["REPCHANGE_PROGRESS"] = "0"  # no bars from workers; progress goes to the progress file
    os.environ["REPCHANGE_WORKERS"] = "1"  # a worker never starts a pool of its own
    torch.set_num_threads(threads)


_POOL: dict[str, Any] = {}  # "key": what the workers run under, "pool": the ProcessPoolExecutor


def _library_stamp() -> tuple[tuple[str, int, int], ...]:
    """(file, size, modification time) of every module of the package: an edit means fresh workers."""
    root = Path(__file__).resolve().parents[1]
    return tuple((str(p), (s := p.stat()).st_size, s.st_mtime_ns) for p in sorted(root.rglob("*.py")))


def _discard_pool() -> None:
    """Stop the kept pool's workers now (queued jobs cancelled); the next call starts a new one."""
    pool = _POOL.pop("pool", None)
    _POOL.pop("key", None)
    if pool is not None:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()


atexit.register(_discard_pool)


def _worker_pool(size: int) -> tuple[ProcessPoolExecutor, bool]:
    """A pool of ``size`` spawned workers and whether it is kept (False: the caller shuts it down). Kept pools
    are reused while their key -- size, threads, working directory, environment, library files -- is unchanged."""
    threads, environ, cwd = train_threads(), dict(os.environ), os.getcwd()

    def new() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(size, mp_context=get_context("spawn"), initializer=_init_worker,
                                   initargs=(threads, environ, cwd))

    if os.environ.get("REPCHANGE_KEEP_POOL", "1") == "0":
        return new(), False
    key = (size, threads, cwd, tuple(sorted(environ.items())), _library_stamp())
    if _POOL.get("key") != key:
        _discard_pool()
        _POOL.update(key=key, pool=new())
    return _POOL["pool"], True


def _on_cuda(device: str) -> bool:
    return device.startswith("cuda") or (device == "auto" and _cuda())


def pool_size_for(jobs: Sequence[Job], *, n_workers: int | None = None, device: str = "cpu") -> int:
    """How many of ``jobs`` :func:`run_jobs` runs at once: on the CPU ``n_workers`` (default :func:`workers`)
    processes; on CUDA one (in the calling process), or :func:`device_runs` where every job's function shares the
    device (:data:`SHARES_DEVICE`); never more than there are jobs."""
    if _on_cuda(device):
        return min(device_runs(), len(jobs)) if jobs and all(_shares_device(job) for job in jobs) else 1
    return min(n_workers or workers(), len(jobs))


def run_jobs(jobs: Sequence[Job], *, n_workers: int | None = None, device: str = "cpu",
             desc: str = "training runs", on_result: Callable[[int, Any], None] | None = None) -> None:
    """Run every job; in a spawn process pool when there are several jobs and workers on the CPU.

    ``on_result(i, result)`` is called in this process as each job ``jobs[i]`` finishes (results travel back
    pickled), so a caller can store what is complete before the rest is. A failing job stops the queue: runs
    already finished stay in the store, running ones finish, and the first error is raised naming its job.
    Progress: one ``runs`` event per finished job (see :mod:`repchange.runs.progress`).
    """
    if not jobs:
        return
    n = len(jobs)
    pool_size = pool_size_for(jobs, n_workers=n_workers, device=device)
    start = time.monotonic()

    def finished(done: int, index: int, timed: tuple[float, Any]) -> None:
        seconds, result = timed
        if on_result is not None:
            on_result(index, result)
        elapsed = time.monotonic() - start
        eta = elapsed / done * (n - done) if done < n else 0.0
        progress.report("runs", desc=desc, done=done, total=n, label=jobs[index].label, seconds=seconds, eta_s=eta)

    if pool_size <= 1:
        for done, (index, job) in enumerate(enumerate(jobs), 1):
            finished(done, index, _timed(job))
        return

    queue = sorted(range(n), key=lambda i: -jobs[i].cost)
    error: RuntimeError | None = None
    with _pool(pool_size if _on_cuda(device) else n_workers or workers()) as pool:
        submitted = {pool.submit(_timed, jobs[i]): i for i in queue}
        pending, done_count = set(submitted), 0
        while pending:
            finished_now, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished_now:
                index = submitted[future]
                if future.cancelled():
                    continue
                exc = future.exception()
                if exc is not None:
                    if error is None:
                        error = _failure(desc, jobs[index], exc)
                        for other in pending:
                            other.cancel()
                    continue
                done_count += 1
                finished(done_count, index, future.result())
    _raise(error)


def _failure(desc: str, job: Job, exc: BaseException) -> RuntimeError:
    """The error that names a failed ``job`` of the queue ``desc``, caused by ``exc``."""
    error = RuntimeError(f"{desc}: {job.label or job.function.__name__} failed: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _raise(error: RuntimeError | None) -> None:
    """Raise a queue's first error, if any; a broken pool (a worker died) is discarded first."""
    if error is None:
        return
    if isinstance(error.__cause__, BrokenProcessPool):
        _discard_pool()
    raise error


@contextlib.contextmanager
def _pool(size: int) -> Iterator[ProcessPoolExecutor]:
    """The worker pool of ``size`` (:func:`_worker_pool`); an interrupt or a failing callback stops its workers (what
    finished is stored), and a pool that is not kept is shut down on leaving."""
    pool, kept = _worker_pool(size)
    try:
        yield pool
    except BaseException:
        if kept:
            _discard_pool()
        raise
    finally:
        if not kept:
            pool.shutdown(wait=True)


def run_beside(foreground: Sequence[tuple[Job, Sequence[Job]]], *, ready: Sequence[Job] = (),
               n_workers: int | None = None, desc: str = "training runs",
               background_desc: str = "result tables") -> None:
    """Each foreground job one after another in this process (training on the device), and beside it, in the
    worker pool, the background jobs each one unlocks (``foreground[i] = (job, unlocked)``: the tables that read
    its run) as soon as it finishes; ``ready``: background jobs that need nothing trained, submitted at once.

    Returns when every job is done. A failing job stops what has not started (background jobs already running
    finish, so what they store stays stored) and the first error is raised naming its job. The pool holds
    ``n_workers`` (default :func:`workers`) processes on ``train_threads()`` threads each. Progress: one ``runs``
    event per finished job, foreground and background counted apart."""
    n_back = len(ready) + sum(len(unlocked) for _, unlocked in foreground)
    if n_back == 0:
        run_jobs([job for job, _ in foreground], n_workers=1, desc=desc)
        return
    start = time.monotonic()
    submitted: dict[Any, Job] = {}
    done_back = 0
    error: RuntimeError | None = None

    def collect(block: bool) -> None:
        """Report the background jobs that finished (all of them if ``block``); keep the first error."""
        nonlocal done_back, error
        finished = wait(list(submitted)).done if block else [f for f in submitted if f.done()]
        for future in finished:
            job = submitted.pop(future)
            if future.cancelled():
                continue
            exc = future.exception()
            if exc is not None:
                error = error or _failure(background_desc, job, exc)
                continue
            done_back += 1
            seconds, _ = future.result()
            elapsed = time.monotonic() - start
            progress.report("runs", desc=background_desc, done=done_back, total=n_back, label=job.label,
                            seconds=seconds, eta_s=elapsed / done_back * (n_back - done_back))

    with _pool(n_workers or workers()) as pool:
        def submit(jobs: Sequence[Job]) -> None:
            for job in sorted(jobs, key=lambda j: -j.cost):
                submitted[pool.submit(_timed, job)] = job

        submit(ready)
        for done, (job, unlocked) in enumerate(foreground, 1):
            collect(block=False)
            if error is not None:
                break
            try:
                seconds, _ = _timed(job)
            except Exception as exc:
                error = _failure(desc, job, exc)
                break
            elapsed = time.monotonic() - start
            progress.report("runs", desc=desc, done=done, total=len(foreground), label=job.label, seconds=seconds,
                            eta_s=elapsed / done * (len(foreground) - done))
            submit(unlocked)
        if error is not None:
            for future in submitted:
                future.cancel()
        collect(block=True)
    _raise(error)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
