"""The code behind each page: read from a notebook's imports, linked to generated pages of the modules' source."""

from __future__ import annotations

import nbformat

from repchange.book import code_behind, runner

SOURCE = '''
import numpy as np
from repchange.studies.a import tables
from repchange.book.glue import glue_summary, provenance
import repchange.measure.metrics as m
from repchange.studies.a import summaries as s

sweep = tables.degree_sweep(1)
tables.degree_sweep(2)
s.cka_vs_degree(sweep, 3)
m.linear_cka(np.ones((2, 2)), np.ones((2, 2)))
'''


def test_calls_are_read_from_imports_with_the_names_used() -> None:
    calls = code_behind.library_calls(SOURCE)
    assert calls.modules == {"book.glue": ["glue_summary", "provenance"], "measure.metrics": ["linear_cka"],
                             "studies.a.summaries": ["cka_vs_degree"], "studies.a.tables": ["degree_sweep"]}
    assert code_behind.library_calls("import numpy\nfrom os import path\n").modules == {}


def test_the_section_links_each_module_to_its_code_page_and_is_left_out_where_none_is_called() -> None:
    calls = code_behind.library_calls(SOURCE)
    text = code_behind.section(calls)
    assert text.startswith(f"## {code_behind.HEADING}")
    assert "- [`repchange.studies.a.tables`](../book/code/studies.a.tables.md): `degree_sweep`" in text
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    assert code_behind.with_section(nb, calls).cells[-1].source == text
    assert len(code_behind.with_section(nbformat.v4.new_notebook(), code_behind.Calls()).cells) == 0


def test_each_module_page_shows_its_whole_source_and_its_callers() -> None:
    pages = code_behind.module_pages({"studies.a.tables": [("notebooks/a3_cka_vs_degree", "Figure 3a")],
                                      "book.code_behind": [("notebooks/intro", "Landing")]})
    page = pages["book/code/studies.a.tables.md"]
    source = (runner.project_root() / "lib/repchange/studies/a/tables.py").read_text()
    assert page.startswith("# `repchange.studies.a.tables`") and source.rstrip("\n") in page
    assert "{doc}`Figure 3a </notebooks/a3_cka_vs_degree>`" in page and "`lib/repchange/studies/a/tables.py`" in page
    own = pages["book/code/book.code_behind.md"]
    assert own.splitlines()[4] == "```python" and own.rstrip().endswith("\n```")
    assert code_behind._fence("a ```` b") == "`````" and code_behind._fence("x") == "```"  # never closed early
    index = pages["book/code/index.md"]
    assert "[`repchange.studies.a.tables`](studies.a.tables.md)" in index and "Landing" in index
    part = code_behind.toc_part(["studies.a.tables", "book.code_behind"])
    assert part["chapters"][0]["file"] == "book/code/index"
    assert [s["file"] for s in part["chapters"][0]["sections"]] == ["book/code/book.code_behind",
                                                                    "book/code/studies.a.tables"]


def test_every_book_notebook_calls_the_library_through_modules_that_exist() -> None:
    for nb in runner.book_notebooks():
        calls = code_behind.library_calls(nb.read_text())
        assert calls.modules or nb.stem == "explorer", f"{nb.name} calls no library module"
        code_behind.module_pages({m: [("notebooks/x", "x")] for m in calls.modules})  # each has a source file
