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
# # Deviations: where this book departs from the papers, and what it changes
#
# Every place the book's default run differs from a paper's text or from the authors' code, with
# the paper's (or the code's) choice, ours, why, and — where the book can measure it on its own
# runs — the measured effect, computed below on the default data. Where the paper's text and the
# authors' code disagree, the book follows the authors' code (the code that produced the published
# numbers) and offers the other reading as a parameter or profile. Nothing here was checked against
# the papers' own numbers on their data: that needs CIFAR-10 and ImageNet weights (`PROFILE=paper`).
# Study A's published numbers on the {doc}`papers-beside page <paper_beside_run>` are the authors'
# results export of their code, not values read off the paper's figures.
#
# Each departure below names what the paper or the authors' code does, what this book does by default, why,
# and the effect where it was measured.
#
# data, Study A
# : **the paper / the authors' code:** CIFAR-10 → CIFAR-10 / SVHN
#
#   **this book (default):** Fashion-MNIST → Fashion-MNIST / digits
#
#   **why:** offline, 2 CPU cores; `PROFILE=paper` runs CIFAR-10/SVHN
#
#   **measured effect:** not measurable here (no CIFAR-10)
#
# scale, Study A
# : **the paper / the authors' code:** 150 + 25 epochs, 50,000 + 5,000 images, 5 seeds
#
#   **this book (default):** 16 + 10 epochs, 1,024 + 500 images, 5 seeds (random labels memorised: see the budget page)
#
#   **why:** minutes instead of days
#
#   **measured effect:** see the papers-beside-this-run page
#
# data, Study B
# : **the paper / the authors' code:** ImageNet VGG19/ResNet50/DenseNet121 → 15-Scene, AwA2, Fruits-360
#
#   **this book (default):** small VGG/ResNet/DenseNet trained on Fashion-MNIST classes 0–4 → the other five classes (similar), the same inverted and digits (dissimilar)
#
#   **why:** no ImageNet weights or target sets offline
#
#   **measured effect:** not measurable here
#
# optimiser, Study B
# : **the paper / the authors' code:** text: Adam, batch 196, lr 1e-4 (Fruits 1e-3); authors' code: Adam 5e-5, batch 32, clip 0.5
#
#   **this book (default):** Adam 1e-4, batch 32, clip 0.5
#
#   **why:** the text's rate with the code's batch: small nets on 768 images need enough steps
#
#   **measured effect:** not measured in the default book: profiles `paper` (code) and `paper_text` (text) run both
#
# layers probed, Study B
# : **the paper / the authors' code:** ReLU outputs at the ends of major blocks
#
#   **this book (default):** the same rule on the small nets
#
#   **why:** —
#
#   **measured effect:** —
#
# estimator, Study A
# : **the paper / the authors' code:** biased linear CKA
#
#   **this book (default):** biased CKA for every claim; debiased CKA shown beside it
#
#   **why:** the biased estimator is the paper's
#
#   **measured effect:** chapter "Measuring representational similarity"
#
# BatchNorm at extraction
# : **the paper / the authors' code:** the authors' code never calls `eval()`: batch statistics, the random-init reference too
#
#   **this book (default):** batch statistics of each probe batch (`extraction_bn="batch"`)
#
#   **why:** what the authors' code does; `"eval"` offered, and every Study A claim is re-read under it on {doc}`the estimator grid <estimator_grid>`
#
#   **measured effect:** {glue:md}`dev_bn_a_sentence` {glue:md}`dev_bn_b_sentence`
#
# per-filter Procrustes centring
# : **the paper / the authors' code:** the authors centre each row (`mean(dim=1)`)
#
#   **this book (default):** rows (`b_procrustes_centre="rows"`)
#
#   **why:** the authors' code; `"columns"` (scipy's convention) offered
#
#   **measured effect:** {glue:md}`dev_centre_sentence`
#
# shifted labels
# : **the paper / the authors' code:** s = seed
#
#   **this book (default):** s = seed (`shifts=["seed"]`)
#
#   **why:** the authors' code; a fixed s offered
#
#   **measured effect:** {glue:md}`dev_shift_sentence`
#
# PWSM at α = 0.5
# : **the paper / the authors' code:** netrep whitens with the raw covariance
#
#   **this book (default):** covariance divided by its mean eigenvalue (scale-free)
#
#   **why:** a metric should not depend on the units of the features
#
#   **measured effect:** {glue:md}`dev_pwsm_sentence`
#
# metric agreement: the pairing
# : **the paper / the authors' code:** the paper's text: "both PWSM and Orthogonal Procrustes" (Sec. 4.1); the authors' code: per-filter CKA vs per-filter Procrustes
#
#   **this book (default):** both: per-filter PWSM (α = 0.5) vs per-filter Procrustes first (the ledger's B-agreement), per-filter CKA vs per-filter Procrustes second (B-agreement-code); one r across filters per (layer, epoch, class), mean over r's
#
#   **why:** the paper's text names PWSM; the code is what produced 0.83
#
#   **measured effect:** Study B chapter "do the two metrics agree?"
#
# metric agreement: images per class
# : **the paper / the authors' code:** the authors' code averages each filter's distance over the class's images
#
#   **this book (default):** over the first 16 probe images of each class (all three pairings alike)
#
#   **why:** one eigendecomposition per image and filter makes the per-filter PWSM about five times the Procrustes' cost
#
#   **measured effect:** {glue:md}`dev_images_sentence`
#
# metric agreement: orientation
# : **the paper / the authors' code:** the authors' per-filter Procrustes reads each H×W map's rows as samples; their per-filter CKA (biased, explicit centring matrix) too
#
#   **this book (default):** all three per-filter distances read the rows as samples and centre each map as the Procrustes does; CKA then centres the samples
#
#   **why:** a correlation between two distances means something only if both see the same samples (an earlier version of this book read CKA's samples along the columns)
#
#   **measured effect:** —
#
# PWSM per layer at α = 0
# : **the paper / the authors' code:** the paper: per-filter "partial" whitening (Eq. 1); the authors' code: netrep's LinearMetric with α = 0 on each layer's (N·H·W) × C map, full whitening — a CCA distance
#
#   **this book (default):** per layer at α = 0 (the code) with α = 0.5 and 1 beside; per-filter PWSM only in the metric agreement
#
#   **why:** the code produced the figures; what "partial" whitening the text means is not stated
#
#   **measured effect:** Study B chapters show all three α; {doc}`the estimator grid <estimator_grid>` re-reads every Study B claim under each
#
# BatchNorm batch size at extraction, Study B
# : **the paper / the authors' code:** the authors' code extracts one image at a time (batch statistics of one image)
#
#   **this book (default):** the probe in batches of 200–500 images (batch statistics of the batch)
#
#   **why:** one-image batches make BatchNorm statistics per-image
#
#   **measured effect:** not measured: no parameter sets the extraction batch yet, and one-image extraction of every checkpoint would multiply b1's feature extraction by the probe size
#
# scale, Study B
# : **the paper / the authors' code:** 15 epochs, checkpoints 0, 1, 3, 5, 7, 10, 15; ImageNet source nets
#
#   **this book (default):** 7 epochs, checkpoints 0, 1, 2, 3, 5, 7; source nets trained here (Fashion-MNIST, five classes) until their test accuracy plateaus: 10 epochs (the rule and each net's curve: Study B chapter "Are the source nets trained?")
#
#   **why:** minutes on a CPU
#
#   **measured effect:** trained source nets, not ImageNet's: the reuse claims speak for features formed on one small task
#
# layer order, Study A
# : **the paper / the authors' code:** the paper's text: BatchNorm → ReLU; the authors' code: ReLU → BatchNorm
#
#   **this book (default):** ReLU → BatchNorm (`a_bn_order="relu_bn"`)
#
#   **why:** the code
#
#   **measured effect:** not measured in the default book: it needs five more pre-training runs; `make run NB=notebooks/a1_cka_pretraining.py PARAMS="-p a_bn_order bn_relu"` measures Figure 1 under the text's order
#
# probed layers, Study B
# : **the paper / the authors' code:** the authors' code probes every ResNet50 bottleneck
#
#   **this book (default):** the end of each resolution stage
#
#   **why:** small nets have few blocks; the rule is stated per architecture
#
#   **measured effect:** not measured: probing every block of the small ResNet doubles its probed layers and the per-filter metrics' cost in b1
#
# training accuracy in Fig. 2
# : **the paper / the authors' code:** the authors' code logs the running accuracy over each epoch's batches
#
#   **this book (default):** both: the running accuracy (dashed in Figure 2) and the fit after the epoch, in eval mode, on every training image (solid; `fit_acc`), which A2-train-fit reads
#
#   **why:** the running mean lags the net it describes; "trained until fitted" is about the net as it is
#
#   **measured effect:** {glue:md}`dev_fit_sentence`
#
# BatchNorm in the small VGG
# : **the paper / the authors' code:** VGG19 has no BatchNorm
#
#   **this book (default):** the small VGG-style net has BatchNorm
#
#   **why:** trains from scratch on a CPU in minutes
#
#   **measured effect:** —
#
# Table 2's metric
# : **the paper / the authors' code:** the paper does not say which metric Table 2's reusability uses
#
#   **this book (default):** PWSM at α = 0 (the authors' code's shape metric), per-filter Procrustes beside
#
#   **why:** not "the authors' setting": a choice, both shown
#
#   **measured effect:** —
#
# splits and probes, Study B
# : **the paper / the authors' code:** 80/20 split with seed 42; probes not stated
#
#   **this book (default):** every subset of a target split stratified over classes with seed 42
#
#   **why:** a first-n probe of a class-sorted folder covers few classes
#
#   **measured effect:** —
#
# Fig. 5's reference init, Study A
# : **the paper / the authors' code:** the paper's text: "the random initialization" the net's own pre-training started from (Sec. 4.3); the authors' code: a net drawn afresh after loading the pre-trained weights
#
#   **this book (default):** the paper's text; every Fig. 5 ledger row is read against the code's independent init too, in a row beside it
#
#   **why:** the text is the paper's claim; the code's choice is shown, not hidden
#
#   **measured effect:** {glue:md}`dev_fig5_sentence`
#
# comparisons across probes, Study A
# : **the paper / the authors' code:** the paper compares CKA on CIFAR-10 and on SVHN images as they are
#
#   **this book (default):** each probe's chance level (CKA of two unrelated random inits on those images) is taken out before a cross-domain row compares them
#
#   **why:** on a probe where any two nets look alike, a net would seem to have changed less
#
#   **measured effect:** {glue:md}`dev_probe_chance_sentence`
#
# targets, Study B (size)
# : **the paper / the authors' code:** 15-Scene, AwA2, Fruits-360: thousands of 224 × 224 RGB images per target
#
#   **this book (default):** 768 fine-tuning images per target, 28 × 28 grey
#
#   **why:** a CPU and no target sets offline
#
#   **measured effect:** not measurable here (no target sets)
#
# epoch counts, Study A
# : **the paper / the authors' code:** the paper's text gives none; the authors' code: 150 pre-training and 25 fine-tuning epochs
#
#   **this book (default):** 16 + 10
#
#   **why:** minutes on a CPU
#
#   **measured effect:** {doc}`the budget page <budget>` reads the pre-training claims at 5, 10 and 16 epochs
#
# seeds, Study B
# : **the paper / the authors' code:** one run per model and data set
#
#   **this book (default):** three source seeds per architecture (`b_seeds=[1, 2, 3]`): nine source nets, six degrees of freedom with the architecture as a fixed effect
#
#   **why:** independent source nets give the baseline an error bar and the claims units that do not all share one net; with two seeds a claim over the three architectures' seeds (`B-resnet-dissimilar`) had two units and was untestable, and the twins' level was not replicated
#
#   **measured effect:** runs of one seed on different targets still share their source net
#
# metric agreement: the ledger's statistic, Study B
# : **the paper / the authors' code:** "the mean value for Pearson's r as 0.83 … a highly positive linear correlation" (Sec. 4.1), no test
#
#   **this book (default):** per source net, the mean r over (layer, epoch, class) tested against 0 (`B-agreement`, "positive") and, as a labelled convention for "highly positive", against 0.5 (`B-agreement [r > 0.5]`); the same r between the source net and its independently trained twin (filter i with filter i: unrelated pairs of maps) is shown in the rows' note, never subtracted
#
#   **why:** a no-agreement null is r = 0; the channels of two independent nets do not correspond, so the twin's r is agreement over unrelated filter pairs (which would support "they tend to agree"), and Pearson r shrinks over the fine-tuned pairs' narrow range of distances. The ledger once subtracted the twin's r: that asked a different question against the wrong null
#
#   **measured effect:** both readings' numbers stand in the {doc}`ledger <claims_ledger>` rows and their notes
#
# metric agreement across the figures, Study B
# : **the paper / the authors' code:** "both PWSM and Orthogonal Procrustes show extremely similar results" (Sec. 4.1), read off Figs. 2–4
#
#   **this book (default):** `B-metrics-alike`, a reading: Spearman ρ over a source net's (target, layer, epoch) cells with only the layer × epoch pattern every target shares taken out of each metric's ranks, above 0.5 (a convention for a strong correlation); the ledger once also took out the target × layer and target × epoch effects — the very effects the sentence says both metrics show
#
#   **why:** pooled over cells, ρ rises with the depth and epoch pattern every fine-tuning shares; taking out only that pattern leaves the targets' differences, which the sentence ("over different fine-tuning tasks") is about
#
#   **measured effect:** the pooled ρ of the same cells is on {doc}`the metric-agreement page <b2_metric_agreement>`
#
# depth and graded claims, Study A
# : **the paper / the authors' code:** "early layers change less than the later ones" (Sec. 3); "The more random the data is, the more the representation changes" (Sec. 4.1), read off Figs. 1 and 4
#
#   **this book (default):** continuous contrasts: early-block mean CKA-to-init − the later layers' (`A1-depth`), and the least-squares change of layer-mean CKA over d (`A4-graded`); the every-step readings (largest layer-to-layer or degree-to-degree step) stand beside, out of the tally
#
#   **why:** a maximum of noisy steps is biased toward failing as steps are added, and says more than the sentence
#
#   **measured effect:** both readings are ledger rows; {doc}`the landing page <intro>` names any claim whose second reading reverses its verdict
#
# scale axis at equal n, Study A
# : **the paper / the authors' code:** one scale (150 epochs, 50,000 images, 5 seeds)
#
#   **this book (default):** the budget page reads the book's own scale at the recorded scales' seeds (`a_scale_seeds`, n = 3), so every column has the same n; the ledger reads it at all five seeds
#
#   **why:** a t interval at n = 3 is about twice as wide as at n = 5: a flip across unequal n can be n alone
#
#   **measured effect:** the budget page's own column against the ledger's rows (the same runs, three seeds against five)

# %%
from IPython.display import display

from repchange.book import parameters
from repchange.book.glue import glue_summary, glue_text, save_table
from repchange.book.reader_tables import for_readers
from repchange.book.runner import chapter_values
from repchange.studies import deviations, summaries
from repchange.studies.a import tables as a_tables

# %% tags=["parameters"]
profile: str = "default"  # the profile whose chapters this page reads: default, smoke, paper, rehearsal or a YAML path
chapters: dict = {}  # chapter parameters changed from the profile, e.g. {"a_seeds": [1, 2]} (or -p a_seeds "[1, 2]")
b_deviation_arch: str = "resnet_small"  # Study B architecture with BatchNorm for the measured effects
b_deviation_target: str = "fashion_new_classes"  # Study B target of the PWSM convention comparison

# %%
values = chapter_values(profile, chapters)  # every chapter's parameters, as the chapters run under this profile
runtime = parameters.runtime(values)  # store, device, data folder
pretraining = parameters.cka_to_init(values)
finetune_params = parameters.finetune_sweep(values)
dynamics_params = parameters.dynamics(values)
source_a, source_b = parameters.both_sources(values, dynamics_params, [b_deviation_target])

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# **Study A:** {glue:md}`dev_provenance_a`
#
# **Study B:** {glue:md}`dev_provenance_b`
# ```

# %% [markdown]
# ## BatchNorm at extraction (Study A, Figure 1)
#
# Last-epoch CKA to the init per layer, mean over seeds, with batch statistics (the authors'
# code) and with the learnt running statistics; `*_independent` is the independent-init
# baseline under each mode.

# %%
bn_a = deviations.bn_effect_study_a(pretraining, runtime)
_ = save_table(bn_a, "deviation_bn_study_a")
for_readers(bn_a)

# %% [markdown]
# ## BatchNorm at extraction and Procrustes centring (Study B)
#
# Last-checkpoint distance per layer of one architecture with BatchNorm (`b_deviation_arch`) on
# every target: the book's settings against eval-mode BatchNorm, and against column centring.

# %%
bn_b = deviations.study_b_variant_effect(dynamics_params, b_deviation_arch, bn="eval", runtime=runtime)
centre = deviations.study_b_variant_effect(dynamics_params, b_deviation_arch, procrustes_centre="columns",
                                           runtime=runtime)
centre = centre[centre.metric == "procrustes_filter"]
_ = save_table(bn_b, "deviation_bn_study_b")
_ = save_table(centre, "deviation_centring")
display(for_readers(bn_b))
for_readers(centre)

# %% [markdown]
# ## Shifted labels: s = seed against one fixed s (Study A, Figure 4c)

# %%
shift = deviations.shift_effect(finetune_params, fixed=1, runtime=runtime)
_ = save_table(shift, "deviation_shift")
for_readers(shift)

# %% [markdown]
# ## PWSM at α = 0.5: scale-free whitening against netrep's

# %%
pwsm_conv = deviations.pwsm_convention_effect(dynamics_params, b_deviation_arch, b_deviation_target, runtime=runtime)
_ = save_table(pwsm_conv, "deviation_pwsm_convention")
for_readers(pwsm_conv, decimals=4)

# %% [markdown]
# ## Metric agreement: the first images of each class against all of them
# One run (`b_deviation_arch` on `b_deviation_target`), its last checkpoint: Pearson r across
# filters per layer, class and pairing, each filter's distances averaged over the book's first
# images of each class (`images`) and over all of the class's probe images (`all_images`, the
# authors' code).

# %%
images = deviations.agreement_images_effect(dynamics_params, b_deviation_arch, b_deviation_target, runtime=runtime)
_ = save_table(images, "deviation_agreement_images")
for_readers(images.groupby("pairing")[["images", "all_images", "difference"]].describe().T)

# %% [markdown]
# ## Figure 5's reference init, and each probe's chance level (Study A)
#
# The fine-tuned nets' layer-mean CKA to their own pre-training init (the paper's text) and to an
# independent init (the authors' code), per condition; then each fine-tuning probe's chance level per
# layer, the level a raw comparison across the two probes would carry.

# %%
finetuning = a_tables.finetune_sweep(finetune_params, runtime)
fig5 = deviations.fig5_reference_effect(finetuning)
chance = deviations.probe_chance_levels(finetuning)
_ = save_table(fig5, "deviation_fig5_reference")
_ = save_table(chance, "deviation_probe_chance")
display(for_readers(fig5))
for_readers(chance)

# %%
largest = fig5.loc[fig5.difference.abs().idxmax()]
early = chance.iloc[:2]
glue_text("dev_fig5_sentence", f"the layer-mean CKA to an independent init minus that to the own init is "
                               f"{fig5.difference.min():+.3f} to {fig5.difference.max():+.3f} over the conditions "
                               f"(largest: {largest.domain} domain, {largest.labels}); each Fig. 5 margin moves by "
                               "the opposite; the claims ledger names the verdicts that depend on it")
glue_text("dev_probe_chance_sentence", f"chance CKA of the early layers ({', '.join(early.layer)}): "
                                       f"{early.same.mean():.3f} on the source-domain probe, {early.cross.mean():.3f} "
                                       f"on the cross-domain one; a raw comparison would carry "
                                       f"{early.difference.mean():+.3f} into the rows that compare them")

# %%
fit = deviations.fit_measure_effect(a_tables.training_histories(parameters.degree_sweep(values), runtime))
_ = save_table(fit, "deviation_fit_measure")
summary = summaries.deviations(bn_a, bn_b, centre, shift, pwsm_conv, fit, images, arch=b_deviation_arch,
                               target=b_deviation_target)

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_summary(summary)  # its phrases and numbers
headline

# %%
glue_text("dev_provenance_a", source_a)
glue_text("dev_provenance_b", source_b)
