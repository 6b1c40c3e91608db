"""Progress of long work, readable at a terminal while a headless notebook computes.

Training runs (in the notebook's kernel or in its worker processes) append one JSON line per
event to the file named by ``$REPCHANGE_PROGRESS_FILE``; :func:`follow` (used by ``make book``
and ``repchange run``) reads that file while the notebook executes and prints what is being
trained, run k of n, epochs, images/s and an ETA. Without the variable nothing is written.

Events: ``{"kind": "epoch", "desc", "epoch", "epochs", "images_per_s"}`` after every epoch of
:func:`repchange.runs.trainer.train`; ``{"kind": "runs", "desc", "done", "total", "label", "seconds",
"eta_s"}`` when a batch of independent runs (:func:`repchange.runs.parallel.run_jobs`) finishes one.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")

__all__ = ["ENV_FILE", "counted", "follow", "format_event", "report"]

ENV_FILE = "REPCHANGE_PROGRESS_FILE"
QUIET_S = 1.0  # counted(): items done faster than this are not reported
HEARTBEAT_S = 20.0  # an epoch line at most this often, so a long step never looks hung nor floods


def report(kind: str, **fields: object) -> None:
    """Append one event to ``$REPCHANGE_PROGRESS_FILE`` (a no-op when it is not set)."""
    path = os.environ.get(ENV_FILE)
    if not path:
        return
    line = json.dumps({"kind": kind, "time": time.time(), "pid": os.getpid(), **fields}) + "\n"
    with open(path, "a", encoding="utf-8") as handle:  # O_APPEND: lines from several processes never interleave
        handle.write(line)


def counted(items: Sequence[T], desc: str, label: Callable[[T], str] = str) -> Iterator[T]:
    """Yield ``items``; after each one's work, report it done ("runs" event: k of n, its seconds, ETA),
    so a long loop that trains nothing (measuring tables) still shows progress. Items that took
    less than ``QUIET_S`` (loaded, not computed) are not reported."""
    start = last = time.monotonic()
    for done, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last >= QUIET_S:  # tables loaded from the store pass silently
            report("runs", desc=desc, done=done, total=len(items), label=label(item), seconds=now - last,
                   eta_s=(now - start) / done * (len(items) - done))
        last = now


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def format_event(event: dict) -> str:
    """One terminal line for an event."""
    if event["kind"] == "runs":
        eta = f" · ETA {_minutes(event['eta_s'])}" if event.get("eta_s") is not None else ""
        return (f"{event.get('desc', 'runs')}: {event['done']}/{event['total']} done "
                f"({event['label']}, {_minutes(event['seconds'])}){eta}")
    if event["kind"] == "epoch":
        return (f"training {event['desc']}: epoch {event['epoch']}/{event['epochs']} · "
                f"{event['images_per_s']:,.0f} images/s")
    return json.dumps(event)


@contextlib.contextmanager
def follow(path: Path, emit: Callable[[str], None] = print, *, prefix: str = "      ",
           heartbeat_s: float = HEARTBEAT_S, poll_s: float = 1.0) -> Iterator[Path]:
    """Within the block, ``$REPCHANGE_PROGRESS_FILE`` is ``path`` (emptied first) and its events are
    printed: every finished run at once, epoch lines at most every ``heartbeat_s`` seconds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    stop = threading.Event()
    saved = os.environ.get(ENV_FILE)
    os.environ[ENV_FILE] = str(path)

    def run() -> None:
        offset, last = 0, 0.0
        while True:
            finished = stop.wait(poll_s)
            with open(path, encoding="utf-8") as handle:
                handle.seek(offset)
                chunk = handle.read()
            complete = chunk[: chunk.rfind("\n") + 1]  # a line still being written waits for the next poll
            offset += len(complete.encode("utf-8"))
            latest_epoch = None
            for line in complete.splitlines():
                event = json.loads(line)
                if event["kind"] == "epoch":
                    latest_epoch = event
                else:
                    emit(prefix + format_event(event))
                    last = time.monotonic()
            if latest_epoch is not None and time.monotonic() - last >= heartbeat_s:
                emit(prefix + format_event(latest_epoch))
                last = time.monotonic()
            if finished:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        thread.join()
        if saved is None:
            os.environ.pop(ENV_FILE, None)
        else:
            os.environ[ENV_FILE] = saved
