"""The verdicts against the training budget: claims read at several epochs of one set of tables."""

from __future__ import annotations

import pandas as pd
import pytest
from test_claims import CONTRADICT_A, _study_a_tables, _study_a_world

from repchange.studies import budget, claims

PRETRAINING_KEYS = ["A1-depth", "A1-depth [every step]", "A1-output", "A2-train-fit", "A2-test-falls",
                    "A2-loss-slower", "A3-less-change", "A3-less-change [all layers]", "A3-less-change-early",
                    "A3-less-change-early [early layers only]", "A3-structure-early", "A-early-static",
                    "A3-last-layers", "A3-size", "A3-size [all layers]", "A3-size-steps"]


def _at_epoch(tables: dict[str, pd.DataFrame], epoch: int) -> dict[str, pd.DataFrame]:
    """The synthetic tables' last epoch (2) renamed ``epoch``; histories keep their first epoch (1)."""
    return {name: frame.assign(epoch=frame.epoch.where(frame.epoch != 2, epoch)) for name, frame in tables.items()}


def _two_budgets() -> dict[str, pd.DataFrame]:
    """Epoch 5: random labels not yet fitted (A2-train-fit contradicted) and A3-size contradicted;
    epoch 10: the world in which every claim holds."""
    early_world = _study_a_world()
    CONTRADICT_A["A2-train-fit"](early_world)
    CONTRADICT_A["A3-size"](early_world)
    early = _at_epoch(_study_a_tables(early_world), 5)
    late = _at_epoch(_study_a_tables(_study_a_world()), 10)
    out = {}
    for name in ("pretraining", "histories", "degrees", "sizes"):
        late_part = late[name][late[name].epoch == 10]
        out[name] = pd.concat([early[name], late_part], ignore_index=True)
    return out


def test_each_budget_reads_its_own_epoch_and_premises_are_applied_per_budget() -> None:
    frame = budget.budget_ledger(**_two_budgets(), epochs=[5, 10], label="synthetic")
    assert list(dict.fromkeys(frame.key)) == PRETRAINING_KEYS
    verdict = frame.set_index(["budget", "key"]).verdict
    assert (verdict[10] == "holds").all()
    assert verdict[5]["A2-train-fit"] == "does not hold"
    # at 5 epochs the A3 claims presuppose what did not happen: premise not met, the statistic kept beside it
    assert (verdict[5][["A3-less-change", "A3-less-change-early", "A3-last-layers", "A3-size"]] == "premise not met").all()
    unconditional = frame.set_index(["budget", "key"]).verdict_unconditional
    assert unconditional[5]["A3-size"] == "does not hold" and unconditional[5]["A3-less-change"] == "holds"
    assert set(frame.run) == {"synthetic"}


def test_the_last_budget_is_the_ledger_itself() -> None:
    tables = _two_budgets()
    at_end = budget.budget_ledger(**tables, epochs=[10]).set_index("key")
    ledger = claims.ledger(pd.DataFrame(claims.pretraining_claims(**tables))).set_index("key")
    pd.testing.assert_series_equal(at_end.value, ledger.value)
    assert (at_end.verdict == ledger.verdict).all()


def test_flips_list_each_changed_verdict_once_with_its_budgets() -> None:
    changes = budget.flips(budget.budget_ledger(**_two_budgets(), epochs=[5, 10])).set_index("key")
    assert set(changes.index) == {"A2-train-fit", "A3-less-change", "A3-less-change [all layers]", "A3-less-change-early",
                                  "A3-less-change-early [early layers only]", "A-early-static", "A3-last-layers",
                                  "A3-size", "A3-size [all layers]"}
    assert changes.loc["A2-train-fit", ["from_verdict", "to_verdict"]].tolist() == ["does not hold", "holds"]
    assert (changes.from_budget == 5).all() and (changes.to_budget == 10).all()
    sentences = budget.flip_sentences(changes.reset_index())
    assert len(sentences) == 9 and sentences[0].startswith("A2-train-fit: does not hold after 5 epochs")


def test_a_budget_the_tables_do_not_measure_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no epoch 7"):
        budget.budget_ledger(**_two_budgets(), epochs=[7])
    with pytest.raises(ValueError, match="at least one budget"):
        budget.budget_ledger(**_two_budgets(), epochs=[])


def test_the_budget_figure_draws_one_cell_per_claim_and_budget() -> None:
    import matplotlib

    matplotlib.use("Agg")
    fig = budget.fig_budget(budget.budget_ledger(**_two_budgets(), epochs=[5, 10]), "synthetic tables")
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * len(PRETRAINING_KEYS)
    assert [t.get_text() for t in ax.get_yticklabels()] == PRETRAINING_KEYS
