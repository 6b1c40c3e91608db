"""Files written whole or not at all, and the default folder where runs and tracks are kept."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "default_root"]


def default_root() -> Path:
    """``$REPCHANGE_STORE``, else ``runs/store`` in this checkout, else ``~/.cache/repchange/store``."""
    env = os.environ.get("REPCHANGE_STORE")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[3]  # lib/repchange/base/files.py -> checkout
    if (checkout / "pyproject.toml").exists() and (checkout / "lib" / "repchange").is_dir():
        return checkout / "runs" / "store"
    return Path.home() / ".cache" / "repchange" / "store"


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
