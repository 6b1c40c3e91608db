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
# # Claims ledger: which of the papers' claims hold here
#
# Every claim the two papers make about how representations change, one row each: where the
# paper makes it (section and figure; words in quotation marks are the paper's own, the rest
# paraphrase its figures and discussion), the statistic that tests it, its value on this book's
# runs with an interval, and a verdict **computed from the numbers** by the one rule of
# {doc}`how verdicts are made <verdicts>`:
#
# - **holds** — the interval excludes the null on the claimed side and the effect reaches the
#   claim's smallest effect of interest (SESOI);
# - **does not hold** — the same on the other side;
# - **negligible** — the whole interval lies within ± the SESOI: too small to count either way;
# - **inconclusive** — anything else, or fewer than two units;
# - **premise not met** — the run does not show what the claim presupposes (here: random labels
#   memorised, the row A2-train-fit): the premise claim does not hold, and not every seed of the run
#   meets it. A premise is a fact about the run's own nets — the nets the claim measures — so five
#   seeds that all fit every random label meet it even where their identical values give the premise
#   claim itself no interval. The claim's numbers are kept;
# - **not measured** — the run cannot test the claim.
#
# Every statistic can come out either way: the test suite feeds each claim a synthetic table
# that supports it (verdict "holds") and one that contradicts it ("does not hold"), and makes
# every verdict above from synthetic tables.
#
# The *unit* is the independent one: a seed for Study A (each seed is an independent
# pre-training and fine-tuning) and a **source net** (architecture × seed) for Study B, whose
# fine-tunings on several targets are averaged into one value first. The ledger is one family of
# some thirty tests: the Holm-adjusted verdict stands beside each one. Where the book departs from
# a paper's protocol, the {doc}`deviations page <deviations>` names the departure and its
# measured effect.
#
# Nothing is trained here: every table is the stored one of its chapter (the same parameters
# give the same run keys). Run alone on an empty store, this page trains what it needs.
# Visual claims (Study B, Figures 5–8) are not in the ledger: they have no single statistic;
# the visualisation chapters compare them with the per-filter distance.

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from repchange.book import parameters
from repchange.book.glue import glue_numbers, glue_text, provenance, save_table
from repchange.core import verdicts
from repchange.studies import claims, estimator_grid
from repchange.studies.a import tables as a_tables
from repchange.studies.b import tables as b_tables

# %% tags=["parameters"]
a_dataset: str = "fashion_mnist"  # Study A source domain, one of repchange.core.data.available()
a_cross_domain: str = "digits"  # Study A cross-domain target
a_seeds: list[int] = [1, 2, 3, 4, 5]  # Study A seeds (the units of its claims; the paper: five)
a_degrees: list[int] = [0, 1, 2, 4, 9]  # label randomness degrees d
a_shifts: list = ["seed"]  # label shifts s; "seed": s is the run's seed (the authors' code)
a_pretrain_sizes: list = [64, 256, 1024]  # Figure 3b training-set sizes
a_size_sweep_degree: int = 9  # label randomness degree of the Figure 3b runs
a_pretrain_epochs: int = 16  # pre-training epochs (paper: 150)
a_pretrain_size: int = 1024  # pre-training images, None for the whole train split
a_pretrain_eval_size: int = 1000  # test images for the pre-training test accuracy
a_finetune_epochs: int = 10  # fine-tuning epochs (paper: 25)
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
b_seeds: list[int] = [1, 2]  # Study B source-net seeds
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
level: float = 0.95  # confidence level of every interval
device: str = "auto"
data_root: str = None
download: bool = False
profile: str = "default"

# %%
pretraining = parameters.cka_to_init(globals())
degree_params = parameters.degree_sweep(globals())
size_params = parameters.size_sweep(globals())
finetune_params = parameters.finetune_sweep(globals())
dynamics_params = parameters.dynamics(globals())
source_a = provenance(data=f"Study A: {a_dataset} → {a_dataset} / {a_cross_domain}", profile=profile, seeds=a_seeds,
                      degrees=a_degrees, pretraining=f"{a_pretrain_size} images × {a_pretrain_epochs} epochs",
                      fine_tuning=f"{a_finetune_size} images × {a_finetune_epochs} epochs",
                      probe=f"{a_probe_size} images")
source_b = provenance(profile=profile, seeds=b_seeds, **b_tables.describe(dynamics_params))

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# **Study A:** {glue:md}`ledger_provenance_a`
#
# **Study B:** {glue:md}`ledger_provenance_b`
# ```

# %%
runtime = parameters.runtime(globals())  # store, device, data folder
tables_a = a_tables.pretraining_tables(pretraining, degree_params, size_params, runtime)
histories = tables_a["histories"]
dynamics = b_tables.dynamics(dynamics_params, runtime)
agreement = b_tables.filter_agreement(dynamics_params, runtime)
part_a = claims.study_a_claims(**tables_a, finetuning=a_tables.finetune_sweep(finetune_params, runtime), level=level)
part_b = claims.study_b_claims(dynamics, agreement, level=level)
ledger = claims.ledger(part_a, part_b, level=level)
# The estimator grid (its own page; the tables are stored, so this loads them): how many estimators agree
grid_a, _ = estimator_grid.study_a_grid(pretraining, degree_params, size_params, finetune_params, histories, runtime,
                                        level)
grid_b = estimator_grid.study_b_grid(dynamics, agreement, b_alphas, level)
ledger["estimators_agreeing"] = estimator_grid.agreement(ledger, grid_a, grid_b)
_ = save_table(ledger, "claims_ledger")

# %%
colours = {k: f"color: {v}; font-weight: bold" for k, v in claims.VERDICT_COLOURS.items()}
display(claims.ledger_view(ledger).style.format({"SESOI": "{:g}"})
        .map(lambda v: colours.get(v, ""), subset=["verdict", "Holm-adjusted"]).hide(axis="index"))

# %% [markdown]
# **The ledger.** `mean − null [interval]`: the statistic's mean over the claim's units minus its
# null value, with its {glue:text}`ledger_level_pct`% interval (t, within the statistic's range);
# `SESOI`: the smallest effect that counts; `unit (n)`: the independent units and how many;
# `estimators agreeing`: of the estimators of {doc}`the estimator grid <estimator_grid>` that measured
# the claim, how many give this verdict.

# %% tags=["hide-output"]
display(claims.ledger_details(ledger).style.format({"null": "{:g}", "p": "{:.3g}"}, na_rep="–").hide(axis="index"))

# %% [markdown]
# **Each claim's statistic** (click to show): where the paper makes it, what is computed per
# unit, the null it is compared with, the t test's two-sided p-value (Holm adjusts these), each
# unit's value and notes (premises, units without spread, why a claim was not measured).

# %%
fig = claims.fig_ledger(ledger, f"Study A — {source_a} | Study B — {source_b}")
plt.show()

# %% [markdown]
# **Every claim at a glance.** The dot is the claim's effect (mean − null) in units of its
# smallest effect of interest, turned so that the claimed side is to the right; the bar its
# interval; the shaded band ±1 SESOI, where an interval reads "negligible".

# %%
glue_text("ledger_provenance_a", source_a)
glue_text("ledger_provenance_b", source_b)
for verdict in verdicts.VERDICTS:
    rows = ledger[ledger.verdict == verdict]
    glue_text(f"ledger_keys_{verdict.replace(' ', '_')}", ", ".join(f"`{k}`" for k in rows.key) or "none")
changed_by_holm = ledger[ledger.verdict_holm != ledger.verdict]
glue_text("ledger_keys_holm_changed", ", ".join(f"`{k}`" for k in changed_by_holm.key) or "none")

# %%
# NBVAL_CHECK_OUTPUT
counts, counts_holm = ledger.verdict.value_counts(), ledger.verdict_holm.value_counts()
headline = glue_numbers({
    "ledger_claims": len(ledger),
    **{f"ledger_{v.replace(' ', '_')}": int(counts.get(v, 0)) for v in verdicts.VERDICTS},
    "ledger_holds_holm": int(counts_holm.get("holds", 0)),
    "ledger_does_not_hold_holm": int(counts_holm.get("does not hold", 0)),
    "ledger_level_pct": int(round(level * 100)),
})
headline

# %% [markdown]
# ## What this run shows
#
# Of {glue:text}`ledger_claims` claims, {glue:text}`ledger_holds` hold here
# ({glue:md}`ledger_keys_holds`), {glue:text}`ledger_does_not_hold` do not
# ({glue:md}`ledger_keys_does_not_hold`), {glue:text}`ledger_negligible` are negligible — an
# effect within the smallest effect of interest ({glue:md}`ledger_keys_negligible`) — and
# {glue:text}`ledger_inconclusive` are inconclusive ({glue:md}`ledger_keys_inconclusive`).
# {glue:text}`ledger_premise_not_met` rest on a premise this run does not meet
# ({glue:md}`ledger_keys_premise_not_met`) and {glue:text}`ledger_not_measured` could not be
# measured with these parameters ({glue:md}`ledger_keys_not_measured`). Taken as one family
# (Holm), {glue:text}`ledger_holds_holm` hold and {glue:text}`ledger_does_not_hold_holm` do not;
# the verdicts the adjustment turns inconclusive: {glue:md}`ledger_keys_holm_changed`.
#
# Read a verdict with its run: the default book trains for minutes, not the papers' 150
# epochs on CIFAR-10 or ImageNet weights, so "does not hold" means *not at this scale and on
# these data*; `make book PROFILE=paper` re-runs the same ledger under the published
# protocols. Each chapter shows the figure behind its claims; the statistic column says
# exactly which numbers of that figure enter the verdict.
