"""What one notebook's execution cost: wall, user and system CPU seconds, and the peak resident memory.

The kernel papermill starts is a child of the book's process, and the worker processes a notebook
starts are the kernel's children; once they have ended and been waited for, ``getrusage(RUSAGE_CHILDREN)``
holds their CPU times (the kernel's own plus its reaped workers'), so the difference around one execution
is that notebook's CPU. The peak is the largest resident set of any single such process (the kernel or
one worker), not their sum. POSIX only; elsewhere the CPU columns are NaN.
"""

from __future__ import annotations

import csv
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

try:
    import resource
except ImportError:  # Windows
    resource = None

__all__ = ["Usage", "measured", "write_profile"]


@dataclass
class Usage:
    """One execution's cost: seconds of wall clock, user and system CPU (kernel + workers), and the largest
    resident set any child process of this build has reached by its end, in GB (a running maximum)."""

    wall_s: float = math.nan
    user_s: float = math.nan
    sys_s: float = math.nan
    peak_rss_so_far_gb: float = math.nan
    notebook: str = field(default="")

    @property
    def sys_share(self) -> float:
        """System time as a share of all CPU time (NaN without CPU time)."""
        cpu = self.user_s + self.sys_s
        return self.sys_s / cpu if cpu > 0 else math.nan

    def line(self) -> str:
        """``user 80 s, sys 4 s (5 %), peak 1.2 GB`` for the book's log."""
        if math.isnan(self.user_s):
            return ""
        return (f"user {self.user_s:.0f} s, sys {self.sys_s:.0f} s ({self.sys_share:.0%}), "
                f"largest process so far {self.peak_rss_so_far_gb:.1f} GB")


@contextmanager
def measured(notebook: str = "") -> Iterator[Usage]:
    """Fill a :class:`Usage` with the cost of the block's child processes (ended and waited for within it)."""
    usage = Usage(notebook=notebook)
    before = resource.getrusage(resource.RUSAGE_CHILDREN) if resource else None
    start = time.perf_counter()
    try:
        yield usage
    finally:
        usage.wall_s = time.perf_counter() - start
        if resource:
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            usage.user_s, usage.sys_s = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
            # ru_maxrss of the children is the largest any of them reached so far (KiB on Linux): a later
            # notebook shows the book's running maximum unless it grew beyond it
            usage.peak_rss_so_far_gb = after.ru_maxrss * 1024 / 1e9


def write_profile(path: Path, usages: list[Usage]) -> None:
    """One CSV row per executed notebook (columns of :class:`Usage`, plus ``sys_share``), and a ``total`` row."""
    rows = [dict(asdict(u), sys_share=u.sys_share) for u in usages]
    if usages:
        total = Usage(wall_s=sum(u.wall_s for u in usages), user_s=sum(u.user_s for u in usages),
                      sys_s=sum(u.sys_s for u in usages), peak_rss_so_far_gb=max(u.peak_rss_so_far_gb for u in usages),
                      notebook="total")
        rows.append(dict(asdict(total), sys_share=total.sys_share))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["notebook", "wall_s", "user_s", "sys_s", "sys_share", "peak_rss_so_far_gb"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
                             if k in writer.fieldnames})
