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
# # repchange
#
# How much does a network's internal representation change while it learns, and where? This
# book re-runs two published studies of that question, every figure computed by the code in
# this repository when the book was built (the one exception, marked *recorded* where it appears: the
# budget page's larger scales, read from a committed record of an earlier run when this build did not
# train them):
#
# - **Study A** — {cite:t}`goerttler2022similarity`: linear CKA {cite:p}`kornblith2019similarity`
#   between the layers of a 4-block conv net {cite:p}`vinyals2016matching` and its random
#   initialisation or its pre-trained self, under partially random labels, shifted labels,
#   different training-set sizes and cross-domain fine-tuning.
# - **Study B** — {cite:t}`behzadi2024feature`: per-epoch feature dynamics of VGG, ResNet and
#   DenseNet during fine-tuning, measured with shape metrics {cite:p}`williams2021generalized`
#   and orthogonal Procrustes: how far each layer moves from the source net epoch by epoch
#   (Figs. 2–4), how well the metrics agree, accuracy and reusability (Tables 1–2), and what
#   single filters respond to before and after fine-tuning (Figs. 5–8).
#
# ## What this book found
#
# Every number below is read from this build's {doc}`claims ledger <claims_ledger>` (the same function
# computes both pages), never typed by hand; each claim links to the chapter that shows its figure.
# A verdict speaks about *this* run: small nets, Fashion-MNIST and scikit-learn's digits on a laptop CPU
# (see "What this build ran on" below), not the papers' CIFAR-10 and ImageNet runs. The code behind this
# page is at its end.
#
# ```{admonition} The runs behind these findings
# :class: provenance
# **Study A:** {glue:md}`findings_provenance_a`
#
# **Study B:** {glue:md}`findings_provenance_b`
# ```
#
# {glue:md}`findings_counts`
#
# ```{glue:figure} findings_forest
# :name: "fig-findings-forest"
#
# **Every claim at a glance.** The dot is a claim's effect (statistic − null) in units of its smallest
# effect of interest δ, turned so that the claimed side is to the right; the bar is its 95 % interval;
# the shaded band is ±δ. A claim holds when its whole bar lies right of +δ, and does not hold when its
# whole bar lies left of +δ. Colour: the verdict; a cross: a verdict Holm's adjustment turns
# inconclusive; hollow: a row out of the tally (prior work, a second reading). Study A above the line,
# Study B below. The {doc}`ledger <claims_ledger>` has every row with the paper's words, and
# {doc}`how verdicts are made <verdicts>` the rule.
# ```
#
# **Claims that do not hold here** — every tallied row whose interval excludes the effect the claim
# needs on its side, with how: *negligible* (the whole interval within ±δ), *reversed* (an effect of
# interest on the other side), or neither. Each line gives the statistic in its own units, its interval
# and the threshold the claim needs:
#
# ```{glue:md} findings_does_not_hold
# :format: myst
# ```
#
# **Verdicts a second reading reverses** — the tallied row and a reading shown beside it in the ledger
# give opposite verdicts, so the claim's fate depends on the reading:
#
# ```{glue:md} findings_reversals
# :format: myst
# ```
#
# **What holds in Study B** (feature dynamics during fine-tuning):
#
# ```{glue:md} findings_b_holds
# :format: myst
# ```
#
# **What holds in Study A** (similarity of pre-trained and fine-tuned representations):
#
# ```{glue:md} findings_a_holds
# :format: myst
# ```
#
# {glue:md}`findings_power`
#
# **How firm the verdicts are:**
#
# ```{glue:md} findings_robustness
# :format: myst
# ```
#
# ## How to read a page
#
# Each chapter states the paper's claim in one sentence, then what this run shows, with every
# number in the prose read from the table the page computed. Every figure says which data,
# parameter profile and seeds produced it. Study A's CKA values are always shown next to their
# baseline — the similarity two *unrelated* random networks already have on the same images —
# because linear CKA between high-dimensional early-layer features is close to 1 even when
# nothing has been learned.
#
# Every "holds", "clearly" and "no clear change" in the book comes from one verdict rule
# ({doc}`how verdicts are made <verdicts>`): an interval over the independent units
# (seeds; Study B's source nets), a smallest effect of interest below which an effect reads
# "negligible", and "premise not met" where the run shows that what a claim presupposes did not
# happen. {doc}`The budget page <budget>` reads Study A's pre-training claims at several
# training budgets, and every Study A claim at larger scales (up to the whole Fashion-MNIST
# training split: from the store when the `scale` profile's runs are there, else from the
# repository's committed, checksummed record of such a run, marked *recorded*), so a verdict can
# be told apart from the budget that produced it.
# {doc}`The estimator grid <estimator_grid>` re-reads every claim under other
# similarity measures, because a claim that holds under one estimator only is a finding too.
#
# ## What this build ran on
#
# The book's default build runs offline on a laptop CPU: Study A on Fashion-MNIST
# {cite:p}`xiao2017fashion` with fewer images and epochs than the paper ({glue:md}`findings_memorised`;
# {doc}`the budget page <budget>` reads the claims at other budgets); Study B with small
# VGG-, ResNet- and DenseNet-style nets trained on five Fashion-MNIST classes as the source and
# fine-tuned on the five other classes (similar), the same classes inverted and scikit-learn's
# digits (dissimilar) (the parameters
# cell of each page lists the settings; {doc}`/book/data` describes the targets). The `paper`
# profile holds the published protocols for machines with the original data sets and a GPU;
# see {doc}`/book/how_to_run`.
#
# ## The code behind this page
#
# The parameters are the book's (the same as the ledger page's, so the two pages read the same stored
# tables); the last cell computes the ledger and glues every number and the figure above.

# %%
import matplotlib.pyplot as plt
from myst_nb import glue

from repchange.book.glue import glue_text
from repchange.book.ledger_run import book_ledger, landing_text
from repchange.book.runner import chapter_values
from repchange.studies import claims

# %% tags=["parameters"]
profile: str = "default"  # the profile whose chapters this page reads: default, smoke, paper, rehearsal or a YAML path
chapters: dict = {}  # chapter parameters changed from the profile, e.g. {"a_seeds": [1, 2]} (or -p a_seeds "[1, 2]")

# %%
values = chapter_values(profile, chapters)  # every chapter's parameters, as the chapters run under this profile
book = book_ledger(values)
for name, text in landing_text(book).items():
    glue_text(name, text)
glue_text("findings_provenance_a", book.source_a)
glue_text("findings_provenance_b", book.source_b)
fig = claims.fig_ledger(book.ledger, f"Study A — {book.source_a} | Study B — {book.source_b}",
                        title="Every claim at a glance (effect in units of its δ)")
glue("findings_forest", fig, display=False)
plt.close(fig)
