"""The two papers' texts (``references/papers/``), split into their sections, for checking the ledger's quotes.

A section is named as the ledger names it: ``"Abstract"``, ``"Sec. 3"`` (the text under the heading "3." up
to the next heading of any level), ``"Sec. 3.2"``. A quote is verbatim when each of its fragments (joined by
" … " where words are left out) occurs in the section, in order, after whitespace is collapsed and Markdown
emphasis (``*``) is dropped — the texts' line breaks and footnote lines are layout, not words.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

__all__ = ["PAPERS", "quote_in", "section_text", "sections"]

ROOT = Path(__file__).resolve().parents[3] / "references" / "papers"
PAPERS = {"A": "000_6feb88d99c07596b.txt", "B": "003_2bfed70e990f1d17.txt"}
# Study A numbers its headings "3.2. Title", Study B marks them in Markdown ("### 3.2 Title")
_HEADING = {"A": re.compile(r"^(?P<num>\d+(?:\.\d+)*)\. [A-Z(]"), "B": re.compile(r"^#+ (?P<num>\d+(?:\.\d+)*) [A-Z]")}
_ABSTRACT = {"A": re.compile(r"^Abstract$"), "B": re.compile(r"^\*\*Abstract\.\*\*")}
_END = re.compile(r"^(#+ )?References$")


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("*", "")).strip()


@lru_cache(maxsize=None)
def sections(study: str) -> dict[str, str]:
    """``{"Abstract": text, "Sec. 1": text, "Sec. 3.2": text, …}`` of study ``"A"`` or ``"B"`` (normalised)."""
    if study not in PAPERS:
        raise ValueError(f"study must be one of {sorted(PAPERS)}, got {study!r}")
    path = ROOT / PAPERS[study]
    if not path.exists():
        raise FileNotFoundError(f"the paper's text is missing: {path} (it is part of the repository)")
    out: dict[str, list[str]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if _END.match(line.strip()):
            current = None
            continue
        heading = _HEADING[study].match(line.strip())
        if _ABSTRACT[study].match(line.strip()):
            current = "Abstract"
        elif heading:
            current = f"Sec. {heading['num']}"
        if current is not None:
            out.setdefault(current, []).append(line)
    return {name: _normal("\n".join(lines)) for name, lines in out.items()}


def section_text(study: str, section: str) -> str:
    """The normalised text of ``section`` (e.g. ``"Sec. 4.1"``) of ``study``."""
    texts = sections(study)
    if section not in texts:
        raise KeyError(f"study {study} has no section {section!r}; it has {sorted(texts)}")
    return texts[section]


def quote_in(quote: str, text: str) -> bool:
    """Whether ``quote``'s fragments (split at " … ") occur in ``text`` in order (both normalised)."""
    position = 0
    for fragment in (_normal(f) for f in quote.split("…")):
        found = text.find(fragment, position)
        if not fragment or found < 0:
            return False
        position = found + len(fragment)
    return True
