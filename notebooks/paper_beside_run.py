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
# # The papers beside this run
#
# The two papers' published numbers next to this book's equivalents — Study A's from **the authors'
# results export** of their code (not read off the paper's figures), Study B's from the paper's own
# tables and text. They come from other data
# (CIFAR-10 and SVHN; ImageNet nets on 15-Scene, AwA2 and Fruits-360), another scale (150
# epochs; 224-pixel images) and other hardware, so the values are not expected to match: what
# can agree is the **pattern** — which layers move most, which targets are reused less. The
# sentences under each table are computed from the two columns. The papers' numbers are never
# used as expected values in any test.

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from repchange.book import parameters
from repchange.book.glue import glue_summary, glue_text, provenance, save_table
from repchange.book.reader_tables import for_readers
from repchange.studies import beside, summaries
from repchange.studies.a import tables as a_tables
from repchange.studies.b import analysis
from repchange.studies.b import tables as b_tables

# %% tags=["parameters"]
a_dataset: str = "fashion_mnist"  # Study A source domain, a name from datasets.available() (repchange.data)
a_cross_domain: str = "digits"  # Study A cross-domain target
a_seeds: list[int] = [1, 2, 3, 4, 5]  # Study A seeds (the units of its claims; the paper: five)
a_degrees: list[int] = [0, 1, 2, 4, 9]  # label randomness degrees d
a_shifts: list = ["seed"]  # label shifts s; "seed": s is the run's seed (the authors' code)
a_pretrain_sizes: list = [64, 256, 1024]  # Figure 3b training-set sizes
a_size_sweep_degree: int = 9  # label randomness degree of the Figure 3b runs
a_pretrain_epochs: int = 16  # pre-training epochs (the authors' code: 150; the paper's text gives none)
a_pretrain_size: int = 1024  # pre-training images, None for the whole train split
a_pretrain_eval_size: int = 1000  # test images for the pre-training test accuracy
a_finetune_epochs: int = 10  # fine-tuning epochs (the authors' code: 25)
a_finetune_size: int = 500  # fine-tuning images (paper: 5000)
a_finetune_eval_size: int = 500  # fine-tuning evaluation images (paper: 5000)
a_probe_size: int = 500  # Study A probe images
extraction_bn: str = "batch"  # BatchNorm at extraction: "batch" (probe-batch statistics, the authors' code) or "eval"
a_batch_size: int = 32
a_lr: float = 1e-3
a_momentum: float = 0.9
a_bn_order: str = "relu_bn"
a_width: int = 64
b_archs: list[str] = ["vgg_small", "resnet_small", "densenet_small"]  # Study B architectures
b_targets: list[str] = ["fashion_new_classes", "fashion_inverted", "digits"]  # study_b.TARGETS
b_seeds: list[int] = [1, 2, 3]  # Study B source-net seeds
b_source_epochs: int = 10  # source epochs: every small net has plateaued (b1)
b_source_size: int = 4096
b_finetune_epochs: int = 7
b_finetune_checkpoints: list[int] = [0, 1, 2, 3, 5, 7]
b_finetune_size: int = 768
b_finetune_eval_size: int = 500
b_finetune_lr: float = 1e-4  # Adam, clip 0.5; paper's text: 1e-4 at batch 196, authors' code: 5e-5 at batch 32
b_finetune_batch_size: int = 32
b_probe_size: int = 200  # Study B probe images per target
b_alphas: list[float] = [0.0, 0.5, 1.0]  # PWSM alphas: 0 full whitening (the authors' code), 1 angular Procrustes
b_procrustes_centre: str = "rows"  # per-filter Procrustes centring: "rows" (the authors' code) or "columns" (scipy)
b_finetune_lr_by_target: dict = {}  # learning rate per target, e.g. {"fruits360": 1e-3} (the paper's text)
b_source_weights: str = "imagenet"
device: str = "auto"
data_root: str = None
download: bool = False
profile: str = "default"

# %%
runtime = parameters.runtime(globals())  # store, device, data folder
pretraining_params = parameters.cka_to_init(globals())
finetune_params = parameters.finetune_sweep(globals())
dynamics_params = parameters.dynamics(globals())
source_a = provenance(data=f"Study A: {a_dataset} → {a_dataset} / {a_cross_domain}", profile=profile, seeds=a_seeds,
                      pretraining=f"{a_pretrain_size} images × {a_pretrain_epochs} epochs",
                      fine_tuning=f"{a_finetune_size} images × {a_finetune_epochs} epochs")
source_b = provenance(profile=profile, seeds=b_seeds, **b_tables.describe(dynamics_params))

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# **Study A:** {glue:md}`beside_provenance_a`
#
# **Study B:** {glue:md}`beside_provenance_b`
# ```

# %%
a_beside = beside.study_a_beside(a_tables.cka_to_init(pretraining_params, runtime),
                                 a_tables.finetune_sweep(finetune_params, runtime))
_ = save_table(a_beside, "paper_beside_study_a")
fig = beside.fig_study_a_beside(a_beside, "this run: " + source_a)
plt.show()

# %% [markdown]
# **Study A, last-epoch CKA per layer.** Red: the authors' results export (mean over 5
# seeds, CIFAR-10 → CIFAR-10 / SVHN); black: this run.

# %%
agreement_a = beside.pattern_agreement(a_beside)
display(for_readers(a_beside.pivot_table(index="layer", columns="condition", values=["paper", "ours"], sort=False)))
for_readers(agreement_a)

# %%
glue_text("beside_provenance_a", source_a)

# %% [markdown]
# {glue:md}`beside_a_sentences`

# %% [markdown]
# ## Study B, Tables 1 and 2
#
# Architectures are matched by family (small VGG ↔ VGG19, small ResNet ↔ ResNet50, small
# DenseNet ↔ DenseNet121) and targets by kind: the paper's 15-Scene and AwA2 are *similar* to
# ImageNet and Fruits-360 *dissimilar*; ours are the new Fashion-MNIST classes (similar) and the
# inverted classes and digits (dissimilar). Reusability is the mean over epochs of the
# layer-averaged distance (ours: PWSM α = 0, the shape metric of the authors' code; the paper does not
# say which metric its Table 2 uses).

# %%
table = b_tables.dynamics(dynamics_params, runtime)
acc = beside.study_b_accuracy_beside(analysis.accuracy_table(table))
reuse = beside.study_b_reusability_beside(analysis.reusability(table))
_ = save_table(acc, "paper_beside_table1")
_ = save_table(reuse, "paper_beside_table2")
display(for_readers(acc))
for_readers(reuse)

# %%
agreement = analysis.agreement_summary(b_tables.filter_agreement(dynamics_params, runtime),
                                       analysis.PAPER_PAIRING)  # the paper's pairing: PWSM vs Procrustes
summary = summaries.paper_beside(agreement_a, reuse, agreement)
glue_text("beside_provenance_b", source_b)

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_summary(summary)  # its phrases and numbers
headline

# %% [markdown]
# **Reuse on dissimilar versus similar targets** (reusability, dissimilar minus similar; positive:
# features are rewritten more on the dissimilar target): {glue:md}`beside_b_gap`. The sign agrees
# with the paper's for {glue:text}`beside_b_same_sign` of {glue:text}`beside_b_archs`
# architectures. **Metric agreement** (the paper's pairing: per-filter PWSM at α = 0.5 against the
# per-filter Procrustes distance): mean Pearson r across filters {glue:text}`beside_r_ours` ±
# {glue:text}`beside_r_ours_std` here, {glue:text}`beside_r_paper` ± {glue:text}`beside_r_paper_std`
# in the paper.
