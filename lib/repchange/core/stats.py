"""Small statistics over seeds for the prose: paired differences with standard errors."""

from __future__ import annotations

import pandas as pd

__all__ = ["clearly", "paired_difference"]


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


def clearly(frame: pd.DataFrame, direction: str, *, column: str, a: object, b: object, by: str = "layer",
            unit: str = "seed", value: str = "value") -> list:
    """The ``by`` values where ``value[column == a]`` is clearly ``"lower"`` or ``"higher"`` than at ``b``.

    "Clearly" = the paired difference over ``unit`` (seeds) exceeds two standard errors (see
    :func:`paired_difference`); the order of first appearance in ``frame`` is kept.
    """
    if direction not in ("lower", "higher"):
        raise ValueError(f"direction must be 'lower' or 'higher', got {direction!r}")
    diff = paired_difference(frame, column=column, a=a, b=b, by=[by], unit=unit, value=value)
    sign = -1 if direction == "lower" else 1
    return list(diff[diff.clear & (sign * diff["mean"] > 0)][by])
