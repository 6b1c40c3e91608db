"""Helpers a notebook calls: glue headline numbers, state provenance, save result tables."""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

__all__ = ["glue_list", "glue_numbers", "glue_summary", "glue_text", "glued_in_cell", "provenance", "read_glued", "save_table"]


def glue_numbers(values: Mapping[str, float], *, digits: int = 3) -> pd.Series:
    """Glue each ``name -> number`` for ``{glue:text}`` in the prose; return them as a Series.

    Values are glued as floats (rounded to ``digits``) so tests can read them back from the
    executed notebook; the returned Series is the cell's visible headline output.
    """
    from myst_nb import glue

    rounded = {name: v if isinstance(v, int) else round(float(v), digits) for name, v in values.items()}
    for name, value in rounded.items():
        glue(name, value, display=False)
    return pd.Series(rounded, name="value")


class _Phrase:
    """A sentence fragment that displays as itself both as Markdown and as plain text (IPython's ``Markdown``
    shows ``<IPython.core.display.Markdown object>`` as plain text, which ``{glue:text}`` inserts)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def glue_text(name: str, text: str) -> None:
    """Glue a sentence fragment for ``{glue:md}`name``` in the prose (rendered as Markdown); ``{glue:text}`name```
    shows the same words as plain text."""
    from myst_nb import glue

    glue(name, _Phrase(text), display=False)


def glue_summary(summary: Any, *, digits: int = 3) -> pd.Series:
    """Glue a page's :class:`~repchange.studies.summaries.Summary` in one call: each phrase for ``{glue:md}``, each
    number for ``{glue:text}`` (rounded to ``digits``); return the numbers, the cell's visible headline."""
    for name, phrase in summary.phrases.items():
        glue_text(name, phrase)
    return glue_numbers(summary.numbers, digits=digits)


def glue_list(name: str, items: list, *, empty: str = "none of the layers") -> None:
    """Glue ``items`` as a comma-separated phrase (or ``empty`` when there are none)."""
    glue_text(name, ", ".join(str(i) for i in items) if items else empty)


def provenance(*, data: str, profile: str, seeds: Any, **details: Any) -> str:
    """One line naming what produced a figure: data, profile, seeds and any other settings."""
    parts = [f"data: {data}", f"profile: {profile}", f"seeds: {list(seeds)}"]
    parts += [f"{k.replace('_', ' ')}: {v}" for k, v in details.items()]
    return " · ".join(parts)


def save_table(frame: pd.DataFrame, name: str) -> Path | None:
    """Write ``frame`` to ``$REPCHANGE_RESULTS_DIR/<name>.csv`` when a runner set that folder."""
    folder = os.environ.get("REPCHANGE_RESULTS_DIR")
    if not folder:
        return None
    path = Path(folder) / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def read_glued(notebook: str | os.PathLike) -> dict[str, Any]:
    """Every value an executed notebook glued: numbers as numbers, Markdown as text."""
    import nbformat

    glued: dict[str, Any] = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        glued.update(glued_in_cell(cell))
    return glued


def glued_in_cell(cell: Mapping[str, Any]) -> dict[str, Any]:
    """The values one executed cell glued (name -> value): numbers as numbers, Markdown as text, figures as their
    base64 PNG."""
    glued: dict[str, Any] = {}
    for output in cell.get("outputs", []):
        record = output.get("metadata", {}).get("scrapbook")
        if not record:
            continue
        prefix = record["mime_prefix"]
        bundle = output["data"]
        if f"{prefix}text/markdown" in bundle:
            glued[record["name"]] = bundle[f"{prefix}text/markdown"]
        elif f"{prefix}image/png" in bundle:  # a glued figure: its PNG, base64 as the notebook holds it
            glued[record["name"]] = bundle[f"{prefix}image/png"]
        else:
            glued[record["name"]] = ast.literal_eval(bundle[f"{prefix}text/plain"])
    return glued
