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
# # Study A, Figure 4: what fine-tuning changes, on the source domain and across domains
#
# The clean pre-trained net of Figure 1 is fine-tuned, all layers trainable and head kept,
# on a new task: (a) images of the source domain with labels of randomness degree $d$;
# (b) images of another domain with labels of degree $d$; (c) images of the source domain with
# shifted labels $y_s = (y + s) \bmod D$, a new task on familiar images, against the cross
# domain with clean labels. As in the authors' code, the target's test split provides both
# the fine-tuning images and, disjoint from them, the evaluation and probe images.
#
# **The paper's claims.** "The more random the data is, the more the representation changes"
# (Sec. 4.1), and fine-tuning on a domain or cross-domain task changes the early layers more than
# clean labels "but significantly less than when fine-tuned on random labels" (Sec. 4.2). That
# fine-tuning with every weight trainable changes the head most is not the paper's finding: its
# abstract summarises earlier work with it ("the most significant change still occurs in the head
# even if all weights are updatable"), and the {doc}`ledger <claims_ledger>` keeps it as prior work.
#
# Each solid curve is the CKA of a fine-tuned layer to the same layer of the pre-trained net
# (1 = unchanged); the dashed curve is that layer's CKA to an independently initialised net,
# the level an unrelated net already reaches on the same images.

# %%
import matplotlib.pyplot as plt

from repchange.book import parameters
from repchange.book.glue import glue_summary, glue_text, provenance, save_table
from repchange.studies.a import summaries
from repchange.studies.a import tables
from repchange.studies.a.figures import fig4_finetuning_change

# %% tags=["parameters"]
a_dataset: str = "fashion_mnist"  # source domain, a name from datasets.available() (repchange.data)
a_cross_domain: str = "digits"  # target of the cross-domain runs, resized to the source image shape
a_seeds: list[int] = [1, 2, 3, 4, 5]  # five seeds, as the paper
a_degrees: list[int] = [0, 1, 2, 4, 9]  # label randomness degrees d of the fine-tuning labels
a_shifts: list = ["seed"]  # label shifts s; "seed": s is the run's seed (the authors' code)
a_pretrain_epochs: int = 16  # pre-training epochs (the authors' code: 150; the paper's text gives none)
a_pretrain_size: int = 1024  # pre-training images, None for the whole train split
a_pretrain_eval_size: int = 1000  # test images used for the pre-training test accuracy
a_finetune_epochs: int = 10  # fine-tuning epochs (the authors' code: 25)
a_finetune_size: int = 500  # fine-tuning images, from the start of the target test split (paper: 5000)
a_finetune_eval_size: int = 500  # the next images of the target test split, for accuracy and CKA (paper: 5000)
a_probe_size: int = 500  # probe set: the first a_probe_size fine-tuning eval images (paper: 500)
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
params = parameters.finetune_sweep(globals())  # validated: bad parameters fail here, before any training
runtime = parameters.runtime(globals())  # store, device, data folder
source = provenance(data=f"{a_dataset} → {a_dataset} / {a_cross_domain}", profile=profile, seeds=a_seeds,
                    degrees=a_degrees, shifts=a_shifts,
                    pretraining=f"{a_pretrain_size} images × {a_pretrain_epochs} epochs",
                    fine_tuning=f"{a_finetune_size} images × {a_finetune_epochs} epochs",
                    probe=f"first {a_probe_size} fine-tuning eval images")

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# {glue:md}`a5_provenance`
# ```

# %% [markdown]
# ## Fine-tune (or load) every condition
#
# One pre-training per seed (the stored clean run of Figure 1), one fine-tuning per seed and
# condition; Figure 5 reads the same stored table.

# %%
table = tables.finetune_sweep(params, runtime)
save_table(table, "a5_finetune_cka")
fig = fig4_finetuning_change(table, source)
plt.show()

# %% [markdown]
# **Figure 4.** CKA of every layer after {glue:text}`a5_ft_epochs` fine-tuning epochs to the
# same layer of the pre-trained net (solid; dashed: to an independent init), mean ± standard
# error over seeds.

# %%
summary = summaries.finetuning_change(table, a_finetune_epochs, a_degrees, a_shifts, a_dataset, a_cross_domain)
summary.tables["accuracy"]

# %% [markdown]
# Accuracy after fine-tuning, mean over seeds, each against the condition's own labels (for
# random labels, test labels are corrupted independently, so chance is the ceiling).

# %%
glue_text("a5_provenance", source)

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_summary(summary)  # its phrases and numbers
headline

# %% [markdown]
# ## What this run shows
#
# With the least random labels ($d$ = {glue:text}`a5_d_lo`), fine-tuning reaches test accuracy
# {glue:text}`a5_test_acc_same_lo:.3f` on the source domain and
# {glue:text}`a5_test_acc_cross_lo:.3f` on the cross domain. The layer that changed most
# (lowest CKA to the pre-trained net) is {glue:md}`a5_most_changed_same` on the source domain
# and {glue:md}`a5_most_changed_cross` on the cross domain. Biased CKA to the pre-trained net,
# block 1 → logits, source domain: {glue:text}`a5_same_lo_block1:.3f`,
# {glue:text}`a5_same_lo_block2:.3f`, {glue:text}`a5_same_lo_block3:.3f`,
# {glue:text}`a5_same_lo_block4:.3f`, {glue:text}`a5_same_lo_logits:.3f`; cross domain:
# {glue:text}`a5_cross_lo_block1:.3f`, {glue:text}`a5_cross_lo_block2:.3f`,
# {glue:text}`a5_cross_lo_block3:.3f`, {glue:text}`a5_cross_lo_block4:.3f`,
# {glue:text}`a5_cross_lo_logits:.3f`.
#
# **(a, b) Random labels.** With the most random labels ($d$ = {glue:text}`a5_d_hi`) the source
# domain's CKA falls to {glue:text}`a5_same_hi_block1:.3f`, {glue:text}`a5_same_hi_block2:.3f`,
# {glue:text}`a5_same_hi_block3:.3f`, {glue:text}`a5_same_hi_block4:.3f`,
# {glue:text}`a5_same_hi_logits:.3f`. Layers that changed clearly more under the most than
# under the least random labels (the ledger's verdict rule on the paired difference across seeds,
# {doc}`how verdicts are made <verdicts>`):
# source domain {glue:md}`a5_random_moves_same`; cross domain {glue:md}`a5_random_moves_cross`.
#
# **(c) New task or new domain.** Layers that changed clearly more on the cross domain than
# with shifted labels on the source domain: {glue:md}`a5_cross_moves_more`; clearly less:
# {glue:md}`a5_shift_moves_more`. The two conditions are measured on two probe sets (digits, Fashion-MNIST),
# so each CKA is read above its own probe's chance level — the CKA two unrelated random inits have on
# those images — as the ledger's `A-cross-early` and `A4c-penultimate` read them; raw CKA would let a
# probe on which every pair of nets looks alike pass for less change.
