"""Paired differences over seeds for the chapters' prose, decided by the ledger's verdict rule.

A chapter's "clearly lower" is the ledger's "holds" for the claim "lower": the same interval, the
same smallest effect of interest (:mod:`repchange.studies.verdicts`), so a chapter and the ledger
cannot disagree about one effect.
"""

from __future__ import annotations

import pandas as pd

from repchange.studies import verdicts
from repchange.studies.verdicts import LEVEL, SCALES

__all__ = ["clearly", "paired_difference"]


def paired_difference(frame: pd.DataFrame, *, column: str, a: object, b: object, by: list[str],
                      unit: str = "seed", value: str = "value", scale: str = "cka difference",
                      level: float = LEVEL) -> pd.DataFrame:
    """Mean, standard error and interval over ``unit`` (seeds) of ``value[column == a] - value[column == b]``.

    Rows are paired by ``unit`` and ``by``; returns one row per ``by`` group with columns ``by`` + mean,
    sem, n, low, high (the verdict rule's interval at ``level``) and ``clear``: the difference "holds" as
    higher or as lower under the verdict rule with ``scale``'s smallest effect of interest.
    """
    wide = frame.pivot_table(index=[unit, *by], columns=column, values=value)
    missing = [x for x in (a, b) if x not in wide.columns]
    if missing:
        raise ValueError(f"{column} has no rows for {missing}; it has {list(wide.columns)}")
    diff = (wide[a] - wide[b]).rename("diff").reset_index()
    out = diff.groupby(by, sort=False)["diff"].agg(mean="mean", sem="sem", n="count").reset_index()
    sesoi = SCALES[scale].sesoi
    lows, highs, clear = [], [], []
    for _, group in diff.groupby(by, sort=False):
        i = verdicts.interval(group["diff"], SCALES[scale], level=level)
        lows.append(i.low)
        highs.append(i.high)
        clear.append(any(verdicts.verdict(i.low, i.high, i.mean, side, sesoi=sesoi) == "holds"
                         for side in ("greater", "less")))
    out["low"], out["high"], out["clear"] = lows, highs, clear
    return out


def clearly(frame: pd.DataFrame, direction: str, *, column: str, a: object, b: object, by: str = "layer",
            unit: str = "seed", value: str = "value", scale: str = "cka difference") -> list:
    """The ``by`` values where ``value[column == a]`` is clearly ``"lower"`` or ``"higher"`` than at ``b``.

    "Clearly" = the ledger's verdict rule says "holds" for the paired difference over ``unit`` (see
    :func:`paired_difference`); the order of first appearance in ``frame`` is kept.
    """
    if direction not in ("lower", "higher"):
        raise ValueError(f"direction must be 'lower' or 'higher', got {direction!r}")
    diff = paired_difference(frame, column=column, a=a, b=b, by=[by], unit=unit, value=value, scale=scale)
    sign = -1 if direction == "lower" else 1
    return list(diff[diff.clear & (sign * diff["mean"] > 0)][by])
