"""The book's HTML from its staged sources, rebuilt only where they changed.

A build stages the book under ``<out>/src`` (config, prose, executed notebooks) and jupyter-book (Sphinx)
writes the site into ``<out>/sphinx``, kept between builds:

- **nothing changed** — every staged file's path and bytes, and the build command, equal those of the last
  build that succeeded (their hash is ``<out>/html.key``) and the site is there: no build at all;
- **some pages changed** — Sphinx's own incremental build rereads only the pages whose files are newer than
  its saved environment (staging writes a file only when its bytes differ, so an unchanged page keeps its
  time) and writes the pages that depend on them; a changed ``_config.yml`` or ``_toc.yml`` rebuilds all;
- **a failed build** removes the kept environment and key, so the next build rereads every page and
  shows every warning again (an incremental build would not repeat the warnings of pages it skips).

``full=True`` (``repchange book --rerun``) always rereads every page.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["build_html", "sources_fingerprint", "stage_bytes", "stage_file", "stage_tree"]


def stage_file(source: Path, target: Path) -> bool:
    """Copy ``source`` to ``target`` only when their bytes differ (so an unchanged file keeps its time, which
    Sphinx reads); True when it wrote."""
    return stage_bytes(Path(source).read_bytes(), target)


def stage_bytes(data: bytes, target: Path) -> bool:
    """Write ``data`` to ``target`` only when it differs from what is there; True when it wrote."""
    target = Path(target)
    if target.exists() and target.read_bytes() == data:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return True


def stage_tree(source: Path, target: Path) -> int:
    """:func:`stage_file` for every file under ``source`` (same relative paths); the number written."""
    return sum(stage_file(path, Path(target) / path.relative_to(source))
               for path in sorted(Path(source).rglob("*")) if path.is_file())


def sources_fingerprint(src: Path, command: list[str]) -> str:
    """SHA-256 of every file's relative path and bytes under ``src`` and of ``command``."""
    digest = hashlib.sha256("\0".join(command).encode())
    for path in sorted(p for p in Path(src).rglob("*") if p.is_file()):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build_html(src: Path, out: Path, *, warnings_as_errors: bool = True, full: bool = False,
               cwd: Path | None = None) -> tuple[Path, str]:
    """Build (or keep) the site of the staged book ``src`` into ``<out>/html``; return (that folder, what
    happened: ``"kept"``, ``"incremental"`` or ``"full"``). Raises RuntimeError with jupyter-book's output when
    the build fails (with ``warnings_as_errors``, any warning: ``-W -n --keep-going``)."""
    src, out = Path(src), Path(out)
    work, html, key_file = out / "sphinx", out / "html", out / "html.key"
    flags = ["-W", "-n", "--keep-going"] if warnings_as_errors else []
    key = sources_fingerprint(src, flags)
    if not full and key_file.exists() and key_file.read_text() == key and (html / "index.html").exists():
        return html, "kept"
    if full or not (work / "_build" / ".doctrees").exists():
        shutil.rmtree(work, ignore_errors=True)
        kind = "full"
    else:
        kind = "incremental"
    key_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(src),
           "--path-output", str(work), *flags]
    print("building HTML:", kind, "- jupyter-book", " ".join(cmd[3:]), flush=True)
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)  # the next build rereads every page and repeats every warning
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n"
                           f"{proc.stderr[-6000:]}")
    if html.exists():
        shutil.rmtree(html)
    shutil.copytree(work / "_build" / "html", html)
    key_file.write_text(key)
    return html, kind
