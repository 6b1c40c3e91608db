"""The browser check finds what it promises to find, on a small site with one fault of each kind."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from repchange.book import check

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


@pytest.fixture
def chromium() -> str:
    try:
        return check.find_chromium()
    except FileNotFoundError as err:
        if os.environ.get("REPCHANGE_REQUIRE_BROWSER") == "1":
            raise
        pytest.skip(str(err))


def _page(body: str) -> str:
    return f"<!doctype html><html><head><title>t</title></head><body><main>{body}</main></body></html>"


def test_each_kind_of_fault_is_reported_and_a_clean_site_passes(chromium: str, tmp_path: Path) -> None:
    site = tmp_path / "html"
    (site / "notebooks").mkdir(parents=True)
    (site / "ok.png").write_bytes(PNG)
    (site / "index.html").write_text(_page(
        '<img src="ok.png"><img src="missing.png"><a href="gone.html">x</a><a href="ok.html#nowhere">y</a>'
        '<a href="ok.html#here">z</a><script>undefinedFunction()</script>'))
    (site / "ok.html").write_text(_page('<p id="here">fine</p><pre>a regex \\( in code is not maths</pre>'))
    (site / "wide.html").write_text(_page('<table style="width: 3000px"><tr><td>a</td></tr></table>'
                                          '<details><summary>folded</summary><pre style="width: 3000px">x</pre></details>'))
    (site / "maths.html").write_text(_page('<p>label <span class="math notranslate">\\(y_d = (y + Y) \\bmod D\\)</span>'
                                           ' and <div class="math">$$x$$</div></p>'))
    figure = '<div class="cell"><div class="cell_output"><img src="../ok.png"></div></div><p>Figure 1.</p>'
    box = '<div class="admonition provenance"><p>data: x · profile: smoke · seeds: [1]</p></div>'
    (site / "notebooks" / "good.html").write_text(_page(box + figure + figure))
    (site / "notebooks" / "bare.html").write_text(_page(figure + "<p>no provenance</p>"))
    (site / "notebooks" / "late.html").write_text(_page(figure + box + figure))
    (site / "notebooks" / "twice.html").write_text(_page(
        box + figure + "<p>Figure 1. data: x · profile: smoke · seeds: [1]</p>" + box))
    (site / "notebooks" / "unnamed.html").write_text(_page('<div class="provenance"><p>data: x</p></div>' + figure))
    (site / "notebooks" / "leaky.html").write_text(_page(
        '<div class="cell tag_injected-parameters"><pre># Parameters\nprofile = "default"</pre></div>'
        "<pre>PosixPath('/work/main/runs/x.csv')</pre><details><summary>code</summary><pre>/root/hidden</pre></details>"))
    problems = [str(p) for p in check.check_site(site)]
    assert any(p.startswith("index.html: broken image missing.png") for p in problems)
    assert any(p.startswith("index.html: failed to load") and "missing.png" in p for p in problems)
    assert "index.html: link to a missing file gone.html" in problems
    assert "index.html: link to a missing anchor ok.html#nowhere" in problems
    assert any(p.startswith("index.html: JavaScript error: ReferenceError: undefinedFunction") for p in problems)
    assert "notebooks/bare.html: figures without a provenance box (class 'provenance') naming profile and seeds" in problems
    assert "notebooks/late.html: the provenance box comes after the first figure" in problems
    assert "notebooks/twice.html: provenance stated in 2 boxes; a page states it once" in problems
    assert "notebooks/twice.html: provenance repeated 1 time(s) outside its box; a page states it once" in problems
    assert "notebooks/unnamed.html: the provenance box does not name profile and seeds" in problems
    assert len([p for p in problems if p.startswith(("notebooks/bare", "notebooks/late", "notebooks/unnamed"))]) == 3
    assert "notebooks/leaky.html: papermill's injected-parameters cell is visible" in problems
    assert "notebooks/leaky.html: machine path visible: 'PosixPath('" in problems
    assert "notebooks/leaky.html: machine path visible: '/work/main'" in problems
    assert not any("/root/hidden" in p for p in problems)  # folded code is not visible text
    assert any(p.startswith("maths.html: ") and p.endswith("raw TeX delimiter(s) visible: maths not rendered") for p in problems)
    wide = [p for p in problems if p.startswith("wide.html")]
    assert len(wide) == 1 and wide[0].startswith("wide.html: too wide: table ")  # the folded <pre> is not seen
    assert not [p for p in problems if p.startswith(("ok.html", "notebooks/good.html"))]


def test_a_folder_without_a_book_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no built book"):
        check.check_site(tmp_path)


def test_a_word_broken_inside_a_table_cell_is_reported_with_its_table(chromium: str, tmp_path: Path) -> None:
    """A column too narrow for its words: the browser breaks "inconclusive" inside the word (the book's CSS lets it,
    so that nothing runs past the column); a cell that wraps between words, or at a hyphen, is fine."""
    site = tmp_path / "html"
    site.mkdir()
    css = "<style>td { overflow-wrap: anywhere; word-break: break-word; }</style>"
    (site / "index.html").write_text(_page(
        f'{css}<table id="ledger"><tr><td style="width: 30px; max-width: 30px">inconclusive</td></tr></table>'
        '<table><tr><td style="width: 60px; max-width: 60px">does not hold</td>'
        '<td style="width: 90px; max-width: 90px">A3-less-change-early</td></tr></table>'
        '<details><summary>folded</summary><table><tr><td style="width: 20px; max-width: 20px">negligible'
        '</td></tr></table></details>'))
    problems = [str(p) for p in check.check_site(site, landing=False)]
    broken = [p for p in problems if "broken" in p]
    assert len(broken) == 1 and broken[0].startswith('index.html: a word broken inside a table cell: #ledger: "inc')


def test_the_landing_page_must_state_findings_with_a_figure(chromium: str, tmp_path: Path) -> None:
    site = tmp_path / "html"
    (site / "notebooks").mkdir(parents=True)
    (site / "ok.png").write_bytes(PNG)
    (site / "index.html").write_text('<!doctype html><meta http-equiv="refresh" content="0; url=notebooks/intro.html">')
    box = '<div class="admonition provenance"><p>data: x · profile: smoke · seeds: [1]</p></div>'
    figure = '<div class="cell"><div class="cell_output"><img src="../ok.png"></div></div>'
    (site / "notebooks" / "intro.html").write_text(_page(
        f'{box}<section id="what-this-book-found"><p>Of the 30 claims: 12 holds.</p>{figure}</section>'))
    assert not [str(p) for p in check.check_site(site) if str(p).startswith("index.html")]
    (site / "notebooks" / "intro.html").write_text(_page(f'{box}<section id="what-this-book-found"><p>Of the 30 '
                                                         'claims: 12 holds.</p></section>'))
    problems = [str(p) for p in check.check_site(site)]
    assert "index.html: the landing page's findings show no figure (the ledger's forest plot)" in problems
    (site / "notebooks" / "intro.html").write_text(_page("<h1>repchange</h1>"))
    problems = [str(p) for p in check.check_site(site)]
    assert "index.html: the landing page has no section 'What this book found'" in problems
