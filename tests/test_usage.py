"""A notebook's cost as the book's log and profile.csv report it: the CPU of child processes, measured."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from repchange.book import usage

pytest.importorskip("resource")

BURN = ("import resource\nx = bytearray(300 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\n"
        "user = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_utime\nt = user()\nwhile user() - t < 0.5: pass\n")


def test_the_cpu_and_memory_of_a_finished_child_are_counted(tmp_path: Path) -> None:
    with usage.measured("burn") as cost:
        subprocess.run([sys.executable, "-c", BURN], check=True)
    assert cost.user_s >= 0.4, cost  # half a second of user CPU burnt in the child, none in this process
    assert cost.wall_s >= cost.user_s * 0.9
    assert cost.peak_rss_so_far_gb >= 0.3  # the child touched 300 MiB
    with usage.measured("idle") as idle:
        pass
    assert idle.user_s < 0.1 and idle.sys_s < 0.1  # nothing ran: nothing counted
    usage.write_profile(tmp_path / "profile.csv", [cost, idle])
    rows = list(csv.DictReader(open(tmp_path / "profile.csv")))
    assert [r["notebook"] for r in rows] == ["burn", "idle", "total"]
    assert float(rows[-1]["user_s"]) == pytest.approx(cost.user_s + idle.user_s, abs=1e-3)
    assert "user" in cost.line() and "sys" in cost.line()
