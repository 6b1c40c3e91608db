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
# # Study B, Tables 1 and 2: accuracy and reusability
#
# **Table 1** gives the train and test accuracy each fine-tuned net reaches on its target.
# **Table 2** summarises how much of the source net's features survived fine-tuning: for
# each net and target, the distance to the source averaged over the probed layers, then its
# mean ± standard deviation over the fine-tuning checkpoints (epoch 0, the source net itself,
# left out). Low = the source features were reused; high = they were rewritten.
#
# **The paper's claim, in our words.** Fine-tuning reuses the source features more on a
# target that resembles the source, and rewrites them more on a dissimilar one (Fruits-360,
# with its white backgrounds, against ImageNet); the architectures differ in how much they
# reuse.

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from repchange.book import parameters
from repchange.book.glue import glue_summary, glue_text, provenance, save_table
from repchange.book.reader_tables import for_readers
from repchange.studies.b import summaries
from repchange.studies.b import analysis, runs, tables
from repchange.studies.b.figures import fig_reusability

# %% tags=["parameters"]
b_archs: list[str] = ["vgg_small", "resnet_small", "densenet_small"]  # any name in the ARCHITECTURES table of repchange.nets.architectures
b_targets: list[str] = ["fashion_new_classes", "fashion_inverted", "digits"]  # study_b.TARGETS
b_seeds: list[int] = [1, 2, 3]  # source-net seeds: independent nets per unit (the paper: one run per model and target)
b_source_epochs: int = 10  # source epochs: every small net has plateaued (b1; the paper: ImageNet weights)
b_source_size: int = 4096  # source training images: the first Fashion-MNIST training images
b_finetune_epochs: int = 7  # paper: 15
b_finetune_checkpoints: list[int] = [0, 1, 2, 3, 5, 7]  # paper: 0, 1, 3, 5, 7, 10, 15
b_finetune_size: int = 768  # fine-tuning images per target (None: the whole train split)
b_finetune_eval_size: int = 500  # target evaluation images (None: the whole test split)
b_finetune_lr: float = 1e-4  # Adam, clip 0.5; paper's text: 1e-4 at batch 196, authors' code: 5e-5 at batch 32
b_finetune_batch_size: int = 32
b_probe_size: int = 200  # probe images per target, stratified over its classes (seed 42)
b_alphas: list[float] = [0.0, 0.5, 1.0]  # PWSM alphas: 0 full whitening (the authors' code), 1 angular Procrustes
extraction_bn: str = "batch"  # BatchNorm at extraction: "batch" (probe-batch statistics, the authors' code) or "eval"
b_procrustes_centre: str = "rows"  # per-filter Procrustes centring: "rows" (the authors' code) or "columns" (scipy)
b_finetune_lr_by_target: dict = {}  # learning rate per target, e.g. {"fruits360": 1e-3} (the paper's text)
b_source_weights: str = "imagenet"  # torchvision nets only: "imagenet" (torchvision's cache) or a state-dict path
device: str = "auto"
data_root: str = None
profile: str = "default"

# %%
params = parameters.dynamics(globals())  # the same runs in every Study B chapter; validated
runtime = parameters.runtime(globals())  # store, device, data folder
source = provenance(profile=profile, seeds=b_seeds, **tables.describe(params))
for name in b_targets:
    print(f"  {name}: {runs.describe_target(name)}")

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# {glue:md}`b3_provenance`
# ```

# %%
table = tables.dynamics(params, runtime)
accuracy = analysis.accuracy_table(table)
reuse = analysis.reusability(table)
baseline = tables.baseline(params, runtime)  # small nets only; stored by b1
relative = analysis.reusability_vs_baseline(table, baseline) if len(baseline) else None
save_table(accuracy, "b_table1_accuracy")
save_table(reuse, "b_table2_reusability")
if relative is not None:
    save_table(relative, "b_table2_vs_baseline")

# %% [markdown]
# ## Table 1: accuracy after fine-tuning

# %%
for_readers(accuracy.groupby(["arch", "target"], sort=False)[["train_acc", "test_acc"]].mean().reset_index(),
            {"arch": "architecture", "target": "target", "train_acc": "training accuracy", "test_acc": "test accuracy"})

# %% [markdown]
# ## Table 2: reusability (mean ± std over epochs of the layer-averaged distance)

# %%
shown = reuse.assign(cell=[f"{m:.3f} ± {s:.3f}" for m, s in zip(reuse["mean"], reuse["std"])])
for_readers(shown.pivot_table(index=["metric", "arch"], columns="target", values="cell", aggfunc="first", sort=False))

# %% [markdown]
# The same distances in units of the baseline: the layer-averaged distance between the source
# net and an independently trained twin (same data and recipe, another seed). A ratio of 1
# means that, averaged over layers and epochs, fine-tuning moved the net as far from its
# source as a different net of the same kind already is.

# %%
if relative is not None:
    display(for_readers(relative.pivot_table(index=["metric", "arch"], columns="target", values="ratio", sort=False),
                        decimals=2))
else:
    print("no baseline: a torchvision source has no independently trained twin here")

# %%
fig_reusability(reuse, source)
plt.show()

# %% [markdown]

# %%
summary = summaries.reusability(accuracy, reuse, relative)
glue_text("b3_provenance", source)

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_summary(summary)  # its phrases and numbers
headline

# %% [markdown]
# ## What this run shows
#
# - **Accuracy.** Test accuracy after fine-tuning ranges from {glue:text}`b3_test_acc_min` to
#   {glue:text}`b3_test_acc_max` (train accuracy at least {glue:text}`b3_train_acc_min`).
# - **Reusability.** Under PWSM α = 0 the layer-averaged distance ranges from
#   {glue:text}`b3_reuse_min` to {glue:text}`b3_reuse_max` radians. Most reused, per
#   architecture: {glue:md}`b3_most_reused`; least reused: {glue:md}`b3_least_reused`.
#   Architectures from most to least reuse (mean over targets): {glue:md}`b3_arch_order`.
#   {glue:md}`b3_relative_sentence`
# - **Do the metrics agree on the ranking?** The Spearman correlation of the (architecture,
#   target) reusability between PWSM α = 0 and per-filter Procrustes is
#   {glue:text}`b3_reuse_rank_agreement`.
