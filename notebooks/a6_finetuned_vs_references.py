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
# # Study A, Figure 5: is a fine-tuned net still the pre-trained net?
#
# Figure 4 measured how far each layer moved from the pre-trained net. Figure 5 asks where
# it ended up: each fine-tuned layer is compared with the pre-trained net and with nets that
# never saw the source data — the random init the pre-training started from (the paper's
# "pre-initialized" net) and an independently drawn random net. Four conditions: (a) clean labels on the
# source domain, (b) the most random labels, (c) shifted labels, (d) the cross domain.
#
# **The paper's claim** (Sec. 4.3): "we compare the representation change of the fine-tuned weights
# to both the random initialization and the representation obtained by the pre-trained weights" —
# the random init the net's own pre-training started from. With clean labels "the fine-tuned
# representations are closer to the pre-trained than to the pre-initialized one"; with random labels
# they "are more similar to the complete random initialization than to the pre-trained weights on
# which the fine-tune task started". The authors' code compares with a freshly drawn net instead;
# both are drawn below, and the {doc}`ledger <claims_ledger>` reads every Fig. 5 claim against both.
#
# The fine-tuning runs and their table are the stored ones of Figure 4; nothing is retrained.

# %%
import matplotlib.pyplot as plt

from repchange.book import parameters
from repchange.book.glue import glue_summary, glue_text, provenance, save_table
from repchange.studies.a import summaries
from repchange.studies.a import tables
from repchange.studies.a.figures import fig5_finetuned_vs_references

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
# {glue:md}`a6_provenance`
# ```

# %%
table = tables.finetune_sweep(params, runtime)
save_table(table, "a6_finetune_cka")
panels = summaries.fig5_panels(a_degrees, a_shifts, a_cross_domain)
fig = fig5_finetuned_vs_references(table, panels, source)
plt.show()

# %% [markdown]
# **Figure 5.** CKA of every layer after {glue:text}`a6_ft_epochs` fine-tuning epochs with the
# pre-trained net (green), with the random init its pre-training started from (purple) and
# with an independent random init (grey), mean ± standard error over seeds.

# %%
summary = summaries.finetuned_vs_references(table, a_finetune_epochs, a_degrees, a_shifts)
glue_text("a6_provenance", source)

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_summary(summary)  # its phrases and numbers
headline

# %% [markdown]
# ## What this run shows
#
# A layer counts as closer to one reference than to the other when the paired difference of its
# CKA across seeds "holds" under the ledger's verdict rule (the whole interval beyond the smallest
# effect of interest, 0.01; {doc}`how verdicts are made <verdicts>`).
#
# | condition | closer to the pre-trained net | closer to its own random init |
# |---|---|---|
# | (a) source domain, clean labels | {glue:md}`a6_closer_pretrained_clean` | {glue:md}`a6_closer_random_clean` |
# | (b) source domain, random labels ($d$ = {glue:text}`a6_d_hi`) | {glue:md}`a6_closer_pretrained_random` | {glue:md}`a6_closer_random_random` |
# | (c) source domain, shifted labels | {glue:md}`a6_closer_pretrained_shift` | {glue:md}`a6_closer_random_shift` |
# | (d) cross domain, clean labels | {glue:md}`a6_closer_pretrained_cross` | {glue:md}`a6_closer_random_cross` |
#
# The logits, for instance: CKA to the pre-trained net / to its own init / to an independent init
# is {glue:text}`a6_clean_pretrained_logits:.3f` / {glue:text}`a6_clean_pretrain_init_logits:.3f` /
# {glue:text}`a6_clean_independent_init_logits:.3f` with clean labels,
# {glue:text}`a6_random_pretrained_logits:.3f` / {glue:text}`a6_random_pretrain_init_logits:.3f` /
# {glue:text}`a6_random_independent_init_logits:.3f` with random labels and
# {glue:text}`a6_cross_pretrained_logits:.3f` / {glue:text}`a6_cross_pretrain_init_logits:.3f` /
# {glue:text}`a6_cross_independent_init_logits:.3f` on the cross domain. For block 1 the same triple is
# {glue:text}`a6_clean_pretrained_block1:.3f` / {glue:text}`a6_clean_pretrain_init_block1:.3f` /
# {glue:text}`a6_clean_independent_init_block1:.3f` with clean labels: an untrained net's CKA is the floor against which any "stays close to the
# pre-trained net" must be read.
