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
# # Study A, Figure 1: how far each layer moves from its random init during pre-training
#
# Goerttler & Obermayer train a 4-block conv net from a random initialisation and, after
# every epoch, compare each block's representation of a fixed probe set with the same
# block's representation at initialisation, using linear CKA.
#
# **The paper's claim.** Similarity to the initialisation falls with depth: the first block
# stays close to its random init throughout pre-training, later blocks move further, and the
# output layer moves most.
#
# This page re-runs that measurement. Beside the biased linear CKA the paper used it shows
# the debiased estimator, and for every layer the CKA between the net and an *independently
# drawn* random init (dashed). That second curve is the baseline: two unrelated random
# conv nets that see the same images already have similar early-layer representations, so a
# CKA near 1 in block 1 says little by itself.

# %%
import matplotlib.pyplot as plt

from repchange.book import parameters
from repchange.book.reader_tables import for_readers
from repchange.book.glue import glue_summary, glue_text, provenance, save_table
from repchange.studies.a import summaries
from repchange.studies.a import tables
from repchange.studies.a.figures import fig1_cka_to_init

# %% tags=["parameters"]
# Data and protocol (book defaults: a 2-core laptop CPU; see notebooks/params/ for other profiles)
a_dataset: str = "fashion_mnist"  # a name from datasets.available() (repchange.data)
a_seeds: list[int] = [1, 2, 3, 4, 5]  # five seeds, as the paper
a_pretrain_epochs: int = 16  # pre-training epochs (the authors' code: 150; the paper's text gives none)
a_pretrain_size: int = 1024  # first N training images, None for the whole train split
a_pretrain_eval_size: int = 1000  # test images used for the per-epoch test accuracy
a_probe_size: int = 500  # probe set: the first a_probe_size test images, unshuffled (paper: 500)
extraction_bn: str = "batch"  # BatchNorm at extraction: "batch" (probe-batch statistics, the authors' code) or "eval"
a_batch_size: int = 32
a_lr: float = 1e-3
a_momentum: float = 0.9
a_bn_order: str = "relu_bn"  # relu_bn as in the authors code, bn_relu as in the paper text
a_width: int = 64
device: str = "auto"  # auto picks CUDA when available, else the CPU
data_root: str = None  # folder with the data files, None for REPCHANGE_DATA or the system package
download: bool = False  # let torchvision download a missing data set
profile: str = "default"  # the name printed on every figure

# %%
params = parameters.cka_to_init(globals())  # validated: bad parameters fail here, before any training
runtime = parameters.runtime(globals())  # store, device, data folder
source = provenance(data=a_dataset, profile=profile, seeds=a_seeds, epochs=a_pretrain_epochs,
                    train_size=a_pretrain_size, probe=f"first {a_probe_size} test images", bn_order=a_bn_order)

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# {glue:md}`a1_provenance`
# ```

# %% [markdown]
# ## Train (or load) and measure
#
# Each seed's pre-training is stored under a hash of its full configuration, with a
# checkpoint at every epoch; any other chapter that needs the same run loads it. The table
# has one row per seed × layer × epoch × comparison × metric.

# %%
table = tables.cka_to_init(params, runtime)
save_table(table, "a1_cka_to_init")  # every column is in the results CSV; its first rows here
for_readers(table.head(), [c for c in ("seed", "epoch", "layer", "comparison", "metric", "value") if c in table])

# %%
fig = fig1_cka_to_init(table, source)
plt.show()

# %% [markdown]
# **Figure 1.** Linear CKA between each layer at every pre-training epoch and the same net at
# initialisation (solid), and between it and an independently drawn random init (dashed),
# mean ± standard error over seeds.

# %%
summary = summaries.cka_to_init(table, a_pretrain_epochs)
glue_text("a1_provenance", source)

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_summary(summary)  # its phrases and numbers
headline

# %% [markdown]
# ## What this run shows
#
# After {glue:text}`a1_epochs` epochs the biased CKA to the random init is
# {glue:text}`a1_cka_final_block1:.3f` in block 1, {glue:text}`a1_cka_final_block2:.3f` in block 2,
# {glue:text}`a1_cka_final_block3:.3f` in block 3, {glue:text}`a1_cka_final_block4:.3f` in block 4 and
# {glue:text}`a1_cka_final_logits:.3f` in the logits: similarity to the init
# {glue:md}`a1_depth_verdict` with depth. The debiased estimator gives
# {glue:text}`a1_cka_debiased_final_block1:.3f` (block 1) and
# {glue:text}`a1_cka_debiased_final_logits:.3f` (logits).
#
# The baseline matters: an *independent* random init already has CKA
# {glue:text}`a1_cka_chance_block1:.3f` with this net's init in block 1,
# {glue:text}`a1_cka_chance_block4:.3f` in block 4 and {glue:text}`a1_cka_chance_logits:.3f` in the
# logits. A trained block whose CKA to its own init stays above the dashed line has kept more
# of its init than an unrelated random net shares with it. After training, the CKA to an
# independent init is {glue:text}`a1_cka_final_independent_block1:.3f` (block 1),
# {glue:text}`a1_cka_final_independent_block4:.3f` (block 4) and
# {glue:text}`a1_cka_final_independent_logits:.3f` (logits); the layers whose CKA to their own
# init clearly exceeds it (the ledger's verdict rule on the paired difference across seeds; see
# {doc}`how verdicts are made <verdicts>`): {glue:md}`a1_kept_layers`.
# Where that list is short, the solid curves' fall with depth measures how far training moves
# each layer's representation at all, not how much of the particular random init survives.
#
# Mean test accuracy after training: {glue:text}`a1_test_acc:.3f`.
