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
# # Measuring representational similarity
#
# Both studies reduce "how much did this layer change?" to one number from a similarity
# metric. This chapter defines the metrics the book uses, shows what each is blind to, how
# large it is by chance, and how far the metrics agree on real conv-net representations.
# All of them live in `repchange.measure.metrics` and are tested against textbook formulas.
#
# Throughout, $X \in \mathbb{R}^{n \times p}$ and $Y \in \mathbb{R}^{n \times q}$ hold the
# representations of the same $n$ probe images (rows), column-centred ($\tilde X$, $\tilde Y$).
#
# **Linear CKA** {cite:p}`kornblith2019similarity`:
# $\mathrm{CKA}(X, Y) = \dfrac{\lVert \tilde Y^\top \tilde X \rVert_F^2}{\lVert \tilde X^\top \tilde X \rVert_F\, \lVert \tilde Y^\top \tilde Y \rVert_F}$,
# in $[0, 1]$, 1 for identical representations. The *debiased* variant replaces each HSIC
# term by its unbiased estimator {cite:p}`song2012feature`.
#
# **Orthogonal Procrustes angle**:
# $\theta(X, Y) = \arccos \dfrac{\lVert \tilde X^\top \tilde Y \rVert_*}{\lVert \tilde X \rVert_F \lVert \tilde Y \rVert_F}$
# (nuclear norm in the numerator), in $[0, \pi/2]$, 0 when $Y$ is a rotated, scaled copy of $X$.
#
# **Partial-whitening shape metric (PWSM)** {cite:p}`williams2021generalized`: the Procrustes
# angle after mapping each input by $\phi_\alpha(X) = \tilde X\,(\alpha I + (1 - \alpha)\,\tilde C^{-1/2})$,
# $\tilde C$ the covariance divided by its mean eigenvalue. $\alpha = 1$ is the Procrustes
# angle; $\alpha = 0$ whitens fully and gives $\arccos$ of the mean canonical correlation.
# Whitening needs at least as many samples as features, so Study B applies PWSM to conv maps
# with every spatial position as a sample and channels as features.

# %%
import matplotlib.pyplot as plt

from repchange.book import parameters
from repchange.book.glue import glue_numbers, glue_text, provenance, save_table
from repchange.book.reader_tables import for_readers
from repchange.studies import metric_checks, metric_figures, summaries

# %% tags=["parameters"]
a_dataset: str = "fashion_mnist"  # data for the conv4 runs (the Study A pre-training runs are reused)
a_seeds: list[int] = [1, 2]  # two seeds: A is compared with its init, A with B for layer identification
a_pretrain_epochs: int = 16
a_pretrain_size: int = 1024
a_pretrain_eval_size: int = 1000
a_probe_size: int = 500
a_batch_size: int = 32
a_lr: float = 1e-3
a_momentum: float = 0.9
a_bn_order: str = "relu_bn"
a_width: int = 64
pc_layer: str = "block4"  # layer for the principal-component deletion test (needs at most a_probe_size features)
chance_ns: list[int] = [100, 250, 500, 1000]  # sample counts for the chance-level experiment
chance_ps: list[int] = [10, 100, 1000, 10000]  # feature counts for the chance-level experiment
chance_trials: int = 3
device: str = "auto"
data_root: str = None
download: bool = False
profile: str = "default"

# %%
params = parameters.metric_checks_params(globals())  # validated: bad parameters fail here, before any training
runtime = parameters.runtime(globals())  # store, device, data folder
source = provenance(data=a_dataset, profile=profile, seeds=a_seeds, epochs=a_pretrain_epochs,
                    train_size=a_pretrain_size, probe=f"first {a_probe_size} test images", width=a_width)
synthetic = provenance(data="synthetic Gaussian features", profile=profile, seeds=[0], trials=chance_trials)

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# **Chance levels (synthetic features):** {glue:md}`m_synthetic_provenance`
#
# **Figures of trained nets:** {glue:md}`m_provenance`
# ```

# %% [markdown]
# ## What each metric ignores
#
# Each metric compares a random representation $X$ (400 samples, 20 features with a decaying
# spectrum) with a transformed copy. CKA and the Procrustes angle are unchanged by rotations,
# isotropic scaling and translation but not by stretching some directions more than others;
# full whitening ($\alpha = 0$) ignores *any* invertible linear map — and, for the same reason,
# reacts strongly to noise in low-variance directions.

# %%
invariance = metric_checks.invariances()
invariance_wide = invariance.pivot(index="transform", columns="metric", values="value")
for_readers(invariance_wide, {"cka": "CKA", "cka_debiased": "CKA debiased", "procrustes_angle": "Procrustes (rad)",
                              "pwsm_alpha_0": "PWSM α = 0 (rad)", "pwsm_alpha_0.5": "α = 0.5", "pwsm_alpha_1": "α = 1"})

# %% [markdown]
# ## Chance levels: why CKA near 1 can mean nothing
#
# For *independent* Gaussian features, biased CKA is not near 0: it grows with the number of
# features $p$ relative to the number of samples $n$, close to $p/(n+p)$. Conv4's first block
# on Fashion-MNIST has $p = 12{,}544$ features for $n = 500$ probe images. The debiased
# estimator stays near 0.

# %%
chance = metric_checks.chance_levels(tuple(chance_ns), tuple(chance_ps), trials=chance_trials)
save_table(chance, "metrics_chance_levels")
fig = metric_figures.chance_levels(chance, synthetic)
plt.show()

# %% [markdown]
# **Figure M1.** CKA between independent random representations; error bars: standard error
# over trials.

# %% [markdown]
# ## Sensitivity to deleting principal components
#
# A trained conv4 layer compared with itself after its top-$k$ principal components are
# removed. CKA is dominated by the few high-variance directions; the whitening metrics weigh
# all directions alike.

# %%
deletion = metric_checks.pc_deletion_on(params, pc_layer, runtime)
save_table(deletion, "metrics_pc_deletion")
fig = metric_figures.pc_deletion(deletion, f"{source} · layer: {pc_layer} of seed {a_seeds[0]}, final epoch")
plt.show()

# %% [markdown]
# **Figure M2.** Similarity of layer {glue:md}`m_pc_layer` to itself with its top principal
# components deleted.

# %% [markdown]
# ## Layer identification across seeds
#
# A sanity check {cite:p}`kornblith2019similarity`: train conv4 twice from different seeds;
# a good metric should find, for each layer of one net, the *same* layer of the other as its
# closest match.

# %%
identification = metric_checks.layer_identification(params, runtime)
save_table(identification, "metrics_layer_identification")
fig = metric_figures.layer_identification(identification, source)
plt.show()

# %% [markdown]
# **Figure M3.** Every layer of the seed-{glue:text}`m_seed_a` net against every layer of the
# seed-{glue:text}`m_seed_b` net, both after training.

# %% [markdown]
# ## Do the metrics agree on real representation change?
#
# For the first seed, each layer at each epoch is compared with its own initialisation by
# every metric (CKA and Procrustes on flattened features, PWSM on positions-as-samples).
# Pearson's $r$ across those (layer, epoch) cells says how far the metrics tell the same story.
# Study B reports a mean $r = 0.83$ between its metrics.

# %%
agreement_table = metric_checks.metric_agreement_table(params, runtime)
save_table(agreement_table, "metrics_agreement")
correlations = metric_checks.agreement(agreement_table)
fig = metric_figures.metric_agreement(agreement_table, correlations, source)
plt.show()

# %% [markdown]
# **Figure M4.** Left: distance to the init by 1 − CKA and by the Procrustes angle, one point
# per layer and epoch. Right: Pearson $r$ between all metrics.

# %%
summary = summaries.metrics_chapter(invariance, chance, identification, correlations, deletion, a_seeds)
glue_text("m_provenance", source)
glue_text("m_synthetic_provenance", synthetic)
glue_text("m_pc_layer", pc_layer)

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_numbers(summary.numbers)
headline

# %% [markdown]
# ## What this run shows
#
# - **Invariances.** After a general invertible map, CKA is
#   {glue:text}`m_cka_after_general_map:.3f` while the fully whitened PWSM angle is
#   {glue:text}`m_pwsm0_after_general_map:.3f`; after additive noise the whitened angle is
#   {glue:text}`m_pwsm0_after_noise:.3f` rad against {glue:text}`m_procrustes_after_noise:.3f`
#   rad for Procrustes.
# - **Chance level.** For independent features with $n$ = {glue:text}`m_chance_n` and
#   $p$ = {glue:text}`m_chance_p`, biased CKA averages {glue:text}`m_chance_cka:.3f`
#   ($p/(n+p)$ = {glue:text}`m_chance_expected:.3f`), debiased CKA
#   {glue:text}`m_chance_cka_debiased:.3f`.
# - **Principal components.** Deleting the single top component of
#   {glue:md}`m_pc_layer` ({glue:text}`m_pc1_variance:.3f` of its variance) leaves CKA at
#   {glue:text}`m_pc1_cka:.3f`.
# - **Layer identification.** The fraction of layers matched to the same layer of the other
#   seed: {glue:text}`m_identified_cka:.2f` by CKA, {glue:text}`m_identified_cka_debiased:.2f`
#   by debiased CKA, {glue:text}`m_identified_procrustes:.2f` by the Procrustes angle.
# - **Agreement.** Across layers and epochs, Pearson $r$ between 1 − CKA and the Procrustes
#   angle is {glue:text}`m_r_cka_procrustes:.2f`, between fully whitened PWSM and Procrustes
#   {glue:text}`m_r_pwsm0_procrustes:.2f`; the mean over all metric pairs is
#   {glue:text}`m_r_mean_off_diagonal:.2f` (Study B: 0.83).
