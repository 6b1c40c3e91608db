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
# # Study B, Figures 5–6: what do single filters respond to, before and after fine-tuning?
#
# Distances summarise a whole layer. To see *what* changed, the paper looks at single
# filters. **Class-based visualisation**: for each probe image, find the unit where the
# filter's map is largest, cut out that unit's receptive field from the image, and average
# these crops over a class, weighting each by the unit's activation. The average shows the
# pattern the filter responds to in that class; repeated at each checkpoint, it shows whether
# fine-tuning changed that pattern.
#
# **The paper's claim, in our words.** Filters keep responding to the same kind of pattern in
# the early layers, while deeper filters shift towards patterns of the target classes.
#
# Which filters? For each chosen layer the book shows the *most* and the *least* changed
# filter by per-filter Procrustes distance after the last epoch (among filters with shape on
# at least half of the probe images), so the pictures can be read against the metric. Crops
# keep the full receptive-field size; what lies outside the image is drawn beige. The
# receptive-field geometry (jump, size, start) is computed from the net's module graph.

# %%
import matplotlib.pyplot as plt

from repchange.book import parameters
from repchange.book.glue import glue_summary, glue_text, provenance, save_table
from repchange.studies.b import summaries
from repchange.studies.b import filter_choice, runs
from repchange.studies.b.figures import fig_class_crops

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

b_viz_arch: str = "vgg_small"  # the net to look into
b_viz_target: str = "fashion_inverted"  # its target; the run is the one of the dynamics chapter
b_viz_layers: list[str] = None  # probed layers to show; None: the second and the second-to-last
b_viz_classes: list[int] = None  # classes to show; None: the first four

# %%
params = parameters.dynamics(globals())  # the same runs in every Study B chapter; validated
runtime = parameters.runtime(globals())  # store, device, data folder
choice = filter_choice.choose_filters(params, b_viz_arch, b_viz_target, b_viz_layers, b_probe_size, runtime,
                                      bn=extraction_bn)
probe, maps, fields, epochs, changes, chosen = (choice.probe, choice.maps, choice.fields, choice.epochs,
                                                choice.changes, choice.chosen)
layers = choice.layers  # b_viz_layers, or the default pair when it is None
source = provenance(profile=profile, seeds=[choice.cfg.source.seed], net=b_viz_arch, layers=layers,
                    **choice.describe)
print(*choice.summary_lines(), sep="\n")

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# {glue:md}`b4_provenance`
# ```

# %%
names = runs.class_names(b_viz_target, runtime.data_root)
classes = b_viz_classes if b_viz_classes is not None else sorted(set(probe.labels.tolist()))[:4]
crops, agreement = filter_choice.crop_changes(choice, classes)
for layer in layers:
    fig_class_crops(crops[layer], names, layer, changes[layer], source,
                    title=f"Study B, Figs. 5–6 analogue — {b_viz_arch} on {b_viz_target}, layer {layer}: "
                          "most (top) and least (bottom) changed filter")
    plt.show()
save_table(agreement, "b4_crop_change")

# %% [markdown]
# How much did each filter's preferred pattern change? Pearson r between the class-average
# crop at epoch 0 and after the last epoch (1 = the same pattern), per filter and class:

# %%
glue_text("b4_provenance", source)
summary = summaries.filter_crops(agreement, changes, chosen)
summary.tables["mean_r"]

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_summary(summary)  # its phrases and numbers
headline

# %% [markdown]
# ## What this run shows
#
# In layer {glue:md}`b4_first_layer` the most changed filter (Procrustes distance
# {glue:text}`b4_d_most_0`) keeps a class-average crop that correlates r =
# {glue:text}`b4_r_most_0` with its source crop; the least changed one (distance
# {glue:text}`b4_d_least_0`) r = {glue:text}`b4_r_least_0`. In layer
# {glue:md}`b4_last_layer`: r = {glue:text}`b4_r_most_1` (distance {glue:text}`b4_d_most_1`)
# against r = {glue:text}`b4_r_least_1` (distance {glue:text}`b4_d_least_1`).
# In {glue:text}`b4_layers_where_most_changed_moved_more` of the two layers the filter the
# metric calls most changed also changed its preferred pattern more. The metric compares the
# spatial *shape* of a filter's maps; the crops show *which pixels* drive its strongest unit —
# the two need not agree, and where they do not, the pictures say what the number cannot.
