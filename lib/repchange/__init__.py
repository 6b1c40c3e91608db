"""repchange: re-runs of two studies of representation change during pre-training and fine-tuning.

Three layers, each importing only from those before it, and the tool beside them on ``core`` (a test checks this), one concern per
module (a test checks that every module is listed here):

``core`` -- what both studies and your own model stand on:
``core.data`` (data sets as in-memory tensors), ``core.image_folders`` (ImageFolder trees: paper
targets, any folder), ``core.labels`` (label corruption), ``core.models`` (Study A's conv4 and its
probed layers), ``core.architectures`` (Study B's nets), ``core.probe_shapes`` (their probed maps' shapes, computed on the meta device), ``core.receptive_field`` (receptive
fields of probed units), ``core.train`` (the one trainer), ``core.parallel`` (independent runs side
by side), ``core.table_pool`` (stored result tables computed side by side), ``core.progress`` (events a terminal follows), ``core.features`` (activations of named
layers), ``core.metrics`` (similarity measures), ``core.kernels`` (the versions stored results are keyed by: a kernel module is keyed by its kernels' versions, held to golden values), ``core.filter_chunks`` (Study B's per-filter metrics a few maps at a time), ``core.position_moments`` (Study B's PWSM on positions from each class's moments), ``core.peer_measures`` (the peers' measures: platonic-rep's mutual k-NN and CKNNA, SVCCA, PWCCA, RSA), ``core.store`` (runs keyed by config and code, served
only after their checksums match), ``core.store_care`` (verify, measure and prune a store),
``core.verdicts`` (the one verdict rule: intervals, smallest effects of interest, Holm,
calibration), ``core.stats`` (paired differences over seeds, by that rule), ``core.plotting`` (means with error bands, captions),
``core.runtime`` (where runs execute: store, device, data folder, downloads), ``core.allocator`` (freed memory kept in the process: no page-fault churn), ``core.devices`` (which device a
run may ask for), ``core.measures`` (the similarity measures by name: direction, range, undefined values),
``core.resampling`` (a permutation null and a bootstrap interval for one value).

``studies`` -- the papers' protocols as functions that return tidy tables, and what the chapters show:
``studies.metric_checks`` and ``studies.metric_figures`` (the metrics chapter);
Study A: ``studies.a.pretraining``, ``studies.a.finetuning`` (the runs), ``studies.a.tables``
(CKA tables and sweeps), ``studies.a.figures``, ``studies.a.claims`` (its ledger rows), ``studies.a.estimators`` (the claims' tables under
other estimators), ``studies.a.scale`` (every claim at more images and SGD steps), ``studies.a.scale_record`` (the committed,
checksummed record of the scale runs' measurements, for builds without them);
Study B: ``studies.b.runs`` (targets, source nets, fine-tunings), ``studies.b.source_plateau`` (whether the
source nets stopped improving), ``studies.b.tables`` (feature
dynamics, filter agreement, baseline), ``studies.b.analysis`` (summaries of those tables),
``studies.b.figures``, ``studies.b.visualize`` (crops, heatmaps), ``studies.b.filter_choice``, ``studies.b.claims``
(its ledger rows);
both: ``studies.summaries`` (numbers the prose quotes), ``studies.ledger`` (a claim, its verdict, premises, Holm,
views), ``studies.ledger_diff`` (two builds' ledgers side by side), ``studies.claims`` (both studies' rows
assembled), ``studies.paper_texts`` (the papers' sections, for the quotes),
``studies.verdict_figures`` (the verdict rule's calibration), ``studies.estimator_grid`` (every claim
under every estimator), ``studies.budget`` (the pre-training claims against the training budget),
``studies.deviations`` (our departures, measured), ``studies.paper_numbers`` (published numbers,
for display), ``studies.beside`` (them next to ours).

``book`` -- running and publishing the chapters: ``book.vocabulary`` (the parameter names),
``book.parameter_checks`` (every parameter typed and checked at the door), ``book.parameters`` (chapter
parameters -> study objects), ``book.glue`` (glue and provenance), ``book.reader_tables`` (tables formatted
for readers), ``book.ledger_run`` (a run's ledger and the landing page's findings),
``book.runner`` (papermill and the book build), ``book.html_build`` (the HTML rebuilt only where a page changed), ``book.usage`` (what each notebook's execution cost), ``book.rehearsal`` (miniature data in the paper profile's formats), ``book.sweep`` (parameter grids), ``book.check``
(headless Chromium), ``book.explorer`` (stored results), ``book.cli``.

``tool`` -- your own model, on ``core`` only (the light install: ``pip install repchange`` without the
``[book]`` extra): ``tool.hooks`` (layers by module path, selectors), ``tool.probes`` (probe sets in one seeded
order), ``tool.views`` (outputs as samples × features; token views by the attention mask), ``tool.memory`` (a
measurement's peak predicted, and refused where it won't fit), ``tool.readout`` (layers read on a probe, layer
pairs measured), ``tool.track`` (the Tracker), ``tool.distributed`` (under DDP: rank 0 measures, the others wait), ``tool.multiplicity`` (p-values adjusted over a table's values), ``tool.layer_matrix`` (any two models, every layer against every
layer), ``tool.streamed_matrix`` (that matrix in minibatches, memory independent of the probe), ``tool.track_lightning`` (its Lightning callback), ``tool.track_transformers`` (its Hugging Face Trainer
callback), ``tool.compare`` (two checkpoints, a report), ``tool.cli`` (``repchange compare`` without the book).
"""

__version__ = "0.1.0"
