"""compare_activations: activations computed elsewhere, their samples matched by ids, a mismatch named."""

from __future__ import annotations

import pytest
import torch

from repchange.measure.shape import procrustes_angle
from repchange.tool.activations import SampleOrderError, compare_activations, matching_rows


def _sides() -> tuple[dict, dict, list[str]]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 12, generator=g, dtype=torch.float64)
    y = x @ torch.randn(12, 7, generator=g, dtype=torch.float64) + 0.3 * torch.randn(40, 7, generator=g,
                                                                                    dtype=torch.float64)
    return {"block1": x, "head": y}, {"block1": x.clone(), "head": y.clone()}, [f"img_{i:03d}" for i in range(40)]


def test_in_order_the_ids_change_nothing_and_the_values_are_the_measures() -> None:
    a, b, ids = _sides()
    table = compare_activations(a, b, ids_a=ids, ids_b=list(ids), metrics=("cka", "procrustes"))
    assert set(table.layer) == {"block1", "head"} and len(table) == 4
    assert table.query("metric == 'cka'").value.tolist() == pytest.approx([1.0, 1.0], abs=1e-12)
    plain = compare_activations(a, {"head": a["block1"][:, :7]}, metrics=("procrustes",))
    assert plain.value.iloc[0] == pytest.approx(procrustes_angle(a["head"], a["block1"][:, :7]), abs=1e-12)


def test_another_order_is_named_and_align_reorders_b_to_a() -> None:
    a, b, ids = _sides()
    order = torch.randperm(40, generator=torch.Generator().manual_seed(1))
    shuffled = {layer: t[order] for layer, t in b.items()}
    shuffled_ids = [ids[i] for i in order.tolist()]
    with pytest.raises(SampleOrderError, match=r"same 40 samples in another order: row \d+ is 'img_\d+' in A and "
                                               r"'img_\d+' in B \(\d+ rows differ\); pass align=True"):
        compare_activations(a, shuffled, ids_a=ids, ids_b=shuffled_ids)
    misread = compare_activations(a, shuffled, metrics=("cka",))  # without ids the rows are taken as they are
    assert misread.value.max() < 0.5
    aligned = compare_activations(a, shuffled, ids_a=ids, ids_b=shuffled_ids, align=True, metrics=("cka",))
    assert aligned.value.tolist() == pytest.approx([1.0, 1.0], abs=1e-12)


def test_different_samples_repeats_and_lengths_are_refused_before_any_measure() -> None:
    a, b, ids = _sides()
    other = ids[:-2] + ["x", "y"]
    with pytest.raises(SampleOrderError, match=r"2 of A's ids are not in B \(e.g. \['img_038', 'img_039'\]\)"):
        compare_activations(a, b, ids_a=ids, ids_b=other)
    with pytest.raises(SampleOrderError, match=r"ids_b repeats ids \['img_000'\]"):
        matching_rows(ids, ["img_000"] + ids[:-1], 40, 40)
    with pytest.raises(SampleOrderError, match="ids_a has 39 ids for 40 rows"):
        matching_rows(ids[:-1], ids, 40, 40)
    with pytest.raises(SampleOrderError, match="give ids_a and ids_b together"):
        compare_activations(a, b, ids_a=ids)
    with pytest.raises(SampleOrderError, match="A has 40 rows and B 30"):
        compare_activations(a, {k: v[:30] for k, v in b.items()})
    with pytest.raises(ValueError, match="no layer in common"):
        compare_activations(a, {"other": b["head"]})
    with pytest.raises(ValueError, match="read \\(samples, channels, H, W\\) maps"):
        compare_activations(a, b, metrics=("filter_procrustes",))
    with pytest.raises(ValueError, match="unknown metric"):
        compare_activations(a, b, metrics=("ckka",))


def test_the_command_reads_two_files_and_names_a_mismatch(tmp_path, capsys) -> None:
    import numpy as np

    from repchange.book import cli

    a, b, ids = _sides()
    order = torch.randperm(40, generator=torch.Generator().manual_seed(2)).tolist()
    torch.save({**a, "ids": ids}, tmp_path / "a.pt")
    np.savez(tmp_path / "b.npz", **{k: v[order].numpy() for k, v in b.items()}, ids=np.array([ids[i] for i in order]))
    assert cli.main(["compare-activations", str(tmp_path / "a.pt"), str(tmp_path / "b.npz"), "--out",
                     str(tmp_path / "out")]) == 2
    assert "another order" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert cli.main(["compare-activations", str(tmp_path / "a.pt"), str(tmp_path / "b.npz"), "--align", "--metrics",
                     "cka", "--out", str(tmp_path / "out")]) == 0
    import pandas as pd

    table = pd.read_csv(tmp_path / "out" / "compare_activations.csv")
    assert table.value.tolist() == pytest.approx([1.0, 1.0], abs=1e-12)
    assert cli.main(["compare-activations", str(tmp_path / "none.pt"), str(tmp_path / "b.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
