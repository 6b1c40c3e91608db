"""Study parameter objects from a notebook's flat parameters (the names of its parameters cell).

Every chapter that shows the same runs builds the same objects here, so they share the stored
runs and tables; a chapter passes its parameters as a mapping (``globals()`` in a notebook)::

    params = parameters.finetune_sweep(globals())

Each function reads only the names it needs and raises ValueError naming any that are missing.
"""

from __future__ import annotations

from typing import Any, Mapping

from repchange.core.runtime import Runtime
from repchange.core.train import OptimiserSpec
from repchange.studies import metric_checks
from repchange.studies.a import tables as a_tables
from repchange.studies.b import tables as b_tables

__all__ = ["cka_to_init", "degree_sweep", "dynamics", "finetune_sweep", "metric_checks_params", "pretrain",
           "runtime", "size_sweep"]

PRETRAIN_NAMES = ("dataset", "epochs", "train_size", "eval_size", "batch_size", "lr", "momentum", "bn_order",
                  "width")


def _take(values: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    missing = [n for n in names if n not in values]
    if missing:
        raise ValueError(f"the notebook parameters lack {missing}; this study needs {list(names)}")
    return {n: values[n] for n in names}


def runtime(values: Mapping[str, Any]) -> Runtime:
    """Where the chapter's runs execute: ``device``, ``data_root`` and ``download`` when the chapter
    declares them (else the defaults), and the default store (``$REPCHANGE_STORE``)."""
    return Runtime(device=values.get("device", "auto"), data_root=values.get("data_root"),
                   download=bool(values.get("download", False)))


def pretrain(values: Mapping[str, Any]) -> a_tables.PretrainConfig:
    """The conv4 pre-training template: dataset, epochs, train_size, eval_size, SGD (lr, momentum,
    batch_size), bn_order, width. Seed and degree are set per run."""
    v = _take(values, PRETRAIN_NAMES)
    return a_tables.PretrainConfig(
        dataset=v["dataset"], epochs=v["epochs"], train_size=v["train_size"], eval_size=v["eval_size"],
        bn_order=v["bn_order"], width=v["width"],
        optimiser=OptimiserSpec("sgd", lr=v["lr"], momentum=v["momentum"], batch_size=v["batch_size"]))


def metric_checks_params(values: Mapping[str, Any]) -> metric_checks.MetricChecksParams:
    """The metrics chapter (00_metrics): the pre-training template with ``seeds`` and ``n_probe``; validated."""
    v = _take(values, ("seeds", "n_probe"))
    params = metric_checks.MetricChecksParams(pretrain=pretrain(values), seeds=tuple(v["seeds"]), n_probe=v["n_probe"])
    params.validate()
    return params


def cka_to_init(values: Mapping[str, Any]) -> a_tables.CkaToInitParams:
    """Figure 1: the pre-training template with ``seeds`` and ``n_probe``; validated."""
    v = _take(values, ("seeds", "n_probe", "extraction_bn"))
    params = a_tables.CkaToInitParams(pretrain(values), tuple(v["seeds"]), v["n_probe"], bn=v["extraction_bn"])
    params.validate()
    return params


def degree_sweep(values: Mapping[str, Any]) -> a_tables.DegreeSweepParams:
    """Figures 2 and 3a: the template over ``degrees``; validated."""
    v = _take(values, ("seeds", "degrees", "n_probe", "extraction_bn"))
    params = a_tables.DegreeSweepParams(pretrain(values), tuple(v["seeds"]), tuple(v["degrees"]), v["n_probe"],
                                       bn=v["extraction_bn"])
    params.validate()
    return params


def size_sweep(values: Mapping[str, Any]) -> a_tables.SizeSweepParams:
    """Figure 3b: the template over ``train_sizes`` with labels of ``degree``; validated. (The template's
    own ``train_size`` is never used: each size replaces it.)"""
    v = _take(values, ("seeds", "train_sizes", "degree", "n_probe", "extraction_bn"))
    params = a_tables.SizeSweepParams(pretrain({"train_size": None, **values}), tuple(v["seeds"]),
                                     tuple(v["train_sizes"]), v["degree"], v["n_probe"], bn=v["extraction_bn"])
    params.validate()
    return params


def finetune_sweep(values: Mapping[str, Any]) -> a_tables.FinetuneSweepParams:
    """Figures 4 and 5: fine-tuning (ft_epochs, ft_train_size, ft_eval_size, the pre-training's SGD)
    of the clean pre-trained net under every condition; validated."""
    v = _take(values, ("seeds", "cross_domain", "degrees", "shifts", "ft_epochs", "ft_train_size", "ft_eval_size",
                       "n_probe", "extraction_bn"))
    source = pretrain(values)
    params = a_tables.FinetuneSweepParams(
        finetune=a_tables.FinetuneConfig(pretrain=source, epochs=v["ft_epochs"], train_size=v["ft_train_size"],
                                        eval_size=v["ft_eval_size"], optimiser=source.optimiser),
        seeds=tuple(v["seeds"]), cross_domain=v["cross_domain"], degrees=tuple(v["degrees"]),
        shifts=tuple(v["shifts"]), n_probe=v["n_probe"], bn=v["extraction_bn"])
    params.validate()
    return params


def dynamics(values: Mapping[str, Any]) -> b_tables.DynamicsParams:
    """Study B: :func:`repchange.studies.b.tables.dynamics_params` from the b-chapters' parameter names; validated."""
    v = _take(values, ("archs", "targets", "source_seeds", "source_epochs", "source_size", "finetune_epochs",
                       "finetune_checkpoints", "finetune_size", "finetune_eval_size", "finetune_lr",
                       "finetune_batch_size", "probe_size", "alphas", "source_weights", "extraction_bn",
                       "procrustes_centre", "finetune_lr_by_target"))
    return b_tables.dynamics_params(
        archs=v["archs"], targets=v["targets"], seeds=v["source_seeds"], source_epochs=v["source_epochs"],
        source_size=v["source_size"], finetune_epochs=v["finetune_epochs"],
        finetune_checkpoints=v["finetune_checkpoints"], finetune_size=v["finetune_size"],
        finetune_eval_size=v["finetune_eval_size"], finetune_lr=v["finetune_lr"],
        finetune_batch_size=v["finetune_batch_size"], n_probe=v["probe_size"], alphas=v["alphas"],
        weights=v["source_weights"],
        bn=v["extraction_bn"], procrustes_centre=v["procrustes_centre"], lr_by_target=v["finetune_lr_by_target"])
