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
# # Study A, Figure 2: learning under partially random labels
#
# Goerttler & Obermayer corrupt the labels to a controlled degree $d$: each label becomes
# $y_d = (y + Y) \bmod D$ with $Y$ uniform on $\{0, \dots, d\}$, drawn once per image. $d = 0$ is
# the clean task, $d = D - 1 = 9$ makes labels independent of the images. Figure 2 shows how
# training proceeds at each degree.
#
# **The paper's claim.** The more random the labels, the slower the training loss falls and
# the lower the test accuracy, down to chance for fully random labels, while the network
# still fits its training labels (memorisation) — given the authors' code's 150 epochs.
#
# Test accuracy here is measured against test labels corrupted to the same degree (drawn
# independently), as in the authors' code, so for $d = 9$ chance (0.1) is the ceiling.

# %%
import matplotlib.pyplot as plt

from repchange.book import parameters
from repchange.book.glue import glue_summary, glue_text, provenance, save_table
from repchange.studies.a import summaries
from repchange.studies.a import tables
from repchange.studies.a.figures import fig2_training_curves

# %% tags=["parameters"]
a_dataset: str = "fashion_mnist"  # a name from datasets.available() (repchange.data)
a_seeds: list[int] = [1, 2, 3, 4, 5]  # five seeds, as the paper
a_degrees: list[int] = [0, 1, 2, 4, 9]  # label randomness degrees d (paper: 0, 1, 2, 4, 9)
a_pretrain_epochs: int = 16  # pre-training epochs (the authors' code: 150; the paper's text gives none)
a_pretrain_size: int = 1024  # first N training images, None for the whole train split
a_pretrain_eval_size: int = 1000  # test images used for the per-epoch test accuracy
a_probe_size: int = 500
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
params = parameters.degree_sweep(globals())  # validated: bad parameters fail here, before any training
runtime = parameters.runtime(globals())  # store, device, data folder
source = provenance(data=a_dataset, profile=profile, seeds=a_seeds, degrees=a_degrees, epochs=a_pretrain_epochs,
                    train_size=a_pretrain_size, eval_size=a_pretrain_eval_size)

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# {glue:md}`a2_provenance`
# ```

# %% [markdown]
# ## Train (or load) one run per degree and seed
#
# These are the same stored pre-training runs the CKA figures use: nothing is trained twice.

# %%
histories = tables.training_histories(params, runtime)
save_table(histories, "a2_training_histories")
fig = fig2_training_curves(histories, source)
plt.show()

# %% [markdown]
# **Figure 2.** Training loss, training accuracy and test accuracy per epoch for each label
# randomness degree $d$, mean ± standard error over seeds; dotted: chance accuracy.

# %%
summary = summaries.training_curves(histories, a_pretrain_epochs)
glue_text("a2_provenance", source)

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_summary(summary)  # its phrases and numbers
headline

# %% [markdown]
# ## What this run shows
#
# After {glue:text}`a2_epochs` epochs, test accuracy is {glue:text}`a2_test_acc_lo:.3f` for
# the least random labels ($d$ = {glue:text}`a2_d_min`) and {glue:text}`a2_test_acc_hi:.3f`
# for the most random ($d$ = {glue:text}`a2_d_max`); across the degrees it
# {glue:md}`a2_test_verdict`. After the last epoch the net fits {glue:text}`a2_train_acc_lo:.3f`
# of its training images at $d$ = {glue:text}`a2_d_min` and {glue:text}`a2_train_acc_hi:.3f` at
# $d$ = {glue:text}`a2_d_max` (measured in eval mode after the epoch; the running accuracy during
# that epoch, which lags the net, read {glue:text}`a2_running_acc_lo:.3f` and
# {glue:text}`a2_running_acc_hi:.3f`; training loss {glue:text}`a2_train_loss_lo:.3f` vs
# {glue:text}`a2_train_loss_hi:.3f`, chance loss for 10 classes ln 10 ≈ 2.303): whether the nets
# have memorised the random labels is read from that pair, not assumed. The
# {doc}`budget page <budget>` shows when it happens and what it changes in the ledger.
