"""repchange: re-runs of two studies of representation change during pre-training and fine-tuning.

Modules, one concern each:
``data`` (data sets as in-memory tensors), ``labels`` (label corruption),
``models`` (networks and their probed layers), ``train`` (the one trainer),
``features`` (activations of named layers), ``metrics`` (similarity measures),
``store`` (runs keyed by config hash), ``experiments`` (study protocols → tidy tables),
``plots`` (one function per paper figure), ``notebook`` (glue and provenance helpers),
``runner`` (papermill execution and the book build); for your own model: ``hooks`` (layers by
module path), ``track`` (the Tracker), ``track_lightning`` (its Lightning callback), ``compare``
(two checkpoints, a report).
"""

__version__ = "0.1.0"
