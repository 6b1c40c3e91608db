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
# # How verdicts are made
#
# Every verdict in the {doc}`claims ledger <claims_ledger>` and every "clearly" in a chapter
# ("the layers that moved clearly further from their init…") comes from one rule in
# `repchange.studies.verdicts`, so a chapter and the ledger cannot disagree about one effect.
#
# **Units.** A claim is tested on *independent* units, each giving one value of its statistic:
# a Study A **seed** (each seed pre-trains and fine-tunes its own nets) and a Study B **source
# net** (architecture × seed). A source net's fine-tunings on several targets share that net;
# they are averaged into one value before any interval, so three targets do not count as three
# pieces of evidence. Each ledger row names its unit and n.
#
# **The interval.** The Student-t interval of the mean over the units at the chosen level
# (95 % by default, two-sided), intersected with the statistic's range (a rank correlation
# in [−1, 1], a share in [0, 1]); the mean lies in the range, so the intersection keeps the
# coverage. Study B's source nets are three architectures × two seeds: the architecture is a
# **fixed effect**, not an exchangeable unit, so the estimate is the mean of the architectures'
# means and its spread comes from the seeds *within* each architecture (n − 3 degrees of freedom).
#
# **What an interval generalises over.** Study A: other initialisations and batch orders of the same
# net, on the same data subset, probe images and schedule — not other data sets or nets. Study B: other
# seeds of the three architectures measured, on the same source and target images — not other
# architectures. Fewer than two degrees of freedom (two seeds, or one source net per architecture)
# read **untestable at this n**: the t interval would rest on the normality of two values, and no
# distribution-free test can reach the level (the sign-flip test's smallest p at n = 2 is 0.5).
#
# Units without any spread (or, with architectures as groups, without spread inside each) give no t
# interval. The exact sign-flip test decides then (n values that all lie beyond a threshold have
# p = 2^(1−n), the smallest p any distribution-free test can give; at 95 % that needs n ≥ 6); its
# interval is the units' own span, and the ledger prints "no spread" with the exact p, never a point
# as an interval.
#
# **The smallest effect of interest (SESOI, δ).** A claim says more than "not zero": that the effect
# is large enough to matter, at least δ on the claimed side. **δ comes from the measure**: for a
# similarity (CKA and the other estimators of Study A) it is {glue:text}`verdicts_range_share_pct` of the
# measure's range above chance on the layers and probes the statistic reads — 1 minus the value two
# unrelated random nets have there —, and for a distance of Study B {glue:text}`verdicts_range_share_pct`
# of the distance an independently trained twin net stands from the source. Linear CKA between two
# unrelated random nets is about 0.99 in this book's first block, so a fixed 0.01 there would exceed the
# whole range the measure has; in the logits the range is close to 0.8 and 0.01 is a trace. Each family
# of statistics also states a fixed δ (table below): it serves where no chance level or twin is measured
# (accuracy, loss, correlations, a published net), and the ledger shows the verdict at the fixed δ
# beside every row (`verdict_fixed_delta`; the {doc}`ledger <claims_ledger>` lists the verdicts that
# move). With the effect e = mean − null turned so that the claimed side is positive and its interval
# [L, H]:
#
# | verdict | when |
# |---|---|
# | **holds** | L ≥ δ: the whole interval lies beyond the smallest effect of interest |
# | **does not hold** | H < δ: an effect of interest on the claimed side is excluded. The ledger says how: **(negligible)** when the whole interval also lies inside (−δ, δ) — whatever the effect is, it is too small to count (where the interval also excludes zero the note says "real but below the smallest effect of interest") —, **(reversed)** when H ≤ −δ, an effect of interest on the other side |
# | **inconclusive** | anything else: L < δ ≤ H, the data allow both an effect that counts and one that does not |
# | **untestable at this n** | fewer than two degrees of freedom |
# | **premise not met** | the run does not show what the claim presupposes (random labels memorised): the ledger's A2-train-fit does not hold, and not every seed of the run fitted its random labels within the tolerance. A premise is a fact about the nets the claim measures, so it is met when every seed meets it, even where identical values leave A2-train-fit itself without an interval |
# | **not measured** | the run cannot test the claim (e.g. no shifted-label condition) |
#
# A claim of *no* effect ("hardly anything changes") holds when its interval lies inside
# (−δ, δ) and does not hold when it lies wholly beyond δ or −δ.
#
# **More data never softens a verdict.** More units narrow the interval, and a narrower interval inside
# a wider one keeps its verdict: "holds" needs L ≥ δ, "does not hold" H < δ, and both survive
# narrowing. What narrowing can add to a refutation is its refinement — *negligible* or *reversed* —,
# never a softer word. (The ledger's earlier labels were not nested: [−1.2δ, 0.9δ] read "does not
# hold" and the narrower [−0.9δ, 0.9δ] "negligible", as if more data had weakened the refutation. A
# property test checks the nesting on random interval pairs.)
#
# **Why "holds" needs the whole interval beyond δ.** The earlier rule asked for an interval clear of
# zero and a *mean* of at least δ. Its calibration below shows what that did: true effects of 0.5 δ,
# 0.8 δ and 0.9 δ — too small to count, by the claim's own δ — read "holds" a fifth of the time at
# n = 5. Requiring L ≥ δ is a minimum-effect test: a true effect of exactly δ reads "holds" at most at
# the nominal one-sided rate (2.5 %), smaller ones less often. The price is power: an effect must
# clear δ by about two spreads of its mean to be found. A real effect below δ is not lost: it reads
# "does not hold (negligible)" with its note.
#
# **Many claims at once.** The ledger tests some thirty claims. Beside each verdict it shows the
# Holm-adjusted one (statsmodels' `multipletests`, the family being every tallied claim): a
# conclusive verdict whose Holm-adjusted p-value is not below 1 − level reads "inconclusive" there.
# Each verdict's p-value is the p-value of *its own* test — the minimum-effect test for "holds" and
# "does not hold" of a directional claim, the two one-sided tests against ±δ (TOST) for an equivalence
# claim's "holds" — doubled one-sided, so that p < 1 − level exactly when the interval gives the
# verdict. (A test of mean = null would reverse an equivalence: the better the data support "hardly
# anything changes", the larger that p, and Holm would make the claim inconclusive.)
#
# **Why Holm may use the verdict's own test.** Each row's p-value belongs to the test its verdict names,
# chosen after seeing the data — but the choice is paid for: of the two one-sided minimum-effect tests
# ("the effect exceeds δ", "the effect falls short of δ"), the smaller p is reported *doubled*, which is
# exactly the two-sided test of "the effect equals δ" with a direction read off afterwards. Under any
# true effect the chance that the reported p falls below 1 − level while its verdict is wrong is at most
# 1 − level, so each p is valid and Holm's adjustment of valid p-values controls the family-wise error.
# The ledger shows Holm over both papers' claims as one family and, beside it, each paper as its own
# family (`verdict_holm_paper`), the family a reader of one paper would take.
#
# **How far a verdict stands from a change.** The verdict moves only where an interval edge crosses
# null ± δ. The ledger gives each verdict its *margin*: the smallest shift of the mean, the interval
# moving with it, that changes it, in standard errors (`verdicts.verdict_margin`). A replication with
# new units at the same effect has a mean about √2 standard errors from this one, so a verdict within
# one standard error of a boundary is *fragile*: such a replication crosses that boundary at least
# Φ(−1/√2) ≈ 24 % of the time. A rebuild on another CPU is part of such a replication: its kernels add
# in another order, and the same seed trains to other weights (`make bench` [11] measures how far).
# `repchange ledger-diff A B` sets two builds' ledgers side by side and marks each verdict that moved
# as fragile or not.
#
# **Why the t interval.** It is exact for normal units. A percentile bootstrap (scipy's
# `bootstrap`) is too narrow at n = 3; the exact sign-flip permutation test cannot reject anything at
# n ≤ 5 at 95 %: its smallest two-sided p is 2^(1−n) = {glue:text}`verdicts_signflip_p5:.4f` at n = 5.
# With skewed units the t interval is too narrow on the side of the short tail, measured below.

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from repchange.book.glue import glue_numbers, glue_text, provenance, save_table
from repchange.studies import verdicts
from repchange.studies import verdict_figures

# %% tags=["parameters"]
level: float = 0.95  # confidence level of every interval
calibration_draws: int = 4000  # simulated claims per cell of the calibration table
profile: str = "default"

# %%
source = provenance(data="synthetic units (normal, and a centred gamma with skewness 1.4)", profile=profile,
                    seeds=["one per cell"], draws=calibration_draws, level=level)
scales = pd.DataFrame([{"family of statistics": s.name, "SESOI δ": s.sesoi, "range": f"[{s.low:.3g}, {s.high:.3g}]",
                        "why this δ": s.why} for s in verdicts.SCALES.values()])
display(scales.style.format({"SESOI δ": "{:g}"}).hide(axis="index"))

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# {glue:md}`verdicts_provenance`
# ```

# %% [markdown]
# **The fixed smallest effects of interest**, one per family of statistics, with the reason for each:
# the δ of rows that have no measured range, and the reading beside every row of the ledger. The
# ledger also reads every claim at three times its δ (column `at 3δ`): a verdict that changes there
# depends on the choice of δ. For scale, switching BatchNorm to eval mode at extraction moves Study A's
# block 1 by about 0.03 (the {doc}`deviations page <deviations>`).
#
# ## The rule, calibrated
#
# Synthetic claims with a known effect: n units drawn around the effect (0 to 3 δ) with a spread of
# 0.5, 1 or 3 δ — the range of unit-to-unit spreads the ledger's rows show — each run through the rule;
# the rate of each verdict over {glue:text}`verdicts_draws` claims per cell. At effects below 1 δ every
# "holds" is false; at exactly 1 δ the nominal one-sided rate of a 95 % interval is 2.5 %.

# %%
nominal = (1 - level) / 2
effects = (0.0, 0.5, 0.8, 1.0, 2.0, 3.0)
calibration = pd.concat([
    verdicts.calibration_table(ns=(3, 5, 10), effects=effects, methods=("rule",), spreads=(0.5, 1.0, 3.0),
                               draws=calibration_draws, level=level),
    verdicts.calibration_table(ns=(3, 5, 10), effects=effects, methods=("earlier rule", "t, no SESOI", "bootstrap"),
                               draws=calibration_draws, level=level)], ignore_index=True)
save_table(calibration, "verdicts_calibration")
fig = verdict_figures.fig_calibration(calibration, nominal, source)
plt.show()

# %% [markdown]
# **Figure V1.** The rate of "holds" against the true effect, five units, normal units. Left: this
# book's rule against its earlier form (interval clear of zero, mean ≥ δ), the t interval without a
# smallest effect of interest and the percentile bootstrap (units spread one δ). Right: the rule when units spread by 0.5, 1 and 3 δ. Dotted: an
# effect of 1 δ and the nominal 2.5 %; every "holds" left of the vertical line is false.

# %%
shown = calibration[(calibration.method == "rule") & (calibration.spread_sesoi == 1.0)].drop(columns=["method",
                                                                                                      "spread_sesoi"])
shown = shown.rename(columns={"effect_sesoi": "effect (δ)", "untestable at this n": "untestable"})
display(shown.style.format({c: "{:.3f}" for c in ("holds", "does not hold", "inconclusive", "untestable")})
        .hide(axis="index"))

# %% [markdown]
# **The rule's calibration, units spread one δ**, normal and skewed units (every cell of every
# method and spread is in the results table `verdicts_calibration.csv`). At a true effect of
# exactly one δ the rule says "holds" {glue:text}`verdicts_holds_at_1_n5:.3f` of the time at n = 5
# (normal units; nominal {glue:text}`verdicts_nominal:.3f`) and {glue:text}`verdicts_holds_at_1_skewed_n5:.3f`
# with skewed units; at 0.5 δ {glue:text}`verdicts_holds_at_half_n5:.3f` and at 0.8 δ
# {glue:text}`verdicts_holds_at_08_n5:.3f`. The earlier rule (interval clear of zero and mean ≥ δ)
# said "holds" at 0.5 δ {glue:text}`verdicts_old_holds_at_half_n5:.3f` and at 0.8 δ
# {glue:text}`verdicts_old_holds_at_08_n5:.3f` of the time. At two δ the rule finds the effect
# {glue:text}`verdicts_power_2_n5:.2f` of the time at n = 5 ({glue:text}`verdicts_power_2_n3:.2f` at
# n = 3) and at three δ {glue:text}`verdicts_power_3_n5:.2f`: with five seeds an effect must be about
# three unit-to-unit spreads to be found reliably. "Inconclusive" is the honest verdict for most
# effects near δ at these n.

# %%
def _rate(n: int, effect: float, verdict: str = "holds", sampler: str = "normal", method: str = "rule") -> float:
    rows = calibration[(calibration.method == method) & (calibration.n == n) & (calibration.effect_sesoi == effect)
                       & (calibration.sampler == sampler) & (calibration.spread_sesoi == 1.0)]
    return float(rows[verdict].iloc[0])


glue_text("verdicts_provenance", source)
glue_text("verdicts_range_share_pct", f"{verdicts.RANGE_SHARE:.0%}")
# NBVAL_CHECK_OUTPUT
headline = glue_numbers({
    "verdicts_draws": calibration_draws,
    "verdicts_nominal": nominal,
    "verdicts_signflip_p5": 2.0 ** (1 - 5),
    "verdicts_holds_at_1_n5": _rate(5, 1.0),
    "verdicts_holds_at_1_skewed_n5": _rate(5, 1.0, sampler="skewed"),
    "verdicts_holds_at_half_n5": _rate(5, 0.5),
    "verdicts_holds_at_08_n5": _rate(5, 0.8),
    "verdicts_old_holds_at_half_n5": _rate(5, 0.5, method="earlier rule"),
    "verdicts_old_holds_at_08_n5": _rate(5, 0.8, method="earlier rule"),
    "verdicts_power_2_n3": _rate(3, 2.0),
    "verdicts_power_2_n5": _rate(5, 2.0),
    "verdicts_power_3_n5": _rate(5, 3.0),
})
headline
