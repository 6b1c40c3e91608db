"""book.parameters: notebook parameters -> validated study objects; errors name the notebook parameter."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from repchange.book import parameters, runner

NOTEBOOKS = runner.project_root() / "notebooks"


def _values(stem: str, **overrides: Any) -> dict[str, Any]:
    """A notebook's parameters as it would run them: its defaults, the smoke profile, then ``overrides``."""
    return runner.effective_parameters(NOTEBOOKS / f"{stem}.py", "smoke", overrides)


@pytest.mark.parametrize("stem, build, override, message, named", [
    ("a1_cka_pretraining", parameters.cka_to_init, {"a_pretrain_epochs": 0}, "epochs must be at least 1",
     "a_pretrain_epochs"),
    ("a1_cka_pretraining", parameters.cka_to_init, {"a_probe_size": 2}, "n_probe must be at least 4", "a_probe_size"),
    ("a1_cka_pretraining", parameters.cka_to_init, {"a_dataset": "imagenet"}, "unknown data set", "a_dataset"),
    ("a4_cka_vs_size", parameters.size_sweep, {"a_size_sweep_degree": 12}, "degree 12 is out of range",
     "a_size_sweep_degree"),
    ("a5_finetuning_change", parameters.finetune_sweep, {"a_finetune_epochs": 0}, "fine-tuning epochs must be",
     "a_finetune_epochs"),
    ("a5_finetuning_change", parameters.finetune_sweep, {"a_degrees": [0, 12]}, "degree 12 is out of range",
     "a_degrees"),
    ("b1_feature_dynamics", parameters.dynamics, {"b_finetune_epochs": 0}, "fine-tuning epochs must be",
     "b_finetune_epochs"),
    ("b1_feature_dynamics", parameters.dynamics, {"b_probe_size": 1}, "n_probe must lie in 2", "b_probe_size"),
    ("b1_feature_dynamics", parameters.dynamics, {"b_alphas": [2.0]}, "alphas must lie in", "b_alphas"),
])
def test_a_validation_error_names_the_notebook_parameter(stem: str, build: Callable[[dict], Any], override: dict,
                                                          message: str, named: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        build(_values(stem, **override))
    assert str(caught.value).endswith(f"(notebook parameter: {named})")


def test_the_fine_tuning_epochs_are_not_read_as_the_pre_training_epochs() -> None:
    """'fine-tuning epochs' is one phrase: it names a_finetune_epochs alone, not a_pretrain_epochs too."""
    with pytest.raises(ValueError) as caught:
        parameters.finetune_sweep(_values("a5_finetuning_change", a_finetune_epochs=0))
    assert "a_pretrain_epochs" not in str(caught.value)


def test_valid_parameters_build_the_same_objects_in_every_chapter_that_shows_them() -> None:
    """The ledger and a5 build one fine-tuning sweep; b1 and the deviations page one dynamics object."""
    assert parameters.finetune_sweep(_values("claims_ledger")) == parameters.finetune_sweep(
        _values("a5_finetuning_change"))
    assert parameters.dynamics(_values("deviations")) == parameters.dynamics(_values("b1_feature_dynamics"))
    assert parameters.cka_to_init(_values("a1_cka_pretraining", a_width=8)) != parameters.cka_to_init(
        _values("a1_cka_pretraining"))
