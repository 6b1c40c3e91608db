"""Notebook parameters typed and checked at the door, in the notebook's own names, before anything runs.

A parameter's type is its annotation in the notebook's parameters cell (``a_seeds: list[int] = [1, 2]``);
one whose default is None may also be None. :data:`RULES` refine that type by name — one vocabulary,
one meaning (:mod:`repchange.book.vocabulary`): seeds are distinct non-negative integers; sizes, widths
and epochs positive integers; names come from the library's registries; a named folder or file must
exist (an explicit choice is honoured or refused, never replaced). :data:`CROSS_RULES` relate two
parameters (the probe set within its split, checkpoints within the epochs, ...).

Validation is pydantic's, strict except that a float parameter reads an integer or a numeric string
(YAML reads ``-p a_lr 1e-3`` as the string "1e-3"). A bad value raises one :class:`ParameterError`
(a ValueError) naming every bad parameter, its value, what it must be, and the notebook.

The runner checks every parameter of a notebook (:func:`check_notebook`) before it executes; the
builders of :mod:`repchange.book.parameters` check the names they read (:func:`check_values`) inside
the notebook, for runs that do not go through the runner (papermill, an interactive kernel).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Mapping, Optional, Union

import pydantic
from pydantic import AfterValidator, BeforeValidator, Field

__all__ = ["CROSS_RULES", "RULES", "ParameterError", "check_notebook", "check_values", "rule_for"]


class ParameterError(ValueError):
    """One or more notebook parameters have a wrong type or value; the message names each."""


# ---- element types -------------------------------------------------------------------------------------------------

def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


def _number(value: Any) -> Any:
    """A float parameter reads an int and a numeric string (YAML reads 1e-3 as a string)."""
    _no_bool(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise ValueError("must be a number") from None
    return value


Positive = Annotated[int, Field(strict=True, ge=1)]
NonNegative = Annotated[int, Field(strict=True, ge=0)]
Real = Annotated[float, BeforeValidator(_number), Field(allow_inf_nan=False)]
PositiveReal = Annotated[float, BeforeValidator(_number), Field(gt=0, allow_inf_nan=False)]
Share = Annotated[float, BeforeValidator(_number), Field(ge=0, le=1, allow_inf_nan=False)]


def _one_of(options: Callable[[], Iterable[str]], what: str) -> AfterValidator:
    def check(value: str) -> str:
        known = sorted(options())
        if value not in known:
            raise ValueError(f"unknown {what} {value!r}; choose one of {known}")
        return value
    return AfterValidator(check)


def _distinct_pairs(values: list) -> list:
    _distinct([tuple(v) for v in values])
    return values


def _epochs_given(pair: list) -> list:
    if pair[1] is None:
        raise ValueError("each scale is [images, epochs]: images may be None (the whole split), epochs may not")
    return pair


def _heads_divide(width: int) -> int:
    if width % 4:
        raise ValueError(f"must be a multiple of 4 (the encoder's 4 attention heads share it), e.g. {4 * (width // 4 + 1)}")
    return width


def _distinct(values: list) -> list:
    repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
    if repeated:
        raise ValueError(f"repeats {', '.join(map(repr, repeated))}; each entry must appear once")
    return values


def _data_sets() -> list[str]:
    from repchange.data import datasets as data
    return data.available()


def _architectures() -> list[str]:
    from repchange.nets.architectures import ARCHITECTURES
    return list(ARCHITECTURES)


def _path(value: str) -> Path:
    """``value`` with a leading ``~`` expanded where it names a user (``~nobody`` stays as written)."""
    return Path(os.path.expanduser(value))


def _target(value: str) -> str:
    from repchange.studies.b import runs
    if runs.is_folder_target(value):
        folder = _path(value[len(runs.FOLDER_PREFIX):])
        if not str(folder).strip() or not folder.is_dir():
            raise ValueError(f"the ImageFolder tree {str(folder)!r} does not exist; name an existing folder "
                             f"('folder:<path>') or one of {sorted(runs.TARGETS)}")
        return value
    if value not in runs.TARGETS:
        raise ValueError(f"unknown target {value!r}; choose one of {sorted(runs.TARGETS)} or "
                         f"'folder:<path to an ImageFolder tree>'")
    return value


def _existing_folder(value: str) -> str:
    if not _path(value).is_dir():
        raise ValueError(f"no folder {value!r} exists; name a folder that holds the data sets, or set data_root to "
                         f"None (null) to use the system copies and $REPCHANGE_DATA")
    return value


def _weights(value: str) -> str:
    if value != "imagenet" and not _path(value).is_file():
        raise ValueError(f"no weights file {value!r} exists; name a state-dict file, 'imagenet' (torchvision's "
                         f"cache) or None (a random init)")
    return value


def _device(value: str) -> str:
    from repchange.base.device_checks import check_device
    check_device(value)
    return value


def _bn_modes() -> tuple[str, ...]:
    from repchange.measure.features import BN_MODES
    return BN_MODES


def _bn_orders() -> tuple[str, ...]:
    from repchange.nets.conv4 import BN_ORDERS
    return BN_ORDERS


def _centrings() -> tuple[str, ...]:
    from repchange.measure.metrics import CENTRINGS
    return CENTRINGS


def _track_metrics() -> tuple[str, ...]:
    from repchange.tool.track import METRICS
    return METRICS


def _explorer_kinds() -> list[str]:
    from repchange.book.explorer import KINDS
    return list(KINDS)


STUDY_A_CLASSES = 10
"""Classes of every Study A data set (Fashion-MNIST, digits, CIFAR-10, SVHN): degrees lie in 0..9."""


def _shift(value: str | int) -> str | int:
    if value != "seed" and (isinstance(value, str) or not 1 <= value <= STUDY_A_CLASSES - 1):
        raise ValueError(f"must be 'seed' (s = the run's seed) or a whole number in 1..{STUDY_A_CLASSES - 1}")
    return value


Seeds = Annotated[list[NonNegative], Field(min_length=1), AfterValidator(_distinct)]
Degree = Annotated[int, Field(strict=True, ge=0, le=STUDY_A_CLASSES - 1)]
Shift = Annotated[Union[str, int], AfterValidator(_shift)]
DataSetName = Annotated[str, _one_of(_data_sets, "data set")]
ArchName = Annotated[str, _one_of(_architectures, "architecture")]
TargetName = Annotated[str, AfterValidator(_target)]

RULES: dict[str, Any] = {
    "a_seeds": Seeds, "b_seeds": Seeds, "own_seed": NonNegative,
    "a_dataset": DataSetName, "a_cross_domain": DataSetName, "own_dataset": DataSetName,
    "a_degrees": Annotated[list[Degree], Field(min_length=1), AfterValidator(_distinct)],
    "a_size_sweep_degree": Degree,
    "a_shifts": Annotated[list[Shift], Field(min_length=1), AfterValidator(_distinct)],
    "a_pretrain_sizes": Annotated[list[Optional[Positive]], Field(min_length=1), AfterValidator(_distinct)],
    "a_pretrain_size": Optional[Positive], "b_finetune_size": Optional[Positive],
    "b_finetune_eval_size": Optional[Positive],
    "a_probe_size": Annotated[int, Field(strict=True, ge=4)],  # debiased CKA needs n > 3
    "b_probe_size": Annotated[int, Field(strict=True, ge=2)],
    "a_momentum": Annotated[float, BeforeValidator(_number), Field(ge=0, lt=1, allow_inf_nan=False)],
    "level": Annotated[float, BeforeValidator(_number), Field(gt=0, lt=1, allow_inf_nan=False)],
    "a_bn_order": Annotated[str, _one_of(_bn_orders, "BatchNorm order")],
    "extraction_bn": Annotated[str, _one_of(_bn_modes, "BatchNorm mode")],
    "b_procrustes_centre": Annotated[str, _one_of(_centrings, "centring")],
    "b_archs": Annotated[list[ArchName], Field(min_length=1), AfterValidator(_distinct)],
    "b_viz_arch": ArchName, "b_deviation_arch": ArchName,
    "b_targets": Annotated[list[TargetName], Field(min_length=1), AfterValidator(_distinct)],
    "b_viz_target": TargetName, "b_deviation_target": TargetName,
    "b_alphas": Annotated[list[Share], Field(min_length=1), AfterValidator(_distinct)],
    "b_finetune_checkpoints": Annotated[list[NonNegative], Field(min_length=1), AfterValidator(_distinct)],
    "b_finetune_lr_by_target": dict[TargetName, PositiveReal],
    "b_source_weights": Optional[Annotated[str, AfterValidator(_weights)]],
    "b_viz_classes": Optional[list[NonNegative]], "b_viz_layers": Optional[list[str]],
    "a_scales": Annotated[list[Annotated[list[Optional[Positive]], Field(min_length=2, max_length=2),
                                         AfterValidator(_epochs_given)]], AfterValidator(_distinct_pairs)],
    "a_scale_seeds": Annotated[list[NonNegative], Field(min_length=3), AfterValidator(_distinct)],
    "a_train_scales": Annotated[bool, Field(strict=True)],
    "chance_ns": Annotated[list[Positive], Field(min_length=1)],
    "chance_ps": Annotated[list[Positive], Field(min_length=1)],
    "own_metrics": Annotated[list[Annotated[str, _one_of(_track_metrics, "metric")]], Field(min_length=1)],
    "own_null_metrics": Annotated[list[Annotated[str, _one_of(_track_metrics, "metric")]], AfterValidator(_distinct)],
    "own_null": NonNegative,
    "own_looks_per_epoch": Positive,
    "own_bert_width": Annotated[Positive, AfterValidator(_heads_divide)],
    "own_bert_tokens": Annotated[Positive, Field(ge=8)],
    "own_monitor_delta": Annotated[float, BeforeValidator(_number), Field(gt=0, lt=1, allow_inf_nan=False)],
    "own_monitor_alpha": Annotated[float, BeforeValidator(_number), Field(gt=0, lt=1, allow_inf_nan=False)],
    "device": Annotated[str, AfterValidator(_device)],
    "data_root": Optional[Annotated[str, AfterValidator(_existing_folder)]],
    "download": Annotated[bool, Field(strict=True)],
    "study": Optional[Annotated[str, _one_of(_explorer_kinds, "study table")]],
    "epoch": Optional[NonNegative],
}
"""Parameter name -> its full type (pydantic), where the annotation alone says too little."""

SUFFIX_RULES: tuple[tuple[str, Any], ...] = (
    ("_epochs", Positive), ("_size", Positive), ("_width", Positive), ("_trials", Positive),
    ("_draws", Positive), ("_samples", Positive), ("_lr", PositiveReal),
)
"""Name endings -> type, for names without an entry in :data:`RULES`."""


def rule_for(name: str) -> Any | None:
    """The type :data:`RULES` or :data:`SUFFIX_RULES` give ``name``; None when only its annotation types it."""
    if name in RULES:
        return RULES[name]
    return next((rule for suffix, rule in SUFFIX_RULES if name.endswith(suffix)), None)


# ---- rules over two or more parameters ----------------------------------------------------------------------------

def _probe_within_split(v: Mapping[str, Any]) -> str | None:
    if v["a_probe_size"] > v["a_finetune_eval_size"]:
        return f"the probe set is the first a_probe_size fine-tuning eval images: lower a_probe_size " \
               f"({v['a_probe_size']}) to at most a_finetune_eval_size ({v['a_finetune_eval_size']}) or raise that"


# Test-split sizes of the data sets with fixed splits: the pre-training probe is the first a_probe_size test images
# (a folder's size is known only once it is read). data.datasets holds the splits, but a table here keeps the door cheap.
TEST_SPLIT_SIZES = {"fashion_mnist": 10_000, "cifar10": 10_000, "svhn": 26_032, "digits": 1_000}


def _probe_within_test_split(v: Mapping[str, Any]) -> str | None:
    size = TEST_SPLIT_SIZES.get(v["a_dataset"])
    if size is not None and v["a_probe_size"] > size:
        return f"a_probe_size ({v['a_probe_size']}) exceeds the {size:,} test images of a_dataset " \
               f"({v['a_dataset']!r}), the pre-training probe's source: lower a_probe_size to at most {size}"


def _b_probe_within_split(v: Mapping[str, Any]) -> str | None:
    if v["b_finetune_eval_size"] is not None and v["b_probe_size"] > v["b_finetune_eval_size"]:
        return f"b_probe_size ({v['b_probe_size']}) exceeds b_finetune_eval_size ({v['b_finetune_eval_size']}); " \
               f"the probe images come from the evaluation split"


def _probe_positions(v: Mapping[str, Any]) -> str | None:
    from repchange.studies.b import tables
    return tables.positions_shortfall(v["b_archs"], v["b_probe_size"], v["b_alphas"])


def _checkpoints_within_epochs(v: Mapping[str, Any]) -> str | None:
    checkpoints, epochs = v["b_finetune_checkpoints"], v["b_finetune_epochs"]
    if 0 not in checkpoints or max(checkpoints) > epochs:
        return f"b_finetune_checkpoints {checkpoints} must include 0 (the source net) and lie in 0..b_finetune_epochs " \
               f"({epochs})"


def _seed_shift(v: Mapping[str, Any]) -> str | None:
    zero = [s for s in v["a_seeds"] if s % STUDY_A_CLASSES == 0]
    if "seed" in v["a_shifts"] and zero:
        return f"a_shifts 'seed' shifts labels by the seed mod {STUDY_A_CLASSES}: seeds {zero} give no shift; " \
               f"choose a_seeds that are not multiples of {STUDY_A_CLASSES} or a fixed shift in a_shifts"


def _archs_fit_targets(v: Mapping[str, Any]) -> str | None:
    from repchange.studies.b import runs
    bad = [(a, t) for a in v["b_archs"] for t in v["b_targets"]
           if not runs.is_folder_target(t) and (a in runs.SMALL_ARCHS) != (t in runs.OFFLINE_TARGETS)]
    if bad:
        return f"b_archs and b_targets do not go together: {bad}; the small nets {list(runs.SMALL_ARCHS)} go with " \
               f"the offline targets {list(runs.OFFLINE_TARGETS)}, the torchvision nets with the paper targets " \
               f"{list(runs.PAPER_TARGETS)} (paper profile)"


def _offline_sizes(v: Mapping[str, Any]) -> str | None:
    from repchange.studies.b import runs
    offline = [t for t in v["b_targets"] if t in runs.OFFLINE_TARGETS]
    if offline and (v["b_finetune_size"] is None or v["b_finetune_eval_size"] is None):
        return f"the offline targets {offline} share one pool of images: set b_finetune_size and " \
               f"b_finetune_eval_size to numbers, not None"


def _shown_run_is_run(arch: str, target: str) -> Callable[[Mapping[str, Any]], str | None]:
    def check(v: Mapping[str, Any]) -> str | None:
        if v[arch] not in v["b_archs"] or v[target] not in v["b_targets"]:
            return f"{arch} ({v[arch]!r}) and {target} ({v[target]!r}) must be among b_archs {v['b_archs']} and " \
                   f"b_targets {v['b_targets']}: the page shows one of the chapter's runs"
    return check


CROSS_RULES: tuple[tuple[tuple[str, ...], Callable[[Mapping[str, Any]], str | None]], ...] = (
    (("a_probe_size", "a_finetune_eval_size"), _probe_within_split),
    (("a_probe_size", "a_dataset"), _probe_within_test_split),
    (("b_probe_size", "b_finetune_eval_size"), _b_probe_within_split),
    (("b_probe_size", "b_archs", "b_alphas"), _probe_positions),
    (("b_finetune_checkpoints", "b_finetune_epochs"), _checkpoints_within_epochs),
    (("a_seeds", "a_shifts"), _seed_shift),
    (("b_archs", "b_targets"), _archs_fit_targets),
    (("b_targets", "b_finetune_size", "b_finetune_eval_size"), _offline_sizes),
    (("b_viz_arch", "b_viz_target", "b_archs", "b_targets"), _shown_run_is_run("b_viz_arch", "b_viz_target")),
    (("b_deviation_arch", "b_deviation_target", "b_archs", "b_targets"),
     _shown_run_is_run("b_deviation_arch", "b_deviation_target")),
)
"""(the names a rule reads, the rule): it applies when every name is present and individually valid, and
returns what is wrong (naming the parameters and the fix) or None."""

CHAPTER_RULES: dict[str, dict[str, Any]] = {
    "00_metrics": {"a_seeds": Annotated[Seeds, Field(min_length=2, max_length=2)]},
}
"""Per notebook stem: names whose rule differs in that chapter (00_metrics compares two nets)."""


# ---- annotations and checking -------------------------------------------------------------------------------------

_ANNOTATION_NAMES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict,
                     "tuple": tuple, "None": type(None), "Any": Any, "Optional": Optional}


def _evaluate(annotation: str) -> Any:
    """The annotation's source (``list[int]``) as a type; only the names above are in scope."""
    return eval(compile(annotation, "<annotation>", "eval"), {"__builtins__": {}}, dict(_ANNOTATION_NAMES))


def _field_type(name: str, annotation: Any, optional: bool, stem: str | None) -> Any:
    rule = CHAPTER_RULES.get(stem or "", {}).get(name, rule_for(name))
    if rule is None:
        rule = annotation
        if rule is float:
            rule = Real
        elif rule is int:
            rule = Annotated[int, Field(strict=True)]
    if optional:
        rule = Optional[rule]
    return rule


@functools.lru_cache(maxsize=None)
def _model(stem: str | None, fields: tuple[tuple[str, str | None, bool], ...]) -> type[pydantic.BaseModel]:
    """A pydantic model of ``fields`` = ((name, annotation source or None, default is None), ...)."""
    spec = {}
    for name, annotation, optional in fields:
        declared = _evaluate(annotation) if annotation is not None else Any
        spec[name] = (_field_type(name, declared, optional, stem), ...)
    config = pydantic.ConfigDict(strict=True, arbitrary_types_allowed=True)
    return pydantic.create_model(f"Parameters_{stem or 'values'}", __config__=config, **spec)


_MESSAGES = {
    "greater_than_equal": "must be at least {ge}", "greater_than": "must be greater than {gt}",
    "less_than_equal": "must be at most {le}", "less_than": "must be less than {lt}",
    "too_short": "must list at least {min_length}", "too_long": "must list at most {max_length}",
    "int_type": "must be a whole number", "int_from_float": "must be a whole number", "int_parsing": "must be a whole number",
    "float_type": "must be a number", "float_parsing": "must be a number", "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "string_type": "must be text (a string)", "list_type": "must be a list, e.g. [1, 2]",
    "dict_type": "must be a mapping, e.g. {name: value}",
}
"""pydantic's error types -> the book's wording (its own message for the rest)."""


def _message(error: Mapping[str, Any]) -> str:
    template = _MESSAGES.get(error["type"])
    if template is not None:
        try:
            return template.format(**error.get("ctx", {}))
        except KeyError:
            pass
    return re.sub(r"^(Value|Assertion) error, ", "", error["msg"])


def _describe(error: Mapping[str, Any], values: Mapping[str, Any], declared: Mapping[str, str | None]) -> str:
    name, *path = error["loc"]
    where = name + "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in path
                           if not (isinstance(p, str) and ("[" in p or p in ("function-after", "int", "str"))))
    message = _message(error)
    kind = f" (declared {declared[name]})" if declared.get(name) and error["type"].endswith("_type") else ""
    value = values[name] if not path else error.get("input")
    return f"{where} = {value!r}: {message}{kind}"


def _check(values: Mapping[str, Any], declared: Mapping[str, str | None], optional: Mapping[str, bool],
           stem: str | None, where: str) -> dict[str, Any]:
    names = tuple(sorted(declared))
    model = _model(stem, tuple((n, declared[n], optional.get(n, False)) for n in names))
    try:
        checked = model.model_validate({n: values[n] for n in names})
    except pydantic.ValidationError as error:
        # A union's failed branches each report; one line per parameter (the first) keeps the message short.
        lines = {}
        for e in error.errors(include_url=False):
            lines.setdefault(e["loc"][0], _describe(e, values, declared))
        raise ParameterError(f"{where}: bad parameter{'s' if len(lines) > 1 else ''}: " + "; ".join(lines.values())) \
            from None
    clean = {n: getattr(checked, n) for n in names}
    problems = [problem for needs, rule in CROSS_RULES if all(n in clean for n in needs)
                for problem in [rule(clean)] if problem]
    if problems:
        raise ParameterError(f"{where}: " + "; ".join(problems))
    return clean


def check_notebook(notebook: Path, values: Mapping[str, Any], declared: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` (every declared parameter of ``notebook``: defaults with overrides) checked against the
    parameters cell's annotations, :data:`RULES` and :data:`CROSS_RULES`; the values as checked (a float
    read from "1e-3"). ``declared``: :func:`repchange.book.runner.declared_parameters` of the notebook (papermill's
    parameters: the annotation as ``inferred_type_name``, ``"None"`` where there is none). Raises
    :class:`ParameterError` naming every bad parameter."""
    names = {n: (declared[n].inferred_type_name if n in declared and declared[n].inferred_type_name != "None"
                 else None) for n in values}
    optional = {n: p.default == "None" for n, p in declared.items()}
    return _check(values, names, optional, Path(notebook).stem, Path(notebook).name)


def check_values(values: Mapping[str, Any], names: Iterable[str], stem: str | None = None) -> dict[str, Any]:
    """The parameters ``names`` of ``values`` (a notebook's ``globals()``) checked inside the notebook: by
    :data:`RULES`, else by the annotation the kernel recorded (``__annotations__``); the checked values."""
    names = tuple(names)
    recorded = values.get("__annotations__", {}) if isinstance(values.get("__annotations__"), Mapping) else {}
    declared = {n: _annotation_source(recorded.get(n)) for n in names}
    optional = {n: rule_for(n) is None and values[n] is None for n in names}
    return _check(values, declared, optional, stem, "notebook parameters")


def _annotation_source(annotation: Any) -> str | None:
    if annotation is None:
        return None
    if isinstance(annotation, str):
        return annotation
    text = getattr(annotation, "__name__", None) if not getattr(annotation, "__args__", None) else None
    return text or repr(annotation).replace("typing.", "")
