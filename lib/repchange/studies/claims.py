"""The claims ledger: both studies' claims assembled into one table.

Each study's claims sit beside that study's code (:mod:`repchange.studies.a.claims`,
:mod:`repchange.studies.b.claims`); the machinery they share — a claim, its assessment over independent
units, premises, Holm's family, the views and the forest plot — is :mod:`repchange.studies.ledger`. This
module is the one place the book imports the ledger from.
"""

from __future__ import annotations

import re

import pandas as pd

from repchange.studies.verdicts import CONCLUSIVE, FRAGILE_SE, LEVEL, REFUTATIONS, VERDICTS
from repchange.studies.a.claims import (FIG5_REFERENCES, TRAIN_FIT_TOLERANCE, pretraining_claims,
                                        reference_dependence, sgd_steps, study_a_claims, study_a_steps)
from repchange.studies.b.claims import ARCH_OF_PAPER, SIMILARITY_TO_SOURCE, study_b_claims
from repchange.studies.ledger import (KINDS, PREMISES, TALLIED, VERDICT_COLOURS, Claim, apply_premises, assess,
                                      effect_text, fig_ledger, ledger, ledger_details, ledger_view, not_measured,
                                      share_sensitivity, verdict_label, verdict_margin_se)

__all__ = ["ARCH_OF_PAPER", "Claim", "FIG5_REFERENCES", "KINDS", "LEVEL", "PREMISES", "SIMILARITY_TO_SOURCE",
           "TALLIED", "TRAIN_FIT_TOLERANCE", "VERDICT_COLOURS", "apply_premises", "assess", "effect_text", "fig_ledger",
           "findings", "ledger", "ledger_details", "ledger_view", "not_measured", "pretraining_claims",
           "reading_reversals", "reference_dependence", "sgd_steps", "share_sensitivity", "study_a_claims",
           "study_a_steps", "study_b_claims", "verdict_label"]


def findings(frame: pd.DataFrame, budgets: pd.DataFrame | None = None) -> dict[str, object]:
    """What the landing page says, from a ledger (:func:`ledger`, with ``estimators_agreeing`` when the estimator
    grid was read): counts by verdict over the tallied claims, raw and Holm-adjusted, and how many quoted sentences
    the tallied rows test; the keys of each verdict per study; the refuted rows by refinement (negligible,
    reversed); the claims whose verdict moves at 3 δ or with Fig. 5's reference; the tallied claims every estimator
    agrees on (rows whose statistic reads no estimator are left out); and, from ``budgets``
    (:func:`repchange.studies.budget.budget_ledger`), the pre-training claims whose verdict is the same at every
    budget read."""
    tallied = frame[frame.tallied]
    out: dict[str, object] = {"claims": len(tallied), "rows": len(frame), "out_of_tally": int((~frame.tallied).sum()),
                              "sentences": int(tallied.drop_duplicates(["study", "section", "quote"]).shape[0])}
    for column, suffix in (("verdict", ""), ("verdict_holm", "_holm")):
        counts = tallied[column].value_counts()
        for verdict in VERDICTS:
            out[f"{verdict.replace(' ', '_')}{suffix}"] = int(counts.get(verdict, 0))
    refuted = tallied.get("refuted_as", pd.Series("", index=tallied.index)).fillna("")
    for how in REFUTATIONS:
        out[f"refuted_{how}"] = int(((tallied.verdict == "does not hold") & (refuted == how)).sum())
    for study in ("A", "B"):
        rows = tallied[tallied.study == study]
        out[f"claims_{study}"] = len(rows)
        for verdict in VERDICTS:
            out[f"keys_{study}_{verdict.replace(' ', '_')}"] = list(rows.key[rows.verdict == verdict])
    out["keys_holm_changed"] = list(tallied.key[tallied.verdict_holm != tallied.verdict])
    if "verdict_holm_paper" in tallied:
        out["holds_holm_paper"] = int((tallied.verdict_holm_paper == "holds").sum())
        out["does_not_hold_holm_paper"] = int((tallied.verdict_holm_paper == "does not hold").sum())
    out["keys_sesoi_sensitive"] = list(tallied.key[tallied.verdict_3sesoi != tallied.verdict])
    if "verdict_fixed_delta" in tallied:  # δ from the measure against the scale's fixed δ
        moved = tallied[tallied.verdict_fixed_delta.fillna(tallied.verdict) != tallied.verdict]
        out["keys_delta_moved"] = list(moved.key)
        out["delta_moved"] = [f"`{k}`: {old} at the fixed δ → {new}" for k, old, new in
                              zip(moved.key, moved.verdict_fixed_delta, moved.verdict)]
    fragile = verdict_margin_se(tallied) < FRAGILE_SE  # a verdict the numbers set, within FRAGILE_SE of a boundary
    out["fragile"] = int(fragile.sum())
    out["keys_fragile"] = list(tallied.key[fragile])
    out["keys_reference_dependent"] = list(reference_dependence(frame).key)
    out["keys_reading_reversed"] = list(reading_reversals(frame).key)
    if "estimators_agreeing" in frame:
        graded = [(k, a) for k, a in zip(tallied.key, tallied.estimators_agreeing) if "/" in str(a)]
        out["estimators_measured"] = len(graded)
        out["estimators_all_agree"] = sum(int(a.split("/")[0]) == int(a.split("/")[1]) for _, a in graded)
        out["keys_estimator_dependent"] = [k for k, a in graded if int(a.split("/")[0]) < int(a.split("/")[1])]
    if budgets is not None:
        read = budgets[budgets.verdict != "not measured"]
        read = read[read.kind.isin(TALLIED)]
        stable = read.groupby("key", sort=False).verdict.nunique()
        out["budget_claims"] = len(stable)
        out["budget_stable"] = int((stable == 1).sum())
        out["keys_budget_dependent"] = list(stable.index[stable > 1])
        out["budgets"] = sorted(int(b) for b in read.budget.unique())
    return out


_READING = re.compile(r"^(?P<claim>.+?) \[(?P<reading>[^\]]+)\](?P<metric> \([^)]+\))?$")  # "<key> [<reading>] (<metric>)"


def reading_reversals(frame: pd.DataFrame) -> pd.DataFrame:
    """Tallied rows whose second reading (a ``beside`` row keyed ``"<key> [<reading>]"``) gives the opposite
    conclusive verdict — one holds, the other does not: a finding in itself. Columns: key, reading, verdict,
    reading_verdict, and both rows' effect texts (mean − null [interval])."""
    rows = frame.set_index("key", drop=False)
    out = []
    for key, row in rows[rows.kind == "beside"].iterrows():
        parts = _READING.match(key)
        if parts is None:
            continue
        main_key, reading = parts["claim"] + (parts["metric"] or ""), parts["reading"]
        if main_key not in rows.index or not rows.loc[main_key, "tallied"]:
            continue
        main = rows.loc[main_key]
        if {main.verdict, row.verdict} == set(CONCLUSIVE):
            out.append({"key": main_key, "reading": reading, "verdict": main.verdict,
                        "reading_verdict": row.verdict, "effect": effect_text(main), "reading_effect": effect_text(row)})
    return pd.DataFrame(out, columns=["key", "reading", "verdict", "reading_verdict", "effect", "reading_effect"])
