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
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import hashlib
import importlib
import inspect
import json
import os
import tempfile
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import pandas as pd

__all__ = ["Store", "atomic_write", "code_version", "config_key", "default_root", "definition_fingerprints",
           "pooled_fingerprint", "source_fingerprint"]

T = TypeVar("T")
COMPLETE = "complete.json"


def default_root() -> Path:
    """``$REPCHANGE_STORE``, else ``runs/store`` in this checkout, else ``~/.cache/repchange/store``."""
    env = os.environ.get("REPCHANGE_STORE")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[3]  # lib/repchange/core/store.py -> checkout
    if (checkout / "pyproject.toml").exists() and (checkout / "lib" / "repchange").is_dir():
        return checkout / "runs" / "store"
    return Path.home() / ".cache" / "repchange" / "store"


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
    prints = set().union(*(definition_fingerprints(source) for source in sources))
    return hashlib.sha256("".join(sorted(prints)).encode()).hexdigest()[:16]


def code_version(modules: tuple[str, ...]) -> str:
    """:func:`pooled_fingerprint` of ``repchange.<module>`` for each name in ``modules``: a module can
    move, or be split in two that are both listed, without orphaning runs."""
    return pooled_fingerprint(inspect.getsource(importlib.import_module(f"repchange.{name}")) for name in modules)


def config_key(kind: str, config: Any, code: tuple[str, ...] = ()) -> str:
    """The run key: sha256 of the canonical JSON of kind, config and code version."""
    payload = {"kind": kind, "config": _jsonable(config), "code": code_version(code) if code else ""}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class Store:
    """Runs on disk, keyed by config. ``Store()`` uses :func:`default_root`."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser().resolve() if root is not None else default_root()

    def run_dir(self, kind: str, config: Any, code: tuple[str, ...] = ()) -> Path:
        return self.root / kind / config_key(kind, config, code)

    @staticmethod
    def is_complete(run_dir: Path) -> bool:
        return (run_dir / COMPLETE).exists()

    def has(self, kind: str, config: Any, code: tuple[str, ...] = ()) -> bool:
        """Whether the run (or table) for ``config`` is stored and complete."""
        return self.is_complete(self.run_dir(kind, config, code))

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
        if self.is_complete(run_dir):
            return run_dir
        with self._locked(run_dir):
            if self.is_complete(run_dir):  # another process finished it while we waited
                return run_dir
            config_json = json.dumps({"kind": kind, "config": _jsonable(config)}, indent=2, sort_keys=True)
            atomic_write(run_dir / "config.json", lambda p: p.write_text(config_json))
            produce(run_dir)
            atomic_write(run_dir / COMPLETE, lambda p: p.write_text(json.dumps({"key": run_dir.name})))
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
