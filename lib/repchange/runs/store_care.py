"""Looking after a run store: check every run, see where the space goes, remove what no code makes.

``repchange store verify|du|prune`` calls these. A run's manifest (``complete.json``) records its kind,
the library modules its key depends on and their code version, so a run whose recorded version differs
from what the current code gives can never be served again: its key is not asked for any more.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pandas as pd

from repchange.runs.store import COMPLETE, QUARANTINE, Store, code_version, read_manifest, verify_run

__all__ = ["complete_runs", "disk_usage", "prune", "stale_runs", "verify_all"]


def complete_runs(store: Store) -> Iterator[Path]:
    """Every complete run folder of ``store`` (quarantined runs left out), in path order."""
    for manifest in sorted(store.root.rglob(COMPLETE)):
        if QUARANTINE not in manifest.relative_to(store.root).parts:
            yield manifest.parent


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _kind_and_code(store: Store, run_dir: Path) -> tuple[str, str, list[str]]:
    """(kind, recorded code version or "unrecorded", recorded modules) of a complete run."""
    kind = run_dir.parent.relative_to(store.root).as_posix()
    try:
        manifest = read_manifest(run_dir)
    except (OSError, ValueError):
        return kind, "unreadable", []
    code = manifest.get("code")
    if not isinstance(code, dict):
        return kind, "unrecorded", []
    return kind, code.get("version") or "none", list(code.get("modules", []))


def verify_all(store: Store) -> pd.DataFrame:
    """One row per complete run: run (kind/key), bytes, problem (empty when its files match its manifest)."""
    rows = [dict(run=run.relative_to(store.root).as_posix(), bytes=_size(run), problem=verify_run(run) or "")
            for run in complete_runs(store)]
    return pd.DataFrame(rows, columns=["run", "bytes", "problem"])


def disk_usage(store: Store) -> pd.DataFrame:
    """Bytes and runs by kind and recorded code version, largest first; quarantined runs as kind ``.quarantine``."""
    rows = []
    for run in complete_runs(store):
        kind, version, _ = _kind_and_code(store, run)
        rows.append(dict(kind=kind, code_version=version, runs=1, bytes=_size(run)))
    quarantine = store.root / QUARANTINE
    if quarantine.is_dir():
        rows.append(dict(kind=QUARANTINE, code_version="", runs=sum(1 for _ in quarantine.rglob(COMPLETE)),
                         bytes=_size(quarantine)))
    frame = pd.DataFrame(rows, columns=["kind", "code_version", "runs", "bytes"])
    return (frame.groupby(["kind", "code_version"], as_index=False)[["runs", "bytes"]].sum()
            .sort_values("bytes", ascending=False, ignore_index=True))


def stale_runs(store: Store) -> pd.DataFrame:
    """Complete runs no current code asks for: their recorded code version differs from the one the current
    library gives for their modules, or they recorded none. Columns: run, bytes, why."""
    current: dict[tuple[str, ...], str] = {}
    rows = []
    for run in complete_runs(store):
        _, version, modules = _kind_and_code(store, run)
        if version in ("unrecorded", "unreadable"):
            why = f"code version {version}"
        elif modules:
            key = tuple(modules)
            if key not in current:
                try:
                    current[key] = code_version(key)
                except ImportError as err:
                    current[key] = f"gone ({err})"
            why = "" if current[key] == version else f"made by code version {version}, the code now gives {current[key]}"
        else:
            why = ""  # keyed by its config alone: any code asks for it
        if why:
            rows.append(dict(run=run.relative_to(store.root).as_posix(), bytes=_size(run), why=why))
    return pd.DataFrame(rows, columns=["run", "bytes", "why"])


def prune(store: Store, runs: pd.DataFrame, *, quarantine: bool = False) -> int:
    """Delete the runs listed in ``runs`` (a :func:`stale_runs` frame) and, with ``quarantine``, the quarantine
    folder; returns the bytes freed."""
    freed = 0
    for run in runs.run:
        folder = store.root / run
        freed += _size(folder)
        shutil.rmtree(folder)
    if quarantine and (store.root / QUARANTINE).is_dir():
        freed += _size(store.root / QUARANTINE)
        shutil.rmtree(store.root / QUARANTINE)
    return freed
