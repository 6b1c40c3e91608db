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
# **The paper's claim.** Even with every weight trainable, fine-tuning changes the head
# most; random labels change the net more than clean ones, reaching down to earlier layers;
# a new domain changes the early layers more than a new task on the source domain.
#
# Each solid curve is the CKA of a fine-tuned layer to the same layer of the pre-trained net
# (1 = unchanged); the dashed curve is that layer's CKA to an independently initialised net,
# the level an unrelated net already reaches on the same images.

# %%
import matplotlib.pyplot as plt

from repchange.experiments import parameters, study_a
from repchange.experiments.finetuning import condition_label
from repchange.notebook import glue_list, glue_numbers, glue_text, provenance, save_table
from repchange.plots import fig4_finetuning_change, mean_and_sem
from repchange.stats import clearly

# %% tags=["parameters"]
dataset: str = "fashion_mnist"  # source domain, one of repchange.data.available()
cross_domain: str = "digits"  # target of the cross-domain runs, resized to the source image shape
seeds: list[int] = [1, 2, 3, 4, 5]  # five seeds, as the paper
degrees: list[int] = [0, 1, 2, 4, 9]  # label randomness degrees d of the fine-tuning labels
shifts: list = ["seed"]  # label shifts s; "seed": s is the run's seed (the authors' code)
epochs: int = 10  # pre-training epochs (paper: 150)
train_size: int = 2048  # pre-training images, None for the whole train split
eval_size: int = 1000  # test images used for the pre-training test accuracy
ft_epochs: int = 10  # fine-tuning epochs (paper: 25)
ft_train_size: int = 500  # fine-tuning images, from the start of the target test split (paper: 5000)
ft_eval_size: int = 500  # the next images of the target test split, for accuracy and CKA (paper: 5000)
n_probe: int = 500  # probe set: the first n_probe fine-tuning eval images (paper: 500)
extraction_bn: str = "batch"  # BatchNorm at extraction: "batch" (probe-batch statistics, the authors' code) or "eval"
batch_size: int = 32
lr: float = 1e-3
momentum: float = 0.9
bn_order: str = "relu_bn"
width: int = 64
device: str = "auto"
data_root: str = None
download: bool = False
profile: str = "default"

# %%
params = parameters.finetune_sweep(globals())  # validated: bad parameters fail here, before any training
source = provenance(data=f"{dataset} → {dataset} / {cross_domain}", profile=profile, seeds=seeds, degrees=degrees,
                    shifts=shifts, pretraining=f"{train_size} images × {epochs} epochs",
                    fine_tuning=f"{ft_train_size} images × {ft_epochs} epochs",
                    probe=f"first {n_probe} fine-tuning eval images")
print(source)

# %% [markdown]
# ## Fine-tune (or load) every condition
#
# One pre-training per seed (the stored clean run of Figure 1), one fine-tuning per seed and
# condition; Figure 5 reads the same stored table.

# %%
table = study_a.finetune_sweep(params, device=device, data_root=data_root, download=download)
save_table(table, "a5_finetune_cka")
fig = fig4_finetuning_change(table, source)
plt.show()

# %% [markdown]
# **Figure 4.** CKA of every layer after {glue:text}`a5_ft_epochs` fine-tuning epochs to the
# same layer of the pre-trained net (solid; dashed: to an independent init), mean ± standard
# error over seeds. {glue:md}`a5_provenance`

# %%
final = table[(table.epoch == ft_epochs) & (table.metric == "cka")]
accuracy = (final[final.layer == final.layer.iloc[0]].drop_duplicates(["domain", "labels", "seed"])
            .groupby(["domain", "target", "labels"], sort=False)[["train_acc", "test_acc"]].mean().round(3))
accuracy

# %% [markdown]
# Accuracy after fine-tuning, mean over seeds, each against the condition's own labels (for
# random labels, test labels are corrupted independently, so chance is the ceiling).

# %%
to_pretrained = final[final.comparison == "pretrained"]
stats = mean_and_sem(to_pretrained, ["domain", "labels", "layer"]).set_index(["domain", "labels", "layer"])["mean"]
layers = list(final.layer.unique())
d_lo, d_hi = min(degrees), max(degrees)
lo = condition_label(d_lo)  # least random fine-tuning labels
hi = condition_label(d_hi)  # most random
shift_labels = condition_label(shift=shifts[0]) if shifts else None
same = to_pretrained[(to_pretrained.domain == "same") & (to_pretrained["shift"] == 0)]
cross = to_pretrained[to_pretrained.domain == "cross"]
glue_text("a5_provenance", source)
glue_text("a5_most_changed_same", stats.loc[("same", lo)].idxmin())
glue_text("a5_most_changed_cross", stats.loc[("cross", lo)].idxmin())
glue_list("a5_random_moves_same", clearly(same, "lower", column="degree", a=d_hi, b=d_lo))
glue_list("a5_random_moves_cross", clearly(cross, "lower", column="degree", a=d_hi, b=d_lo))
if shift_labels:
    pair = to_pretrained[(to_pretrained.domain == "cross") & (to_pretrained.labels == lo)
                         | (to_pretrained.labels == shift_labels)]
    glue_list("a5_cross_moves_more", clearly(pair, "lower", column="domain", a="cross", b="same"))
    glue_list("a5_shift_moves_more", clearly(pair, "higher", column="domain", a="cross", b="same"))
else:
    glue_text("a5_cross_moves_more", "not measured (no shifts)")
    glue_text("a5_shift_moves_more", "not measured (no shifts)")

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_numbers({
    **{f"a5_same_lo_{layer}": stats[("same", lo, layer)] for layer in layers},
    **{f"a5_same_hi_{layer}": stats[("same", hi, layer)] for layer in layers},
    **{f"a5_cross_lo_{layer}": stats[("cross", lo, layer)] for layer in layers},
    **{f"a5_cross_hi_{layer}": stats[("cross", hi, layer)] for layer in layers},
    **({f"a5_shift_{layer}": stats[("same", shift_labels, layer)] for layer in layers} if shift_labels else {}),
    "a5_test_acc_same_lo": accuracy.loc[("same", dataset, lo), "test_acc"],
    "a5_test_acc_cross_lo": accuracy.loc[("cross", cross_domain, lo), "test_acc"],
    "a5_d_lo": int(d_lo),
    "a5_d_hi": int(d_hi),
    "a5_ft_epochs": int(ft_epochs),
})
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
# under the least random labels (paired difference across seeds beyond two standard errors):
# source domain {glue:md}`a5_random_moves_same`; cross domain {glue:md}`a5_random_moves_cross`.
#
# **(c) New task or new domain.** Layers that changed clearly more on the cross domain than
# with shifted labels on the source domain: {glue:md}`a5_cross_moves_more`; clearly less:
# {glue:md}`a5_shift_moves_more`.
