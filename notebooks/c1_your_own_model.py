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
# # Your own model: which layers did training rewrite, and when?
#
# The two studies ask how far each layer of *their* nets moves during training. The same
# question of any PyTorch model takes three lines with `repchange.track`: build a `Tracker`
# from the model and a fixed probe set, call `tracker.update(step)` wherever the training loop
# should be measured, and read `tracker.table`.
#
# This page tracks a torchvision **ResNet-18** (random init: nothing is downloaded) while it
# trains on an offline data set. The loop below is an ordinary PyTorch loop, written out on
# purpose: it stands for yours. Nothing in it belongs to repchange except the two `tracker`
# lines.

# %%
import matplotlib.pyplot as plt
import torch
import torchvision
from torch.utils.data import DataLoader, TensorDataset

from repchange.book.glue import glue_numbers, glue_text, provenance, save_table
from repchange.core import data
from repchange.track import Tracker, final_values, plot_table

# %% tags=["parameters"]
# Names begin with own_ so that a profile's Study A settings (epochs, lr, dataset, ...) never reach this chapter.
own_dataset: str = "fashion_mnist"  # one of repchange.core.data.available(); images resized to own_image_size, 3 channels
own_image_size: int = 32  # ResNet-18 input size here (ImageNet: 224)
own_train_size: int = 1024  # training images, spread over the classes
own_probe_size: int = 500  # probe images (test split, spread over the classes): every update sees these
own_epochs: int = 3
own_batch_size: int = 64
own_lr: float = 0.05  # SGD with momentum 0.9
own_seed: int = 1
own_layers: str = "stages"  # module paths, globs, name@k, or "stages" (the end of each resolution stage)
own_metrics: list[str] = ["cka", "procrustes"]  # see repchange.track.METRICS
data_root: str = None  # folder with the data files, None for REPCHANGE_DATA or the system package
profile: str = "default"  # the name printed on every figure

# %%
ds = data.load(own_dataset, root=data_root).conformed_to((3, own_image_size, own_image_size))
train_split, probe = ds.train.stratified(own_train_size, seed=42), ds.test.stratified(own_probe_size, seed=42)
source = provenance(data=ds.describe(), profile=profile, seeds=[own_seed], model="torchvision resnet18 (random init)",
                    train=f"{len(train_split)} images, {own_epochs} epochs", probe=f"{len(probe)} test images")

# %% [markdown]
# ```{admonition} The runs behind this page
# :class: provenance
# {glue:md}`c1_provenance`
# ```

# %% [markdown]
# ## Track a training run
#
# The tracker's reference is the model as it is when tracking begins (its random init here);
# `reference=` takes a state dict, a checkpoint file or another model instead. `update(step,
# **info)` measures every layer and metric and records any extra columns (here the loss).

# %%
torch.manual_seed(own_seed)
model = torchvision.models.resnet18(weights=None, num_classes=ds.num_classes)
train_set = TensorDataset(data.normalise(train_split.images), train_split.labels)
loader = DataLoader(train_set, batch_size=own_batch_size, shuffle=True,
                    generator=torch.Generator().manual_seed(own_seed))
optimiser = torch.optim.SGD(model.parameters(), lr=own_lr, momentum=0.9)

tracker = Tracker(model, probe, layers=own_layers, metrics=own_metrics)  # 1: hook the layers, measure the reference
tracker.update(0)                                                # 2: epoch 0 (the init against itself)
for epoch in range(1, own_epochs + 1):
    model.train()
    for images, labels in loader:
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    tracker.update(epoch, train_loss=float(loss))                # 3: after every epoch

table = tracker.table
save_table(table, "c1_tracked_resnet18")
table.head(8)

# %%
fig = plot_table(table, source)
plt.show()

# %% [markdown]
# **Figure.** Each stage of ResNet-18 against its own random init, after every epoch: linear
# CKA (left, 1 = unchanged) and the angular Procrustes distance (right, radians, 0 =
# unchanged), on {glue:text}`c1_probe` probe images.

# %%
# NBVAL_CHECK_OUTPUT
cka = final_values(table, "cka")
glue_text("c1_provenance", source)
glue_text("c1_most", f"`{cka.idxmin()}`")
glue_text("c1_least", f"`{cka.idxmax()}`")
glue_numbers({"c1_probe": len(probe), "c1_epochs": own_epochs, "c1_cka_most": cka.min(), "c1_cka_least": cka.max()})

# %% [markdown]
# After {glue:text}`c1_epochs` epochs the layer that moved furthest from its init is
# {glue:md}`c1_most` (CKA {glue:text}`c1_cka_most:.3f`) and the one that moved least is
# {glue:md}`c1_least` (CKA {glue:text}`c1_cka_least:.3f`). Whether early layers stay close to
# their init (Study A's finding for its conv net) is a property of the model, the data and the
# schedule: this table answers it for the run above, and the same three lines answer it for
# yours.
#
# ## Beyond this page
#
# - **Layers.** `layers=["layer*"]` (globs), `"layer1.0.relu@1"` (the second call of a module
#   used twice), or the default `"stages"`; a name that does not exist stops with the closest
#   names. `repchange.hooks.stage_ends(model, example_batch)` lists what "stages" picks.
# - **Metrics.** `"cka_debiased"`, `"pwsm"` with `alphas=(0.0, 0.5)` (with `view="positions"`
#   for conv layers, Study B's convention), `"filter_procrustes"` (Study B's per-filter
#   Procrustes similarity).
# - **Large probe sets.** `streaming=True` computes debiased CKA batch by batch (Nguyen et al.
#   2021): memory no longer grows with the probe set. A probe too large for exact metrics stops
#   before any work and says so.
# - **Nothing lost.** `out="runs/track/my-run"` rewrites `track.csv` after every update and
#   keeps the reference weights, so a restarted run resumes against the same reference.
# - **Two checkpoints, no training loop:**
#   `repchange compare resnet18 before.pt after.pt --probe path/to/imagefolder --out report/`
#   writes `compare.csv`, a per-layer figure and a small HTML report.
# - **Study B on your data.** The Study B chapters take any ImageFolder tree as a target:
#   `-p b_targets "['folder:/path/to/tree']"`.
