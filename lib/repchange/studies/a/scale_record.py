"""A committed record of the scale axis's measurements, for builds whose store lacks the scale runs.

The scale runs take hours on a laptop (:mod:`repchange.studies.a.scale`), and a store does not travel with the
repository: without a record the default book could only say "not run". A record keeps, for each (scale,
BatchNorm mode), the five measurement tables Study A's claims read (``pretraining``, ``histories``, ``degrees``,
``sizes``, ``finetuning``: the inputs of :func:`repchange.studies.a.claims.study_a_claims`), never the verdicts:
the rule and the premises run on them live, so a change of rule reaches recorded scales too.

A record is served only where it is exactly what this build would compute:

- its *key* is :func:`repchange.runs.store.config_key` of the scale's whole table parameters
  (:class:`~repchange.studies.a.scale.ScaleTables`: scale, seeds, degrees, probe, fine-tuning conditions,
  BatchNorm mode) with the code of training, features, metrics and tables: a change of any of them makes the
  record unreachable (the book then says the scale was not run), never wrong;
- each file's sha256 is checked before it is read (a mismatch is an error naming the file, not a fallback).

Layout: ``<folder>/record.json`` (one entry per scale and mode: its key, seeds, image count, each file's sha256
and its provenance: date, commit, machine, command) and ``<folder>/<key>/<table>.csv.gz``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import pandas as pd

from repchange.base.files import atomic_write
from repchange.runs.store import config_key
from repchange.studies.a.tables import FINETUNE_TABLE_CODE, PRETRAIN_TABLE_CODE

__all__ = ["MACHINE_DETAILS", "RECORD_FOLDER", "TABLES", "RecordError", "Recorded", "ScaleRecord", "record_key",
           "record_source", "write_record"]

RECORD_FOLDER = Path(__file__).resolve().parents[4] / "references" / "scale_record"
TABLES = ("pretraining", "histories", "degrees", "sizes", "finetuning")
RECORD_CODE = tuple(dict.fromkeys((*PRETRAIN_TABLE_CODE, *FINETUNE_TABLE_CODE)))


class Recorded(NamedTuple):
    """One scale and mode read from a record: its five tables, the pre-training image count, and where they
    come from (``recorded 2026-12-04 at commit 1a2b3c4 on <machine>``)."""

    frames: dict[str, pd.DataFrame]
    images: int
    source: str


class RecordError(ValueError):
    """A record file that is not what ``record.json`` says it is (edited, truncated or missing)."""


def record_key(tables: Any) -> str:
    """The key of one scale and BatchNorm mode's tables (a :class:`~repchange.studies.a.scale.ScaleTables`):
    its parameters and the code that trains and measures them."""
    return config_key("study_a/scale_record", asdict(tables), RECORD_CODE)


MACHINE_DETAILS = ("torch", "cpu_capability", "threads")  # what moves a float order: written since 2026-12-07


def record_source(provenance: Mapping[str, str]) -> str:
    """What a recorded scale is, in one phrase: ``recorded 2026-12-04 at commit 0123456, measured with the same code
    and parameters on <machine> (torch 2.14.1, CPU capability AVX512, 2 threads)`` — the same code and parameters,
    not the same numbers: another CPU's kernels add in another order, and the same seed trains to other weights
    (``make bench`` [11]). Entries written before the details were kept say they were not recorded."""
    p = provenance
    details = [f"torch {p['torch']}" if "torch" in p else "",
               f"CPU capability {p['cpu_capability']}" if "cpu_capability" in p else "",
               f"{p['threads']} threads" if "threads" in p else ""]
    details = ", ".join(d for d in details if d) or "torch version, CPU capability and thread count not recorded"
    return (f"recorded {p['date']} at commit {p['commit'][:7]}, measured with the same code and parameters on "
            f"{p['machine']} ({details})")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _csv_gz(frame: pd.DataFrame) -> bytes:
    """``frame`` as gzipped CSV, byte-identical for identical frames (no timestamp in the gzip header)."""
    return gzip.compress(frame.to_csv(index=False).encode(), mtime=0)


class ScaleRecord:
    """The record in ``folder`` (default: the repository's ``references/scale_record``); empty when absent."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else RECORD_FOLDER
        path = self.folder / "record.json"
        self.meta: dict[str, Any] = {"entries": {}}
        if path.exists():
            try:
                self.meta = json.loads(path.read_text())
                if not isinstance(self.meta, dict) or not isinstance(self.meta.get("entries"), dict):
                    raise ValueError("it holds no 'entries' object")
            except ValueError as error:  # json.JSONDecodeError included
                raise RecordError(f"scale record: {path} is not a record ({error}); restore it with git "
                                  f"(git checkout -- {path}), or re-run the scale profile and `repchange scale-record`"
                                  ) from None

    def tables(self, tables: Any) -> Recorded | None:
        """``tables``' scale and mode (a :class:`~repchange.studies.a.scale.ScaleTables`) when the record holds
        exactly it, else None. Raises :class:`RecordError` when a file's checksum differs from the record's."""
        entry = self.meta["entries"].get(record_key(tables))
        if entry is None:
            return None
        frames = {}
        for name in TABLES:
            path = self.folder / entry["key"] / f"{name}.csv.gz"
            data = path.read_bytes() if path.exists() else b""
            if _sha256(data) != entry["files"][name]:
                raise RecordError(f"scale record: {path} does not match the sha256 in {self.folder / 'record.json'} "
                                  f"(edited, truncated or missing); restore it with git, or re-run the scale profile "
                                  f"and `repchange scale-record`")
            frames[name] = pd.read_csv(io.BytesIO(gzip.decompress(data)))
        return Recorded(frames, int(entry["images"]), record_source(entry["provenance"]))


def write_record(folder: str | Path, measured: Mapping[str, tuple[Any, dict[str, pd.DataFrame], int]],
                 provenance: Mapping[str, str]) -> Path:
    """Write (or extend) the record in ``folder``: ``measured`` maps a label (``all × 4 batch``) to (the
    :class:`~repchange.studies.a.scale.ScaleTables`, its five tables, its image count); ``provenance`` holds
    ``date``, ``commit``, ``machine`` and ``command``, and where known :data:`MACHINE_DETAILS` (torch's version, its
    CPU capability and thread count: what sets a float order). Entries of other keys already there are kept, and so is an
    entry whose files come out byte-identical (its first provenance stands)."""
    folder = Path(folder)
    record = ScaleRecord(folder)
    entries = dict(record.meta["entries"])
    for label, (tables, frames, images) in measured.items():
        if set(frames) != set(TABLES):
            raise ValueError(f"write_record: {label} needs the tables {TABLES}, got {sorted(frames)}")
        key = record_key(tables)
        (folder / key).mkdir(parents=True, exist_ok=True)
        files = {}
        for name in TABLES:
            data = _csv_gz(frames[name])
            atomic_write(folder / key / f"{name}.csv.gz", lambda p, d=data: p.write_bytes(d))
            files[name] = _sha256(data)
        if key in entries and entries[key]["files"] == files:
            continue  # the same measurements recorded before: keep when and where they were first recorded
        entries[key] = dict(key=key, label=label, scale=[tables.scale.images, tables.scale.epochs], bn=tables.bn,
                            seeds=list(tables.pretraining.seeds), images=int(images), files=files,
                            provenance={k: str(provenance[k]) for k in ("date", "commit", "machine", "command",
                                                                         *MACHINE_DETAILS) if k in provenance})
    meta = {"entries": entries}
    atomic_write(folder / "record.json", lambda p: p.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n"))
    return folder
