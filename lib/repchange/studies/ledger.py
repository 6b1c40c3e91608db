"""The claims ledger's machinery: a claim, its assessment over independent units, premises, Holm, views.

Each study's claims sit beside that study's code (:mod:`repchange.studies.a.claims`,
:mod:`repchange.studies.b.claims`); :mod:`repchange.studies.claims` assembles them into one ledger.

A claim quotes the paper verbatim (``quote``, fragments joined by " … ", checked against the papers'
texts by the test suite) at the section it stands in (``section``), says what our statistic reads of it
(``claim``), and has a ``kind``:

- ``"quote"`` — the statistic tests the quoted sentence;
- ``"reading"`` — a reading of a figure the quoted passage discusses (a paraphrase, labelled as such);
- ``"prior work"`` — the paper summarises earlier work, not its own result: shown, out of the tally;
- ``"qualitative"`` — a sentence that names no quantity which could come out either way: listed with its
  words, "not measured", out of the tally;
- ``"beside"`` — a second reading of another row's claim (all layers beside blocks only, the first layer
  beside the layer mean, the independent init beside the paper's reference): shown, out of the tally, so
  that a verdict that depends on the reading is visible without counting the claim twice.

The verdict of each row comes from :mod:`repchange.studies.verdicts`, the one rule the chapters use too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from repchange.studies import verdicts
from repchange.base.plotting import PAGE_WIDTH_IN, caption, page_figure
from repchange.studies.verdicts import DIRECTIONS, LEVEL, SCALES, SENSITIVITY

__all__ = ["KINDS", "PREMISES", "TALLIED", "VERDICT_COLOURS", "Claim", "apply_premises", "assess", "effect_text",
           "fig_ledger", "ledger", "ledger_details", "ledger_view", "not_measured", "share_sensitivity",
           "source_net_groups", "verdict_label", "verdict_margin_se", "with_note"]

KINDS = ("quote", "reading", "prior work", "beside", "qualitative")
TALLIED = ("quote", "reading")  # the kinds counted as the papers' findings (and taken as Holm's family)
OUT_OF_TALLY = "out of tally"
FIXED_BASIS = "fixed: "  # how a row's sesoi_basis begins where its δ is its scale's fixed one, not the measure's

# What a claim presupposes, as the key of the ledger row that measures it: the premise is met only where
# that row holds. Study A's claims about nets pre-trained on random labels presuppose that those labels
# were fitted ("if the models are trained long enough", Sec. 3.2), which A2-train-fit measures.
PREMISES = {"A2-train-fit": "random labels memorised: training accuracy at the most random degree almost as high "
                            "as with clean labels (A2-train-fit holds)"}


@dataclass(frozen=True)
class Claim:
    """One claim: the paper's words (``quote``) at ``section`` (and ``figure``), what the statistic reads of
    them (``claim``), what is computed per unit, which side of ``null`` it predicts, the
    :data:`~repchange.studies.verdicts.SCALES` family of its statistic, its ``kind`` (:data:`KINDS`),
    optionally the ledger key of the claim it presupposes (``premise``), and whether its statistic is the same
    under every similarity estimator (``estimator_free``: the estimator grid shows "–" and counts it nowhere)."""

    key: str
    study: str
    section: str
    figure: str
    quote: str
    claim: str
    statistic: str
    unit: str
    direction: str  # "greater" | "less" (than null) | "negligible" (no effect beyond the SESOI)
    null: float = 0.0
    scale: str = "cka difference"
    premise: str | None = None
    kind: str = "quote"
    estimator_free: bool = False  # the statistic reads no similarity estimator (accuracy, loss, a fixed pairing)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {sorted(SCALES)}, got {self.scale!r}")
        if self.premise is not None and self.premise not in PREMISES:
            raise ValueError(f"premise must be one of {sorted(PREMISES)}, got {self.premise!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")


def source_net_groups(values: pd.Series) -> list[str]:
    """The architecture of each Study B source net ``"<arch>/s<seed>"`` (the fixed effect of its interval)."""
    return [str(k).split("/")[0] for k in values.index]


def assess(claim: Claim, values: pd.Series, level: float = LEVEL, groups: list | None = None,
           delta: tuple[float, str] | None = None) -> dict[str, object]:
    """One ledger row: the claim's fields, its SESOI, n, mean, interval, the p-value of its verdict's test,
    the verdict, and the verdict at :data:`~repchange.studies.verdicts.SENSITIVITY` × the SESOI, over the
    per-unit ``values`` (one per independent unit; ``groups``: a fixed effect, e.g. Study B's architecture).
    ``delta``: (δ, its basis) from the measure (:func:`repchange.studies.verdicts.range_delta`); None or a NaN δ keeps
    the scale's fixed δ. ``verdict_fixed_delta`` is the verdict at the scale's fixed δ either way."""
    scale = SCALES[claim.scale]
    i = verdicts.interval(values, scale, null=claim.null, level=level, groups=groups)
    sesoi, basis = scale.sesoi, f"{FIXED_BASIS}{scale.why}"
    if delta is not None and np.isfinite(delta[0]) and delta[0] > 0:
        sesoi, basis = float(delta[0]), delta[1]
    verdict, p = verdicts.assess_interval(i, claim.direction, null=claim.null, sesoi=sesoi)
    fixed = verdict if sesoi == scale.sesoi else \
        verdicts.assess_interval(i, claim.direction, null=claim.null, sesoi=scale.sesoi)[0]
    wide, _ = verdicts.assess_interval(i, claim.direction, null=claim.null, sesoi=SENSITIVITY * sesoi)
    margin = verdicts.verdict_margin(i, claim.direction, scale, null=claim.null, sesoi=sesoi)
    units = ", ".join(f"{k}: {v:.3f}" for k, v in values.items()) if len(values) <= 12 else f"{len(values)} units"
    notes = []
    if groups is not None:
        notes.append(f"{len(set(groups))} architectures as a fixed effect: {i.df} degrees of freedom")
    if i.no_spread and i.testable:
        same = "the seeds of each architecture equal" if groups is not None else f"all {i.n} units equal"
        notes.append(f"no spread: {same}; the exact sign-flip test decides, p = {p:.3g}")
    if not i.testable:
        notes.append(f"{i.df} degree{'s' if i.df != 1 else ''} of freedom: no interval can be conclusive")
    refuted = verdicts.refuted_as(i.low, i.high, claim.direction, null=claim.null, sesoi=sesoi) \
        if verdict == "does not hold" else ""
    if refuted == "negligible" and (i.low > claim.null or i.high < claim.null):
        notes.append("real but below the smallest effect of interest (the interval excludes the null)")
    return {**asdict(claim), "sesoi": sesoi, "sesoi_basis": basis, "n": i.n, "df": i.df, "value": i.mean,
            "ci_low": i.low, "ci_high": i.high, "p": p, "margin": margin, "margin_se": margin / i.sem if i.sem > 0 else np.nan,
            "no_spread": i.no_spread, "verdict": verdict, "refuted_as": refuted, "verdict_3sesoi": wide,
            "verdict_fixed_delta": fixed,
            "every_unit": verdicts.every_unit(values, claim.direction, null=claim.null, sesoi=scale.sesoi),
            "per_unit": units, "note": "; ".join(notes)}


def with_note(row: dict[str, object], *texts: str) -> dict[str, object]:
    """``row`` (an :func:`assess` row) with ``texts`` added to its note, "; "-separated, empty parts left out."""
    row["note"] = "; ".join(x for x in (row["note"], *texts) if x)
    return row


def not_measured(claim: Claim, why: str) -> dict[str, object]:
    """A ledger row for a claim this run cannot test (e.g. no shifted-label condition)."""
    return {**asdict(claim), "sesoi": SCALES[claim.scale].sesoi, "sesoi_basis": "", "n": 0, "df": 0, "value": np.nan,
            "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "margin": np.nan, "margin_se": np.nan, "no_spread": False,
            "verdict": "not measured", "refuted_as": "", "verdict_3sesoi": "not measured",
            "verdict_fixed_delta": "not measured", "every_unit": False, "per_unit": "", "note": why}


def apply_premises(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose premise this run does not show read "premise not met" (their numbers are kept); each row's
    verdict before this step is kept in ``verdict_unconditional`` (set here unless the frame already has it).

    A premise is a fact about the run's own nets, which are the nets the dependent claims measure: it is met
    when the premise claim holds, or when every unit of the run lies on the premise's claimed side
    (``every_unit``) although the interval cannot say so for the population — e.g. five seeds that all fit
    every random label give no spread, and the exact test needs six (:mod:`repchange.studies.verdicts`)."""
    frame = frame.copy()
    if "verdict_unconditional" not in frame:
        frame["verdict_unconditional"] = frame.verdict
    premises = frame.set_index("key")
    for k, row in frame.iterrows():
        premise = row.get("premise")
        if not isinstance(premise, str) or row.verdict == "not measured":
            continue
        met = premises.verdict.get(premise)
        by_units = met != "holds" and bool(premises.get("every_unit", pd.Series(dtype=bool)).get(premise, False))
        if by_units:
            n = premises.n.get(premise)
            frame.loc[k, "note"] = "; ".join(x for x in (row.note, f"premise {premise} reads {met} for the population "
                                                          f"but every one of this run's {n} units meets it: "
                                                          f"{PREMISES[premise]} — shown by these nets") if x)
        elif met != "holds":
            frame.loc[k, "note"] = "; ".join(x for x in (row.note, f"premise {premise} reads {met or 'absent'}: "
                                                          f"{PREMISES[premise]} — not shown in this run") if x)
            frame.loc[k, "verdict_unconditional"] = row.verdict
            frame.loc[k, "verdict"] = "premise not met"
            frame.loc[k, "refuted_as"] = ""
            frame.loc[k, "verdict_3sesoi"] = "premise not met"
            if "verdict_fixed_delta" in frame:
                frame.loc[k, "verdict_fixed_delta"] = "premise not met"
    return frame


def ledger(*parts: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """The ledger rows of both studies in one table: premises applied (a claim whose premise row does not
    hold reads "premise not met"), then ``verdict_holm``: the verdict with the tallied claims (kinds
    :data:`TALLIED`) taken as one family (Holm on each verdict's own test; see
    :func:`repchange.studies.verdicts.holm`), and ``verdict_holm_paper``: the same with each paper's tallied claims as
    their own family; rows out of the tally read "out of tally" there. ``tallied``
    marks the papers' findings. Verdict counts of the tallied rows in ``frame.attrs["counts"]`` and
    ``frame.attrs["counts_holm"]``."""
    frame = apply_premises(pd.concat(parts, ignore_index=True))
    frame["tallied"] = frame.kind.isin(TALLIED)
    frame["verdict_holm"] = OUT_OF_TALLY
    tallied = frame.tallied.to_numpy()
    frame.loc[tallied, "verdict_holm"] = verdicts.holm(frame.p[tallied], frame.verdict[tallied], level)
    frame["verdict_holm_paper"] = OUT_OF_TALLY  # each paper's tallied claims as their own family
    for study in frame.study[tallied].unique():
        family = tallied & (frame.study == study).to_numpy()
        frame.loc[family, "verdict_holm_paper"] = verdicts.holm(frame.p[family], frame.verdict[family], level)
    frame.attrs["counts"] = frame.verdict[tallied].value_counts().to_dict()
    frame.attrs["counts_holm"] = frame.verdict_holm[tallied].value_counts().to_dict()
    return frame


def effect_text(r: pd.Series) -> str:
    """``+0.123 [+0.100, +0.150]``; "no spread" instead of a point interval; "–" when not measured."""
    if r.verdict == "not measured" or not np.isfinite(r.value):
        return "–"
    effect = f"{r.value - r.null:+.3f}"
    if bool(r.get("no_spread", False)) and not (np.isfinite(r.ci_low) and r.ci_low < r.ci_high):
        return f"{effect} (no spread)"
    if np.isfinite(r.ci_low):
        return f"{effect} [{r.ci_low - r.null:+.3f}, {r.ci_high - r.null:+.3f}]"
    return effect


def share_sensitivity(frame: pd.DataFrame, shares: Iterable[float]) -> pd.DataFrame:
    """The tallied verdicts at other shares of the measure's range (:data:`~repchange.studies.verdicts.RANGE_SHARE`):
    δ scales with the share, so each row whose δ came from the measure (``sesoi_basis`` not "fixed…") is re-read from
    its own interval at δ × share / RANGE_SHARE; rows with a fixed δ, and verdicts no number sets (premise not met,
    untestable, not measured), keep theirs. Columns: share, key, verdict (one row per share and tallied claim)."""
    rows = frame[frame.tallied]
    basis = rows["sesoi_basis"].fillna("") if "sesoi_basis" in rows else pd.Series("", index=rows.index)
    measured = (basis != "") & ~basis.str.startswith(FIXED_BASIS)
    out = []
    for share in shares:
        factor = share / verdicts.RANGE_SHARE
        for (_, r), scaled in zip(rows.iterrows(), measured):
            verdict = r.verdict
            if scaled and verdict in (*verdicts.CONCLUSIVE, "inconclusive"):
                verdict = verdicts.verdict(r.ci_low, r.ci_high, r.value, r.direction, null=r.null,
                                           sesoi=r.sesoi * factor)
            out.append({"share": share, "key": r.key, "verdict": verdict})
    return pd.DataFrame(out, columns=["share", "key", "verdict"])


def verdict_label(row: Mapping[str, object]) -> str:
    """A row's verdict with its refinement: ``"does not hold (negligible)"``, ``"does not hold (reversed)"``, else
    the verdict itself (:func:`repchange.studies.verdicts.refuted_as`); ``row``: a ledger row or a mapping of one."""
    refuted = row.get("refuted_as", "")
    return f"{row['verdict']} ({refuted})" if isinstance(refuted, str) and refuted else str(row["verdict"])


def verdict_margin_se(frame: pd.DataFrame) -> pd.Series:
    """Each row's verdict margin in standard errors (``margin_se``), where the numbers set the verdict: NaN for
    "premise not met" (its stored margin is the unconditional verdict's), without a t interval, and for ledgers
    written before the margin."""
    margins = frame.get("margin_se", pd.Series(np.nan, index=frame.index))
    return margins.where(frame.verdict != "premise not met")


def ledger_view(frame: pd.DataFrame) -> pd.DataFrame:
    """What a reader scans, one row per claim: key, the paper's section (§), the verdict, Holm's, the verdict at
    three times the SESOI, the effect (mean − null) with its interval and n (the SESOI is in the details), and
    the verdict's margin in standard errors (:func:`repchange.studies.verdicts.verdict_margin`; NaN without a t
    interval, and for "premise not met", which no number sets)."""
    out = {"claim": frame.key, "§": frame.section.str.removeprefix("Sec. "),
           "verdict": frame.apply(verdict_label, axis=1),
           "Holm": frame.verdict_holm,
           f"at {SENSITIVITY:g}δ": frame.verdict_3sesoi, "effect [95% CI]": frame.apply(effect_text, axis=1),
           "n": frame.n, "margin (SE)": verdict_margin_se(frame)}
    if "estimators_agreeing" in frame:
        out["grid"] = frame.estimators_agreeing
    return pd.DataFrame(out)


def ledger_details(frame: pd.DataFrame) -> pd.DataFrame:
    """Beneath the ledger: the paper's words, what the row reads of them, its statistic, unit, null, smallest
    effect of interest (δ), p-value, per-unit values and notes."""
    columns = ["key", "kind", "quote", "claim", "statistic", "unit", "direction", "null", "sesoi",
               *(["sesoi_basis"] if "sesoi_basis" in frame else []), "p", "per_unit", "note"]
    return frame[columns].rename(columns={"sesoi": "δ", "sesoi_basis": "δ from"})


VERDICT_COLOURS = {"holds": "#2a9d55", "does not hold": "#c0392b",
                   "inconclusive": "#8c8c8c", "untestable at this n": "#c8a2c8", "premise not met": "#b9770e"}
DIRECTION_MARKS = {"greater": ">", "less": "<", "negligible": "≈"}


@page_figure
def fig_ledger(frame: pd.DataFrame, provenance: str, *, title: str | None = None):
    """Forest plot of the ledger: per claim, (mean − null) / SESOI with its interval, turned so that the
    claimed side is to the right, coloured by verdict, grouped by study (and section); the shaded band is ±1
    smallest effect of interest (symmetric-log x axis, linear inside the band); a ring marks a verdict Holm's
    adjustment keeps, a cross one it turns inconclusive. Rows out of the tally are drawn hollow. Untested
    claims are left out. The legend sits below the axes, off the data."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    rows = frame[~frame.verdict.isin(["not measured"])].sort_values("study", kind="stable").iloc[::-1]
    height = 0.3 * len(rows) + 2.8
    reach = [1.0]
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, height), layout="constrained")
    ax.axvspan(-1, 1, color="#2874a6", alpha=0.12, lw=0)
    for k, (_, r) in enumerate(rows.iterrows()):
        colour = VERDICT_COLOURS.get(r.verdict, "#8c8c8c")
        sign = -1.0 if r.direction == "less" else 1.0
        ends = sorted(sign * (x - r.null) / r.sesoi for x in (r.ci_low, r.ci_high))
        if np.all(np.isfinite(ends)) and ends[0] != ends[1]:
            ax.plot(ends, [k, k], color=colour, lw=2.2)
        tallied = bool(r.get("tallied", True))
        x = sign * (r.value - r.null) / r.sesoi
        reach += [abs(v) for v in (x, *ends) if np.isfinite(v)]
        ax.plot(x, k, "o", color=colour, ms=6, mfc=colour if tallied else "white")
        if r.get("verdict_holm") == "inconclusive" and r.verdict in verdicts.CONCLUSIVE:
            ax.plot(x, k, "x", color="black", ms=7)
    studies = list(rows.study)
    for k in range(1, len(studies)):
        if studies[k] != studies[k - 1]:
            ax.axhline(k - 0.5, color="black", lw=0.6)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(-2.0 * max(reach), 2.0 * max(reach))  # every point and bar inside, with room
    ax.set_yticks(np.arange(len(rows)), [f"{r.key} ({DIRECTION_MARKS[r.direction]})" for _, r in rows.iterrows()])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("(statistic − null) / δ, claimed side right\nshaded: ±δ")
    ax.grid(alpha=0.3, axis="x")
    handles = [Line2D([], [], color=c, marker="o", lw=2) for c in VERDICT_COLOURS.values()]
    labels = list(VERDICT_COLOURS)
    handles += [Line2D([], [], color="black", marker="x", lw=0), Line2D([], [], color="grey", marker="o", mfc="white",
                                                                        lw=0)]
    labels += ["Holm: inconclusive", "out of the tally"]
    fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False)
    ax.set_title(title or "Each claim's effect in units of its\nsmallest effect of interest δ")
    caption(fig, provenance)
    return fig
