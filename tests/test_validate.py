"""`repchange validate`: each construction against its definition, the report on a small conv net, a Hugging Face
encoder and the command line."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from repchange.measure.cka import linear_cka
from repchange.measure.neighbours import mutual_knn
from repchange.measure.shape import procrustes_angle
from repchange.tool import validate as v


def _x(n: int = 60, p: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=torch.float64) @ torch.randn(3, p, generator=g, dtype=torch.float64) \
        + 0.2 * torch.randn(n, p, generator=g, dtype=torch.float64)


CONSTRUCTION = {c.name: c for c in v.CONSTRUCTIONS}


@pytest.mark.parametrize("p", [12, 300])  # narrower and wider than the probe
def test_the_isometries_leave_cka_and_procrustes_unchanged(p: int) -> None:
    x, g = _x(p=p), torch.Generator().manual_seed(1)
    q = CONSTRUCTION["orthogonal transform"].apply(x, g)

    assert torch.allclose(q @ q.T, x @ x.T, atol=1e-9)  # an orthogonal transform keeps every inner product of rows
    for name in ("orthogonal transform", "isotropic rescaling", "features permuted"):
        y = CONSTRUCTION[name].apply(x, g)
        assert linear_cka(x, y) == pytest.approx(1.0, abs=1e-10)
        assert procrustes_angle(x, y) == pytest.approx(0.0, abs=1e-6)  # arccos near 1


def test_deleting_the_top_component_and_shuffling_rows_lower_them_and_a_shifted_subset_moves_cka() -> None:
    x, g = _x(), torch.Generator().manual_seed(2)
    gone = CONSTRUCTION["top component deleted"].apply(x, g)
    centred = x - x.mean(0)
    top = torch.linalg.svd(centred, full_matrices=False)[2][0]
    assert torch.allclose(gone @ top, torch.zeros(len(x), dtype=torch.float64), atol=1e-10)  # no variance left there
    assert linear_cka(x, gone) < 0.99 and procrustes_angle(x, gone) > 0.05
    shuffled = CONSTRUCTION["rows shuffled"].apply(x, g)
    assert linear_cka(x, shuffled) < linear_cka(x, gone)
    shifted = CONSTRUCTION["5 % of samples translated"].apply(x, g)
    moved = (shifted != x).any(dim=1)
    assert int(moved.sum()) == math.ceil(0.05 * len(x))  # 3 of 60 samples, nothing else
    assert linear_cka(x, shifted) < 0.5  # CKA falls far (Davari et al.) ...
    assert mutual_knn(x, shifted, k=5) > linear_cka(x, shifted)  # ... further than the neighbourhoods move
    rogue = CONSTRUCTION["one rogue feature"].apply(x, g)
    assert rogue.shape == (len(x), x.shape[1] + 1) and torch.equal(rogue[:, :-1], x)
    assert rogue[:, -1].std() > 5 * x.std(dim=0).max()


def test_the_report_reads_each_change_as_a_share_of_the_way_to_the_null() -> None:
    report = v.validate_activations({"block": _x(80, 10), "wide": _x(80, 400, seed=3)}, resamples=4, progress=False)
    assert set(report.construction) == set(CONSTRUCTION) and set(report.metric) == set(v.DEFAULT_METRICS)
    ignore = report[report.kind == "ignore"]
    assert (ignore.change_high < v.IGNORE_BELOW).all(), ignore
    null = report[report.kind == "null"].dropna(subset=["change"])
    assert np.allclose(null.change, 1.0)  # by definition
    caught = report[report.construction == "top component deleted"].dropna(subset=["change"])
    assert (caught.change_low > v.CATCH_ABOVE).all()
    wide_cka = report.query("layer == 'wide' and metric == 'cka'").iloc[0]
    assert wide_cka.note.startswith("no room") or np.isfinite(wide_cka.change)
    verdicts = v.trust(report)
    assert verdicts.query("metric == 'cka_debiased'")[["ignores", "catches"]].all().all()
    text = v.advice(report)
    assert text.startswith("Every measure ignored") and "mutual_knn" in text


def test_advice_says_so_where_a_measure_fails_a_check() -> None:
    report = v.validate_activations({"block": _x(80, 10)}, metrics=("cka",), resamples=3, progress=False)
    broken = report.copy()
    broken.loc[broken.construction == "isotropic rescaling", ["change", "change_high"]] = 0.5
    assert "cka moved under a change it should ignore at block" in v.advice(broken)
    assert not v.trust(broken).ignores.iloc[0]


def test_bad_requests_are_refused_before_any_activation() -> None:
    with pytest.raises(ValueError, match="not one of"):
        v.validate_activations({"a": _x()}, metrics=("filter_procrustes",))
    with pytest.raises(ValueError, match="resamples must be at least 2"):
        v.validate_activations({"a": _x()}, resamples=1)
    with pytest.raises(ValueError, match=r"at least 15 probe samples .*got \{'a': 14\}"):
        v.validate_activations({"a": _x(14)}, resamples=2, progress=False)
    net = nn.Sequential(nn.Linear(4, 8))
    with pytest.raises(ValueError, match="bn must be one of"):
        v.validate(net, torch.randn(20, 4), layers=["0"], bn="train")


def test_a_conv_net_and_a_hugging_face_encoder(tmp_path: Path) -> None:
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 4 * 4, 5))
    report = v.validate(conv, torch.randn(40, 3, 8, 8), layers=["1", "3"], resamples=3)
    assert set(report.layer) == {"1", "3"}
    fig = v.plot_report(report)
    fig.savefig(tmp_path / "report.png")
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=48, max_position_embeddings=32)
    encoder = transformers.BertModel(config)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 60, (40, 16), generator=g)
    mask = (torch.arange(16)[None, :] < torch.randint(4, 17, (40,), generator=g)[:, None]).long()
    tokens = v.validate(encoder, {"input_ids": ids * mask, "attention_mask": mask}, layers="hidden_states",
                        view="mean", resamples=3)
    assert set(tokens.layer) == {"hidden_states.0", "hidden_states.1", "hidden_states.2"}
    assert v.advice(tokens)


def test_the_command_writes_the_report_and_prints_the_advice(tmp_path: Path, capsys,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from test_compare import _checkpoints, _tree

    from repchange.book import cli
    from repchange.data import image_folders

    monkeypatch.setattr(image_folders, "CACHE_ROOT", tmp_path / "cache")
    a, b = _checkpoints(tmp_path)
    probe = _tree(tmp_path / "probe", per_class=5)
    assert cli.main(["validate", "resnet18", str(a), "--probe", str(probe), "--n-probe", "15", "--image-size",
                     "32", "--layers", "layer3", "layer4", "--resamples", "2", "--out", str(tmp_path / "trust"),
                     "--twin", str(b)]) == 0
    printed = capsys.readouterr().out
    assert "ignored the isometries" in printed and "validate.csv" in printed and "reseeded twin read" in printed
    table = pd.read_csv(tmp_path / "trust" / "validate.csv")
    assert set(table.layer) == {"layer3", "layer4"} and (tmp_path / "trust" / "validate.png").stat().st_size > 1000
    assert set(table[table.kind == "twin"].layer) == {"layer3", "layer4"}
    assert cli.main(["validate", "resnet18", str(a), "--probe", str(probe), "--twin", str(tmp_path / "nothing.pt"),
                     "--out", str(tmp_path / "t3")]) == 2
    assert "twin (--twin) must be a state-dict file" in capsys.readouterr().err
    assert cli.main(["validate", "resnet18", str(tmp_path / "missing.pt"), "--probe", "x", "--out",
                     str(tmp_path / "t2"), "--resamples", "1"]) == 2  # refused before the checkpoint is read
    assert "resamples (--resamples) must be a whole number of at least 2" in capsys.readouterr().err


def test_a_twin_reads_on_the_same_samples_itself_as_no_change_and_another_seed_as_some() -> None:
    def net(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(6, 24), nn.ReLU(), nn.Linear(24, 12), nn.ReLU())

    probe = torch.randn(60, 6, generator=torch.Generator().manual_seed(3))
    model = net(0)
    itself = v.validate(model, probe, layers=["1", "3"], metrics=("cka", "procrustes"), resamples=4, twin=net(0))
    twin_rows = itself[itself.kind == "twin"]
    assert len(twin_rows) == 4 and (twin_rows.construction == v.TWIN).all()
    assert np.allclose(twin_rows.change, 0.0, atol=1e-6)  # the same weights: the same activations, row for row
    other = v.validate(model, probe, layers=["1", "3"], metrics=("cka", "procrustes"), resamples=4, twin=net(1))
    moved = other[other.kind == "twin"]
    assert (moved.change > 0.05).all()  # another seed's features: the twin reads some way towards unrelated rows
    text = v.advice(other)
    assert "reseeded twin read" in text
    # the judged kinds are unchanged by a twin: its reading is reported beside them, not scored
    pd.testing.assert_frame_equal(v.trust(other[other.kind != "twin"]), v.trust(other))
    with pytest.raises(ValueError, match="twins must give the same layers on the same probe samples"):
        v.validate_activations({"a": probe[:, :4]}, twins={"a": probe[:30, :4]}, resamples=2)


@pytest.mark.slow
def test_the_trust_report_on_study_as_own_activations_reads_the_second_seed_as_its_twin(tmp_path: Path) -> None:
    from repchange.book.trust_report import pretrained_trust
    from repchange.runs.runtime import Runtime
    from repchange.runs.store import Store
    from repchange.runs.trainer import OptimiserSpec
    from repchange.studies.a.pretraining import PretrainConfig
    from repchange.studies.a.tables import CkaToInitParams

    tiny = PretrainConfig(dataset="fashion_mnist", epochs=2, train_size=160, eval_size=40, width=8,
                          optimiser=OptimiserSpec("sgd", lr=0.05, batch_size=32))
    params = CkaToInitParams(tiny, seeds=(1, 2), n_probe=40)
    report = pretrained_trust(params, Runtime(Store(tmp_path), "cpu"), metrics=("cka", "procrustes"), resamples=2)
    assert {"block1", "block4"} <= set(report.layer)
    assert set(report.kind) == {"ignore", "catch", "artefact", "null", "twin"}
    twin = report[report.kind == "twin"]
    assert (twin.change > 0).all()  # another seed's net is not this one
    one_seed = pretrained_trust(CkaToInitParams(tiny, seeds=(1,), n_probe=40), Runtime(Store(tmp_path), "cpu"),
                                metrics=("cka",), resamples=2)
    assert "twin" not in set(one_seed.kind)
