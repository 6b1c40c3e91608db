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
# # Study B, Figures 7–8: where in an image does a filter respond, epoch by epoch?
#
# **Sample-based visualisation**: a filter's feature map on one probe image, resized to the
# image and laid over it as a heatmap, at each checkpoint. Every filter gets one colour scale,
# shared by all its epochs and images, so a filter that grows stronger or fades is seen to do
# so (a per-panel scale would hide it).
#
# **The paper's claim, in our words.** During fine-tuning filters shift where they respond —
# from the patterns that mattered for the source task to those of the target — and the
# shift is larger in deeper layers.
#
# The filters are chosen as in the previous chapter: per layer the most and the least changed
# by per-filter Procrustes distance after the last epoch.

# %%
import matplotlib.pyplot as plt

from repchange.book import parameters
from repchange.book.glue import glue_summary, glue_text, provenance, save_table
from repchange.studies.b import summaries
from repchange.studies.b import filter_choice
from repchange.studies.b.figures import fig_heatmaps

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
b_viz_samples: int = 3  # probe images to show

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
# {glue:md}`b5_provenance`
# ```

# %%
if not 1 <= b_viz_samples <= len(probe):
    raise ValueError(f"n_samples must lie in 1..{len(probe)} (the probe images), got {b_viz_samples}")
heat, heatmap_change = filter_choice.heatmap_changes(choice)  # every probe image; the figures show b_viz_samples
for layer in layers:
    fig_heatmaps(probe.images[:b_viz_samples].numpy(), {e: h[:, :b_viz_samples] for e, h in heat[layer].items()},
                 list(chosen[layer]), layer, source,
                 title=f"Study B, Figs. 7–8 analogue — {b_viz_arch} on {b_viz_target}, layer {layer}: "
                       "most (top) and least (bottom) changed filter")
    plt.show()
save_table(heatmap_change, "b5_heatmap_change")

# %% [markdown]
# Per filter, over all probe images: Pearson r between the heatmap at epoch 0 and after the
# last epoch (1 = responds in the same places), and the ratio of the strongest response after
# and before fine-tuning:

# %%
glue_text("b5_provenance", source)
heatmap_change.round(3)

# %%
# NBVAL_CHECK_OUTPUT
summary = summaries.filter_heatmaps(heatmap_change)
headline = glue_summary(summary)  # its phrases and numbers
headline

# %% [markdown]
# ## What this run shows
#
# In layer {glue:md}`b5_first_layer` the most changed filter's heatmaps correlate r =
# {glue:text}`b5_r_most_0` with their source versions (strongest response ×
# {glue:text}`b5_strength_most_0`), the least changed filter's r = {glue:text}`b5_r_least_0`
# (× {glue:text}`b5_strength_least_0`). In layer {glue:md}`b5_last_layer`: r =
# {glue:text}`b5_r_most_1` (× {glue:text}`b5_strength_most_1`) against
# {glue:text}`b5_r_least_1` (× {glue:text}`b5_strength_least_1`). In
# {glue:text}`b5_layers_agreeing` of the two layers the heatmaps of the filter the metric calls
# most changed moved more than those of the least changed one — as they should, since the
# per-filter Procrustes distance compares exactly these maps' spatial shape.
