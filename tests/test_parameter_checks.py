"""book.parameter_checks: every notebook parameter typed and checked at the door, in the notebook's names.

The first tests are the malformed inputs of issue 25, each through the runner's door (what `repchange run`,
sweeps and the book build call) and through the command line; then the rules against the notebooks'
annotations, and a property test: random wrong values either pass or raise one ParameterError naming the
parameter, never an error from deep inside.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import subprocess
import sys
import time
import typing
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repchange.book import parameter_checks, parameters, runner
from repchange.book.parameter_checks import ParameterError

NOTEBOOKS = runner.project_root() / "notebooks"
A1 = NOTEBOOKS / "a1_cka_pretraining.py"
A5 = NOTEBOOKS / "a5_finetuning_change.py"

ISSUE_25_ROWS = [
    ({"a_seeds": "abc"}, r"a_seeds = 'abc': must be a list"),
    ({"a_seeds": [1, 1]}, r"a_seeds = \[1, 1\]: repeats 1; each entry must appear once"),
    ({"a_seeds": [-1]}, r"a_seeds\[0\] = -1: must be at least 0"),
    ({"a_pretrain_epochs": 1.5}, r"a_pretrain_epochs = 1.5: must be a whole number \(declared int\)"),
    ({"a_pretrain_epochs": "ten"}, r"a_pretrain_epochs = 'ten': must be a whole number"),
    ({"a_width": 0}, r"a_width = 0: must be at least 1"),
    ({"data_root": "/nonexistent/x"}, r"data_root = '/nonexistent/x': no folder '/nonexistent/x' exists.*None"),
]


@pytest.mark.parametrize("override, message", ISSUE_25_ROWS)
def test_a_malformed_parameter_is_refused_at_the_door_naming_it(override: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=rf"^a1_cka_pretraining\.py: bad parameter: {message}"):
        runner.resolve_parameters(A1, "smoke", override)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_cuda_device_on_a_machine_without_one_says_so_and_names_auto() -> None:
    with pytest.raises(ParameterError, match=r"device = 'cuda': .*no CUDA device.*use device: auto"):
        runner.resolve_parameters(A1, "smoke", {"device": "cuda"})
    with pytest.raises(ParameterError, match=r"device = 'gpu': .*none of 'auto'"):
        runner.resolve_parameters(A1, "smoke", {"device": "gpu"})


def test_several_bad_parameters_are_named_in_one_error() -> None:
    with pytest.raises(ParameterError, match=r"bad parameters: a_seeds = .*; a_width = 0") as caught:
        runner.resolve_parameters(A1, "smoke", {"a_seeds": [2, 2], "a_width": 0})
    assert str(caught.value).count("\n") == 0


def test_the_runner_passes_on_the_values_as_checked() -> None:
    """YAML reads `-p a_lr 1e-3` as the string "1e-3"; the notebook receives the float."""
    assert runner.resolve_parameters(A1, "smoke", {"a_lr": "1e-3"})["a_lr"] == 0.001
    with pytest.raises(ParameterError, match=r"a_lr = True: must be a number, not true/false"):
        runner.resolve_parameters(A1, "smoke", {"a_lr": True})


@pytest.mark.parametrize("override, message", [
    ({"a_probe_size": 900}, r"lower a_probe_size \(900\) to at most a_finetune_eval_size \(\d+\)"),
    ({"a_seeds": [10, 3]}, r"a_shifts 'seed' .* seeds \[10\] give no shift"),
    ({"a_shifts": ["seed", 0]}, r"a_shifts\[1\] = 0: must be 'seed' .* or a whole number in 1\.\.9"),
])
def test_rules_over_two_parameters_name_both(override: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        runner.resolve_parameters(A5, "smoke", override)


def test_a_probe_larger_than_the_test_split_is_refused_at_the_door_by_its_own_name() -> None:
    """The a1 page has no fine-tuning split to compare with: the probe is checked against a_dataset's test split, named
    as the user wrote it (it once passed the door and failed seconds later naming the internal n_probe)."""
    with pytest.raises(ParameterError, match=r"a_probe_size \(100000\) exceeds the 10,000 test images of a_dataset "
                                             r"\('fashion_mnist'\)"):
        runner.resolve_parameters(A1, "smoke", {"a_probe_size": 100000})
    assert runner.resolve_parameters(A1, "smoke", {"a_probe_size": 10000})["a_probe_size"] == 10000


def test_study_b_rules_name_the_notebook_parameters() -> None:
    b1 = NOTEBOOKS / "b1_feature_dynamics.py"
    with pytest.raises(ParameterError, match=r"b_archs and b_targets do not go together: \[\('vgg_small', 'scene15'\)"):
        runner.resolve_parameters(b1, "smoke", {"b_targets": ["scene15"]})
    with pytest.raises(ParameterError, match=r"b_finetune_checkpoints \[1, 2\] must include 0"):
        runner.resolve_parameters(b1, "smoke", {"b_finetune_checkpoints": [1, 2]})
    with pytest.raises(ParameterError, match=r"b_targets\[0\] = 'folder:/nonexistent/tree': the ImageFolder tree"):
        runner.resolve_parameters(b1, "smoke", {"b_targets": ["folder:/nonexistent/tree"]})
    with pytest.raises(ParameterError, match=r"b_source_weights = '/nonexistent/w.pt': no weights file"):
        runner.resolve_parameters(b1, "smoke", {"b_source_weights": "/nonexistent/w.pt"})


def test_the_command_line_refuses_a_bad_parameter_in_one_line_before_any_work(tmp_path: Path) -> None:
    store = tmp_path / "store"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "repchange", "run", str(A1), "--profile", "smoke", "-p", "a_seeds",
                           "abc", "--out", str(tmp_path / "run")], capture_output=True, text=True,
                          env={**os.environ, "REPCHANGE_STORE": str(store)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "a_seeds = 'abc': must be a list" in proc.stderr
    assert not store.exists() and not (tmp_path / "run").exists()  # nothing trained, nothing written
    assert time.perf_counter() - start < 60  # refused at the door, not after a training (the old failure: 22 s in)


# ---- the rules against the notebooks ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _cells() -> dict[str, dict[str, Any]]:
    """{notebook stem: {name: papermill's parameter (its annotation as inferred_type_name)}}."""
    return {p.stem: runner.declared_parameters(runner.read_notebook(p)) for p in runner.book_notebooks()}


def test_every_declared_parameter_is_annotated() -> None:
    for stem, cells in _cells().items():
        bare = sorted(name for name, p in cells.items() if p.inferred_type_name == "None")
        assert not bare, f"{stem}: {bare} have no annotation"


def _base(tp: Any) -> Any:
    """int / float / str / bool / list / dict beneath Annotated and Optional."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin is typing.Union:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return {_base(a) for a in args}
            tp = args[0]
        else:
            return origin or tp


def test_every_rule_agrees_with_the_annotation_of_each_notebook_that_declares_it() -> None:
    for stem, cells in _cells().items():
        for name, parameter in cells.items():
            annotation = parameter.inferred_type_name
            rule = parameter_checks.CHAPTER_RULES.get(stem, {}).get(name, parameter_checks.rule_for(name))
            declared = _base(parameter_checks._evaluate(annotation))
            if rule is not None:
                base = _base(rule)
                assert base == declared or (isinstance(base, set) and declared in base | {list}), \
                    f"{stem}.{name}: annotation {annotation}, rule {rule}"


@pytest.mark.parametrize("profile", ["default", "smoke", "scale", "paper", "paper_text", "rehearsal"])
def test_every_profile_passes_the_door_in_every_notebook(profile: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    profiles = {p.stem for p in (NOTEBOOKS / "params").glob("*.yaml")} | {"default"}
    if profile not in profiles:
        pytest.skip(f"no profile {profile}")
    monkeypatch.setattr(parameter_checks, "_existing_folder", lambda value: value)  # the paper's data is not here
    monkeypatch.setattr(parameter_checks, "_device", lambda value: value)
    parameter_checks._model.cache_clear()
    try:
        for path in runner.book_notebooks():
            runner.resolve_parameters(path, profile)
    finally:
        parameter_checks._model.cache_clear()


# ---- property test -----------------------------------------------------------------------------------------------

WRONG_VALUES = st.one_of(
    st.integers(-3, 12), st.integers(-10**9, 10**9), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.none(), st.text(max_size=6), st.sampled_from(["seed", "cuda", "auto", "digits", "vgg_small", "1e-3", "batch"]),
    st.lists(st.one_of(st.integers(-3, 20), st.none(), st.text(max_size=3), st.floats(-2, 2)), max_size=4),
    st.dictionaries(st.text(max_size=4), st.one_of(st.integers(-1, 3), st.floats(-1, 1)), max_size=2),
)


@functools.lru_cache(maxsize=None)
def _notebook(stem: str) -> tuple[Any, dict[str, Any], tuple]:
    """(its declared parameters, its defaults, the builders of book.parameters it calls on its globals())."""
    path = NOTEBOOKS / f"{stem}.py"
    declared = runner.declared_parameters(runner.read_notebook(path))
    values = {n: ast.literal_eval(p.default) for n, p in declared.items()}
    called = sorted(set(re.findall(r"parameters\.(\w+)\(globals\(\)\)", path.read_text())))
    return declared, values, tuple(getattr(parameters, name) for name in called)


STEMS = sorted(p.stem for p in runner.book_notebooks())
NAMES = sorted({(name, stem) for stem in STEMS for name in _notebook(stem)[1]})
"""(parameter, notebook) pairs: every declared parameter of every notebook."""


@pytest.mark.parametrize("name, stem", NAMES, ids=[f"{stem}.{name}" for name, stem in NAMES])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=WRONG_VALUES)
def test_a_wrong_value_passes_or_is_named_never_a_deep_error(name: str, stem: str, value: Any) -> None:
    declared, values, builders = _notebook(stem)
    trial = {**values, name: value}
    try:
        checked = parameter_checks.check_notebook(NOTEBOOKS / f"{stem}.py", trial, declared)
    except ParameterError as error:
        assert name in str(error).split(": ", 1)[1], str(error)
        return
    for build in builders:  # what the notebook builds from the values the door let through
        build(checked)  # anything it raises (a library ValueError, a TypeError) fails the test


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_library_runtime_refuses_a_missing_device_before_any_work() -> None:
    from repchange.runs.runtime import Runtime

    with pytest.raises(ValueError, match=r"no CUDA device .*use device: auto"):
        Runtime(device="cuda:1")
