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
# # Explorer: every stored result, one view at a time
#
# The chapters show the figures the papers chose. This page lets you look at any stored
# result: choose the study, the run, the comparison (Study A: the init, the pre-trained net, an
# independent init; Study B: the source net), the metric, the layers and an epoch. The left
# panel follows each layer over the epochs, the right one compares the layers at the chosen
# epoch. For a Study B run the explorer also shows the most and the least changed filter of the
# first chosen layer as heatmaps on probe images, at epoch 0 and at the chosen epoch, computed
# from the stored checkpoints.
#
# It reads only the run store (`runs/store/` or `$REPCHANGE_STORE`) and never trains. **In the
# rendered book** the page shows the views below as static figures; to use the controls, open
# `notebooks/explorer.py` in Jupyter (it opens as a notebook through jupytext) and run it.

# %%
import matplotlib.pyplot as plt

from repchange.book.explorer import KINDS, Explorer
from repchange.book.glue import glue_text

# %% tags=["parameters"]
study: str = None  # one of repchange.book.explorer.KINDS; None: the first stored
run: str = None  # part of a run's label, e.g. "digits"; None: the first run of the study
comparison: str = None  # None: the table's first
metric: str = None  # None: the table's first
layers: list[str] = None  # None: every probed layer
epoch: int = None  # None: the last epoch
profile: str = "default"

# %%
explorer = Explorer()
chosen = {name: value for name, value in dict(study=study, run=run, comparison=comparison, metric=metric,
                                              layers=layers, epoch=epoch).items() if value is not None}
explorer.select(**chosen)
glue_text("explorer_provenance", f"data: {len(explorer.tables)} stored tables in the run store · profile: {profile} · "
                                 "seeds: each figure's own, named beneath it with its stored run")

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# {glue:md}`explorer_provenance`
# ```

# %%
explorer.show()
print(f"profile: {profile} · {explorer.describe()}")

# %% [markdown]
# **The chosen view** (live controls in Jupyter). Its caption names the stored run and seeds;
# the title says which study, data and conditions produced it.
#
# ## One view of each study
#
# The first stored run of each study, every layer, the table's first comparison and metric.

# %%
for kind in KINDS:
    if any(t.kind == kind for t in explorer.tables):
        view = Explorer(explorer.store).select(study=kind)
        view.figure()
        plt.show()
        print(f"profile: {profile} · {view.describe()}")
        if kind == "study_b/dynamics":
            view.filters()
            plt.show()
            print(f"profile: {profile} · {view.describe()} · layer {view.layers.value[0]}, epochs 0 and "
                  f"{view.epoch.value}")
