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
# # Study B, Figures 2–4: feature dynamics during fine-tuning
#
# Behzadi-Khormouji, De Roeck and Oramas fine-tune ImageNet-trained VGG19, ResNet50 and
# DenseNet121 — all layers trainable — on three target data sets and follow every probed
# layer's features epoch by epoch, measuring how far each has moved from the source net
# with two shape metrics:
#
# - **PWSM**, the partial-whitening shape metric of Williams et al. (2021), on the layer's map
#   reshaped to (images · positions) × channels. Its parameter α interpolates between full
#   whitening (α = 0, an angular CCA distance — what the authors' code computes) and none
#   (α = 1, angular orthogonal Procrustes). The paper calls the metric "partial whitening";
#   the figures below show all three so the choice can be seen.
# - **Per-filter orthogonal Procrustes**: for each image and filter, the H × W map before and
#   after fine-tuning is centred and scaled, and their Procrustes similarity averaged;
#   distance = 1 − similarity. A filter that is all zero on an image (a dead ReLU) — or has no
#   variation down the map — has no shape: it is left out of the mean and its share is
#   reported below.
#
# **The paper's claims, in our words.** Fine-tuning moves the features of deeper layers
# further than those of early layers, and moves them more when the target is less like the
# source. We also ask *when* the change happens: which share of the final distance is
# already there after the first epoch.
#
# **What runs here by default.** ImageNet and the paper's target sets are not on this machine,
# so small nets of the same three families are trained on the first images of Fashion-MNIST
# (the *source*) and then fine-tuned, all layers trainable with a new head, on three targets
# the source never saw (below). The `paper` profile runs the published setting.

# %%
import matplotlib.pyplot as plt

from repchange.book import parameters
from repchange.book.glue import glue_summary, glue_text, provenance, save_table
from repchange.book.reader_tables import for_readers
from repchange.studies.b import summaries
from repchange.studies.b import runs, source_plateau, tables
from repchange.studies.b.figures import fig_feature_dynamics, fig_source_curves

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
# {glue:md}`b1_provenance`
# ```

# %%
table = tables.dynamics(params, runtime)
baseline = tables.baseline(params, runtime)
save_table(table, "b_dynamics")
save_table(baseline, "b_baseline")

# %% [markdown]
# ## Are the source nets trained?
#
# The paper fine-tunes ImageNet-trained nets: the features a fine-tuning may reuse are fully formed.
# Our small source nets train here, so before reading their fine-tunings we check that they have
# stopped improving on their own task. Each source run records its test accuracy (1,000 held-out
# images of the five source classes) after every epoch. Single epochs jitter by about two points,
# so the rule compares means: a net has **reached its plateau** at epoch *e* when the mean accuracy
# over its last {glue:md}`b1_plateau_window` epochs (and over seeds) gains less than
# {glue:md}`b1_plateau_tolerance` over the {glue:md}`b1_plateau_window` epochs before
# (`repchange.studies.b.source_plateau`). The torchvision nets of the paper profile come with
# their published weights and have no curve here.

# %%
small = [arch for arch in b_archs if arch in runs.SMALL_ARCHS]
glue_text("b1_plateau_window", str(source_plateau.WINDOW))
glue_text("b1_plateau_tolerance", f"{source_plateau.TOLERANCE:g}")
if small:
    curves = source_plateau.source_curves(params.finetune.source, small, b_seeds, runtime)  # stored: no training
    plateau = source_plateau.plateau_table(curves)
    save_table(curves, "b_source_curves")
    fig_source_curves(curves, plateau, source_plateau.WINDOW, source_plateau.TOLERANCE)
    plt.show()
    glue_text("b1_source_plateau", source_plateau.sentence(plateau))
else:
    plateau = None
    glue_text("b1_source_plateau", "The torchvision nets come with their published ImageNet weights: no source "
                                   "net is trained here.")
for_readers(plateau) if plateau is not None else None

# %% [markdown]
# {glue:md}`b1_source_plateau`

# %% [markdown]
# ## One figure per architecture
#
# Rows: the three PWSM variants and the per-filter Procrustes distance; columns: the targets;
# one line per probed layer, light (first) to dark (deepest). Epoch 0 is the source net.
# Dashed, in each layer's colour: the baseline — the distance between the source net and an
# *independently trained* source net of the same kind (same data and recipe, another seed) on
# the same probes. A layer below its dashed line is still closer to its source than a
# different net of the same kind is; the baseline exists for the small nets only.

# %%
for number, arch in zip((2, 3, 4), b_archs):
    fig_feature_dynamics(table, arch, source, baseline=baseline if len(baseline) else None,
                         title=f"Study B, Fig. {number} analogue — {arch}:\ndistance of each layer to the source net")
    plt.show()

# %% [markdown]

# %%
glue_text("b1_provenance", source)
summary = summaries.feature_dynamics(table, baseline, b_finetune_checkpoints)
for_readers(summary.tables["spearman"])

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_summary(summary)  # its phrases and numbers
headline

# %% [markdown]
# ## What this run shows
#
# - **Depth.** The deepest probed layer moved further than the first in a share of
#   {glue:text}`b1_share_deeper_pwsm0` of the (architecture, target) runs under PWSM α = 0 and
#   {glue:text}`b1_share_deeper_procrustes` under per-filter Procrustes. Over all
#   {glue:text}`b1_combos` (architecture, target, metric) cases the mean Spearman
#   correlation of distance with depth is {glue:text}`b1_mean_spearman` (1 = every layer moved
#   further than the one before); in {glue:text}`b1_strictly_growing` of the
#   {glue:text}`b1_combos` cases it does. The table above gives the correlation per case.
# - **Against an unrelated net.** {glue:md}`b1_baseline_sentence` Layers that moved at least
#   as far as an independent net (PWSM α = 0): {glue:md}`b1_above_baseline`.
# - **Target.** Layer-averaged PWSM (α = 0) distance after the last epoch, largest first:
#   {glue:md}`b1_target_order_pwsm`; per-filter Procrustes: {glue:md}`b1_target_order_procrustes`.
# - **Timing.** On average {glue:text}`b1_early_share_pwsm0` of the final PWSM (α = 0)
#   distance and {glue:text}`b1_early_share_procrustes` of the final Procrustes distance is
#   reached after epoch {glue:text}`b1_first_epoch` of {glue:text}`b1_last_epoch`.
# - **Dead filters.** Share of (image, filter) maps without shape (all zero) in the source net
#   or the fine-tuned net, left out of the Procrustes means, averaged over layers, targets and
#   epochs: {glue:md}`b1_dead` (largest {glue:text}`b1_max_dead`).
# - **Whitening.** Full whitening (α = 0) weighs every direction of the channel space equally,
#   so channels of small variance move it as much as the dominant ones; its distances are the
#   largest. Do the three α agree on *which* layers and targets moved most? The Spearman rank
#   correlation of the final distances (all layers, targets, architectures) between α = 0 and
#   α = 1 is {glue:text}`b1_alpha_rank_agreement`; the next chapter compares the metrics point
#   by point.
