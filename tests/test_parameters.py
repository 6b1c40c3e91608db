"""book.parameters: notebook parameters -> checked study objects; errors name the notebook parameter."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from repchange.book import parameter_checks, parameters, runner

NOTEBOOKS = runner.project_root() / "notebooks"


def _values(stem: str, **overrides: Any) -> dict[str, Any]:
    """A notebook's parameters as it would run them: its defaults, the smoke profile, then ``overrides``."""
    return runner.effective_parameters(NOTEBOOKS / f"{stem}.py", "smoke", overrides)


@pytest.mark.parametrize("stem, build, override, message, named", [
    ("a1_cka_pretraining", parameters.cka_to_init, {"a_pretrain_epochs": 0}, "must be at least 1", "a_pretrain_epochs"),
    ("a1_cka_pretraining", parameters.cka_to_init, {"a_probe_size": 2}, "must be at least 4", "a_probe_size"),
    ("a1_cka_pretraining", parameters.cka_to_init, {"a_dataset": "imagenet"}, "unknown data set", "a_dataset"),
    ("a4_cka_vs_size", parameters.size_sweep, {"a_size_sweep_degree": 12}, "must be at most 9", "a_size_sweep_degree"),
    ("a5_finetuning_change", parameters.finetune_sweep, {"a_finetune_epochs": 0}, "must be at least 1",
     "a_finetune_epochs"),
    ("a5_finetuning_change", parameters.finetune_sweep, {"a_degrees": [0, 12]}, "must be at most 9", r"a_degrees\[1\]"),
    ("b1_feature_dynamics", parameters.dynamics, {"b_finetune_epochs": 0}, "must be at least 1", "b_finetune_epochs"),
    ("b1_feature_dynamics", parameters.dynamics, {"b_probe_size": 1}, "must be at least 2", "b_probe_size"),
    ("b1_feature_dynamics", parameters.dynamics, {"b_alphas": [2.0]}, "must be at most 1", r"b_alphas\[0\]"),
    ("00_metrics", parameters.metric_checks_params, {"a_seeds": [1, 2, 3]}, "must list at most 2", "a_seeds"),
])
def test_inside_a_notebook_a_bad_value_is_named_in_the_notebooks_terms(
        stem: str, build: Callable[[dict], Any], override: dict, message: str, named: str) -> None:
    """The builders check what they read (a papermill run that bypassed the runner's door, or an edited cell)."""
    with pytest.raises(parameter_checks.ParameterError, match=rf"{named} = .*: {message}"):
        build({**_values(stem), **override})


def test_valid_parameters_build_the_same_objects_in_every_chapter_that_shows_them() -> None:
    """The ledger and a5 build one fine-tuning sweep; b1 and the deviations page one dynamics object."""
    summarised = runner.chapter_values("smoke")  # what the ledger, deviations and landing pages read
    assert parameters.finetune_sweep(summarised) == parameters.finetune_sweep(_values("a5_finetuning_change"))
    assert parameters.dynamics(summarised) == parameters.dynamics(_values("b1_feature_dynamics"))
    assert parameters.cka_to_init(_values("a1_cka_pretraining", a_width=8)) != parameters.cka_to_init(
        _values("a1_cka_pretraining"))


def test_a_summary_page_declares_no_chapter_parameter_and_reads_them_from_the_profile() -> None:
    """The ledger, grid, deviations, papers-beside and landing pages declare ``profile`` and ``chapters`` (and their
    own): a chapter parameter is declared in the chapters alone, and one given to a summary page goes into chapters."""
    chapter_names = runner.chapter_names()
    for page in runner.SUMMARY_PAGES:
        declared = runner.declared_parameters(runner.read_notebook(NOTEBOOKS / f"{page}.py"))
        assert {"profile", "chapters"} <= set(declared) and not (set(declared) - {"profile"}) & chapter_names, page
    assert runner.resolve_parameters(NOTEBOOKS / "claims_ledger.py", "smoke", {"a_seeds": [1]}) == {
        "chapters": {"a_seeds": [1]}, "profile": "smoke"}
    assert runner.chapter_values("smoke", {"a_seeds": [1]})["a_seeds"] == [1]
    assert runner.chapter_values("smoke")["a_seeds"] == _values("a1_cka_pretraining")["a_seeds"]
    with pytest.raises(ValueError, match=r"chapters sets \['a_sedes'\], which no chapter declares \(did you mean"):
        runner.chapter_values("smoke", {"a_sedes": [1]})
    with pytest.raises(ValueError, match=r"has no parameter\(s\) \['a_sedes'\] \(did you mean 'a_seeds'"):
        runner.resolve_parameters(NOTEBOOKS / "claims_ledger.py", "smoke", {"a_sedes": [1]})


def test_chapters_read_differently_are_refused_by_a_summary_page(tmp_path) -> None:
    profile = tmp_path / "split.yaml"
    profile.write_text("a1_cka_pretraining:\n  a_pretrain_epochs: 3\n")  # one chapter only
    with pytest.raises(ValueError, match=r"a1_cka_pretraining and a2_label_degrees run with a_pretrain_epochs = 3 and"):
        runner.chapter_values(str(profile))
    assert runner.profile_reference(str(profile)) == str(profile.resolve())
