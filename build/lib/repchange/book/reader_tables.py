"""Tables for a page's readers: the columns the prose needs, headers in words, numbers as the measurement resolves them.

A frame a notebook shows goes through :func:`for_readers`, which returns a pandas ``Styler``:
- only the chosen ``columns``, renamed to readers' headers (units in them: "CKA", "accuracy", "radians");
- floats rounded to ``decimals`` and written as decimals, never in scientific notation (a value below
  ``10 ** -decimals`` in magnitude reads "<0.001"; the full precision is in the results CSV);
- a missing value as "—";
- identifiers with underscores (``fashion_new_classes``) may wrap after each underscore (a ``<wbr>``), so a narrow
  column breaks them between parts, never inside one;
- the row index shown where it names the rows (anything but a plain 0, 1, 2, … index), or as ``index`` says;
- a pivot table's two-level column headers joined ("test acc · fashion new classes").

The browser check (:mod:`repchange.book.check`) fails a page whose table still shows NaN, scientific notation for
an ordinary value, a word broken inside a cell, or a width past the column.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

__all__ = ["MISSING", "for_readers", "number", "wrappable"]

MISSING = "—"


def wrappable(value: object) -> object:
    """``value`` with a line-break opportunity (``<wbr>``) after each underscore of a string; others as they are."""
    if isinstance(value, str) and "_" in value:
        return value.replace("_", "_<wbr>")
    return value


def number(value: object, decimals: int = 3) -> str:
    """``value`` as a reader reads it: a float rounded to ``decimals`` (never scientific; "<0.001" for a
    non-zero value that rounds to zero), an integer as it is, missing as "—", anything else as text."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)) or value is pd.NA:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, float | np.floating):
        value = float(value)
        if np.isinf(value):
            return "∞" if value > 0 else "−∞"
        text = f"{value:.{decimals}f}"
        if value != 0 and float(text) == 0:
            return f"{'−' if value < 0 else ''}<{10 ** -decimals:.{decimals}f}"
        return text.replace("-", "−") if value < 0 else text
    return str(wrappable(value))


def for_readers(frame: pd.DataFrame, columns: Mapping[str, str] | Sequence[str] | None = None, *,
                decimals: int | Mapping[str, int] = 3, index: bool | None = None,
                caption: str | None = None) -> Styler:
    """``frame`` for a page (see the module doc). ``columns``: the columns to show, in order, as a list, or a
    mapping {column: header} that also renames them (default: all, underscores in headers read as spaces).
    ``decimals``: one for every float, or per column (others get 3). Returns a Styler to display."""
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.set_axis([" · ".join(str(part) for part in c) for c in frame.columns], axis=1)
    if index is None:
        index = not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None)
    if not isinstance(columns, Mapping):
        columns = {c: str(c).replace("_", " ") for c in (frame.columns if columns is None else columns)}
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the table; it has {list(frame.columns)}")
    shown = frame[list(columns)].rename(columns=dict(columns))
    per_column = dict(decimals) if isinstance(decimals, Mapping) else {}
    default = 3 if isinstance(decimals, Mapping) else int(decimals)
    places = {columns[c]: per_column.get(c, default) for c in columns}
    styler = shown.style.format({header: (lambda v, d=d: number(v, d)) for header, d in places.items()})
    styler = styler.format_index(lambda v: number(v, default) if not isinstance(v, str) else wrappable(v), axis=0)
    styler = styler.format_index(lambda v: v if not isinstance(v, str) else wrappable(v), axis=1)
    # the table's id from its content, not pandas' random one: the same table renders the same HTML (nbval compares)
    styler = styler.set_uuid(hashlib.sha256(shown.to_csv().encode()).hexdigest()[:10])
    if not index:
        styler = styler.hide(axis="index")
    if caption:
        styler = styler.set_caption(caption)
    return styler
