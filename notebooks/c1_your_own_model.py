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
# question of any PyTorch model takes three lines with `repchange.tool.track`: build a `Tracker`
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
from IPython.display import HTML
from torch.utils.data import DataLoader, TensorDataset

from repchange.base.plotting import PAGE_WIDTH_IN, wrapped
from repchange.book.glue import glue_numbers, glue_text, provenance, save_table
from repchange.book.reader_tables import for_readers
from repchange.data import datasets as data
from repchange.measure.registry import biased_cka_chance
from repchange.tool.layer_matrix import best_matches, layer_matrix, plot_matrix
from repchange.tool.sequential import ChangeMonitor
from repchange.tool.track import Tracker, final_values, plot_table
from repchange.tool.validate import CATCH_ABOVE, IGNORE_BELOW, ROBUST_BELOW, advice, plot_report, trust, validate

# %% tags=["parameters"]
# Names begin with own_ so that a profile's Study A settings (epochs, lr, dataset, ...) never reach this chapter.
own_dataset: str = "fashion_mnist"  # a name from datasets.available() (repchange.data); images resized to own_image_size, 3 channels
own_image_size: int = 32  # ResNet-18 input size here (ImageNet: 224)
own_train_size: int = 1024  # training images, spread over the classes
own_probe_size: int = 500  # probe images (test split, spread over the classes): every update sees these
own_epochs: int = 3
own_batch_size: int = 64
own_lr: float = 0.05  # SGD with momentum 0.9
own_seed: int = 1
own_layers: str = "stages"  # module paths, globs, name@k, or "stages" (the end of each resolution stage)
own_metrics: list[str] = ["cka", "cka_debiased", "procrustes"]  # see repchange.tool.track.METRICS
own_null: int = 50  # shuffles of the probe rows behind each value's permutation null (0: none)
own_null_metrics: list[str] = ["cka", "cka_debiased"]  # which metrics get the null (Procrustes redoes an SVD a shuffle)
own_validate_resamples: int = 5  # probe subsamples behind each interval of the trust report (at least 2)
own_looks_per_epoch: int = 4  # the change monitor's looks per epoch (each on a fresh random half of the probe)
own_monitor_delta: float = 0.05  # the smallest change of interest: a share of CKA's range (1 - CKA)
own_monitor_alpha: float = 0.05  # the chance that any stage whose change stays within delta ever alarms
own_vit_width: int = 64  # the small ViT compared with the ResNet layer by layer: token width (4 blocks, patches of 4)
own_bert_width: int = 64  # the Hugging Face example: a BERT encoder's width (4 blocks, random initialisation)
own_bert_tokens: int = 128  # ... and the most bytes of a sentence it reads
data_root: str = None  # folder with the data files, None for REPCHANGE_DATA or the system package
profile: str = "default"  # the name printed on every figure

# %%
ds = data.load(own_dataset, root=data_root).conformed_to((3, own_image_size, own_image_size))
train_split, probe = ds.train.stratified(own_train_size, seed=42), ds.test.stratified(own_probe_size, seed=42)
source = provenance(data=ds.describe(), profile=profile, seeds=[own_seed],
                    model=f"torchvision resnet18 and a {own_vit_width}-wide ViT (random inits)",
                    train=f"{len(train_split)} images, {own_epochs} epochs each", probe=f"{len(probe)} test images")

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


def train_one_epoch(net: torch.nn.Module, optimiser: torch.optim.Optimizer, after_batch=None) -> float:
    """One pass over the training images; the last batch's loss. ``after_batch(i)`` after batch i (from 1)."""
    net.train()
    for i, (images, labels) in enumerate(loader, 1):
        loss = torch.nn.functional.cross_entropy(net(images), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if after_batch is not None:
            after_batch(i)
    return float(loss.detach())


tracker = Tracker(model, probe, layers=own_layers, metrics=own_metrics,  # 1: hook the layers, measure the reference
                  null=own_null, null_metrics=own_null_metrics or None)
# a second tracker, looking more often, with the change monitor (below): CKA on a fresh random half of the probe
monitored = Tracker(model, probe, layers=own_layers, metrics=("cka",),
                    monitor=ChangeMonitor(metric="cka", delta=own_monitor_delta, alpha=own_monitor_alpha))
every = max(1, len(loader) // own_looks_per_epoch)
tracker.update(0)                                                # 2: epoch 0 (the init against itself)
monitored.update(0)
for epoch in range(1, own_epochs + 1):
    loss = train_one_epoch(model, optimiser, lambda i, e=epoch: monitored.update(round(e - 1 + i / len(loader), 3))
                           if i % every == 0 else None)
    tracker.update(epoch, train_loss=loss)                       # 3: after every epoch

table = tracker.table
save_table(table, "c1_tracked_resnet18")  # every column (null, p, z, intervals, notes) is in the results CSV
shown = {"layer": "layer", "metric": "metric", "value": "value at the last epoch", "null_high": "null's 97.5 %",
         "p_value": "p (permutation)"}
for_readers(table[table.step == table.step.max()], {k: v for k, v in shown.items() if k in table})

# %%
fig = plot_table(table, source)
plt.show()

# %% [markdown]
# **Figure.** Each stage of ResNet-18 against its own random init, after every epoch: biased and
# debiased linear CKA (1 = unchanged) and the angular Procrustes distance (radians, 0 =
# unchanged), on {glue:text}`c1_probe` probe images. The shaded bands are each value's
# **permutation null** (the central 95 % of {glue:text}`c1_null` shuffles of the probe rows): what
# these two layers give when their samples no longer correspond. For independent iid features of
# {glue:md}`c1_first`'s width biased CKA would be about {glue:text}`c1_iid_chance:.2f` on these probe
# images (the tracker warns of it); the shuffled real layers give at most
# {glue:text}`c1_first_null_high:.3f` at the last epoch,
# so the null of the actual layers, not a formula for random features, is the level to read
# against. Debiased CKA's band sits at 0.

# %%
# NBVAL_CHECK_OUTPUT
cka = final_values(table, "cka")
last = table[(table.step == table.step.max()) & (table.metric == "cka")].set_index("layer")
glue_text("c1_provenance", source)
glue_text("c1_most", f"`{cka.idxmin()}`")
glue_text("c1_least", f"`{cka.idxmax()}`")
glue_text("c1_first", f"`{cka.index[0]}`")
glue_numbers({"c1_probe": len(probe), "c1_epochs": own_epochs, "c1_cka_most": cka.min(), "c1_cka_least": cka.max(),
              "c1_null": own_null, "c1_iid_chance": biased_cka_chance(len(probe), tracker.widths[cka.index[0]],
                                                                      tracker.widths[cka.index[0]]),
              "c1_first_null_high": float(last.null_high[cka.index[0]]) if own_null and "cka" in own_null_metrics
              else float("nan")})
if own_null and "cka" in own_null_metrics:
    inside = [layer for layer in last.index if last.null_low[layer] <= last.value[layer] <= last.null_high[layer]]
    glue_text("c1_null_sentence",
              f"At the last epoch biased CKA's null band of `{cka.idxmax()}` reaches "
              f"{last.null_high[cka.idxmax()]:.3f} against its value {cka.max():.3f}; "
              + (f"{len(inside)} stage(s) ({', '.join(f'`{x}`' for x in inside)}) lie inside their band: no "
                 f"evidence there that the stage still shares structure with its init."
                 if inside else "every stage lies above its band: each still shares sample-by-sample structure "
                                "with its init."))
else:
    glue_text("c1_null_sentence", "No permutation null was asked for (own_null: 0).")

# %% [markdown]
# After {glue:text}`c1_epochs` epochs the layer that moved furthest from its init is
# {glue:md}`c1_most` (CKA {glue:text}`c1_cka_most:.3f`) and the one that moved least is
# {glue:md}`c1_least` (CKA {glue:text}`c1_cka_least:.3f`). Whether early layers stay close to
# their init (Study A's finding for its conv net) is a property of the model, the data and the
# schedule: this table answers it for the run above, and the same three lines answer it for
# yours. {glue:md}`c1_null_sentence`
#
# ## Did a stage change, however often we look?
#
# Reading "changed" off a table at every look is a test at every look, and its false alarms grow with the looks. The
# second tracker above looked {glue:text}`c1_looks` times, each time reading CKA on a fresh random half of the probe,
# with a `ChangeMonitor` (`repchange.tool.sequential`): per stage a betting e-process against "its expected change,
# 1 − CKA, is at most {glue:text}`c1_monitor_delta`", which alarms once the evidence reaches
# {glue:text}`c1_monitor_threshold:.0f` (stages / α: the chance that any stage whose change stays within δ ever
# alarms is at most α = {glue:text}`c1_monitor_alpha`, however many looks; `make bench` [14] simulates it).
# {glue:md}`c1_monitor_sentence`

# %%
changes = monitored.changes
save_table(changes, "c1_change_monitor")
first = changes.groupby("layer", sort=False).first_alarm.max()
glue_numbers({"c1_looks": changes.step.nunique(), "c1_monitor_delta": own_monitor_delta,
              "c1_monitor_alpha": own_monitor_alpha, "c1_monitor_threshold": float(changes.threshold.iloc[0])})
alarmed = first.dropna()
glue_text("c1_monitor_sentence",
          ("Stages and the epoch at which each first alarmed: " + "; ".join(f"`{layer}` at {step:g}"
                                                                       for layer, step in alarmed.items()) + "."
           if len(alarmed) else "No stage alarmed.")
          + (f" No alarm at {', '.join(f'`{layer}`' for layer in first.index.difference(alarmed.index))}: no "
             f"evidence there of a change beyond δ." if len(alarmed) < len(first) else ""))
fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 3.4))
for layer, rows in changes.groupby("layer", sort=False):
    ax.plot(rows.step, rows.e_value, marker="o", ms=3, label=layer)
ax.axhline(changes.threshold.iloc[0], color="black", ls="--", lw=1, label="alarm (stages / α)")
ax.set(yscale="log", xlabel="epoch", ylabel="e-value (evidence of a change > δ)")
ax.legend(fontsize=8, ncol=2)
ax.set_title(wrapped(f"ResNet-18, change monitor on CKA · {source}", fig, size_pt=9), fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Figure.** Each stage's e-value after every look (log scale); a stage alarms where its curve crosses the dashed
# line and stays alarmed. A stage that reads less than δ bets nothing, so its curve stays flat or falls.
#
# ## Two different architectures, every layer against every layer
#
# `repchange.tool.layer_matrix.layer_matrix` compares any two models on one probe set: here the ResNet-18
# trained above against a small Vision Transformer (torchvision's `VisionTransformer`, 4 blocks,
# patches of 4 pixels) trained the same way. Each layer is factorised once, so the
# {glue:text}`c1_pairs` pairs cost {glue:text}`c1_factorisations` factorisations. Conv maps and token
# sequences differ in shape; each side is flattened to (probe images, features), and debiased CKA
# needs no equal widths.

# %%
torch.manual_seed(own_seed)
vit = torchvision.models.VisionTransformer(image_size=own_image_size, patch_size=4, num_layers=4, num_heads=4,
                                           hidden_dim=own_vit_width, mlp_dim=2 * own_vit_width,
                                           num_classes=ds.num_classes)
vit_optimiser = torch.optim.AdamW(vit.parameters(), lr=1e-3)
for epoch in range(1, own_epochs + 1):  # the same loop, untracked: only the trained nets are compared
    train_one_epoch(vit, vit_optimiser)

matrix = layer_matrix(model, vit, probe, layers_a=own_layers, layers_b=["encoder.layers.encoder_layer_*"],
                      metrics=("cka_debiased",), null=own_null)
save_table(matrix, "c1_resnet_vs_vit")
fig = plot_matrix(matrix, "cka_debiased", title=f"ResNet-18 (rows) against a ViT (columns), debiased CKA · {source}")
plt.show()

# %% [markdown]
# **Figure.** Debiased linear CKA between every stage of the ResNet-18 (rows) and every block of the
# ViT (columns) after {glue:text}`c1_epochs` epochs each, on the {glue:text}`c1_probe` probe images;
# each row's best-matching block is outlined.

# %%
# NBVAL_CHECK_OUTPUT
best = best_matches(matrix, "cka_debiased")
above = matrix[matrix.value > matrix.null_high] if own_null else matrix.iloc[:0]
glue_numbers({"c1_pairs": len(matrix), "c1_factorisations": matrix.attrs["factorisations"],
              "c1_above_null": len(above)})
rows_a = best[best.side == "a"]
glue_text("c1_best_sentence", "; ".join(f"`{r.layer}` ↔ `{r.best.removeprefix('encoder.layers.')}` "
                                        f"({r.value:.2f})" for r in rows_a.itertuples()))
matches = best.assign(best=best.best.str.removeprefix("encoder.layers."), side=best.side.map({"a": "ResNet-18", "b": "ViT"}))
HTML(for_readers(matches, {"side": "model", "layer": "layer", "best": "best match", "value": "debiased CKA"}).to_html())

# %% [markdown]
# Best matches, ResNet stage ↔ ViT block (debiased CKA): {glue:md}`c1_best_sentence`.
# {glue:text}`c1_above_null` of the {glue:text}`c1_pairs` pairs lie above their permutation null's
# band. Whether early conv stages match early ViT blocks (as Raghu et al. 2021 report for
# ImageNet-scale models) is what this matrix answers for these two small nets; run it on yours with
# `layer_matrix(model_a, model_b, probe, ...)` or `repchange compare A.pt B.pt --arch-b ...`.

# %% [markdown]
# ## Which measure to trust on this model
#
# Before reading a change, ask which measures behave on *this* model and probe: `validate(model, probe)` (or
# `repchange validate resnet18 model.pt --probe ...`) changes each layer's own activations in ways whose answer is
# known — an orthogonal transform, a rescaling and a permutation of the features (a measure should ignore them), the
# top principal component deleted (it should catch that), 5 % of the samples translated far and one rogue feature
# (artefacts a trustworthy measure moves little under; Davari et al. 2023, Timkey & van Schijndel 2021) — and reads
# each change as a share of the way to the rows shuffled (0: unmoved; 1: as far as unrelated samples), with a 95 %
# interval over {glue:text}`c1_validate_resamples` subsamples of the probe. `twin=` adds the same architecture trained
# from another seed, read on the same probe images: how far retraining alone moves each measure, reported beside the
# constructions (not judged: another seed's net need not be an isometry of this one).

# %%
torch.manual_seed(own_seed + 1)  # the twin: the same architecture and training from another seed
twin = torchvision.models.resnet18(weights=None, num_classes=ds.num_classes)
twin_optimiser = torch.optim.SGD(twin.parameters(), lr=own_lr, momentum=0.9)
for epoch in range(1, own_epochs + 1):
    train_one_epoch(twin, twin_optimiser)
trust_report = validate(model, probe, layers=own_layers, resamples=own_validate_resamples, twin=twin)
save_table(trust_report, "c1_validate")
fig = plot_report(trust_report, f"ResNet-18 after {own_epochs} epochs, its own activations · {source}")
plt.show()
glue_text("c1_validate_advice", advice(trust_report))
glue_numbers({"c1_validate_resamples": own_validate_resamples, "c1_ignore_below": IGNORE_BELOW,
              "c1_catch_above": CATCH_ABOVE, "c1_robust_below": ROBUST_BELOW})

# %% [markdown]
# **Figure.** Each measure's change under each construction, as a share of the way to shuffled rows (the largest
# over the layers; – where the measure cannot tell shuffled rows from the samples themselves). {glue:md}`c1_validate_advice`
#
# The verdicts behind that paragraph, per layer and measure (`repchange.tool.validate.trust`: the 95 % interval of
# the change under {glue:text}`c1_ignore_below` of the way to shuffled rows for what a measure should ignore, above
# {glue:text}`c1_catch_above` for the deleted component, under {glue:text}`c1_robust_below` for the artefacts; empty
# where the measure cannot tell shuffled rows from the samples):

# %%
verdicts = trust(trust_report)
for column in ("ignores", "catches", "robust"):  # True / False / None (undefined) as words
    verdicts[column] = verdicts[column].map({True: "yes", False: "no"}).fillna("")
for_readers(verdicts, {"layer": "layer", "metric": "measure", "ignores": "ignores the isometries",
                       "catches": "catches the deleted component", "robust": "robust to the artefacts"},
            caption="The report's verdicts per layer and measure (empty: undefined there)")

# %% [markdown]
# ### The same report on a Hugging Face encoder
#
# Any model the Tracker reads can be validated; here a BERT encoder from Hugging Face's `transformers`, read at every
# block through its own `output_hidden_states` (`layers="hidden_states"`), each sentence the mean over its real
# tokens (`view="mean"`, by the probe's `attention_mask`). Nothing can be downloaded where this book is built, so the
# encoder is `BertModel` at random initialisation (4 blocks of width {glue:text}`c1_bert_width`) and its tokens are
# the sentences' UTF-8 bytes; `transformers.AutoModel.from_pretrained(name)` and its tokenizer take their place in
# the same call. The probe: the {glue:text}`c1_bert_sentences` sentences of the two papers' abstracts and
# introductions.

# %%
import transformers  # noqa: E402 - the Hugging Face example's own dependency

from repchange.studies.paper_texts import section_text  # noqa: E402

sentences = [s for study in ("A", "B") for section in ("Abstract", "Sec. 1")
             for s in section_text(study, section).split(". ") if len(s) > 20]
tokens = [torch.tensor(list(s.encode("utf-8")[:own_bert_tokens])) + 1 for s in sentences]  # 0 is padding
input_ids = torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True)
torch.manual_seed(own_seed)
bert = transformers.BertModel(transformers.BertConfig(
    vocab_size=257, hidden_size=own_bert_width, num_hidden_layers=4, num_attention_heads=4,
    intermediate_size=2 * own_bert_width, max_position_embeddings=own_bert_tokens)).eval()
bert_report = validate(bert, {"input_ids": input_ids, "attention_mask": (input_ids > 0).long()},
                       layers="hidden_states", view="mean", resamples=own_validate_resamples)
save_table(bert_report, "c1_validate_bert")
fig = plot_report(bert_report, f"BERT (random init, width {own_bert_width}), {len(sentences)} sentences · {source}")
plt.show()
glue_text("c1_bert_advice", advice(bert_report))
glue_numbers({"c1_bert_width": own_bert_width, "c1_bert_sentences": len(sentences)})

# %% [markdown]
# **Figure.** The encoder's report, read as the ResNet's above: {glue:md}`c1_bert_advice`
#
# ## Beyond this page
#
# - **Layers.** `layers=["layer*"]` (globs), `"layer1.0.relu@1"` (the second call of a module
#   used twice), `"hidden_states"` (a Hugging Face model's `output_hidden_states`, every block, no hooks),
#   or the default `"stages"`; a name that does not exist stops with the closest
#   names. `repchange.tool.hooks.stage_ends(model, example_batch)` lists what "stages" picks.
# - **Metrics.** `"cka_debiased"`, `"rbf_cka"`, `"mutual_knn"` (Huh et al. 2024), `"pwsm"` with
#   `alphas=(0.0, 0.5)` (with `view="positions"` for conv layers, Study B's convention),
#   `"filter_procrustes"` (Study B's per-filter Procrustes similarity), and the peers' measures on the
#   same cache: `"mutual_knn_uncentred"` and `"cknna"` as platonic-rep computes them, `"svcca"`,
#   `"pwcca"` and `"rsa"` (`repchange.measure.peers`). The table's
#   `higher_is_better` column says which are similarities; an undefined value (a dead layer) is
#   NaN with its reason in `note`.
# - **Calibrated answers.** `null=N` adds a permutation null to every value (p-value, calibrated
#   score `z`, the band drawn above), and each p-value adjusted over the table (`p_adjusted`, Benjamini–Hochberg
#   by default, named in `p_adjustment`); `bootstrap=B` a percentile interval over probe samples for
#   debiased CKA. A probe too small for biased CKA at a layer's width raises a `SmallProbeWarning`.
# - **Any inputs and outputs.** Probes of keyword inputs (`{"input_ids": ..., "attention_mask": ...}`),
#   `select=` for modules that return tuples or model-output objects, `view="mean"` / `"first"` /
#   `"last"` / `"positions"` for token sequences, or your own `pool(outputs, mask)` function. Token
#   views read the probe's `attention_mask`: the mean over *real* tokens, the first and last real
#   token, real positions only (padding, alike in any two models, would add similarity that is not
#   there; `view="flatten"` on padded sequences is refused). The view is applied to each batch as it
#   is read, so dynamically padded batches (each its own length) work. Every probe is read in one
#   seeded permutation, so streamed CKA on a class-sorted probe estimates CKA of the whole probe.
# - **Training frameworks.** `repchange.tool.track_lightning.RepresentationTracking` (logs through the
#   trainer's loggers) and `repchange.tool.track_transformers.attach(trainer, probe, ...)` (a Hugging Face
#   Trainer callback; its values reach `report_to`).
# - **Large probe sets.** `streaming=True` computes debiased CKA batch by batch (Nguyen et al.
#   2021): memory no longer grows with the probe set. Debiased CKA, like CKA, Procrustes and PWSM,
#   works in feature form where a layer is narrower than the probe (no n × n matrix). Before any
#   activation, the tool predicts the peak memory of the chosen metrics (RBF CKA and mutual k-NN
#   need n × n matrices) and stops with the size needed and what would fit.
# - **Nothing lost.** `out="runs/track/my-run"` rewrites `track.csv` after every update and
#   keeps the reference weights, so a restarted run resumes against the same reference.
# - **Two checkpoints, no training loop:**
#   `repchange compare resnet18 before.pt after.pt --probe path/to/imagefolder --out report/`
#   writes `compare.csv`, a per-layer figure and a small HTML report.
# - **Study B on your data.** The Study B chapters take any ImageFolder tree as a target:
#   `-p b_targets "['folder:/path/to/tree']"`.
