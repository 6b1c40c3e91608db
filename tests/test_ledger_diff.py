"""Two ledgers side by side: verdicts that differ, each marked fragile or not by its margins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repchange.book import cli
from repchange.studies import ledger_diff


def _ledger(verdicts: dict[str, str], margins: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"key": list(verdicts), "verdict": list(verdicts.values()),
                         "verdict_holm": list(verdicts.values()), "margin_se": [margins[k] for k in verdicts]})


def test_a_changed_verdict_is_named_with_both_margins_and_marked_fragile_only_near_a_boundary() -> None:
    a = _ledger({"X": "holds", "Y": "inconclusive", "Z": "holds"}, {"X": 0.3, "Y": 4.0, "Z": 9.0})
    b = _ledger({"X": "inconclusive", "Y": "does not hold", "Z": "holds"}, {"X": 0.1, "Y": 5.0, "Z": 8.5})
    diff = ledger_diff.compare_ledgers(a, b).set_index("key")
    assert list(diff.changed) == [True, True, False]
    assert list(diff.fragile) == [True, False, False]
    lines = ledger_diff.summary_lines(ledger_diff.compare_ledgers(a, b), "claims")
    assert lines[0].startswith("claims: 3 rows in both ledgers; the verdict differs in 2 (1 of them fragile")
    assert any(line.startswith("  X: verdict: holds -> inconclusive") and "0.10 SE away 47% of the time; fragile)"
               in line for line in lines)
    assert any(line.startswith("  Y: ") and "4.00 SE away 0% of the time)" in line for line in lines)
    assert not any(line.startswith("  Z: ") for line in lines)


def test_a_row_where_only_holms_verdict_moved_is_listed_without_a_margin() -> None:
    a = pd.DataFrame({"key": ["X"], "verdict": ["holds"], "verdict_holm": ["holds"], "margin_se": [5.0]})
    b = pd.DataFrame({"key": ["X"], "verdict": ["holds"], "verdict_holm": ["inconclusive"], "margin_se": [5.0]})
    diff = ledger_diff.compare_ledgers(a, b)
    assert bool(diff.changed.iloc[0]) and not bool(diff.verdict_changed.iloc[0])
    lines = ledger_diff.summary_lines(diff)
    assert "the verdict differs in 0 (0 of them fragile" in lines[0] and "alone in 1 more" in lines[0]
    assert lines[-1] == "  X: verdict_holm: holds -> inconclusive (only Holm's or the 3 δ verdict)"


def test_rows_are_matched_on_their_scale_columns_and_unmatched_rows_are_listed() -> None:
    a = pd.DataFrame({"key": ["X", "X"], "images": [1024, 8192], "verdict": ["holds", "holds"]})
    b = pd.DataFrame({"key": ["X", "W"], "images": [1024, 8192], "verdict": ["holds", "negligible"]})
    diff = ledger_diff.compare_ledgers(a, b)
    assert not diff.changed.any() and np.isnan(diff.margin_se_a).all()  # ledgers from before the margin: NaN
    assert sorted(diff.only_in) == ["", "a", "b"]
    lines = ledger_diff.summary_lines(diff)
    assert "  only in a: X" in lines and "  only in b: W" in lines
    with pytest.raises(ValueError, match="names a row twice"):
        ledger_diff.compare_ledgers(pd.DataFrame({"key": ["X", "X"], "verdict": ["holds", "holds"]}), b)


def test_the_cli_compares_two_results_folders_and_refuses_what_is_not_a_ledger(tmp_path: Path, capsys) -> None:
    for side, verdict in (("a", "holds"), ("b", "inconclusive")):
        (tmp_path / side).mkdir()
        _ledger({"X": verdict}, {"X": 0.5}).to_csv(tmp_path / side / "claims_ledger.csv", index=False)
    assert cli.main(["ledger-diff", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "X: verdict: holds -> inconclusive" in capsys.readouterr().out
    (tmp_path / "c").mkdir()
    assert cli.main(["ledger-diff", str(tmp_path / "a"), str(tmp_path / "c")]) == 2
    assert "share none of claims_ledger.csv" in capsys.readouterr().err
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "c" / "claims_ledger.csv", index=False)
    assert cli.main(["ledger-diff", str(tmp_path / "a"), str(tmp_path / "c")]) == 2
    assert "is not a ledger table" in capsys.readouterr().err
