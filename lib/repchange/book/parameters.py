"""Study parameter objects from a notebook's flat parameters (the names of its parameters cell).

Every chapter that shows the same runs builds the same objects here, so they share the stored
runs and tables; a chapter passes its parameters as a mapping (``globals()`` in a notebook)::

    params = parameters.finetune_sweep(globals())

Each function reads only the names it needs, raises ValueError naming any that are missing, and checks
their types and values in the notebook's names (:mod:`repchange.book.parameter_checks`) before it builds
anything; the study objects' own ``validate`` runs after, for what only the library knows.

Parameter names follow :mod:`repchange.book.vocabulary`.
"""

from __future__ import annotations

from typing import Any, Mapping

from repchange.book import parameter_checks
from repchange.runs.runtime import Runtime
from repchange.runs.trainer import OptimiserSpec
from repchange.studies import metric_checks
from repchange.studies.a import scale as a_scale
from repchange.studies.a import tables as a_tables
from repchange.studies.b import tables as b_tables

__all__ = ["cka_to_init", "degree_sweep", "dynamics", "finetune_sweep", "metric_checks_params", "pretrain",
           "runtime", "scale_axis", "size_sweep"]

PRETRAIN_NAMES = ("a_dataset", "a_pretrain_epochs", "a_pretrain_size", "a_pretrain_eval_size", "a_batch_size", "a_lr",
                  "a_momentum", "a_bn_order", "a_width")


def _take(values: Mapping[str, Any], names: tuple[str, ...], stem: str | None = None) -> dict[str, Any]:
    """``names`` of ``values``, typed and checked in the notebook's names
    (:func:`repchange.book.parameter_checks.check_values`)."""
    missing = [n for n in names if n not in values]
    if missing:
        raise ValueError(f"the notebook parameters lack {missing}; this study needs {list(names)}")
    return parameter_checks.check_values(values, names, stem)


def runtime(values: Mapping[str, Any]) -> Runtime:
    """Where the chapter's runs execute: ``device``, ``data_root`` and ``download`` when the chapter
    declares them (else the defaults), and the default store (``$REPCHANGE_STORE``)."""
    v = parameter_checks.check_values(values, [n for n in ("device", "data_root", "download") if n in values])
    return Runtime(device=v.get("device", "auto"), data_root=v.get("data_root"), download=v.get("download", False))


def pretrain(values: Mapping[str, Any]) -> a_tables.PretrainConfig:
    """The conv4 pre-training template (Study A): ``a_dataset``, ``a_pretrain_epochs``, ``a_pretrain_size``,
    ``a_pretrain_eval_size``, SGD (``a_lr``, ``a_momentum``, ``a_batch_size``), ``a_bn_order``, ``a_width``.
    Seed and degree are set per run."""
    v = _take(values, PRETRAIN_NAMES)
    return a_tables.PretrainConfig(
        dataset=v["a_dataset"], epochs=v["a_pretrain_epochs"], train_size=v["a_pretrain_size"],
        eval_size=v["a_pretrain_eval_size"], bn_order=v["a_bn_order"], width=v["a_width"],
        optimiser=OptimiserSpec("sgd", lr=v["a_lr"], momentum=v["a_momentum"], batch_size=v["a_batch_size"]))


def metric_checks_params(values: Mapping[str, Any]) -> metric_checks.MetricChecksParams:
    """The metrics chapter (00_metrics): the pre-training template with ``a_seeds`` and ``a_probe_size``; validated."""
    v = _take(values, ("a_seeds", "a_probe_size"), stem="00_metrics")
    params = metric_checks.MetricChecksParams(pretrain=pretrain(values), seeds=tuple(v["a_seeds"]),
                                              n_probe=v["a_probe_size"])
    params.validate()
    return params


def cka_to_init(values: Mapping[str, Any]) -> a_tables.CkaToInitParams:
    """Figure 1: the pre-training template with ``a_seeds`` and ``a_probe_size``, measured at the epochs the runs
    evaluate (:func:`repchange.studies.a.pretraining.evaluated_epochs`: every second and each budget); validated."""
    v = _take(values, ("a_seeds", "a_probe_size", "extraction_bn"))
    template = pretrain(values)
    params = a_tables.CkaToInitParams(template, tuple(v["a_seeds"]), v["a_probe_size"], bn=v["extraction_bn"],
                                      measured_epochs=a_tables.evaluated_epochs(template.epochs))
    params.validate()
    return params


def degree_sweep(values: Mapping[str, Any]) -> a_tables.DegreeSweepParams:
    """Figures 2 and 3a: the template over ``a_degrees``; validated."""
    v = _take(values, ("a_seeds", "a_degrees", "a_probe_size", "extraction_bn"))
    params = a_tables.DegreeSweepParams(pretrain(values), tuple(v["a_seeds"]), tuple(v["a_degrees"]),
                                       v["a_probe_size"], bn=v["extraction_bn"])
    params.validate()
    return params


def size_sweep(values: Mapping[str, Any]) -> a_tables.SizeSweepParams:
    """Figure 3b: the template over ``a_pretrain_sizes`` with labels of ``a_size_sweep_degree``; validated.
    (The template's own ``a_pretrain_size`` is never used: each size replaces it.)"""
    v = _take(values, ("a_seeds", "a_pretrain_sizes", "a_size_sweep_degree", "a_probe_size", "extraction_bn"))
    params = a_tables.SizeSweepParams(pretrain({"a_pretrain_size": None, **values}), tuple(v["a_seeds"]),
                                     tuple(v["a_pretrain_sizes"]), v["a_size_sweep_degree"], v["a_probe_size"],
                                     bn=v["extraction_bn"])
    params.validate()
    return params


def finetune_sweep(values: Mapping[str, Any]) -> a_tables.FinetuneSweepParams:
    """Figures 4 and 5: fine-tuning (``a_finetune_epochs``, ``a_finetune_size``, ``a_finetune_eval_size``, the
    pre-training's SGD) of the clean pre-trained net under every condition; validated."""
    v = _take(values, ("a_seeds", "a_cross_domain", "a_degrees", "a_shifts", "a_finetune_epochs", "a_finetune_size",
                       "a_finetune_eval_size", "a_probe_size", "extraction_bn"))
    source = pretrain(values)
    params = a_tables.FinetuneSweepParams(
        finetune=a_tables.FinetuneConfig(pretrain=source, epochs=v["a_finetune_epochs"],
                                        train_size=v["a_finetune_size"], eval_size=v["a_finetune_eval_size"],
                                        optimiser=source.optimiser),
        seeds=tuple(v["a_seeds"]), cross_domain=v["a_cross_domain"], degrees=tuple(v["a_degrees"]),
        shifts=tuple(v["a_shifts"]), n_probe=v["a_probe_size"], bn=v["extraction_bn"])
    params.validate()
    return params


def dynamics(values: Mapping[str, Any]) -> b_tables.DynamicsParams:
    """Study B: :func:`repchange.studies.b.tables.dynamics_params` from the ``b_`` parameters; validated."""
    v = _take(values, ("b_archs", "b_targets", "b_seeds", "b_source_epochs", "b_source_size", "b_finetune_epochs",
                       "b_finetune_checkpoints", "b_finetune_size", "b_finetune_eval_size", "b_finetune_lr",
                       "b_finetune_batch_size", "b_probe_size", "b_alphas", "b_source_weights", "extraction_bn",
                       "b_procrustes_centre", "b_finetune_lr_by_target"))
    return b_tables.dynamics_params(
        archs=v["b_archs"], targets=v["b_targets"], seeds=v["b_seeds"], source_epochs=v["b_source_epochs"],
        source_size=v["b_source_size"], finetune_epochs=v["b_finetune_epochs"],
        finetune_checkpoints=v["b_finetune_checkpoints"], finetune_size=v["b_finetune_size"],
        finetune_eval_size=v["b_finetune_eval_size"], finetune_lr=v["b_finetune_lr"],
        finetune_batch_size=v["b_finetune_batch_size"], n_probe=v["b_probe_size"], alphas=v["b_alphas"],
        weights=v["b_source_weights"],
        bn=v["extraction_bn"], procrustes_centre=v["b_procrustes_centre"], lr_by_target=v["b_finetune_lr_by_target"])


def scale_axis(values: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of :func:`repchange.studies.a.scale.scale_axis` (but ``runtime``) from the chapters' Study A
    parameters: the book's own scale (``a_pretrain_size`` × ``a_pretrain_epochs``, ``a_seeds``) and ``a_scales``
    (seeds ``a_scale_seeds``; trained only where ``a_train_scales`` is declared and true); validated, nothing run."""
    v = _take(values, ("a_seeds", "a_pretrain_size", "a_pretrain_epochs", "a_scales", "a_scale_seeds", "level"))
    book = dict(pretraining=cka_to_init(values), degrees=degree_sweep(values), sizes=size_sweep(values),
                finetuning=finetune_sweep(values))
    train = bool(_take(values, ("a_train_scales",))["a_train_scales"]) if "a_train_scales" in values else False
    scales = a_scale.parse_scales(v["a_scales"])
    for scale in scales:  # every scale's tables validate before any work
        a_scale.scale_tables(scale, "batch", v["a_scale_seeds"], **book)
    return dict(book=book, own=a_scale.Scale(v["a_pretrain_size"], v["a_pretrain_epochs"]), own_seeds=v["a_seeds"],
                scales=scales, seeds=v["a_scale_seeds"], level=v["level"], train=train)


def both_sources(values: Mapping[str, Any], dynamics_params: b_tables.DynamicsParams,
                 b_targets: list[str] | None = None) -> tuple[str, str]:
    """The provenance lines of a page that reads both studies' runs: Study A's (data, profile, seeds, degrees,
    pre-training, fine-tuning, probe) and Study B's (:func:`repchange.studies.b.tables.describe`, over ``b_targets``
    where the page reads only some)."""
    from repchange.book.glue import provenance

    v = values
    source_a = provenance(data=f"Study A: {v['a_dataset']} → {v['a_dataset']} / {v['a_cross_domain']}",
                          profile=v["profile"], seeds=v["a_seeds"], degrees=v["a_degrees"],
                          pretraining=f"{v['a_pretrain_size']} images × {v['a_pretrain_epochs']} epochs",
                          fine_tuning=f"{v['a_finetune_size']} images × {v['a_finetune_epochs']} epochs",
                          probe=f"{v['a_probe_size']} images")
    described = b_tables.describe(dynamics_params) if b_targets is None else b_tables.describe(dynamics_params,
                                                                                                 b_targets)
    return source_a, provenance(profile=v["profile"], seeds=v["b_seeds"], **described)
