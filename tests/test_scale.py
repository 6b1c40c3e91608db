"""Study A's claims at more SGD steps: the scale axis (parameters, store reads, verdict tables)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from repchange.book import parameter_checks, parameters
from repchange.runs.runtime import Runtime
from repchange.studies.a import scale as a_scale

BOOK = {"a_dataset": "fashion_mnist", "a_cross_domain": "digits", "a_seeds": [1, 2, 3, 4, 5],
        "a_degrees": [0, 1, 2, 4, 9], "a_shifts": ["seed"], "a_pretrain_sizes": [64, 256, 1024],
        "a_size_sweep_degree": 9, "a_pretrain_epochs": 16, "a_pretrain_size": 1024, "a_pretrain_eval_size": 1000,
        "a_finetune_epochs": 10, "a_finetune_size": 500, "a_finetune_eval_size": 500, "a_probe_size": 500,
        "extraction_bn": "batch", "a_batch_size": 32, "a_lr": 1e-3, "a_momentum": 0.9, "a_bn_order": "relu_bn",
        "a_width": 64, "device": "cpu", "data_root": None, "download": False}


def _book() -> dict:
    return dict(pretraining=parameters.cka_to_init(BOOK), degrees=parameters.degree_sweep(BOOK),
                sizes=parameters.size_sweep(BOOK), finetuning=parameters.finetune_sweep(BOOK))


def test_the_books_own_scale_is_the_ledgers_tables_exactly() -> None:
    book = _book()
    own = a_scale.scale_tables(a_scale.Scale(1024, 16), "batch", BOOK["a_seeds"], **book)
    # equal parameters: the same stored tables, so the own column in batch mode is the ledger's reading
    assert (own.pretraining, own.degrees, own.sizes, own.finetuning) == tuple(book.values())


def test_a_larger_scale_moves_every_pretraining_and_keeps_the_finetunings_own_size() -> None:
    book = _book()
    t = a_scale.scale_tables(a_scale.Scale(None, 4), "eval", [1, 2, 3], **book)
    assert t.pretraining.pretrain.train_size is None and t.pretraining.pretrain.epochs == 4
    assert t.degrees.pretrain == t.pretraining.pretrain and t.degrees.degrees == book["degrees"].degrees
    assert t.sizes.train_sizes == (64, 256, 1024, None) and t.sizes.pretrain.epochs == 4
    assert t.finetuning.finetune.pretrain == t.pretraining.pretrain
    assert (t.finetuning.finetune.epochs, t.finetuning.finetune.train_size) == (10, 500)  # the book's fine-tuning
    assert {x.bn for x in (t.pretraining, t.degrees, t.sizes, t.finetuning)} == {"eval"}
    assert {x.seeds for x in (t.pretraining, t.degrees, t.sizes, t.finetuning)} == {(1, 2, 3)}
    small = a_scale.scale_tables(a_scale.Scale(200, 8), "batch", [1, 2, 3], **book)
    assert small.sizes.train_sizes == (64, 200)  # the book's sizes below the scale's own, then its own


def test_an_unstored_scale_is_reported_not_run_and_nothing_is_trained(store_root: Path) -> None:
    runtime = Runtime(device="cpu")
    t = a_scale.scale_tables(a_scale.Scale(8192, 8), "batch", [1, 2, 3], **_book())
    pre, fine = a_scale.scale_trainings(t, runtime)
    assert len(pre) == 5 * 3 + 3 * 3 + 3  # degrees × seeds, sizes 64/256/1024 × seeds, the equal-steps runs
    assert len(fine) == 11 * 3  # 5 same-domain degrees, 5 cross-domain, 1 shift, per seed
    assert a_scale.scale_ledger(t, runtime) is None
    assert not any(store_root.rglob("complete.json"))


@pytest.mark.parametrize("pairs, needle", [
    ([[1024]], "[images, epochs]"), ([[0, 4]], "positive"), ([[1024, 0]], "positive integer"),
    ([[1024, 4], [1024, 4]], "repeated"),
])
def test_bad_scales_are_refused_by_name(pairs: list, needle: str) -> None:
    with pytest.raises(ValueError, match=r"a_scales|scale's") as error:
        a_scale.parse_scales(pairs)
    assert needle in str(error.value)


def test_the_parameter_checks_name_the_scale_parameters() -> None:
    with pytest.raises(ValueError, match="a_scale_seeds"):
        parameter_checks.check_values({"a_scale_seeds": [1, 2]}, ["a_scale_seeds"])
    with pytest.raises(ValueError, match="a_scales"):
        parameter_checks.check_values({"a_scales": [[1024, None]]}, ["a_scales"])
    with pytest.raises(ValueError, match="a_scales"):
        parameter_checks.check_values({"a_scales": [[1024, 4], [1024, 4]]}, ["a_scales"])
    assert parameter_checks.check_values({"a_scales": [[None, 4], [8192, 8]]}, ["a_scales"])["a_scales"] == [
        [None, 4], [8192, 8]]
    with pytest.raises(ValueError, match="at least 3"):
        a_scale.scale_axis(_book(), a_scale.Scale(1024, 16), [1, 2, 3], [], [1, 2])


def _row(key: str, verdict: str, images: int, epochs: int, bn: str, value: float, tallied: bool = True,
         seeds: int = 3) -> dict:
    return dict(key=key, verdict=verdict, images=images, epochs=epochs, steps=images // 32 * epochs, bn=bn,
                value=value, null=0.0, ci_low=value - 0.01, ci_high=value + 0.01, tallied=tallied,
                direction="greater", sesoi=0.01, seeds=seeds)


def _frame() -> pd.DataFrame:
    rows = []
    for bn in ("batch", "eval"):
        rows += [_row("A1-depth", "holds", 1024, 16, bn, 0.05), _row("A1-depth", "holds", 60000, 4, bn, 0.06),
                 _row("A3-size", "holds", 1024, 16, bn, 0.05),
                 _row("A3-size", "does not hold" if bn == "batch" else "holds", 60000, 4, bn, -0.05),
                 _row("A2-train-fit", "holds", 1024, 16, bn, 0.0),
                 _row("A2-train-fit", "holds" if bn == "batch" else "inconclusive", 60000, 4, bn, 0.0),
                 _row("A3-size [all layers]", "holds", 1024, 16, bn, 0.1, tallied=False),
                 _row("A3-size [all layers]", "does not hold", 60000, 4, bn, -0.1, tallied=False)]
    return pd.DataFrame(rows)


def test_a_verdict_that_moves_with_scale_is_named_with_both_values_and_intervals() -> None:
    flips = a_scale.scale_flips(_frame())
    assert list(zip(flips.key, flips.bn)) == [("A3-size", "batch"), ("A2-train-fit", "eval")]  # out of tally: not listed
    sentence = flips.sentence.iloc[0]
    assert "holds at 1,024 × 16 (512 steps, n = 3), +0.050 [+0.040, +0.060]" in sentence
    assert "does not hold at 60,000 × 4 (7,500 steps, n = 3), -0.050 [-0.060, -0.040]" in sentence
    assert flips.equal_n.all() and "n differs" not in sentence
    assert a_scale.stable_claims(_frame()) == ["A1-depth"]
    assert a_scale.bn_dependent(_frame()) == ["A3-size", "A2-train-fit"]


def test_a_claim_missing_at_one_scale_is_not_called_stable() -> None:
    frame = _frame()
    frame.loc[(frame.key == "A1-depth") & (frame.images == 60000) & (frame.bn == "eval"), "verdict"] = "not measured"
    assert a_scale.stable_claims(frame) == []


def test_the_verdict_table_orders_scales_by_steps_and_shows_effects() -> None:
    table = a_scale.scale_verdicts(_frame().iloc[::-1], "batch")
    assert list(table.columns) == ["1,024 × 16 (512 steps, n = 3)", "60,000 × 4 (7,500 steps, n = 3)"]
    assert table.loc["A3-size", "60,000 × 4 (7,500 steps, n = 3)"] == "does not hold · -0.050 [-0.060, -0.040]"
    assert "A3-size [all layers]" not in table.index


def test_the_scale_figure_draws_a_cell_per_claim_scale_and_mode() -> None:
    from repchange.studies import budget

    frame = _frame()
    fig = budget.fig_scale(frame, "synthetic")
    ax = fig.axes[0]
    assert len(ax.patches) == 3 * 2 * 2  # three tallied claims × two scales × two modes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A1-depth", "A3-size", "A2-train-fit"]


def test_scales_read_from_the_record_say_so_in_the_table_and_the_figure() -> None:
    from repchange.studies import budget

    frame = _frame().assign(source=lambda f: ["this build" if i == 1024 else "recorded 2026-12-04 at commit 0123456"
                                              for i in f.images])
    table = a_scale.scale_verdicts(frame, "batch")
    assert list(table.columns) == ["1,024 × 16 (512 steps, n = 3)", "60,000 × 4 (7,500 steps, n = 3, recorded)"]
    ax = budget.fig_scale(frame, "synthetic").axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert [("(rec.)" in label) for label in labels] == [False, False, True, True], labels


def test_a_flip_across_unequal_n_says_so() -> None:
    """The book's own scale at five seeds beside a scale at three: the sentence names both n and the caveat."""
    frame = _frame()
    frame.loc[frame.images == 1024, "seeds"] = 5
    flips = a_scale.scale_flips(frame)
    assert not flips.equal_n.any()
    assert "(512 steps, n = 5)" in flips.sentence.iloc[0] and "n differs between these scales" in flips.sentence.iloc[0]
