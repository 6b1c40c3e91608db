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
# # Study A, Figure 3b: how much a net changes to memorise more random labels
#
# Figure 3a varied how random the labels are; Figure 3b fixes them fully random ($d = D - 1$)
# and varies how many training images there are. With random labels every image is an
# exception to memorise, so the number of images is the amount of memorisation asked for.
#
# **The paper's claim.** The more randomly labelled images a net has to fit, the further its
# layers move from their initialisation; with few images the change stays small.
#
# Every size trains for the same number of epochs, so a smaller set also means fewer SGD
# steps (as in the paper's protocol). The largest default size is the book's default
# pre-training set, so that run is the $d = 9$ run Figures 2 and 3a already trained.

# %%
import matplotlib.pyplot as plt

from repchange.book import parameters
from repchange.book.glue import glue_summary, glue_text, provenance, save_table
from repchange.studies.a import summaries
from repchange.studies.a import tables
from repchange.studies.a.figures import fig3b_cka_vs_size

# %% tags=["parameters"]
a_dataset: str = "fashion_mnist"  # a name from datasets.available() (repchange.data)
a_seeds: list[int] = [1, 2, 3, 4, 5]  # five seeds, as the paper
a_pretrain_sizes: list = [64, 256, 1024]  # None: the whole train split (paper: 64, 256, 1024, 4096, all)
a_size_sweep_degree: int = 9  # label randomness degree of every run (paper: fully random, D - 1)
a_pretrain_epochs: int = 16  # pre-training epochs (the authors' code: 150; the paper's text gives none)
a_pretrain_eval_size: int = 1000  # test images used for the per-epoch test accuracy
a_probe_size: int = 500  # probe set: the first a_probe_size test images, unshuffled (paper: 500)
extraction_bn: str = "batch"  # BatchNorm at extraction: "batch" (probe-batch statistics, the authors' code) or "eval"
a_batch_size: int = 32
a_lr: float = 1e-3
a_momentum: float = 0.9
a_bn_order: str = "relu_bn"
a_width: int = 64
device: str = "auto"
data_root: str = None
download: bool = False
profile: str = "default"

# %%
params = parameters.size_sweep(globals())  # validated: bad parameters fail here, before any training
runtime = parameters.runtime(globals())  # store, device, data folder
source = provenance(data=a_dataset, profile=profile, seeds=a_seeds, train_sizes=a_pretrain_sizes,
                    degree=a_size_sweep_degree, epochs=a_pretrain_epochs, probe=f"first {a_probe_size} test images")

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# {glue:md}`a4_provenance`
# ```

# %%
table = tables.size_sweep(params, runtime)
save_table(table, "a4_cka_by_train_size")
sweep = table[~table.equal_steps]  # Figure 3b: every size after the same epochs
fig = fig3b_cka_vs_size(sweep, source)
plt.show()

# %% [markdown]
# **Figure 3b.** CKA between each layer after {glue:text}`a4_epochs` epochs of pre-training on
# randomly labelled images and the same layer at initialisation (solid) or an independent
# initialisation (dashed), against the number of training images; mean ± standard error over
# seeds.

# %%
summary = summaries.cka_vs_size(sweep, a_pretrain_epochs)
glue_text("a4_provenance", source)

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_summary(summary)  # its phrases and numbers
headline

# %% [markdown]
# ## What this run shows
#
# After {glue:text}`a4_epochs` epochs the nets fit {glue:text}`a4_train_acc_small:.2f` of the
# random training labels with {glue:text}`a4_n_small` images and
# {glue:text}`a4_train_acc_large:.2f` with {glue:text}`a4_n_large` images.
# Biased CKA to the init, {glue:text}`a4_n_small` → {glue:text}`a4_n_large` images: block 1
# {glue:text}`a4_cka_small_block1:.3f` → {glue:text}`a4_cka_large_block1:.3f`, block 2
# {glue:text}`a4_cka_small_block2:.3f` → {glue:text}`a4_cka_large_block2:.3f`, block 3
# {glue:text}`a4_cka_small_block3:.3f` → {glue:text}`a4_cka_large_block3:.3f`, block 4
# {glue:text}`a4_cka_small_block4:.3f` → {glue:text}`a4_cka_large_block4:.3f`, logits
# {glue:text}`a4_cka_small_logits:.3f` → {glue:text}`a4_cka_large_logits:.3f`.
#
# Layers that moved clearly further from their init with the largest set than with the
# smallest (the ledger's verdict rule on the paired difference across seeds,
# {doc}`how verdicts are made <verdicts>`): {glue:md}`a4_moved_more`. Layers that stayed clearly closer: {glue:md}`a4_moved_less`.
# With the same number of epochs the larger sets also take more SGD steps, so this figure
# cannot separate "more to memorise" from "trained longer".

# %% [markdown]
# ## The same number of SGD steps
# The smallest set is trained again, for as many SGD steps as the largest takes in
# {glue:text}`a4_epochs` epochs (the ledger's A3-size-steps reads this run):

# %%
steps_view = summaries.equal_steps_view(table)
glue_text("a4_steps_sentence", summaries.equal_steps_sentence(steps_view))
steps_view.round(3)

# %% [markdown]
# {glue:md}`a4_steps_sentence` If the layers before the last stay closer to their init with few
# images even at equal steps, the difference in Figure 3b is not only a difference in training
# length.
