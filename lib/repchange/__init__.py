"""repchange: re-runs of two studies of representation change during pre-training and fine-tuning.

Modules, one concern each (a test checks that every module is listed here).

Core:
``data`` (data sets as in-memory tensors), ``image_folders`` (ImageFolder trees: paper targets,
any folder), ``labels`` (label corruption), ``models`` (Study A's conv4 and its probed layers),
``architectures`` (Study B's nets), ``receptive_field`` (receptive fields of probed units),
``train`` (the one trainer), ``parallel`` (independent runs side by side), ``progress`` (events a
terminal follows), ``features`` (activations of named layers), ``metrics`` (similarity measures),
``store`` (runs keyed by config and code), ``stats`` (intervals over seeds).

Studies (``experiments``: ``pretraining``, ``finetuning``, ``study_a``, ``study_b``,
``filter_choice``, ``metric_checks``, ``deviations``, ``parameters``) and what the chapters show:
``analysis_b`` (Study B summaries), ``summaries`` (numbers the prose quotes), ``claims`` (the
ledger), ``paper_numbers`` (published numbers, for display), ``beside`` (them next to ours),
``plots`` (Study A figures), ``plots_b`` (Study B figures), ``visualize`` (crops, heatmaps).

Book tooling: ``notebook`` (glue and provenance), ``runner`` (papermill and the book build),
``sweep`` (parameter grids), ``book_check`` (headless Chromium), ``explorer`` (stored results),
``cli``.

Your own model: ``hooks`` (layers by module path), ``track`` (the Tracker), ``track_lightning``
(its Lightning callback), ``compare`` (two checkpoints, a report).
"""

__version__ = "0.1.0"
