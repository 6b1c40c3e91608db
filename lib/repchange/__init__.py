"""repchange: re-runs of two studies of representation change during pre-training and fine-tuning.

Folders by purpose, each importing only from those before it (a test checks this, and that every module is listed
here): ``base`` <- ``data`` <- ``nets``, ``measure`` <- ``runs`` <- ``studies`` <- ``book``; the tool for your own
model (``tool``) stands on ``base``, ``data`` and ``measure`` alone -- the light install's sub-tree.

``base`` -- small helpers every layer may use: ``base.files`` (files written whole, the default store folder),
``base.devices`` (which device a run uses), ``base.device_checks`` (which device names a user may write),
``base.threads`` (torch's thread count for a block), ``base.memory`` (free memory on a device),
``base.plotting`` (the house style, means with error bands).

``data`` -- data sets: ``data.datasets`` (data sets as in-memory tensors), ``data.image_folders`` (ImageFolder trees:
paper targets, any folder), ``data.labels`` (label corruption).

``nets`` -- the studies' networks: ``nets.conv4`` (the 4-block conv net and its probed layers),
``nets.architectures`` (VGG, ResNet, DenseNet by name, their probed layers), ``nets.probe_shapes`` (probed maps'
shapes, computed on the meta device), ``nets.receptive_field`` (receptive fields of probed units).

``measure`` -- what compares two layers: ``measure.kernels`` (the versions stored results are keyed by: a kernel
module is keyed by its kernels' versions, held to golden values), ``measure.metrics`` (every similarity by one
import), its families ``measure.factors`` (one representation's cached factors, input checks), ``measure.hsic``
(the unbiased HSIC estimator), ``measure.cka`` (linear, debiased, RBF and minibatch CKA), ``measure.shape``
(Procrustes, PWSM), ``measure.neighbours`` (mutual k-NN), ``measure.per_filter`` (per-filter maps), ``measure.held_out`` (shape
distances aligned on half the probe and scored on the other), ``measure.moment_shape`` (the Procrustes distance
estimated from moments, Pospisil et al. 2024),
``measure.registry`` (the measures by name: direction, range, undefined values), ``measure.peers`` (the peers'
measures: platonic-rep's mutual k-NN and CKNNA, SVCCA, PWCCA, RSA), ``measure.resampling`` (a permutation null and a
bootstrap interval for one value), ``measure.features`` (activations of named layers), ``measure.filter_chunks``
(per-filter metrics a few maps at a time), ``measure.position_moments`` (PWSM on spatial positions from each class's
moments).

``runs`` -- the machinery that trains and stores: ``runs.trainer`` (the one trainer), ``runs.parallel``
(independent runs side by side), ``runs.table_pool`` (stored result tables computed side by side),
``runs.progress`` (events a terminal follows), ``runs.store`` (runs keyed by config and code, served only after
their checksums match), ``runs.store_care`` (verify, measure and prune a store), ``runs.runtime`` (where runs
execute: store, device, data folder, downloads), ``runs.allocator`` (freed memory kept in the process: no
page-fault churn).

``studies`` -- the papers' protocols as functions that return tidy tables, and what the chapters show:
``studies.metric_checks`` and ``studies.metric_figures`` (the metrics chapter);
Study A: ``studies.a.pretraining``, ``studies.a.finetuning`` (the runs), ``studies.a.tables``
(CKA tables and sweeps), ``studies.a.figures``, ``studies.a.claims`` (its ledger rows), ``studies.a.estimators`` (the claims' tables under
other estimators), ``studies.a.summaries`` (the numbers its chapters quote), ``studies.a.scale`` (every claim at more images and SGD steps), ``studies.a.scale_record`` (the committed,
checksummed record of the scale runs' measurements, for builds without them);
Study B: ``studies.b.runs`` (targets, source nets, fine-tunings), ``studies.b.source_plateau`` (whether the
source nets stopped improving), ``studies.b.tables`` (feature
dynamics, filter agreement, baseline), ``studies.b.streaming`` (a table's maps a chunk of probe images at a time, on the
run's device, in bounded memory), ``studies.b.layer_distances`` (one layer's distances gathered chunk by chunk), ``studies.b.analysis`` (summaries of those tables), ``studies.b.summaries`` (the numbers its chapters quote),
``studies.b.figures``, ``studies.b.visualize`` (crops, heatmaps), ``studies.b.filter_choice``, ``studies.b.claims``
(its ledger rows);
both: ``studies.verdicts`` (the one verdict rule: intervals, smallest effects of interest, Holm,
calibration), ``studies.stats`` (paired differences over seeds, by that rule), ``studies.summaries`` (the Summary a page glues, and the numbers of the pages that read both studies), ``studies.ledger`` (a claim, its verdict, premises, Holm,
views), ``studies.ledger_diff`` (two builds' ledgers side by side), ``studies.claims`` (both studies' rows
assembled), ``studies.paper_texts`` (the papers' sections, for the quotes),
``studies.verdict_figures`` (the verdict rule's calibration), ``studies.estimator_grid`` (every claim
under every estimator), ``studies.budget`` (the pre-training claims against the training budget),
``studies.deviations`` (our departures, measured), ``studies.paper_numbers`` (published numbers,
for display), ``studies.beside`` (them next to ours).

``book`` -- running and publishing the chapters: ``book.vocabulary`` (the parameter names),
``book.parameter_checks`` (every parameter typed and checked at the door), ``book.code_behind`` (the library code behind each page, generated by the build), ``book.parameters`` (chapter
parameters -> study objects), ``book.glue`` (glue and provenance), ``book.trust_report`` (the tool's trust report on the activations Study A's verdicts read), ``book.reader_tables`` (tables formatted
for readers), ``book.ledger_run`` (a run's ledger and the landing page's findings),
``book.runner`` (papermill and the book build), ``book.html_build`` (the HTML rebuilt only where a page changed), ``book.usage`` (what each notebook's execution cost), ``book.rehearsal`` (miniature data in the paper profile's formats), ``book.sweep`` (parameter grids), ``book.check``
(headless Chromium), ``book.explorer`` (stored results), ``book.cli``.

``tool`` -- your own model, on ``base``, ``data`` and ``measure`` only (the light install: ``pip install repchange`` without the
``[book]`` extra): ``tool.hooks`` (layers by module path, selectors), ``tool.probes`` (probe sets in one seeded
order), ``tool.views`` (outputs as samples × features; token views by the attention mask), ``tool.memory`` (a
measurement's peak predicted, and refused where it won't fit), ``tool.readout`` (layers read on a probe, layer
pairs measured), ``tool.track`` (the Tracker), ``tool.distributed`` (under DDP: rank 0 measures, the others wait), ``tool.multiplicity`` (p-values adjusted over a table's values), ``tool.sequential`` (the Tracker's change monitor: an e-process per layer, valid however often one looks), ``tool.request`` (what a measurement computes, checked once: shared by compare, the layer matrix and the
Tracker), ``tool.layer_matrix`` (any two models, every layer against every
layer), ``tool.streamed_matrix`` (that matrix in minibatches, memory independent of the probe), ``tool.track_lightning`` (its Lightning callback), ``tool.track_transformers`` (its Hugging Face Trainer
callback), ``tool.compare`` (two checkpoints, a report), ``tool.activations`` (activations computed elsewhere, their samples matched by ids), ``tool.validate`` (which measure to trust on your model: controlled
changes to its own activations), ``tool.cli`` (``repchange compare`` without the book).
"""

__version__ = "0.1.0"
