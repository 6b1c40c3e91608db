"""The claims ledger of a book run, built once from a notebook's parameters for every page that shows it.

The ledger page and the landing page (``notebooks/intro.py``) both call :func:`book_ledger` with the chapters'
parameters (:func:`repchange.book.runner.chapter_values`): the same parameters give the same stored tables, so the two pages cannot disagree, and
nothing is trained where every chapter has run (run alone on an empty store, a page trains what it needs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from repchange.book import parameters
from repchange.studies import verdicts
from repchange.studies.verdicts import VERDICTS
from repchange.studies import budget, claims, estimator_grid
from repchange.studies.a import scale as a_scale
from repchange.studies.a import tables as a_tables
from repchange.studies.b import tables as b_tables

__all__ = ["BookLedger", "book_ledger"]


@dataclass(frozen=True)
class BookLedger:
    """A run's ledger (:func:`repchange.studies.claims.ledger`, with ``estimators_agreeing``), the estimator
    grids of both studies, Study A's pre-training claims at each budget of the run, the provenance lines, and
    Study A's claims at each scale the store holds (:func:`repchange.book.parameters.scale_axis`, never trained
    here) with one status line per scale."""

    ledger: pd.DataFrame
    grid_a: pd.DataFrame
    grid_b: pd.DataFrame
    budgets: pd.DataFrame
    source_a: str
    source_b: str
    scales: pd.DataFrame
    scale_status: tuple[str, ...]


def book_ledger(values: Mapping[str, Any]) -> BookLedger:
    """The ledger of the run the notebook parameters ``values`` describe (the ledger page's parameters)."""
    level = values["level"]
    pretraining = parameters.cka_to_init(values)
    degree_params = parameters.degree_sweep(values)
    size_params = parameters.size_sweep(values)
    finetune_params = parameters.finetune_sweep(values)
    dynamics_params = parameters.dynamics(values)
    runtime = parameters.runtime(values)
    tables_a = a_tables.pretraining_tables(pretraining, degree_params, size_params, runtime)
    steps = claims.study_a_steps(finetune_params.finetune, degree_params.pretrain)
    dynamics = b_tables.dynamics(dynamics_params, runtime)
    agreement = b_tables.filter_agreement(dynamics_params, runtime)
    chance = b_tables.filter_agreement_chance(dynamics_params, runtime)
    twin = b_tables.baseline(dynamics_params, runtime)
    part_a = claims.study_a_claims(**tables_a, finetuning=a_tables.finetune_sweep(finetune_params, runtime),
                                   level=level, **steps)
    part_b = claims.study_b_claims(dynamics, agreement, level=level, agreement_unrelated=chance, baseline=twin)
    ledger = claims.ledger(part_a, part_b, level=level)
    grid_a, _ = estimator_grid.study_a_grid(pretraining, degree_params, size_params, finetune_params,
                                            tables_a["histories"], runtime, level, **steps)
    grid_b = estimator_grid.study_b_grid(dynamics, agreement, values["b_alphas"], level, agreement_unrelated=chance,
                                         baseline=twin)
    ledger["estimators_agreeing"] = estimator_grid.agreement(ledger, grid_a, grid_b)
    budgets = [e for e in a_tables.ledger_epochs(pretraining.pretrain.epochs) if e > 0]
    by_budget = budget.budget_ledger(**tables_a, epochs=budgets, label="", level=level)
    source_a, source_b = parameters.both_sources(values, dynamics_params)
    scales, scale_status = a_scale.scale_axis(**parameters.scale_axis({**values, "a_train_scales": False}),
                                              runtime=runtime)
    return BookLedger(ledger, grid_a, grid_b, by_budget, source_a, source_b, scales, tuple(scale_status))


# Where each claim's figure is shown: the chapter a landing-page line links to (key prefix → notebook).
CHAPTER_OF = (("A1-", "a1_cka_pretraining"), ("A2-", "a2_label_degrees"), ("A3-size", "a4_cka_vs_size"),
              ("A-early-static", "a3_cka_vs_degree"), ("B-domain-over-task", "b3_tables"),
              ("A3-", "a3_cka_vs_degree"), ("A5", "a6_finetuned_vs_references"), ("A", "a5_finetuning_change"),
              ("B-agreement", "b2_metric_agreement"), ("B-metrics", "b2_metric_agreement"),
              ("B-resnet", "b3_tables"), ("B-awa2", "b3_tables"), ("B-similarity", "b3_tables"),
              ("B", "b1_feature_dynamics"))


def chapter_of(key: str) -> str:
    """The notebook (without ``.py``) whose figure a ledger row reads."""
    return next(chapter for prefix, chapter in CHAPTER_OF if key.startswith(prefix))


SIDES = {"greater": "above", "less": "below", "negligible": "within"}


def _threshold_text(r) -> str:
    """Where the claim needs its interval, in the statistic's own units: ``above +0.010`` (null + δ), ``below …``,
    ``within ±0.010 of …`` for a claim of no effect, with the null beside it."""
    if r.direction == "negligible":
        return f"the claim needs it within {r.null:+.3f} ± {r.sesoi:.2g}"
    edge = r.null + r.sesoi if r.direction == "greater" else r.null - r.sesoi
    return f"the claim needs it {SIDES[r.direction]} {edge:+.4f} (null {r.null:+.3f}, δ = {r.sesoi:.2g})"


def _interval_text(r) -> str:
    """`` [low, high]`` of a ledger row in the statistic's own units; empty without an interval."""
    return f" [{r.ci_low:+.3f}, {r.ci_high:+.3f}]" if pd.notna(r.ci_low) else ""


def _holm_text(r) -> str:
    if r.verdict_holm == r.verdict:
        return "Holm keeps it"
    return f"Holm: {r.verdict_holm}"


def _claim_lines(rows: pd.DataFrame) -> str:
    """A Markdown list: each row's key linked to its chapter, its verdict (refinement named) and whether Holm keeps
    it, its reading, and its statistic in the statistic's own units with its interval, n and the threshold the
    claim needs (null ± δ) — not the distance from a null, which a reader cannot read as the quantity."""
    lines = []
    for r in rows.itertuples():
        interval = _interval_text(r)
        spread = " (no spread)" if bool(getattr(r, "no_spread", False)) and interval == "" else ""
        lines.append(f"- [`{r.key}`]({chapter_of(r.key)}.ipynb) ({r.section}) — **{claims.verdict_label(r._asdict())}**, "
                     f"{_holm_text(r)}. {r.claim} *{r.statistic}*: {r.value:+.3f}{interval}{spread}, n = {r.n}; "
                     f"{_threshold_text(r)}.")
    return "\n".join(lines) or "- none"


def _reversal_lines(frame: pd.DataFrame) -> str:
    """One line per tallied row whose second reading reverses its verdict, both readings with their effects."""
    lines = [f"- [`{r.key}`]({chapter_of(r.key)}.ipynb): **{r.verdict}** as tallied ({r.effect}); **{r.reading_verdict}**"
             f" read with {r.reading} ({r.reading_effect})." for r in claims.reading_reversals(frame).itertuples()]
    return "\n".join(lines) or "- none"


def _memorised_text(frame: pd.DataFrame) -> str:
    """Whether this build's nets memorised fully random labels, from the ledger's A2-train-fit row (the premise of
    the A3 claims): its verdict and statistic, never typed."""
    rows = frame[frame.key == "A2-train-fit"]
    if rows.empty or rows.verdict.iloc[0] == "not measured":
        return "whether the nets memorise random labels is not measured in this build"
    r = rows.iloc[0]
    interval = _interval_text(r)
    return (f"whether the nets memorise fully random labels at this budget is the ledger's `A2-train-fit`, which reads "
            f"**{r.verdict}**: {r.statistic} = {r.value:+.3f}{interval}, n = {r.n}")


def _power_sentence(tallied: pd.DataFrame) -> str:
    """Why "inconclusive" is expected near δ: the rule's rate of "holds" at this run's usual n per study, for a true
    effect of δ and of 2 δ with units spreading one δ (:func:`repchange.studies.verdicts.calibrate`, the calibration the
    verdicts page shows)."""
    parts = []
    for study in ("A", "B"):
        n = tallied[(tallied.study == study) & (tallied.n > 0)].n
        if n.empty:
            continue
        n = int(n.mode().iloc[0])
        scale = verdicts.SCALES["cka difference"]
        rates = [verdicts.calibrate(n, k * scale.sesoi, scale=scale, draws=2000, seed=k)["holds"] for k in (1, 2, 3)]
        parts.append(f"Study {study} at n = {n}: a true effect of δ reads “holds” {rates[0]:.0%} of the time, of 2 δ "
                     f"{rates[1]:.0%}, of 3 δ {rates[2]:.0%}")
    return ("**Inconclusive is the expected verdict for an effect near δ at these n** (units spreading one δ; "
            "{doc}`how verdicts are made <verdicts>` has the whole calibration): " + "; ".join(parts) + ".")


def _scale_line(book: BookLedger) -> str:
    """The landing page's line on the scale axis: which tallied Study A claims read the same at every scale the
    store holds (both BatchNorm modes), which move with scale, and which scales were not run."""
    read = [s for s in book.scale_status if ": read" in s]
    not_run = [s.split(":")[0] for s in book.scale_status if ": not run" in s]
    recorded = [s.split(":")[0] for s in read if "recorded" in s]
    notes = (f" Read from the committed record of an earlier scale run (not trained in this build): "
             f"{', '.join(recorded)}." if recorded else "")
    notes += f" Not run in this build: {', '.join(not_run)} (the scale profile trains them)." if not_run else ""
    if len(read) < 2:
        return f"- **Scale (more images, more SGD steps):** only the book's own scale is in the store.{notes}"
    stable = a_scale.stable_claims(book.scales)
    moving = list(dict.fromkeys(a_scale.scale_flips(book.scales).key))
    keys = lambda ks: ", ".join(f"`{k}`" for k in ks) or "none"  # noqa: E731
    return (f"- **Scale (more images, more SGD steps):** read at {', '.join(s.split(':')[0] for s in read)} "
            f"(images × epochs), both BatchNorm modes: {len(stable)} of the "
            f"{book.scales[book.scales.tallied].key.nunique()} tallied Study A claims read the same everywhere "
            f"({keys(stable)}); moving with scale: {keys(moving)}.{notes}")


def landing_text(book: BookLedger) -> dict[str, str]:
    """The landing page's Markdown pieces, from :func:`book_ledger`: the verdict counts (raw and Holm), the claims
    that do not hold, what holds in Study B, and how many verdicts agree across estimators, budgets, δ and Fig. 5's
    reference — every number read from the ledger."""
    f = claims.findings(book.ledger, book.budgets)
    tallied = book.ledger[book.ledger.tallied]

    def count(verdict: str, suffix: str = "") -> int:
        return int(f[f"{verdict.replace(' ', '_')}{suffix}"])

    counts = ", ".join(f"**{count(v)}** {v}" for v in VERDICTS if count(v))
    refined = [f"{f[f'refuted_{how}']} {how}" for how in verdicts.REFUTATIONS if f[f"refuted_{how}"]]
    if refined and count("does not hold"):
        counts = counts.replace(f"**{count('does not hold')}** does not hold",
                                f"**{count('does not hold')}** does not hold (of them {', '.join(refined)})")
    holm = ", ".join(f"**{count(v, '_holm')}** {v}" for v in VERDICTS if count(v, "_holm"))
    keys = lambda ks: ", ".join(f"`{k}`" for k in ks) or "none"  # noqa: E731
    return {
        "findings_counts": f"The ledger tests **{f['sentences']}** quoted sentences of the two papers as "
                           f"**{f['claims']}** tallied claims ({f['claims_A']} of Study A, {f['claims_B']} of Study B; "
                           "a sentence with several parts or readings is a claim, a ledger row, for each): "
                           f"{counts}. Taken as one family "
                           f"(Holm): {holm}. {f['out_of_tally']} further rows are shown beside them in the ledger and "
                           "not counted: prior work the papers cite, and second readings of a claim.",
        "findings_does_not_hold": _claim_lines(tallied[tallied.verdict == "does not hold"]),
        "findings_reversals": _reversal_lines(book.ledger),
        "findings_power": _power_sentence(tallied),
        "findings_memorised": _memorised_text(book.ledger),
        "findings_b_holds": _claim_lines(tallied[(tallied.study == "B") & (tallied.verdict == "holds")]),
        "findings_a_holds": _claim_lines(tallied[(tallied.study == "A") & (tallied.verdict == "holds")]),
        "findings_robustness": "\n".join([
            f"- **Estimators:** {f.get('estimators_all_agree', 0)} of the {f.get('estimators_measured', 0)} claims "
            "the estimator grid re-reads keep their verdict under every estimator; the others depend on it: "
            f"{keys(f.get('keys_estimator_dependent', []))}.",
            f"- **Training budget:** {f.get('budget_stable', 0)} of the {f.get('budget_claims', 0)} pre-training claims "
            f"read the same after {', '.join(map(str, f.get('budgets', [])))} epochs; moving with the budget: "
            f"{keys(f.get('keys_budget_dependent', []))}.",
            _scale_line(book),
            f"- **Smallest effect of interest:** δ comes from the measure (a share of its range above chance, or of "
            f"an unrelated twin's distance); at each family's fixed δ instead, these verdicts differ: "
            f"{keys(f.get('keys_delta_moved', []))}; read at three times δ, these change: "
            f"{keys(f['keys_sesoi_sensitive'])}.",
            f"- **Fig. 5's reference init** (the net's own pre-training init, as the paper's text says, or an "
            f"independent one, as the authors' code draws): verdicts that depend on it: "
            f"{keys(f['keys_reference_dependent'])}.",
            f"- **Holm:** the adjustment over both papers' claims as one family turns these verdicts inconclusive: "
            f"{keys(f['keys_holm_changed'])}; with each paper's claims as their own family, "
            f"{f.get('holds_holm_paper', 0)} hold and {f.get('does_not_hold_holm_paper', 0)} do not.",
            f"- **Fragile:** within {verdicts.FRAGILE_SE:g} standard error of a boundary of the rule, so that a "
            f"replication with new seeds (or a rebuild on another CPU, whose float order trains the same seed to "
            f"other weights) crosses it at least {verdicts.replication_crossing(verdicts.FRAGILE_SE):.0%} of the "
            f"time: {keys(f['keys_fragile'])}."]),
    }
