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
# # Do the verdicts depend on the measure?
#
# The {doc}`claims ledger <claims_ledger>` reads each claim with the estimator its paper used:
# biased linear CKA with BatchNorm in batch mode at extraction for Study A (the authors' code),
# PWSM at α = 0 and per-filter Procrustes for Study B. A claim about *representations* should not
# hinge on one estimator's quirks — biased CKA sits near 1 in early layers for any two nets that see
# the same images; whitening (α = 0) amplifies noise in low-variance directions. This page re-reads
# every claim, with the same verdict rule ({doc}`how verdicts are made <verdicts>`) and the same
# runs, under:
#
# - **Study A** — biased CKA, debiased CKA, angular Procrustes (as the similarity cos θ) and mutual
#   k-nearest-neighbour alignment (Huh et al. 2024, k = 10), each with BatchNorm using the probe
#   batch's statistics (the authors' code) and in eval mode (running statistics): eight estimators;
# - **Study B** — PWSM at α = 0, 0.5 and 1 and the per-filter Procrustes distance.
#
# Nothing is trained here: the runs are the chapters' stored ones; only the last epoch's features
# are extracted again and measured. The same 0.01 smallest effect of interest applies to every
# similarity in [0, 1]. A result that depends on the estimator is a finding, shown beside the others.

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from repchange.book import parameters
from repchange.book.glue import glue_numbers, glue_text, save_table
from repchange.book.runner import chapter_values
from repchange.studies import claims, estimator_grid
from repchange.studies.a import tables as a_tables
from repchange.book import trust_report
from repchange.tool.validate import advice, plot_report
from repchange.studies.b import tables as b_tables

# %% tags=["parameters"]
profile: str = "default"  # the profile whose chapters this page reads: default, smoke, paper, rehearsal or a YAML path
chapters: dict = {}  # chapter parameters changed from the profile, e.g. {"a_seeds": [1, 2]} (or -p a_seeds "[1, 2]")

# %%
values = chapter_values(profile, chapters)  # every chapter's parameters, as the chapters run under this profile
pretraining = parameters.cka_to_init(values)
degree_params = parameters.degree_sweep(values)
size_params = parameters.size_sweep(values)
finetune_params = parameters.finetune_sweep(values)
dynamics_params = parameters.dynamics(values)
runtime = parameters.runtime(values)  # store, device, data folder
source_a, source_b = parameters.both_sources(values, dynamics_params)

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# **Study A:** {glue:md}`grid_provenance_a`
#
# **Study B:** {glue:md}`grid_provenance_b`
# ```

# %% [markdown]
# ## Study A: four estimators, two BatchNorm modes

# %%
started = time.perf_counter()
histories = a_tables.training_histories(degree_params, runtime)
grid_a, chance = estimator_grid.study_a_grid(pretraining, degree_params, size_params, finetune_params, histories,
                                             runtime, values['level'],
                                             **claims.study_a_steps(finetune_params.finetune, degree_params.pretrain))
grid_seconds = time.perf_counter() - started
save_table(grid_a.reset_index(names="claim"), "estimator_grid_a")
fig = estimator_grid.fig_grid(grid_a, claims.VERDICT_COLOURS, "Study A — each claim's verdict under each estimator",
                              source_a)
plt.show()

# %% [markdown]
# **Figure G1.** Study A's claims (rows) under each estimator and BatchNorm mode at extraction
# (columns; `cka · BN batch` is the ledger's).

# %%
chance_a = chance.pivot_table(index=["bn", "metric"], columns="layer", values="value",
                                                            sort=False)
save_table(chance_a.reset_index(), "estimator_chance_a")
display(chance_a.style.format("{:.3f}"))

# %% [markdown]
# **Each estimator's chance level**: its value between the net's random init and an independent
# random init on the same probe images, mean over seeds. Biased CKA between two unrelated random
# nets is close to 1 in the early blocks, so its early-layer differences live in the last few
# hundredths; the debiased estimator and mutual k-NN sit far lower.
#
# ## Which measures these activations let us trust
#
# An estimator that flips a verdict may be the right one or the broken one. The trust report of the tool
# (`repchange.tool.validate`, {doc}`c1_your_own_model`) asks each measure, on the very activations Study A's verdicts
# read — the first seed's pre-trained net at its last epoch, on the chapter's probe images, BatchNorm as the tables
# extract it — whether it ignores what it should (an orthogonal transform, a rescaling, the features permuted),
# catches what it should (the top principal component deleted) and moves little under artefacts (5 % of the samples
# translated far, one rogue feature), each as a share of the way to shuffled rows, with a 95 % interval over
# {glue:text}`grid_trust_resamples` probe subsamples; the second seed's net, trained by the same recipe, is read beside
# them as the twin.

# %%
trust_resamples = 5
trust_a = trust_report.pretrained_trust(pretraining, runtime, resamples=trust_resamples)
save_table(trust_a, "estimator_trust_a")
fig = plot_report(trust_a, f"Study A's pre-trained net, last epoch, the ledger's activations · {source_a}")
plt.show()
glue_text("grid_trust_advice", advice(trust_a))
glue_numbers({"grid_trust_resamples": trust_resamples})

# %% [markdown]
# **Figure G1b.** Each measure's change under each construction on Study A's pre-trained net (the largest over its
# layers; – where a measure cannot tell shuffled rows from the samples themselves). {glue:md}`grid_trust_advice`
#
# ## Study B: PWSM at three α and per-filter Procrustes

# %%
dynamics = b_tables.dynamics(dynamics_params, runtime)
agreement = b_tables.filter_agreement(dynamics_params, runtime)
agreement_chance = b_tables.filter_agreement_chance(dynamics_params, runtime)
grid_b = estimator_grid.study_b_grid(dynamics, agreement, values['b_alphas'], values['level'],
                                     agreement_unrelated=agreement_chance,
                                     baseline=b_tables.baseline(dynamics_params, runtime))
save_table(grid_b.reset_index(names="claim"), "estimator_grid_b")
fig = estimator_grid.fig_grid(grid_b, claims.VERDICT_COLOURS, "Study B — each claim's verdict under each metric",
                              "Study B: " + source_b)
plt.show()

# %% [markdown]
# **Figure G2.** Study B's claims (rows) under each metric (columns).

# %%
twin = b_tables.baseline(dynamics_params, runtime)
chance_b = twin.groupby("metric", sort=False)["value"].agg(["mean", "min", "max"])
save_table(chance_b.reset_index(), "estimator_chance_b")
display(chance_b.style.format("{:.3f}"))

# %% [markdown]
# **Each metric's chance level** for Study B: the distance between a source net's layer and the same
# layer of its independently trained twin (same architecture, data and recipe, another seed), over
# layers, targets and seeds. A fine-tuned layer closer to its source than this has kept more than
# an unrelated net of the same kind shares.

# %%
def _robust(table: pd.DataFrame) -> list[str]:
    measured = table.apply(lambda row: row[row.notna() & (row != "not measured")], axis=1)
    return [k for k, row in measured.iterrows() if row.dropna().nunique() == 1 and row.notna().sum() > 1]


def _split(table: pd.DataFrame) -> list[str]:
    return [k for k, row in table.iterrows() if row[row.notna() & (row != "not measured")].nunique() > 1]


glue_text("grid_provenance_a", source_a)
glue_text("grid_provenance_b", "Study B: " + source_b)
glue_text("grid_split_a", ", ".join(f"`{k}`" for k in _split(grid_a)) or "none")
glue_text("grid_split_b", ", ".join(f"`{k}`" for k in _split(grid_b)) or "none")
print(f"Study A estimator tables: {grid_seconds:.0f} s (loaded from the store when already computed)")

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_numbers({
    "grid_estimators_a": grid_a.shape[1],
    "grid_estimators_b": grid_b.shape[1],
    "grid_claims_a": grid_a.shape[0],
    "grid_claims_b": grid_b.shape[0],
    "grid_robust_a": len(_robust(grid_a)),
    "grid_robust_b": len(_robust(grid_b)),
    "grid_split_a_count": len(_split(grid_a)),
    "grid_split_b_count": len(_split(grid_b)),
})
headline

# %% [markdown]
# ## What this run shows
#
# Of Study A's {glue:text}`grid_claims_a` claims, {glue:text}`grid_robust_a` read the same under all
# {glue:text}`grid_estimators_a` estimators; {glue:text}`grid_split_a_count` change their verdict with
# the estimator or the BatchNorm mode ({glue:md}`grid_split_a`). Of Study B's
# {glue:text}`grid_claims_b`, {glue:text}`grid_robust_b` read the same under all
# {glue:text}`grid_estimators_b` metrics and {glue:text}`grid_split_b_count` do not
# ({glue:md}`grid_split_b`). The ledger's column "estimators agreeing" counts, for each of its rows,
# the estimators that give its verdict.
