# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Claims ledger: which of the papers' claims hold here
#
# Every claim the two papers make about how representations change, one row each: the paper's own
# words, verbatim, at the section they stand in (the test suite reads every quotation against the
# papers' texts); what the row reads of them; the statistic that tests it; its value on this book's
# runs with an interval; and a verdict **computed from the numbers** by the one rule of
# {doc}`how verdicts are made <verdicts>`. A claim says the effect is large enough to matter — at
# least its smallest effect of interest δ, on the claimed side:
#
# - **holds** — the whole interval lies beyond δ on the claimed side;
# - **does not hold** — the interval excludes an effect of δ on the claimed side; the verdict column
#   says how: **(negligible)** where the whole interval also lies within ±δ — too small to count either
#   way (where it also excludes zero, the note says the effect is real but below δ) —, **(reversed)**
#   where it lies beyond δ on the other side. More data never softens a verdict: a narrower interval
#   keeps "does not hold" and can only add the refinement;
# - **inconclusive** — anything else;
# - **untestable at this n** — fewer than two degrees of freedom (two seeds, or one source net per
#   architecture): no interval could be conclusive;
# - **premise not met** — the run does not show what the claim presupposes (here: random labels
#   memorised, the row A2-train-fit): the premise claim does not hold, and not every seed of the run
#   meets it. A premise is a fact about the run's own nets — the nets the claim measures — so five
#   seeds that all fit every random label meet it even where their identical values give the premise
#   claim itself no interval. The claim's numbers are kept;
# - **not measured** — the run cannot test the claim.
#
# Every statistic can come out either way: the test suite feeds each claim a synthetic table
# that supports it (verdict "holds") and one that contradicts it ("does not hold").
#
# The *unit* is the independent one: a seed for Study A (each seed is an independent
# pre-training and fine-tuning) and a **source net** (architecture × seed) for Study B, whose
# fine-tunings on several targets are averaged into one value first; the architecture is a fixed
# effect there (the interval's spread comes from the seeds within each architecture). The tallied
# claims are one family: the Holm-adjusted verdict stands beside each one. Where the book departs from
# a paper's protocol, the {doc}`deviations page <deviations>` names the departure and its
# measured effect.
#
# Nothing is trained here: every table is the stored one of its chapter (the same parameters
# give the same run keys). Run alone on an empty store, this page trains what it needs.
# Visual claims (Study B, Figures 5–8) are not in the ledger: they have no single statistic;
# the visualisation chapters compare them with the per-filter distance.

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from repchange.book.reader_tables import wrappable
from repchange.book.glue import glue_numbers, glue_text, save_table
from repchange.book.ledger_run import book_ledger
from repchange.book.runner import chapter_values
from repchange.studies import verdicts
from repchange.studies import claims

# %% tags=["parameters"]
profile: str = "default"  # the profile whose chapters this page reads: default, smoke, paper, rehearsal or a YAML path
chapters: dict = {}  # chapter parameters changed from the profile, e.g. {"a_seeds": [1, 2]} (or -p a_seeds "[1, 2]")

# %%
values = chapter_values(profile, chapters)  # every chapter's parameters, as the chapters run under this profile
book = book_ledger(values)  # every table is the chapters' stored one; the estimator grid gives "estimators"
ledger, source_a, source_b = book.ledger, book.source_a, book.source_b
_ = save_table(ledger, "claims_ledger")

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# **Study A:** {glue:md}`ledger_provenance_a`
#
# **Study B:** {glue:md}`ledger_provenance_b`
# ```

# %%
colours = {k: f"color: {v}; font-weight: bold" for k, v in claims.VERDICT_COLOURS.items()}
moved = {k: f"color: {v}" for k, v in claims.VERDICT_COLOURS.items()}  # Holm's and 3δ's verdicts, where they move
view = claims.ledger_view(ledger)
for column in ("Holm", "at 3δ"):  # a reader looks for the rows where the verdict moves
    view[column] = view[column].where(view[column] != view.verdict, "same")
display(view.style.map(lambda v: colours.get(v, ""), subset=["verdict"])
        .map(lambda v: moved.get(v, ""), subset=["Holm", "at 3δ"])
        .map(lambda m: "font-weight: bold" if m < verdicts.FRAGILE_SE else "", subset=["margin (SE)"])
        .format(wrappable, subset=["claim"]).format("{:.1f}", subset=["margin (SE)"], na_rep="–").hide(axis="index"))

# %% [markdown]
# **The ledger.** `§`: the section of the paper the claim stands in (its words are in the details
# below); `Holm`, `at 3δ`: the verdict after Holm's adjustment and with three times δ, "same" where it does not
# move; `effect [95% CI]`: the statistic's mean over the claim's units minus its null value,
# with its {glue:text}`ledger_level_pct`% interval (t, within the statistic's range; "no spread" where
# every unit has the same value and the exact sign-flip test decides); δ is the claim's smallest effect of
# interest (in the details below): where `at 3δ` differs, the verdict depends on δ;
# `n`: the independent units; `margin (SE)`: how many standard errors the mean would have to move, its interval
# with it, before the verdict changes (below {glue:text}`ledger_fragile_se`: fragile, see below; "–" where
# no t interval decides); `grid`: of the estimators of {doc}`the estimator grid
# <estimator_grid>` that measured the claim, how many give this verdict. Rows whose key carries a
# bracket (`[all layers]`, `[independent init]`, `[first layer]`, `[equal SGD steps]`) are second
# readings shown beside a claim, and `A4-head` is prior work the paper cites: they are out of the tally
# and out of Holm's family ("out of tally").

# %% tags=["hide-output"]
display(claims.ledger_details(ledger).style.format({"null": "{:g}", "δ": "{:g}", "p": "{:.3g}"}, na_rep="–")
        .hide(axis="index"))

# %% [markdown]
# **Each claim's statistic** (click to show): the paper's words (verbatim; "…" marks words left
# out), what the row reads of them, what is computed per unit, the null it is compared with, the
# p-value of the test behind the verdict (minimum-effect or equivalence; Holm adjusts these), each
# unit's value and notes (premises, units without spread, why a claim was not measured).

# %%
fig = claims.fig_ledger(ledger, f"Study A — {source_a} | Study B — {source_b}")
plt.show()

# %% [markdown]
# **Every claim at a glance.** The dot is the claim's effect (mean − null) in units of its
# smallest effect of interest, turned so that the claimed side is to the right; the bar its
# interval; the shaded band ±1 SESOI, where a refuted claim's interval reads "negligible".

# %%
glue_text("ledger_provenance_a", source_a)
dependent = claims.reference_dependence(ledger)
glue_text("ledger_fig5_reference", ", ".join(f"`{k}` ({a} against the own init, {b} against an independent one)"
                                            for k, a, b in dependent.itertuples(index=False))
          or "none: every Fig. 5 claim reads the same against both")
glue_text("ledger_provenance_b", source_b)
findings = claims.findings(ledger)  # the counts and keys the landing page states too
for verdict in verdicts.VERDICTS:
    v = verdict.replace(" ", "_")
    glue_text(f"ledger_keys_{v}", ", ".join(f"`{k}`" for k in findings[f"keys_A_{v}"] + findings[f"keys_B_{v}"])
              or "none")
glue_text("ledger_keys_holm_changed", ", ".join(f"`{k}`" for k in findings["keys_holm_changed"]) or "none")
glue_text("ledger_delta_moved", "\n".join(f"- {line}" for line in findings.get("delta_moved", []))
          or "- none: every tallied verdict is the same at the fixed δ")
glue_text("ledger_delta_moved_count", str(len(findings.get("keys_delta_moved", []))))
shares = claims.share_sensitivity(ledger, (verdicts.RANGE_SHARE / 2, verdicts.RANGE_SHARE, 2 * verdicts.RANGE_SHARE))
_ = save_table(shares, "ledger_share_sensitivity")
by_share = shares.pivot_table(index="share", columns="verdict", values="key", aggfunc="count", fill_value=0)
glue_text("ledger_share_counts", "; ".join(
    f"at {share:.1%}: " + ", ".join(f"{int(n)} {v}" for v, n in row.items() if n) for share, row in by_share.iterrows()))
moving = shares.groupby("key", sort=False).verdict.nunique()
glue_text("ledger_share_dependent", ", ".join(f"`{k}`" for k in moving.index[moving > 1]) or "none")
glue_text("ledger_fragile", str(findings["fragile"]))
glue_text("ledger_keys_fragile", ", ".join(f"`{k}`" for k in findings["keys_fragile"]) or "none")
glue_text("ledger_fragile_se", f"{verdicts.FRAGILE_SE:g}")
glue_text("ledger_fragile_crossing", f"{verdicts.replication_crossing(verdicts.FRAGILE_SE):.2f}")

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_numbers({
    "ledger_claims": findings["claims"],
    "ledger_rows": findings["rows"],
    **{f"ledger_{v.replace(' ', '_')}": findings[v.replace(" ", "_")] for v in verdicts.VERDICTS},
    "ledger_sentences": findings["sentences"],
    **{f"ledger_refuted_{how}": findings[f"refuted_{how}"] for how in verdicts.REFUTATIONS},
    "ledger_holds_holm": findings["holds_holm"],
    "ledger_does_not_hold_holm": findings["does_not_hold_holm"],
    "ledger_level_pct": int(round(values['level'] * 100)),
})
headline

# %% [markdown]
# ## What this run shows
#
# The ledger tests {glue:text}`ledger_sentences` quoted sentences of the two papers as
# {glue:text}`ledger_claims` tallied claims ({glue:text}`ledger_rows` rows with the readings beside
# them). {glue:text}`ledger_holds` hold here ({glue:md}`ledger_keys_holds`),
# {glue:text}`ledger_does_not_hold` do not ({glue:md}`ledger_keys_does_not_hold`) — of them
# {glue:text}`ledger_refuted_negligible` with a negligible effect (within ±δ) and
# {glue:text}`ledger_refuted_reversed` reversed (beyond δ on the other side) —, and
# {glue:text}`ledger_inconclusive` are inconclusive
# ({glue:md}`ledger_keys_inconclusive`). {glue:text}`ledger_untestable_at_this_n` cannot be decided
# with this run's units ({glue:md}`ledger_keys_untestable_at_this_n`),
# {glue:text}`ledger_premise_not_met` rest on a premise this run does not meet
# ({glue:md}`ledger_keys_premise_not_met`) and {glue:text}`ledger_not_measured` could not be
# measured with these parameters ({glue:md}`ledger_keys_not_measured`). Taken as one family
# (Holm), {glue:text}`ledger_holds_holm` hold and {glue:text}`ledger_does_not_hold_holm` do not;
# the verdicts the adjustment turns inconclusive: {glue:md}`ledger_keys_holm_changed`.
#
# **Fragile verdicts.** {glue:text}`ledger_fragile` tallied verdicts lie within
# {glue:text}`ledger_fragile_se` standard error of a boundary of the rule ({glue:md}`ledger_keys_fragile`):
# a replication with new seeds at the same effect would cross that boundary with a chance of at least
# {glue:text}`ledger_fragile_crossing`. So can a rebuild on another CPU: its kernels add in another order,
# and the same seed trains to other weights.
#
# **δ from the measure.** Each similarity row's smallest effect of interest is a share of the measure's
# range above chance on the layers and probes it reads, each Study B distance row's a share of the
# twin's distance ({doc}`how verdicts are made <verdicts>`; the details below give each row's δ and what
# it came from). Against the fixed δ of each family of statistics, {glue:text}`ledger_delta_moved_count`
# tallied verdicts move:
#
# ```{glue:md} ledger_delta_moved
# :format: myst
# ```
#
# The share itself is a choice, so the tallied verdicts are read again at half and at twice it (each row
# from its own interval, δ scaled with the share; rows with a fixed δ keep theirs):
# {glue:md}`ledger_share_counts`. Verdicts that depend on the share: {glue:md}`ledger_share_dependent`.
#
# **Fig. 5's reference.** The paper compares the fine-tuned net with "the random initialization" its
# pre-training started from (Sec. 4.3); the authors' code draws a fresh net. Verdicts that depend on
# which: {glue:md}`ledger_fig5_reference`.
#
# Read a verdict with its run: the default book trains for minutes, not the authors' 150 epochs
# on CIFAR-10 or ImageNet weights, so "does not hold" means *not at this scale and on these data*;
# `make book PROFILE=paper` re-runs the same ledger under the published protocols. Each chapter
# shows the figure behind its claims; the statistic column says exactly which numbers of that
# figure enter the verdict.
