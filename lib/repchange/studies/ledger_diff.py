"""Two ledgers of the same claims side by side: which verdicts differ, and whether each difference was on a knife-edge.

Two builds of the book give different numbers whenever their nets trained differently: other code, other seeds,
or only another CPU (its kernels add in another order, and the same seed trains to other weights). A verdict
that moves between two builds is a finding only when it was far from a boundary of the rule in both; one
within :data:`repchange.studies.verdicts.FRAGILE_SE` standard errors of a boundary in either build moves as a
replication with new seeds would (:func:`repchange.studies.verdicts.replication_crossing`).

Input: two ledger tables as the book saves them (``claims_ledger.csv``, ``budget_ledger.csv``,
``scale_ledger.csv``): one row per ``key`` (and per ``budget`` / ``scale`` where the table has them), with
``verdict`` and, from ledgers written since the margin was added, ``margin_se``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from repchange.studies.verdicts import FRAGILE_SE, VERDICTS, replication_crossing

__all__ = ["LEDGER_FILES", "VERDICT_COLUMNS", "compare_folders", "compare_ledgers", "read_ledger", "summary_lines"]

LEDGER_FILES = ("claims_ledger.csv", "budget_ledger.csv", "scale_ledger.csv")
VERDICT_COLUMNS = ("verdict", "verdict_holm", "verdict_3sesoi", "verdict_unconditional")
_ROW_KEYS = ("key", "budget", "images", "epochs", "bn", "estimator")  # those a ledger table has name its rows


def read_ledger(path: str | Path) -> pd.DataFrame:
    """A saved ledger table, refused with the fix when it is not one (no ``key`` or ``verdict`` column)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ledger table at {path}: pass a claims_ledger.csv (or budget_/scale_ledger.csv) "
                                f"from a build's results folder")
    frame = pd.read_csv(path)
    missing = {"key", "verdict"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path} is not a ledger table: it lacks the column(s) {sorted(missing)}")
    return frame


def compare_ledgers(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """One row per ledger row present in both ``a`` and ``b`` (matched on ``key`` and whichever of budget /
    images / epochs / bn / estimator both have): each verdict column both share, as ``<column>_a`` / ``<column>_b``; the
    margins ``margin_se_a`` / ``margin_se_b`` (NaN where a ledger has none); ``changed``: any shared verdict
    column differs; ``verdict_changed``: the verdict itself (at δ, before Holm) differs; ``fragile``: the row's
    verdict lies within :data:`FRAGILE_SE` standard errors of a boundary
    in either ledger. Rows only one ledger has are listed with ``only_in`` = "a" or "b"."""
    on = [c for c in _ROW_KEYS if c in a.columns and c in b.columns]
    columns = [c for c in VERDICT_COLUMNS if c in a.columns and c in b.columns]
    keep = lambda f: f[on + columns + (["margin_se"] if "margin_se" in f else [])]  # noqa: E731
    for name, frame in (("a", a), ("b", b)):
        if frame.duplicated(on).any():
            raise ValueError(f"ledger {name} names a row twice on {on}: compare one ledger table with its counterpart")
    merged = keep(a).merge(keep(b), on=on, how="outer", suffixes=("_a", "_b"), indicator=True)
    for side in ("a", "b"):
        if f"margin_se_{side}" not in merged:
            merged[f"margin_se_{side}"] = np.nan
    merged["only_in"] = merged.pop("_merge").map({"left_only": "a", "right_only": "b", "both": ""})
    both = merged.only_in == ""
    changed = pd.Series(False, index=merged.index)
    for c in columns:
        changed |= merged[f"{c}_a"].astype(str) != merged[f"{c}_b"].astype(str)
    merged["changed"] = changed & both
    merged["verdict_changed"] = both & (merged.verdict_a.astype(str) != merged.verdict_b.astype(str))
    margins = merged[["margin_se_a", "margin_se_b"]].astype(float)
    merged["fragile"] = (margins < FRAGILE_SE).any(axis=1)
    return merged


def summary_lines(diff: pd.DataFrame, name: str = "ledger") -> list[str]:
    """A reader's account of :func:`compare_ledgers`: the rows compared, the verdicts of each side, then each
    changed row with the columns that moved. Where the verdict itself moved: both margins and the chance that a
    replication crosses a boundary as near as the nearer of them (:func:`replication_crossing`), marked fragile
    below :data:`FRAGILE_SE`. Holm's verdict and the one at 3 δ have no margin of their own (Holm's moves with the
    whole family's p-values), so a row where only they moved is listed without one."""
    both = diff[diff.only_in == ""]
    moved_verdicts = both[both.verdict_changed]
    lines = [f"{name}: {len(both)} rows in both ledgers; the verdict differs in {len(moved_verdicts)} "
             f"({int(moved_verdicts.fragile.sum())} of them fragile: within {FRAGILE_SE:g} SE of a boundary in either "
             f"ledger), Holm's or the one at 3 δ alone in {int((both.changed & ~both.verdict_changed).sum())} more"]
    for side in ("a", "b"):
        counts = both[f"verdict_{side}"].value_counts()
        lines.append(f"  verdicts of {side}: " + ", ".join(f"{int(counts[v])} {v}" for v in VERDICTS if v in counts))
    for _, r in both[both.changed].sort_values("verdict_changed", ascending=False, kind="stable").iterrows():
        label = " ".join(str(r[c]) for c in _ROW_KEYS if c in diff.columns and pd.notna(r.get(c)))
        moved = [c for c in VERDICT_COLUMNS if f"{c}_a" in diff and str(r[f"{c}_a"]) != str(r[f"{c}_b"])]
        what = "; ".join(f"{c}: {r[f'{c}_a']} -> {r[f'{c}_b']}" for c in moved)
        nearer = np.nanmin([r.margin_se_a, r.margin_se_b]) if np.isfinite([r.margin_se_a, r.margin_se_b]).any() \
            else np.nan
        if not r.verdict_changed:
            note = "only Holm's or the 3 δ verdict"
        elif np.isfinite(nearer):
            note = (f"margin {r.margin_se_a:.2f} -> {r.margin_se_b:.2f} SE: a replication crosses a boundary "
                    f"{nearer:.2f} SE away {replication_crossing(nearer):.0%} of the time"
                    f"{'; fragile' if r.fragile else ''}")
        else:
            note = "no margin: no t interval decides it"
        lines.append(f"  {label}: {what} ({note})")
    for side in ("a", "b"):
        only = diff[diff.only_in == side]
        if len(only):
            lines.append(f"  only in {side}: " + ", ".join(map(str, only.key)))
    return lines


def compare_folders(a: str | Path, b: str | Path) -> list[str]:
    """:func:`summary_lines` for each of :data:`LEDGER_FILES` both results folders hold; refused when they share
    none."""
    a, b = Path(a), Path(b)
    for folder in (a, b):
        if not folder.is_dir():
            raise FileNotFoundError(f"no results folder at {folder}: pass a build's results folder, e.g. "
                                    f"_build/default/results")
    shared = [f for f in LEDGER_FILES if (a / f).is_file() and (b / f).is_file()]
    if not shared:
        raise FileNotFoundError(f"{a} and {b} share none of {', '.join(LEDGER_FILES)}: build the book in both first")
    lines: list[str] = []
    for file in shared:
        lines += summary_lines(compare_ledgers(read_ledger(a / file), read_ledger(b / file)), file)
    return lines
