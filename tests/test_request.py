"""One checked request shared by compare, layer_matrix and the Tracker: each refusal names its field, made once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from repchange.tool import compare as compare_mod
from repchange.tool import request as request_mod
from repchange.tool.layer_matrix import layer_matrix
from repchange.tool.request import Request, RequestError
from repchange.tool.track import Tracker

BAD = [  # (arguments, the field named, words of the message)
    (dict(metrics=("nope",)), "metrics, alphas", "unknown metric"),
    (dict(metrics=("pwsm",)), "metrics, alphas", "needs alphas"),
    (dict(metrics=("pwsm",), alphas=(1.5,)), "metrics, alphas", "alphas must lie in"),
    (dict(view="sideways"), "view", "view must be one of"),
    (dict(view_b="sideways"), "view_b", "view_b must be one of"),
    (dict(bn="train"), "bn", "bn must be one of"),
    (dict(null=-1), "null, bootstrap", "numbers of draws"),
    (dict(metrics=("procrustes",), bootstrap=10), "null, bootstrap", "bootstrap intervals are given for"),
    (dict(p_adjust="bonferroni"), "p_adjust", "p_adjust must be None or one of"),
    (dict(null_metrics=("cka",)), "null_metrics", "give null > 0"),
    (dict(null=5, null_metrics=("rsa",)), "null_metrics", "not among metrics"),
    (dict(streaming=True), "streaming", "streaming=True computes only"),
    (dict(metrics=("cka_debiased",), streaming=True, batch_size=3), "batch_size", "at least 4 when streaming"),
    (dict(null=5, view="positions"), "view", "one row per probe sample"),
    (dict(batch_size=0), "batch_size", "at least 1"),
]


@pytest.mark.parametrize("arguments, field, words", BAD, ids=[str(b[0]) for b in BAD])
def test_each_refusal_names_its_field(arguments: dict, field: str, words: str) -> None:
    with pytest.raises(RequestError, match=words) as caught:
        Request(**arguments)
    assert caught.value.field == field


def test_a_good_request_is_normalised_and_immutable() -> None:
    r = Request(metrics=["cka", "pwsm"], alphas=[0, 0.5], null=10, null_metrics=["cka"])
    assert r.metrics == ("cka", "pwsm") and r.alphas == (0.0, 0.5) and r.null_metrics == ("cka",)
    assert r.side_b_view == "flatten" and Request(view="mean", view_b="first").side_b_view == "first"
    with pytest.raises(Exception):
        r.null = 3  # type: ignore[misc]
    with pytest.raises(RequestError, match="bn must be one of"):
        r.replace(bn="nope")
    Request(metrics=("filter_procrustes",)).replace(view="positions")  # fine between a layer and its own other self
    with pytest.raises(RequestError, match="filter_procrustes pairs filters"):
        Request(metrics=("filter_procrustes",)).check_between_layers()
    with pytest.raises(RequestError, match="view_b='positions'") as caught:
        Request(view="mean", view_b="positions").check_between_layers()
    assert caught.value.field == "view_b"


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


@pytest.mark.parametrize("arguments, words", [(dict(bn="train"), "bn must be one of"),
                                              (dict(metrics=("pwsm",)), "needs alphas")])
def test_tracker_and_layer_matrix_refuse_through_the_same_request(arguments: dict, words: str) -> None:
    probe = torch.randn(12, 3, 8, 8)
    for call in (lambda: Tracker(_net(), probe, layers=["1"], **arguments),
                 lambda: layer_matrix(_net(), _net(), probe, layers_a=["1"], layers_b=["1"], **arguments)):
        with pytest.raises(RequestError, match=words):
            call()


def test_compare_checks_its_request_once_and_reads_no_tracker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-shot compare makes one Request, before any checkpoint is read, and measures through the readout."""
    from test_compare import _checkpoints, _tree

    from repchange.data import image_folders

    monkeypatch.setattr(image_folders, "CACHE_ROOT", tmp_path / "cache")
    a, b = _checkpoints(tmp_path)
    made = []
    real_init = request_mod.Request.__post_init__
    monkeypatch.setattr(request_mod.Request, "__post_init__", lambda self: (made.append(1), real_init(self)))
    monkeypatch.setattr("repchange.tool.track.Tracker.__init__", lambda *a, **k: pytest.fail("compare built a Tracker"))
    table = compare_mod.compare("resnet18", a, b, str(_tree(tmp_path / "probe", per_class=4)), n_probe=12,
                                image_size=32, layers=["layer3", "layer4"], metrics=("cka",), null=5)
    assert len(made) == 1 and table.layer.tolist() == ["layer3", "layer4"]
    assert table.p_adjustment.str.contains("layers × metrics").all()
    with pytest.raises(ValueError, match=r"^bn \(--bn\): bn must be one of"):
        compare_mod.compare("resnet18", tmp_path / "missing.pt", b, "unread", bn="train")  # before the checkpoint
    with pytest.raises(ValueError, match=r"^metrics \(--metrics\), alphas \(--alpha\): "):
        compare_mod.compare("resnet18", a, b, "unread", metrics=("pwsm",), alphas=(3,))
