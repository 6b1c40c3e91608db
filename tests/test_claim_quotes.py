"""Every ledger row quotes the paper verbatim, at the section the quote stands in."""

from __future__ import annotations

import pytest

from repchange.studies import paper_texts
from test_claims import _full_ledger, _study_b_ledger, _study_b_world

LEDGER = _full_ledger()
ROWS = {row.key: row for row in LEDGER.itertuples()} | {row.Index: row for row in
                                                         _study_b_ledger(_study_b_world()).itertuples()}


def test_the_sections_are_the_papers_own() -> None:
    a, b = paper_texts.sections("A"), paper_texts.sections("B")
    assert {"Abstract", "Sec. 3", "Sec. 3.2", "Sec. 4.1", "Sec. 4.2", "Sec. 4.3", "Sec. 5"} <= set(a)
    assert {"Abstract", "Sec. 1", "Sec. 3.2", "Sec. 4.1", "Sec. 4.2", "Sec. 5"} <= set(b)
    assert a["Sec. 3"].startswith("3. Pre-trained Networks") and "3.1. Label Generation" not in a["Sec. 3"]
    assert "Interestingly the representation from the complete random experiment" in a["Sec. 4.1"]


@pytest.mark.parametrize("key", sorted(ROWS))
def test_each_rows_quote_stands_verbatim_in_its_section(key: str) -> None:
    row = ROWS[key]
    text = paper_texts.section_text(row.study, row.section)
    assert paper_texts.quote_in(row.quote, text), f"{key}: {row.quote!r} is not in {row.study} {row.section}"


def test_a_misquote_or_the_wrong_section_is_caught() -> None:
    sec41 = paper_texts.section_text("A", "Sec. 4.1")
    assert paper_texts.quote_in("It makes sense that for non-random labels, hardly … anything changes in early layers",
                                sec41)  # across the footnote line the text breaks at
    assert not paper_texts.quote_in("for non-random labels, nothing changes in early layers", sec41)
    assert not paper_texts.quote_in("anything changes in early layers … It makes sense that", sec41)  # out of order
    assert not paper_texts.quote_in("The more random the data is, the more the representation changes.",
                                    paper_texts.section_text("A", "Sec. 3.2"))
    with pytest.raises(KeyError, match="no section"):
        paper_texts.section_text("A", "Sec. 7")
