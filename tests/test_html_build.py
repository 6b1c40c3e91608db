"""The book's HTML rebuilt only where a staged page changed (repchange.book.html_build), on a two-page book."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from repchange.book import html_build

CONFIG = "title: A two-page book\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: 'off'\n"
TOC = "format: jb-book\nroot: intro\nchapters:\n- file: chapter\n"


def _book(src: Path) -> None:
    src.mkdir(parents=True, exist_ok=True)
    (src / "_config.yml").write_text(CONFIG)
    (src / "_toc.yml").write_text(TOC)
    (src / "intro.md").write_text("# Intro\n\nThe first page. See {doc}`chapter`.\n")
    (src / "chapter.md").write_text("# Chapter\n\nThe second page, version one.\n")


def test_staging_writes_only_what_differs(tmp_path: Path) -> None:
    source, target = tmp_path / "a.txt", tmp_path / "staged" / "a.txt"
    source.write_text("one")
    assert html_build.stage_file(source, target) and target.read_text() == "one"
    os.utime(target, (1_000_000, 1_000_000))
    assert not html_build.stage_file(source, target)
    assert target.stat().st_mtime == 1_000_000  # unchanged bytes: untouched, so Sphinx does not reread it
    source.write_text("two")
    assert html_build.stage_file(source, target) and target.read_text() == "two"
    assert target.stat().st_mtime > 1_000_000


def test_fingerprint_sees_paths_bytes_and_command(tmp_path: Path) -> None:
    _book(tmp_path)
    first = html_build.sources_fingerprint(tmp_path, ["-W"])
    assert html_build.sources_fingerprint(tmp_path, ["-W"]) == first
    assert html_build.sources_fingerprint(tmp_path, []) != first
    (tmp_path / "chapter.md").write_text("# Chapter\n\nchanged\n")
    second = html_build.sources_fingerprint(tmp_path, ["-W"])
    assert second != first
    (tmp_path / "chapter.md").rename(tmp_path / "renamed.md")
    assert html_build.sources_fingerprint(tmp_path, ["-W"]) != second


@pytest.mark.slow
def test_unchanged_book_is_kept_changed_page_rebuilt_and_a_failure_rebuilds_all(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    _book(src)
    html, how = html_build.build_html(src, out)
    assert how == "full" and "version one" in (html / "chapter.html").read_text()

    assert html_build.build_html(src, out)[1] == "kept"

    intro_read = out / "sphinx" / "_build" / ".doctrees" / "intro.doctree"
    stamp = intro_read.stat().st_mtime_ns
    (src / "chapter.md").write_text("# Chapter\n\nThe second page, version two.\n")
    html, how = html_build.build_html(src, out)
    assert how == "incremental" and "version two" in (html / "chapter.html").read_text()
    assert intro_read.stat().st_mtime_ns == stamp  # the unchanged page was not read again

    (src / "chapter.md").write_text("# Chapter\n\nA broken link: {doc}`no_such_page`.\n")
    with pytest.raises(RuntimeError, match="jupyter-book build failed"):
        html_build.build_html(src, out)
    assert not (out / "sphinx").exists() and not (out / "html.key").exists()
    (src / "chapter.md").write_text("# Chapter\n\nThe second page, version three.\n")
    html, how = html_build.build_html(src, out)
    assert how == "full" and "version three" in (html / "chapter.html").read_text()
    assert html_build.build_html(src, out, full=True)[1] == "full"  # --rerun rereads every page
