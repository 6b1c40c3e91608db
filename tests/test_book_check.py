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
        "<pre>PosixPath('/work/main/runs/x.csv')</pre><details><summary>code</summary><pre>/root/hidden</pre></details>"
        "<p>the pairing (&lt;IPython.core.display.Markdown object&gt;) agrees</p>"))
    (site / "notebooks" / "listing.html").write_text(_page(  # a module's source naming the repr, as code
        "<pre>shows ``&lt;IPython.core.display.Markdown object&gt;`` as plain text</pre>"))
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
    assert any(p.startswith("notebooks/leaky.html: an object's repr instead of its text: "
                            "'<IPython.core.display.Markdown object>'") for p in problems)
    assert not any("object's repr" in p for p in problems if not p.startswith("notebooks/leaky.html"))
    assert not any("/root/hidden" in p for p in problems)  # folded code is not visible text
    assert any(p.startswith("maths.html: ") and p.endswith("raw TeX delimiter(s) visible: maths not rendered") for p in problems)
    wide = [p for p in problems if p.startswith("wide.html")]
    assert len(wide) == 1 and wide[0].startswith("wide.html: too wide: table 1 is ")  # the folded <pre> is not seen
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


def test_a_table_that_scrolls_sideways_inside_the_column_is_too_wide(chromium: str, tmp_path: Path) -> None:
    """The book's CSS lets a wide table scroll inside the column, so nothing reaches past it; the check still measures
    the table's full width (its scroll width), and names the table by its first headers."""
    site = tmp_path / "html"
    site.mkdir()
    css = "<style>table { display: block; max-width: 100%; overflow-x: auto; } td { white-space: nowrap; }</style>"
    cells = "".join(f"<td>column {i} with a long value</td>" for i in range(12))
    (site / "index.html").write_text(_page(
        f'{css}<table><tr><th>step</th><th>layer</th></tr><tr>{cells}</tr></table>'
        '<table><tr><th>fits</th></tr><tr><td>1</td></tr></table>'))
    problems = [str(p) for p in check.check_site(site, landing=False)]
    assert len(problems) == 1 and problems[0].startswith("index.html: too wide: table 1 (step | layer) is ")
    assert problems[0].endswith(" px wider than its column")


def test_nan_and_scientific_notation_for_ordinary_values_are_reported(chromium: str, tmp_path: Path) -> None:
    """NaN in a cell, and 1.000000e+00 or 5e-3 for ordinary values, are reported per table; a p-value of 2.6e-08 (below
    1e-3, where scientific notation is the readable form), "—" and decimals are fine."""
    site = tmp_path / "html"
    site.mkdir()
    (site / "index.html").write_text(_page(
        '<table id="raw"><tr><th>value</th><th>p</th></tr><tr><td>NaN</td><td>1.000000e+00</td></tr>'
        '<tr><td>nan</td><td>lr 5e-3</td></tr></table>'
        '<table id="clean"><tr><th>value</th><th>p</th></tr><tr><td>—</td><td>2.6e-08</td></tr>'
        '<tr><td>0.005</td><td>1.00</td></tr><tr><td>nanoGPT</td><td>0</td></tr></table>'
        '<details><summary>folded</summary><table><tr><td>NaN</td></tr></table></details>'))
    problems = [str(p) for p in check.check_site(site, landing=False)]
    assert sorted(problems) == [
        'index.html: unreadable values: #raw shows 2 NaN cell(s): write "—" or leave the column out',
        "index.html: unreadable values: #raw shows 2 ordinary value(s) in scientific notation (e.g. 1.000000e+00)"]


def test_a_figure_shrunk_below_sixty_percent_of_its_natural_width_is_reported(chromium: str, tmp_path: Path) -> None:
    """A strip of panels 3,000 px wide squeezed into the column: reported with its scale; a figure shown at its natural
    width, or one the column shrinks by less than 40 %, is fine."""
    site = tmp_path / "html"
    site.mkdir()

    def svg(width: int) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="100">'
                f'<rect width="{width}" height="100" fill="grey"/></svg>')

    (site / "strip.svg").write_text(svg(3000))
    (site / "small.svg").write_text(svg(300))
    (site / "snug.svg").write_text(svg(700))
    (site / "index.html").write_text(
        '<!doctype html><html><head><title>t</title><style>img { max-width: 100%; }</style></head><body>'
        '<main style="width: 600px">'
        '<div class="cell_output"><img src="strip.svg"></div><div class="cell_output"><img src="small.svg"></div>'
        '<div class="cell_output"><img src="snug.svg"></div></main></body></html>')
    problems = [str(p) for p in check.check_site(site, landing=False)]
    assert problems == ["index.html: figure too small: figure 1 (strip.svg) shown at 20% of its natural width "
                        "(3000 px in 600 px): its text shrinks below legibility"]
