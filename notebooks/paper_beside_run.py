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
# # The papers beside this run
#
# The two papers' published numbers next to this book's equivalents — Study A's from **the authors'
# results export** of their code (not read off the paper's figures), Study B's from the paper's own
# tables and text. They come from other data
# (CIFAR-10 and SVHN; ImageNet nets on 15-Scene, AwA2 and Fruits-360), another scale (150
# epochs; 224-pixel images) and other hardware, so the values are not expected to match: what
# can agree is the **pattern** — which layers move most, which targets are reused less. The
# sentences under each table are computed from the two columns. The papers' numbers are never
# used as expected values in any test.

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from repchange.book import parameters
from repchange.book.glue import glue_summary, glue_text, save_table
from repchange.book.reader_tables import for_readers
from repchange.book.runner import chapter_values
from repchange.studies import beside, summaries
from repchange.studies.a import tables as a_tables
from repchange.studies.b import analysis
from repchange.studies.b import tables as b_tables

# %% tags=["parameters"]
profile: str = "default"  # the profile whose chapters this page reads: default, smoke, paper, rehearsal or a YAML path
chapters: dict = {}  # chapter parameters changed from the profile, e.g. {"a_seeds": [1, 2]} (or -p a_seeds "[1, 2]")

# %%
values = chapter_values(profile, chapters)  # every chapter's parameters, as the chapters run under this profile
runtime = parameters.runtime(values)  # store, device, data folder
pretraining_params = parameters.cka_to_init(values)
finetune_params = parameters.finetune_sweep(values)
dynamics_params = parameters.dynamics(values)
source_a, source_b = parameters.both_sources(values, dynamics_params)

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# **Study A:** {glue:md}`beside_provenance_a`
#
# **Study B:** {glue:md}`beside_provenance_b`
# ```

# %%
a_beside = beside.study_a_beside(a_tables.cka_to_init(pretraining_params, runtime),
                                 a_tables.finetune_sweep(finetune_params, runtime))
_ = save_table(a_beside, "paper_beside_study_a")
fig = beside.fig_study_a_beside(a_beside, "this run: " + source_a)
plt.show()

# %% [markdown]
# **Study A, last-epoch CKA per layer.** Red: the authors' results export (mean over 5
# seeds, CIFAR-10 → CIFAR-10 / SVHN); black: this run.

# %%
agreement_a = beside.pattern_agreement(a_beside)
display(for_readers(a_beside.pivot_table(index="layer", columns="condition", values=["paper", "ours"], sort=False)))
for_readers(agreement_a)

# %%
glue_text("beside_provenance_a", source_a)

# %% [markdown]
# {glue:md}`beside_a_sentences`

# %% [markdown]
# ## Study B, Tables 1 and 2
#
# Architectures are matched by family (small VGG ↔ VGG19, small ResNet ↔ ResNet50, small
# DenseNet ↔ DenseNet121) and targets by kind: the paper's 15-Scene and AwA2 are *similar* to
# ImageNet and Fruits-360 *dissimilar*; ours are the new Fashion-MNIST classes (similar) and the
# inverted classes and digits (dissimilar). Reusability is the mean over epochs of the
# layer-averaged distance (ours: PWSM α = 0, the shape metric of the authors' code; the paper does not
# say which metric its Table 2 uses).

# %%
table = b_tables.dynamics(dynamics_params, runtime)
acc = beside.study_b_accuracy_beside(analysis.accuracy_table(table))
reuse = beside.study_b_reusability_beside(analysis.reusability(table))
_ = save_table(acc, "paper_beside_table1")
_ = save_table(reuse, "paper_beside_table2")
display(for_readers(acc))
for_readers(reuse)

# %%
agreement = analysis.agreement_summary(b_tables.filter_agreement(dynamics_params, runtime),
                                       analysis.PAPER_PAIRING)  # the paper's pairing: PWSM vs Procrustes
summary = summaries.paper_beside(agreement_a, reuse, agreement)
glue_text("beside_provenance_b", source_b)

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_summary(summary)  # its phrases and numbers
headline

# %% [markdown]
# **Reuse on dissimilar versus similar targets** (reusability, dissimilar minus similar; positive:
# features are rewritten more on the dissimilar target): {glue:md}`beside_b_gap`. The sign agrees
# with the paper's for {glue:text}`beside_b_same_sign` of {glue:text}`beside_b_archs`
# architectures. **Metric agreement** (the paper's pairing: per-filter PWSM at α = 0.5 against the
# per-filter Procrustes distance): mean Pearson r across filters {glue:text}`beside_r_ours` ±
# {glue:text}`beside_r_ours_std` here, {glue:text}`beside_r_paper` ± {glue:text}`beside_r_paper_std`
# in the paper.
