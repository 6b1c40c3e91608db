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
# # Do the verdicts depend on the training budget?
#
# The authors' code trains for 150 epochs on 50,000 images (the paper's text gives no epoch count); this book trains on a laptop. Their
# claims about random labels presuppose that the nets have *memorised* them ("if the models are
# trained long enough", Sec. 3.2). When one of our verdicts reads "does not hold", a reader needs
# to know whether it speaks about the paper or about our budget. This page answers it by reading
# Study A's pre-training claims (A1–A3 of the {doc}`ledger <claims_ledger>`) at several training
# budgets, with the same rule ({doc}`how verdicts are made <verdicts>`).
#
# No extra training is needed for budgets up to the book's: the learning rate is constant and an
# epoch's batches depend on the seed and the epoch alone, so a run's net after epoch $e$ *is* the
# net an $e$-epoch run ends with. The sweep tables measure every chapter's runs at
# 0, 5, 10, 20, … epochs and at the last. Budgets beyond the book's come from longer runs: the
# `scale` profile trains them (`repchange book --profile scale`, or `make book PROFILE=scale`),
# and this page reads them from the run store when they are there.
#
# Training fit is measured after each epoch, in eval mode, on every training image (solid lines
# below); the running accuracy during the epoch (dashed) lags it, and is not what "fitted" means.

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from repchange.book import parameters
from repchange.book.reader_tables import for_readers
from repchange.book.glue import glue_numbers, glue_text, provenance, save_table
from repchange.studies import budget, claims
from repchange.studies.a import tables as a_tables

# %% tags=["parameters"]
a_dataset: str = "fashion_mnist"  # Study A source domain, a name from data.available() (repchange.core)
a_seeds: list[int] = [1, 2, 3, 4, 5]  # Study A seeds (the units of its claims; the paper: five)
a_degrees: list[int] = [0, 1, 2, 4, 9]  # label randomness degrees d
a_pretrain_sizes: list = [64, 256, 1024]  # Figure 3b training-set sizes
a_size_sweep_degree: int = 9  # label randomness degree of the Figure 3b runs
a_pretrain_epochs: int = 16  # pre-training epochs (the authors' code: 150; the paper's text gives none)
a_pretrain_size: int = 1024  # pre-training images, None for the whole train split
a_pretrain_eval_size: int = 1000  # test images for the pre-training test accuracy
a_probe_size: int = 500  # Study A probe images
extraction_bn: str = "batch"  # BatchNorm at extraction: "batch" (probe-batch statistics, the authors' code) or "eval"
a_batch_size: int = 32
a_lr: float = 1e-3
a_momentum: float = 0.9
a_bn_order: str = "relu_bn"
a_width: int = 64
a_longer_epochs: list[int] = [32]  # longer runs (the scale profile) read from the store when present; never trained here
level: float = 0.95  # confidence level of every interval
device: str = "auto"
data_root: str = None
download: bool = False
profile: str = "default"

# %%
runtime = parameters.runtime(globals())  # store, device, data folder


def tables_for(epochs: int) -> dict[str, pd.DataFrame] | None:
    """The four pre-training tables of the chapters' parameters with ``epochs`` pre-training epochs (None: a
    longer run that is not stored: this page never trains it)."""
    values = {**globals(), "a_pretrain_epochs": epochs}
    params = (parameters.cka_to_init(values), parameters.degree_sweep(values), parameters.size_sweep(values))
    if epochs != a_pretrain_epochs and not a_tables.pretraining_stored(*params, runtime):
        return None
    return a_tables.pretraining_tables(*params, runtime)


own = tables_for(a_pretrain_epochs)
own_budgets = [e for e in a_tables.ledger_epochs(a_pretrain_epochs) if e > 0]
label = f"{a_pretrain_size} images"
parts = [budget.budget_ledger(**own, epochs=own_budgets, label=label, level=level)]
longer_status = []
for epochs in sorted(set(a_longer_epochs) - {a_pretrain_epochs}):
    tables = tables_for(epochs)
    if tables is None:
        longer_status.append(f"{epochs}-epoch runs: not run (not in the store; the scale profile trains them)")
        continue
    beyond = [e for e in a_tables.ledger_epochs(epochs) if e > a_pretrain_epochs]
    parts.append(budget.budget_ledger(**tables, epochs=beyond, label=f"{label}, {epochs}-epoch run", level=level))
    longer_status.append(f"{epochs}-epoch runs: read from the store (budgets {beyond})")
frame = pd.concat(parts, ignore_index=True)
changes = budget.flips(frame)
source = provenance(data=a_dataset, profile=profile, seeds=a_seeds, degrees=a_degrees,
                    pretraining=f"{a_pretrain_size} images × {a_pretrain_epochs} epochs",
                    budgets=[int(b) for b in sorted(frame.budget.unique())], probe=f"{a_probe_size} images")
print("\n".join(longer_status) or "no longer runs asked for")
_ = save_table(frame, "budget_ledger")

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# {glue:md}`budget_provenance`
# ```

# %%
fig = budget.fig_fit_curves(own["histories"], own_budgets, claims.TRAIN_FIT_TOLERANCE, source)
plt.show()

# %% [markdown]
# **When are random labels fitted?** Left: training accuracy per degree $d$ (solid: the net after
# the epoch in eval mode on its training images; dashed: the running mean during the epoch). Right:
# the most random degree's fit minus the clean labels' fit, per seed (thin) and on average (thick);
# the A2-train-fit claim holds once the interval of that gap lies above the dotted tolerance. Grey
# verticals: the budgets read below.

# %%
fig = budget.fig_budget(frame, source)
plt.show()

# %% [markdown]
# **Claim × budget.** Each cell is one claim's verdict after that many pre-training epochs, coloured
# as in the ledger, with its effect in units of the claim's smallest effect of interest (claimed side
# positive) and the interval beneath. A3 claims read "premise not met" at budgets where the random
# labels are not yet fitted (A2-train-fit does not hold there and some seed misses its tolerance).

# %%
view = frame.assign(effect=[f"{v - n:+.3f} [{lo - n:+.3f}, {hi - n:+.3f}]"
                            for v, n, lo, hi in zip(frame.value, frame.null, frame.ci_low, frame.ci_high)])
verdict_by_budget = view.pivot_table(index="key", columns="budget", values="verdict", aggfunc="first", sort=False)
display(for_readers(verdict_by_budget.rename(columns=lambda b: f"{b} epochs")))
display(for_readers(changes.assign(before=[f"{v} ({b} epochs)" for v, b in zip(changes.from_verdict, changes.from_budget)],
                                   after=[f"{v} ({b} epochs)" for v, b in zip(changes.to_verdict, changes.to_budget)]),
                    {"key": "claim", "before": "verdict before", "after": "verdict after"}))

# %% [markdown]
# **The verdicts as a table**, and every change of verdict from one budget to the next.

# %%
sentences = budget.flip_sentences(changes)
glue_text("budget_provenance", source)
glue_text("budget_flips", "\n".join(f"- {s}" for s in sentences) or "- No verdict changes between the budgets read.")
glue_text("budget_longer", "; ".join(longer_status) or "no longer runs were asked for")
final_fit = frame[(frame.key == "A2-train-fit") & (frame.budget == a_pretrain_epochs)].iloc[0]
glue_text("budget_fit_verdict", final_fit.verdict)

# %%
# NBVAL_CHECK_OUTPUT
headline = glue_numbers({
    "budget_count": int(frame.budget.nunique()),
    "budget_flip_count": len(changes),
    "budget_claims_flipping": int(changes.key.nunique()),
    "budget_fit_gap": float(final_fit.value),
    "budget_epochs": int(a_pretrain_epochs),
})
headline

# %% [markdown]
# ## What this run shows
#
# Read at {glue:text}`budget_count` budgets, {glue:text}`budget_claims_flipping` claims change
# verdict ({glue:text}`budget_flip_count` changes in all):
#
# {glue:md}`budget_flips`
#
# At the book's budget ({glue:text}`budget_epochs` epochs) the most random labels are fitted to
# within {glue:text}`budget_fit_gap:+.3f` of the clean ones: A2-train-fit {glue:md}`budget_fit_verdict`.
# Longer runs: {glue:md}`budget_longer`.
