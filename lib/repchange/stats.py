"""Small statistics over seeds for the prose: paired differences with standard errors."""

from __future__ import annotations

import pandas as pd

__all__ = ["paired_difference"]


def paired_difference(frame: pd.DataFrame, *, column: str, a: object, b: object, by: list[str],
                      unit: str = "seed", value: str = "value") -> pd.DataFrame:
    """Mean and standard error over ``unit`` (seeds) of ``value[column == a] - value[column == b]``.

    Rows are paired by ``unit`` and ``by``; returns one row per ``by`` group with columns
    ``by`` + mean, sem, n, and ``clear``: True where ``|mean| > 2·sem`` (and sem > 0, i.e. n ≥ 2).
    """
    wide = frame.pivot_table(index=[unit, *by], columns=column, values=value)
    missing = [x for x in (a, b) if x not in wide.columns]
    if missing:
        raise ValueError(f"{column} has no rows for {missing}; it has {list(wide.columns)}")
    diff = (wide[a] - wide[b]).rename("diff").reset_index()
    out = diff.groupby(by, sort=False)["diff"].agg(mean="mean", sem="sem", n="count").reset_index()
    out["clear"] = (out["sem"] > 0) & (out["mean"].abs() > 2 * out["sem"])
    return out
