"""The worker pool outlives a call, and is replaced whenever what its workers run under changes."""

from __future__ import annotations

import os

import pytest

from repchange.runs import parallel
from repchange.runs.parallel import Job, run_jobs


def _pid_and_env(i: int, name: str) -> tuple[int, str | None]:
    return os.getpid(), os.environ.get(name)


def _fail(i: int) -> None:
    raise ValueError(f"job {i} fails on purpose")


def _run(name: str = "REPCHANGE_TEST_MARK") -> list[tuple[int, str | None]]:
    results: dict[int, tuple[int, str | None]] = {}
    run_jobs([Job(_pid_and_env, dict(i=i, name=name)) for i in range(4)], n_workers=2, desc="pool test",
             on_result=results.__setitem__)
    return [results[i] for i in range(4)]


@pytest.fixture(autouse=True)
def _fresh_pool(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("REPCHANGE_KEEP_POOL", raising=False)
    parallel._discard_pool()
    yield
    parallel._discard_pool()


def test_a_second_call_reuses_the_workers_and_an_environment_change_replaces_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPCHANGE_TEST_MARK", "first")
    first = _run()
    assert {env for _, env in first} == {"first"}
    started = set(parallel._POOL["pool"]._processes)  # both workers, whether or not each ran one of the jobs
    assert {pid for pid, _ in first} <= started
    second = _run()
    assert {pid for pid, _ in second} <= started  # the same processes: no new start-up
    monkeypatch.setenv("REPCHANGE_TEST_MARK", "second")  # e.g. another data folder or store
    third = _run()
    assert {env for _, env in third} == {"second"}  # never the stale value
    assert not {pid for pid, _ in third} & {pid for pid, _ in first}


def test_a_failing_job_is_named_and_the_pool_still_serves_the_next_call() -> None:
    with pytest.raises(RuntimeError, match=r"pool test: job \d failed: ValueError: job \d fails on purpose"):
        run_jobs([Job(_fail, dict(i=i), label=f"job {i}") for i in range(2)], n_workers=2, desc="pool test")
    assert len(_run()) == 4


def test_keep_pool_off_starts_fresh_workers_for_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPCHANGE_KEEP_POOL", "0")
    first, second = _run(), _run()
    assert not {pid for pid, _ in first} & {pid for pid, _ in second}
    assert "pool" not in parallel._POOL
