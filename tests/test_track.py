"""repchange.tool.track on models repchange did not define: tracked values equal the metrics computed directly."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from repchange.measure.metrics import filter_procrustes_similarity, linear_cka, minibatch_cka, procrustes_angle, pwsm
from repchange.tool.probes import ProbeOrderError
from repchange.tool.track import ProbeTooLarge, Tracker, final_values, plot_table, resolve_layers, stage_ends


class SharedReLU(nn.Module):
    """An MLP whose one ReLU module is called twice per forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.head = nn.Linear(6, 16), nn.Linear(16, 16), nn.Linear(16, 3)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.fc2(self.act(self.fc1(x)))))


def _steps(model: nn.Module, x: torch.Tensor, n: int = 5, lr: float = 0.2) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    target = torch.randint(0, 3, (len(x),), generator=torch.Generator().manual_seed(1))
    for _ in range(n):
        loss = nn.functional.cross_entropy(model(x)[:, :3], target)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _outputs(model: nn.Module, module: nn.Module, x: torch.Tensor, call: int = -1) -> torch.Tensor:
    seen = []
    handle = module.register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
    model.eval()
    with torch.no_grad():
        model(x)
    handle.remove()
    model.train()
    return seen[call]


def test_mlp_values_equal_the_metrics_computed_directly() -> None:
    torch.manual_seed(0)
    model, x = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 8)), torch.randn(40, 6)
    tracker = Tracker(model, x, layers=["1", "2"], metrics=("cka", "cka_debiased", "procrustes", "pwsm"),
                      alphas=(0.0, 0.5))
    before = {name: _outputs(model, model[int(name)], x) for name in ("1", "2")}
    first = tracker.update(0)
    assert first.query("metric == 'cka'").value.tolist() == pytest.approx([1.0, 1.0])
    _steps(model, x)
    rows = tracker.update(1, loss=0.5)
    for name in ("1", "2"):
        a, b = before[name], _outputs(model, model[int(name)], x)
        table = rows[rows.layer == name]
        value = lambda metric, alpha=None: float(table[(table.metric == metric) & (  # noqa: E731
            table.alpha.isna() if alpha is None else table.alpha == alpha)].value.iloc[0])
        assert value("cka") == pytest.approx(linear_cka(a, b), abs=1e-10)
        assert value("cka_debiased") == pytest.approx(linear_cka(a, b, debiased=True), abs=1e-10)
        assert value("procrustes") == pytest.approx(procrustes_angle(a, b), abs=1e-10)
        assert value("pwsm", 0.5) == pytest.approx(pwsm(a, b, alpha=0.5), abs=1e-10)
        assert value("cka") < 1 - 1e-4  # training moved the layer: the value can come out either way
    assert set(rows.loss) == {0.5}
    assert len(tracker.table) == 2 * len(rows)


def test_the_references_factors_are_built_once_and_serve_every_update(monkeypatch) -> None:
    import repchange.tool.track as track_mod

    built: list[str] = []
    real = track_mod.factors_or_reason
    monkeypatch.setattr(track_mod, "factors_or_reason", lambda x, name: built.append(name) or real(x, name))
    torch.manual_seed(0)
    model, x = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 8)), torch.randn(40, 6)
    tracker = Tracker(model, x, layers=["0", "2"], metrics=("cka", "procrustes"), null=20)
    for step in range(3):
        _steps(model, x)
        rows = tracker.update(step)
    assert sorted(n for n in built if "reference" in n) == ["0 (reference)", "2 (reference)"]
    assert sum("reference" not in n for n in built) == 6  # the model's own, at every update
    assert rows.value.notna().all()  # values after a kept reference: test_mlp_values_equal_the_metrics_computed_directly


def test_a_module_called_twice_is_tracked_per_call() -> None:
    torch.manual_seed(0)
    model, x = SharedReLU(), torch.randn(30, 6)
    layers = resolve_layers(model, ["act@0", "act@1", "act"])
    assert [(l.path, l.call) for l in layers] == [("act", 0), ("act", 1), ("act", None)]
    tracker = Tracker(model, x, layers=["act@0", "act@1", "act"], metrics=("cka",))
    first0, first1 = _outputs(model, model.act, x, 0), _outputs(model, model.act, x, 1)
    _steps(model, x)
    got = tracker.update(1).set_index("layer").value
    assert got["act@0"] == pytest.approx(linear_cka(first0, _outputs(model, model.act, x, 0)), abs=1e-10)
    assert got["act@1"] == pytest.approx(linear_cka(first1, _outputs(model, model.act, x, 1)), abs=1e-10)
    assert got["act"] == got["act@1"]  # a bare name is the last call
    assert got["act@0"] != got["act@1"]
    with pytest.raises(ValueError, match="called 2 time"):
        Tracker(model, x, layers=["act@2"])


def test_torchvision_resnet_stages_and_filter_procrustes() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=3)
    x = torch.randn(24, 3, 64, 64)
    stages = [l.name for l in stage_ends(model, x[:2])]
    assert stages == ["relu", "layer1", "layer2", "layer3", "layer4"]  # Study B's ResNet layers
    tracker = Tracker(model, DataLoader(TensorDataset(x, torch.zeros(24)), batch_size=10),
                      metrics=("cka", "filter_procrustes"))
    before = _outputs(model, model.layer2, x)
    _steps(model, x, n=3, lr=0.05)
    table = tracker.update(1)
    got = table[(table.layer == "layer2") & (table.metric == "filter_procrustes")].value.item()
    after = _outputs(model, model.layer2, x)
    assert got == pytest.approx(float(torch.nanmean(filter_procrustes_similarity(before, after))), abs=1e-6)
    assert 0 < got < 1


def test_vgg_stages_are_the_activations_before_each_pool() -> None:
    model = torchvision.models.vgg11(weights=None)
    stages = [l.name for l in stage_ends(model, torch.randn(1, 3, 64, 64))]
    pools = [i for i, m in enumerate(model.features) if isinstance(m, nn.MaxPool2d)]
    assert stages == [f"features.{i - 1}" for i in pools]


@pytest.mark.parametrize("arch,expected", [
    # the stride of a bottleneck sits in its 3x3 conv, inside the block: the stage still ends at layer1
    ("resnet50", ["relu", "layer1", "layer2", "layer3", "layer4"]),
    ("densenet121", ["features.relu0", "features.denseblock1", "features.denseblock2", "features.denseblock3",
                     "features"]),
    # squeeze-and-excitation pools to 1x1 inside every block: gates, not stages
    ("efficientnet_b0", ["features.1", "features.2", "features.3", "features.5", "features"]),
])
def test_stages_of_other_torchvision_nets(arch: str, expected: list[str]) -> None:
    model = torchvision.models.get_model(arch, weights=None)
    assert [l.name for l in stage_ends(model, torch.randn(1, 3, 224, 224))] == expected


def test_streaming_cka_equals_minibatch_cka_and_exact_with_one_batch() -> None:
    torch.manual_seed(0)
    model, x = nn.Sequential(nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, 5)), torch.randn(64, 6)
    start = [p.detach().clone() for p in model.parameters()]
    streamed = Tracker(model, x, layers=["1"], metrics=("cka_debiased",), streaming=True, batch_size=16)
    whole = Tracker(model, x, layers=["1"], metrics=("cka_debiased",), streaming=True, batch_size=64)
    exact = Tracker(model, x, layers=["1"], metrics=("cka_debiased",))
    a = _outputs(model, model[1], x)
    _steps(model, x)
    b = _outputs(model, model[1], x)
    assert any((p != q).any() for p, q in zip(start, model.parameters()))
    order = torch.randperm(64, generator=torch.Generator().manual_seed(0))  # the probe's one seeded permutation
    a, b = a[order], b[order]
    expected = minibatch_cka([(a[i : i + 16], b[i : i + 16]) for i in range(0, 64, 16)], debiased=True)
    assert streamed.update(1).value.item() == pytest.approx(expected, abs=1e-10)
    assert whole.update(1).value.item() == pytest.approx(exact.update(1).value.item(), abs=1e-10)


def test_reference_as_state_dict_module_or_file(tmp_path) -> None:
    torch.manual_seed(0)
    model, x = nn.Sequential(nn.Linear(6, 10), nn.ReLU()), torch.randn(20, 6)
    other = nn.Sequential(nn.Linear(6, 10), nn.ReLU())
    torch.save(other.state_dict(), tmp_path / "other.pt")
    direct = linear_cka(_outputs(model, model[1], x), _outputs(other, other[1], x))
    for reference in (other.state_dict(), other, tmp_path / "other.pt"):
        assert Tracker(model, x, layers=["1"], metrics=("cka",), reference=reference).update(0).value.item() \
            == pytest.approx(direct, abs=1e-7)  # float32 forward on permuted rows
    with pytest.raises(ValueError, match="do not fit"):
        Tracker(model, x, layers=["1"], reference=nn.Linear(3, 3).state_dict())


def test_folder_output_survives_a_restart(tmp_path) -> None:
    torch.manual_seed(0)
    model, x = nn.Sequential(nn.Linear(6, 10), nn.ReLU()), torch.randn(20, 6)
    tracker = Tracker(model, x, layers=["1"], metrics=("cka",), out=tmp_path / "t")
    tracker.update(0)
    _steps(model, x)
    tracker.update(1)
    saved = pd.read_csv(tmp_path / "t" / "track.csv")
    assert saved.step.tolist() == [0, 1]
    # a new process: the model has moved on, the reference is the one saved with the first tracker
    again = Tracker(model, x, layers=["1"], metrics=("cka",), out=tmp_path / "t")
    assert again.table.value.tolist() == pytest.approx(saved.value.tolist())
    assert again.update(1).value.item() == pytest.approx(saved.value.iloc[1], abs=1e-12)
    with pytest.raises(ValueError, match="other settings"):
        Tracker(model, x, layers=["1"], metrics=("procrustes",), out=tmp_path / "t")


def test_bad_input_gets_a_clear_message() -> None:
    model, x = torchvision.models.resnet18(weights=None), torch.randn(8, 3, 32, 32)
    with pytest.raises(ValueError, match=r"closest names: \['layer1.0.conv2', 'layer1.0.conv1'"):
        Tracker(model, x, layers=["layer1.0.conv"])
    with pytest.raises(ValueError, match="shuffles"):
        Tracker(model, DataLoader(TensorDataset(x), batch_size=4, shuffle=True))
    with pytest.raises(ValueError, match="unknown metric"):
        Tracker(model, x, metrics=("cca",))
    with pytest.raises(ValueError, match="needs alphas"):
        Tracker(model, x, metrics=("pwsm",))
    with pytest.raises(ValueError, match="filter_procrustes needs"):
        Tracker(model, x, layers=["fc"], metrics=("filter_procrustes",))
    with pytest.raises(ValueError, match="streaming=True computes only"):
        Tracker(model, x, metrics=("cka",), streaming=True)
    nan_model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    tracker = Tracker(nan_model, torch.randn(10, 4), layers=["1"], metrics=("cka",))
    with torch.no_grad():
        nan_model[0].weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="'1' of the model at step 3 produced NaN"):
        tracker.update(3)
    assert tracker.table.empty  # nothing half-written


def test_a_probe_too_large_for_memory_stops_before_any_work(monkeypatch) -> None:
    import repchange.tool.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda device: 10_000)
    model = nn.Sequential(nn.Linear(4, 64), nn.ReLU())
    with pytest.raises(ProbeTooLarge, match="use streaming=True"):
        Tracker(model, torch.randn(100, 4), layers=["1"])
    Tracker(model, torch.randn(100, 4), layers=["1"], metrics=("cka_debiased",), streaming=True)  # bounded


def test_final_values_and_the_figure_follow_the_table() -> None:
    table = pd.DataFrame(dict(step=[0, 0, 1, 1, 1], layer=["a", "b", "a", "b", "b"],
                              metric=["cka", "cka", "cka", "cka", "pwsm"], alpha=[None, None, None, None, 0.5],
                              value=[1.0, 1.0, 0.9, 0.4, 0.3]))
    assert final_values(table).to_dict() == {"a": 0.9, "b": 0.4}
    assert final_values(table, "pwsm", 0.5).to_dict() == {"b": 0.3}
    with pytest.raises(ValueError, match="no rows of metric 'procrustes'"):
        final_values(table, "procrustes")
    fig = plot_table(table)
    assert [ax.get_title() for ax in fig.axes] == ["cka", "pwsm α=0.5"]
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["a", "b"]


def test_tracking_a_model_with_frozen_batchnorm_leaves_it_frozen() -> None:
    """The Tracker measures between training steps: a BatchNorm the user froze stays in eval mode after
    ``update`` (before, every module was set back to the model's top-level mode and the frozen layer trained)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4), nn.BatchNorm1d(4)).train()
    model[1].eval()  # frozen by the user
    tracker = Tracker(model, torch.randn(32, 6), layers=["2", "4"], metrics=("cka",))
    tracker.update(0)
    assert not model[1].training and model[4].training and model.training


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_half_precision_model_takes_a_float32_probe(dtype: torch.dtype) -> None:
    """Probes are cast to the model's floating dtype (they failed on the first forward pass); the metrics are
    still computed in float64 from the float32 copies of the activations, and the values are close to the
    float32 model's."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU())
    x = torch.randn(64, 6)
    reference = copy.deepcopy(model)  # float32
    half = Tracker(model.to(dtype), x, layers=["1", "3"], metrics=("cka",), reference=reference).update(0)
    assert half.value.notna().all()
    assert (half.value.to_numpy() > 0.98).all()  # the same net in half precision against its float32 self


def test_streaming_keeps_the_references_gram_parts_instead_of_a_model_copy_where_they_are_smaller(monkeypatch) -> None:
    import repchange.tool.memory as memory_mod
    from repchange.measure.metrics import MinibatchCKA
    from repchange.tool.probes import Probe

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 256), nn.Tanh(), nn.Linear(256, 256))  # 68k parameters: 270 KB
    twin = copy.deepcopy(model)
    x = torch.randn(200, 6)
    with torch.no_grad():
        before = [(model[:2](b), model(b)) for b in Probe(x, 100, 0).batches(model)]
    kept = Tracker(model, x, layers=["1", "2"], metrics=("cka_debiased",), streaming=True, batch_size=100)
    assert kept._reference_model is None and len(kept._reference_parts) == 2  # 2 layers x 2 x 100² floats: 320 KB
    monkeypatch.setattr(memory_mod, "available_bytes", lambda device: 1_000)  # now a copy (270 KB) is smaller
    copied = Tracker(twin, x, layers=["1", "2"], metrics=("cka_debiased",), streaming=True, batch_size=100)
    assert copied._reference_parts is None and isinstance(copied._reference_model, nn.Module)
    for m in (model, twin):
        _steps(m, x)
    a, b = kept.update(1).value.to_numpy(), copied.update(1).value.to_numpy()
    assert a == pytest.approx(b, abs=1e-12) and (a < 1 - 1e-7).all()  # training moved both layers
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()  # measuring left training as it was
    with torch.no_grad():
        after = [(model[:2](batch), model(batch)) for batch in Probe(x, 100, 0).batches(model)]
    for layer in (0, 1):
        direct = MinibatchCKA()
        for (r, c) in zip((p[layer] for p in before), (p[layer] for p in after)):
            direct.update(r, c)
        assert a[layer] == pytest.approx(direct.value, abs=1e-10)


class _Stream(IterableDataset):
    """Rows of ``x`` as a stream: in order, or in a new random order every pass (as a shuffling stream does)."""

    def __init__(self, x: torch.Tensor, shuffle: bool) -> None:
        self.x, self.shuffle = x, shuffle

    def __iter__(self):
        order = torch.randperm(len(self.x)) if self.shuffle else torch.arange(len(self.x))
        return iter(self.x[order])


def test_a_probe_that_yields_another_order_on_a_later_pass_is_refused() -> None:
    torch.manual_seed(0)
    model, x = nn.Sequential(nn.Linear(6, 10), nn.ReLU()), torch.randn(40, 6)
    steady = Tracker(model, DataLoader(_Stream(x, shuffle=False), batch_size=8), layers=["1"], metrics=("cka",))
    assert steady.update(0).value.item() == pytest.approx(1.0)  # the same rows every pass: read as they come
    assert steady.update(1).value.item() == pytest.approx(1.0)
    shuffled = Tracker(model, DataLoader(_Stream(x, shuffle=True), batch_size=8), layers=["1"], metrics=("cka",))
    with pytest.raises(ProbeOrderError, match="other inputs on this pass than on its first"):
        shuffled.update(0)  # unchecked, the same weights would have read as CKA < 1: a change that is not there
