"""The run store: every trained model and computed table, keyed by a hash of its full config.

A run lives in ``<root>/<kind>/<key>/`` where ``key`` hashes the canonical JSON of
``{"kind", "config", "code"}``; ``code`` is a hash of the code of the library modules the
run depends on (its top-level definitions, with imports, docstrings and comments left out), so
editing the trainer invalidates stored trainings but editing a plot, a docstring, moving a module
or splitting it in two does not.

A run is *complete* only once ``complete.json`` exists; it is written last, atomically.
Readers never look at a run without it, so a killed run is never served as a result; the
half-finished folder is kept so the producer can resume from its last checkpoint.
Concurrent producers of the same key serialise on a lock file.

``complete.json`` is the run's manifest: its kind, the code it was made by (module names and
version) and every file's size and SHA-256. The store serves a run only after checking its files
against the manifest (once per process while the files' sizes and times are unchanged). A run that
fails — a file edited, truncated or missing, or a run stored before manifests recorded checksums —
is moved aside to ``<root>/.quarantine/`` (never deleted), named in one line on stderr, and made
again.

A write that fails for want of room or permission raises :class:`StoreWriteError`, which names the
store, its free space and ``REPCHANGE_STORE``; the runs finished before it stay complete.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import fcntl
import functools
import hashlib
import importlib
import inspect
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import pandas as pd

from repchange.base.files import atomic_write, default_root
from repchange.measure.kernels import key_print, kernels_of

__all__ = ["COMPLETE", "QUARANTINE", "Store", "StoreWriteError", "code_version", "config_key",
           "definition_fingerprints", "file_manifest", "pooled_fingerprint", "read_manifest",
           "source_fingerprint", "verify_run", "write_failure"]

T = TypeVar("T")
COMPLETE = "complete.json"
QUARANTINE = ".quarantine"


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"config value {obj!r} of type {type(obj).__name__} cannot be part of a run key")


class _CodeOnly(ast.NodeTransformer):
    """Drops imports and docstrings: what a module *does*, not where it lives or how it is explained."""

    def visit_Import(self, node: ast.AST) -> None:
        return None

    visit_ImportFrom = visit_Import

    def _body(self, node: ast.AST) -> ast.AST:
        self.generic_visit(node)
        body = node.body  # type: ignore[attr-defined]
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:]
        node.body = body or [ast.Pass()]  # type: ignore[attr-defined]
        return node

    visit_Module = visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _body


def _is_declaration(node: ast.stmt) -> bool:
    """``__all__`` and the ``*_CODE`` tuples naming the modules a run depends on: they say where code
    lives, not what it computes."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    return bool(targets) and all(isinstance(t, ast.Name) and (t.id in ("__all__", "CODE") or t.id.endswith("_CODE"))
                                 for t in targets)


def definition_fingerprints(source: str) -> set[str]:
    """One hash per top-level statement of a module's code (imports, docstrings, comments, layout,
    ``__all__`` and ``*_CODE`` declarations left out), as a set: order and duplicates do not count."""
    tree = _CodeOnly().visit(ast.parse(source))
    return {hashlib.sha256(ast.dump(node, annotate_fields=False, include_attributes=False).encode()).hexdigest()
            for node in tree.body if not isinstance(node, ast.Pass) and not _is_declaration(node)}


def source_fingerprint(source: str) -> str:
    """Hash of a module's code (:func:`definition_fingerprints`).

    So moving a module to another package (its relative imports change), rewording a docstring
    or reformatting keeps every stored run; changing what the code computes does not."""
    return hashlib.sha256("".join(sorted(definition_fingerprints(source))).encode()).hexdigest()


def pooled_fingerprint(sources: Iterable[str]) -> str:
    """Short hash of the top-level definitions of several modules' sources, pooled: independent of
    their order and of which module holds which definition."""
    return _pooled(set().union(*(definition_fingerprints(source) for source in sources)))


def _pooled(prints: Iterable[str]) -> str:
    return hashlib.sha256("".join(sorted(prints)).encode()).hexdigest()[:16]


def code_version(modules: tuple[str, ...]) -> str:
    """:func:`pooled_fingerprint` of ``repchange.<module>`` for each name in ``modules``: a module can
    move, or be split in two that are both listed, without orphaning runs. A module of kernels
    (``KEYED_BY_KERNELS = True``, :mod:`repchange.measure.kernels`) enters as its kernels' names and versions instead
    of its definitions: refactoring it with the same values keeps every key; a kernel with new values has a new
    version (its golden-value test fails until it does) and re-keys.

    Each module's fingerprints are parsed once per version of its file (path, size, modification time)
    and process: a book asks for a key per run and check, and parsing cost 0.3 s per key."""
    return _pooled(set().union(*(_module_prints(name) for name in modules)))


def _module_prints(name: str) -> frozenset[str]:
    """What module ``name`` contributes to a code version: its kernels' versions, or its definitions' fingerprints."""
    module = importlib.import_module(f"repchange.{name}")
    if getattr(module, "KEYED_BY_KERNELS", False):
        versions = kernels_of(name)
        if not versions:
            raise RuntimeError(f"repchange.{name} is keyed by kernels but registers none (@kernel in measure.kernels)")
        return frozenset(key_print(kernel, version) for kernel, version in versions.items())
    return _module_fingerprints(name, *_file_stamp(name))


def _file_stamp(name: str) -> tuple[str, int, int]:
    path = Path(inspect.getsourcefile(importlib.import_module(f"repchange.{name}")))
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=None)
def _module_fingerprints(name: str, path: str, size: int, mtime_ns: int) -> frozenset[str]:
    """:func:`definition_fingerprints` of the module file ``path`` as it is now (the stamp is the cache key)."""
    return frozenset(definition_fingerprints(Path(path).read_text()))


def config_key(kind: str, config: Any, code: tuple[str, ...] = ()) -> str:
    """The run key: sha256 of the canonical JSON of kind, config and code version."""
    payload = {"kind": kind, "config": _jsonable(config), "code": code_version(code) if code else ""}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _stored_files(run_dir: Path) -> list[Path]:
    """The run's files a manifest covers: all but the lock, the manifest itself and hidden temporaries."""
    return sorted(p for p in run_dir.rglob("*") if p.is_file() and p.name != COMPLETE
                  and not any(part.startswith(".") for part in p.relative_to(run_dir).parts))


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_manifest(run_dir: Path) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size": bytes, "sha256": hex}}`` of every file of ``run_dir`` (see :func:`_stored_files`)."""
    return {p.relative_to(run_dir).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
            for p in _stored_files(run_dir)}


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The parsed ``complete.json`` of ``run_dir`` (ValueError if it is not a JSON object)."""
    manifest = json.loads((run_dir / COMPLETE).read_text())
    if not isinstance(manifest, dict):
        raise ValueError("complete.json is not a JSON object")
    return manifest


def verify_run(run_dir: Path) -> str | None:
    """Why the complete run ``run_dir`` must not be served, or None when every file the manifest lists is
    there with its recorded size and SHA-256 (files the manifest does not list are not served and not checked)."""
    try:
        manifest = read_manifest(run_dir)
    except (OSError, ValueError) as err:
        return f"its manifest cannot be read ({err})"
    files = manifest.get("files")
    if not isinstance(files, dict):
        return "stored before the store recorded checksums"
    for name, want in files.items():
        path = run_dir / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != want.get("size"):
            return f"{name} has {size} bytes, {want.get('size')} recorded"
        if _sha256(path) != want.get("sha256"):
            return f"{name} differs from its recorded checksum"
    return None


_VERIFIED: dict[Path, tuple] = {}  # run folder -> the file stats it was verified with, in this process


def _stats(run_dir: Path) -> tuple:
    return tuple((p.as_posix(), st.st_size, st.st_mtime_ns) for p in [run_dir / COMPLETE, *_stored_files(run_dir)]
                 for st in [p.stat()])


class StoreWriteError(OSError):
    """The store could not be written (a full disk, a read-only or forbidden folder); the message says what to do."""


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_FORBIDDEN = (errno.EROFS, errno.EACCES, errno.EPERM)
_TORCH_WRITE = ("unexpected pos", "PytorchStreamWriter", "file write failed")
"""What torch.save's zip writer says when the disk fills mid-write (``[enforce fail at inline_container.cc:...]
. unexpected pos 704 vs 598``); it raises a RuntimeError, not an OSError."""


def _free(folder: Path) -> str:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown free space"
    return f"{free / 2**20:,.0f} MB free" if free >= 2**20 else f"{free:,} bytes free"


def write_failure(error: BaseException, root: Path) -> StoreWriteError | None:
    """A :class:`StoreWriteError` for ``error`` raised while writing the store at ``root`` — naming the store, its
    free space and ``REPCHANGE_STORE`` — or None when ``error`` is not a failed write."""
    if isinstance(error, StoreWriteError):
        return error
    code = error.errno if isinstance(error, OSError) else None
    filename = getattr(error, "filename", None)
    elsewhere = filename is not None and not Path(os.fsdecode(filename)).resolve().is_relative_to(root)
    if elsewhere or (code in _FORBIDDEN and filename is None):  # a file outside the store (data, /tmp): not ours
        return None
    if code in _FULL or (isinstance(error, RuntimeError) and any(s in str(error) for s in _TORCH_WRITE)):
        return StoreWriteError(
            f"the run store {root} is out of space ({_free(root)}; {error}); free space there or point "
            f"REPCHANGE_STORE at a folder with room, then run again: finished runs are kept and an interrupted "
            f"training resumes from its last checkpoint")
    if code in _FORBIDDEN:
        what = "read-only" if code == errno.EROFS else "not writable by this user"
        return StoreWriteError(
            f"the run store {root} is {what} ({error}); set REPCHANGE_STORE to a writable folder (runs found in "
            f"{root} can be copied there)")
    return None


class Store:
    """Runs on disk, keyed by config. ``Store()`` uses :func:`default_root`."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else default_root()

    def run_dir(self, kind: str, config: Any, code: tuple[str, ...] = ()) -> Path:
        return self.root / kind / config_key(kind, config, code)

    @staticmethod
    def is_complete(run_dir: Path) -> bool:
        """Whether the run was finished (its manifest written); :meth:`serves` also checks its files."""
        return (run_dir / COMPLETE).exists()

    def serves(self, run_dir: Path) -> bool:
        """Whether the store serves ``run_dir``: complete and its files as its manifest records them. A
        complete run that fails is quarantined (:meth:`quarantine`) and reads as not stored."""
        if not self.is_complete(run_dir):
            return False
        try:
            stats = _stats(run_dir)
        except OSError:
            stats = None
        if stats is not None and _VERIFIED.get(run_dir) == stats:
            return True
        problem = verify_run(run_dir)
        if problem is None:
            _VERIFIED[run_dir] = stats
            return True
        with self._locked(run_dir):
            if self.is_complete(run_dir) and verify_run(run_dir) is not None:  # not already mended by another process
                self.quarantine(run_dir, problem)
        return self.serves(run_dir) if self.is_complete(run_dir) else False

    def quarantine(self, run_dir: Path, why: str) -> Path:
        """Move ``run_dir``'s files (all but its lock) to ``<root>/.quarantine/<kind>/<key>-<time>/`` and say so
        in one line on stderr; returns the new folder."""
        relative = run_dir.relative_to(self.root)
        target = self.root / QUARANTINE / relative.parent / f"{run_dir.name}-{time.strftime('%Y%m%dT%H%M%S')}"
        target.mkdir(parents=True, exist_ok=True)
        (run_dir / COMPLETE).replace(target / COMPLETE)  # first: from here on the run is not complete
        for path in sorted(run_dir.iterdir()):
            if path.name != ".lock":
                path.replace(target / path.name)
        _VERIFIED.pop(run_dir, None)
        print(f"store: {relative} failed its check ({why}); moved to {target}, making it again", file=sys.stderr)
        return target

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Translate a failed write into :class:`StoreWriteError` (:func:`write_failure`); other errors pass."""
        try:
            yield
        except (OSError, RuntimeError) as error:
            translated = write_failure(error, self.root)
            if translated is None or translated is error:
                raise
            raise translated from error

    def has(self, kind: str, config: Any, code: tuple[str, ...] = ()) -> bool:
        """Whether the run (or table) for ``config`` is stored, complete and passes its check (:meth:`serves`)."""
        return self.serves(self.run_dir(kind, config, code))

    def missing(self, kind: str, configs: Iterable[T], code: tuple[str, ...] = ()) -> list[T]:
        """The distinct ``configs`` (hashable, in first-seen order) whose run is not yet stored."""
        return [c for c in dict.fromkeys(configs) if not self.has(kind, c, code)]

    @contextlib.contextmanager
    def _locked(self, run_dir: Path) -> Iterator[None]:
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def get_or_run(
        self, kind: str, config: Any, produce: Callable[[Path], None], *, code: tuple[str, ...] = ()
    ) -> Path:
        """The complete run folder for ``config``; calls ``produce(run_dir)`` first if there is none.

        ``produce`` writes its files into ``run_dir`` (atomically, with :func:`atomic_write`) and
        may find files of an earlier, interrupted attempt there to resume from.
        """
        run_dir = self.run_dir(kind, config, code)
        if self.serves(run_dir):
            return run_dir
        with self._writing(), self._locked(run_dir):
            if self.is_complete(run_dir):  # another process finished it while we waited
                return run_dir
            config_json = json.dumps({"kind": kind, "config": _jsonable(config)}, indent=2, sort_keys=True)
            atomic_write(run_dir / "config.json", lambda p: p.write_text(config_json))
            produce(run_dir)
            manifest = {"key": run_dir.name, "kind": kind,
                        "code": {"modules": list(code), "version": code_version(code) if code else ""},
                        "files": file_manifest(run_dir)}
            atomic_write(run_dir / COMPLETE, lambda p: p.write_text(json.dumps(manifest, indent=1)))
            _VERIFIED[run_dir] = _stats(run_dir)
        return run_dir

    def table(
        self, kind: str, config: Any, compute: Callable[[], pd.DataFrame], *, code: tuple[str, ...] = ()
    ) -> pd.DataFrame:
        """A results table for ``config``: loaded if stored, else ``compute()``-d and stored."""

        def produce(run_dir: Path) -> None:
            frame = compute()
            atomic_write(run_dir / "table.csv", lambda p: frame.to_csv(p, index=False))

        run_dir = self.get_or_run(kind, config, produce, code=code)
        return pd.read_csv(run_dir / "table.csv")
