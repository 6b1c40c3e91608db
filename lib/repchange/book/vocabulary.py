"""The parameter names of the book's notebooks: one vocabulary for both studies.

A parameter of one study starts with its letter (``a_``: Goerttler & Obermayer,
``b_``: Behzadi-Khormouji et al.; chapter c1's start with ``own_``), so a profile's ``all:`` section
and the chapters that show both studies (ledger, deviations, paper beside run) can set each study
on its own. After the prefix the same words mean the same thing in both studies: ``seeds``,
``pretrain_`` / ``source_`` (the net before fine-tuning), ``finetune_``, ``epochs``, ``size``
(training images), ``eval_size``, ``probe_size``, ``lr``, ``batch_size``. Names without a prefix are
shared by every chapter (:data:`SHARED`) or belong to one chapter only (00_metrics' ``chance_*``
and ``pc_layer``, the explorer's view, the verdicts page's ``calibration_draws``). :data:`RENAMED` maps the names before this vocabulary to
theirs, so an old override fails with the new name in its message.
"""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["CHAPTER_ONLY", "PREFIXES", "RENAMED", "SHARED", "off_vocabulary", "suggestion"]

PREFIXES = ("a_", "b_", "own_")
"""Study A, Study B and chapter c1 (your own model)."""

SHARED = ("device", "data_root", "download", "profile", "extraction_bn", "level")
"""Names with one meaning in every chapter that declares them."""

CHAPTER_ONLY = {
    "00_metrics": ("pc_layer", "chance_ns", "chance_ps", "chance_trials"),
    "explorer": ("study", "run", "comparison", "metric", "layers", "epoch"),
    "verdicts": ("calibration_draws",),
    **{page: ("chapters",) for page in ("claims_ledger", "estimator_grid", "paper_beside_run", "deviations", "intro")},
}
"""Unprefixed names that belong to one chapter (notebook stem) and no study protocol."""

RENAMED = {
    # Study A
    "dataset": "a_dataset", "seeds": "a_seeds", "epochs": "a_pretrain_epochs", "train_size": "a_pretrain_size",
    "eval_size": "a_pretrain_eval_size", "n_probe": "a_probe_size", "batch_size": "a_batch_size", "lr": "a_lr",
    "momentum": "a_momentum", "bn_order": "a_bn_order", "width": "a_width", "degrees": "a_degrees",
    "train_sizes": "a_pretrain_sizes", "degree": "a_size_sweep_degree", "shifts": "a_shifts",
    "cross_domain": "a_cross_domain", "ft_epochs": "a_finetune_epochs", "ft_train_size": "a_finetune_size",
    "ft_eval_size": "a_finetune_eval_size",
    # Study B
    "archs": "b_archs", "targets": "b_targets", "source_seeds": "b_seeds", "source_epochs": "b_source_epochs",
    "source_size": "b_source_size", "source_weights": "b_source_weights", "finetune_epochs": "b_finetune_epochs",
    "finetune_checkpoints": "b_finetune_checkpoints", "finetune_size": "b_finetune_size",
    "finetune_eval_size": "b_finetune_eval_size", "finetune_lr": "b_finetune_lr",
    "finetune_batch_size": "b_finetune_batch_size", "finetune_lr_by_target": "b_finetune_lr_by_target",
    "probe_size": "b_probe_size", "alphas": "b_alphas", "procrustes_centre": "b_procrustes_centre",
    "viz_arch": "b_viz_arch", "viz_target": "b_viz_target", "viz_layers": "b_viz_layers",
    "viz_classes": "b_viz_classes", "n_samples": "b_viz_samples",
    "deviation_arch": "b_deviation_arch", "deviation_target": "b_deviation_target",
}
"""Parameter names before the shared vocabulary → their names now."""


def off_vocabulary(stem: str, names: Iterable[str]) -> list[str]:
    """The parameter names of notebook ``stem`` that follow none of the rules above, sorted."""
    own = set(CHAPTER_ONLY.get(stem, ()))
    return sorted(n for n in names if not (n.startswith(PREFIXES) or n in SHARED or n in own))


def suggestion(name: str, declared: Iterable[str]) -> str:
    """A hint for an undeclared parameter ``name``: its new name if it was renamed and the notebook
    declares that, else the closest declared names; empty when there is none."""
    declared = list(declared)
    new = RENAMED.get(name)
    if new is not None and new in declared:
        return f"'{name}' is now '{new}'"
    close = difflib.get_close_matches(name, declared, n=3, cutoff=0.8)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
