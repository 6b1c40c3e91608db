"""Any two models, any layers: class-sorted probes are permuted before batching, keyword-input probes,
tuple outputs through a selector, token sequences pooled, a layer × layer matrix of different models."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from repchange.measure.metrics import linear_cka, minibatch_cka
from repchange.tool.layer_matrix import best_matches, layer_matrix, plot_matrix
from repchange.tool.probes import Probe
from repchange.tool.track import Tracker


class Passthrough(nn.Module):
    """A model whose one layer ``out`` shows its input through a fixed map (no training needed)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.out = nn.Linear(weight.shape[0], weight.shape[1], bias=False)
        with torch.no_grad():
            self.out.weight.copy_(weight.T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(x)


def _class_sorted_probe() -> torch.Tensor:
    """512 samples of 8 classes stored class by class (as an ImageFolder is read): 16 class features, then
    two blocks of 16 independent per-sample features."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(512) // 64
    means = 2 * torch.randn(8, 16, generator=g)
    return torch.cat([means[labels], torch.randn(512, 32, generator=g)], 1)


def test_streamed_cka_on_a_class_sorted_probe_estimates_cka_of_the_whole_probe() -> None:
    x = _class_sorted_probe()
    g = torch.Generator().manual_seed(1)
    # both models see the class features; each sees its own block of per-sample features
    pick_first, pick_second = torch.zeros(48, 32), torch.zeros(48, 32)
    pick_first[:32, :32] = torch.eye(32)
    pick_second[:16, :16] = torch.randn(16, 16, generator=g)
    pick_second[32:, 16:] = torch.eye(16)
    reference, model = Passthrough(pick_first), Passthrough(pick_second)
    with torch.no_grad():
        a, b = reference(x), model(x)
    whole = linear_cka(a, b, debiased=True)
    in_stored_order = minibatch_cka([(a[i : i + 64], b[i : i + 64]) for i in range(0, 512, 64)])
    streamed = Tracker(model, x, layers=["out"], metrics=("cka_debiased",), reference=reference, streaming=True,
                       batch_size=64).update(0).value.item()
    assert abs(in_stored_order - whole) > 0.3  # one class a batch: within a class only unshared features vary
    assert streamed == pytest.approx(whole, abs=0.05)
    # the same through a DataLoader over the sorted data set, and the order is one seeded permutation
    loader = DataLoader(TensorDataset(x), batch_size=64)
    assert Tracker(model, loader, layers=["out"], metrics=("cka_debiased",), reference=reference,
                   streaming=True).update(0).value.item() == pytest.approx(streamed, abs=1e-9)
    with pytest.raises(ValueError, match="probe_seed"):
        Tracker(model, x, layers=["out"], metrics=("cka_debiased",), reference=reference, streaming=True,
                probe_seed=None)


def test_a_probe_reads_every_sample_once_in_one_seeded_order() -> None:
    x = torch.arange(10.0).reshape(10, 1)
    first = torch.cat(list(Probe(x, batch_size=3, seed=5).batches()))
    assert sorted(first.flatten().tolist()) == list(range(10)) and first.flatten().tolist() != list(range(10))
    assert torch.equal(first, torch.cat(list(Probe(x, batch_size=4, seed=5).batches())))
    assert torch.cat(list(Probe(x, batch_size=3, seed=None).batches())).flatten().tolist() == list(range(10))
    words = {"input_ids": torch.arange(10).reshape(10, 1), "mask": torch.ones(10, 1)}
    batch = next(Probe(words, batch_size=4, seed=5).batches())
    assert set(batch) == {"input_ids", "mask"} and batch["input_ids"].flatten().tolist() == first[:4].flatten().tolist()
    with pytest.raises(ValueError, match="share their first axis"):
        Probe({"a": torch.zeros(3, 1), "b": torch.zeros(4, 1)})


class TinyEncoder(nn.Module):
    """Token ids -> embeddings -> a 2-layer transformer encoder, keyword inputs, batch first."""

    def __init__(self, batch_first: bool = True) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=batch_first)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.batch_first = batch_first

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.embed(input_ids)
        if not self.batch_first:
            h = h.transpose(0, 1)
        return self.encoder(h)


class LSTMNet(nn.Module):
    """A module returning a tuple (nn.LSTM's (output, (h, c)))."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.lstm = nn.LSTM(8, 12, batch_first=True)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.lstm(self.embed(input_ids))[0]


def _hooked(model: nn.Module, module: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    seen = []
    handle = module.register_forward_hook(lambda m, i, o: seen.append(o))
    model.eval()
    with torch.no_grad():
        model(**inputs)
    handle.remove()
    return seen[-1]


def test_token_sequences_through_keyword_inputs_and_pooling() -> None:
    torch.manual_seed(0)
    inputs = {"input_ids": torch.randint(0, 50, (40, 7)), "attention_mask": torch.ones(40, 7)}
    reference, model = TinyEncoder(), TinyEncoder()
    direct = {name: (_hooked(reference, reference.encoder.layers[1], inputs),
                     _hooked(model, model.encoder.layers[1], inputs)) for name in ("x",)}
    a, b = direct["x"]
    for view, pooled in (("mean", lambda t: t.mean(1)), ("first", lambda t: t[:, 0]),
                         ("flatten", lambda t: t.flatten(1)), ("positions", lambda t: t.reshape(-1, 16))):
        value = Tracker(model, inputs, layers=["encoder.layers.1"], metrics=("cka",), reference=reference,
                        view=view, probe_seed=None).update(0).value.item()
        assert value == pytest.approx(linear_cka(pooled(a), pooled(b)), abs=1e-6), view
    with pytest.raises(ValueError, match="batch-first"):
        Tracker(TinyEncoder(batch_first=False), inputs, layers=["encoder.layers.0"], metrics=("cka",))


def test_a_module_returning_a_tuple_is_read_through_a_selector() -> None:
    torch.manual_seed(0)
    ids = torch.randint(0, 50, (30, 5))
    model = LSTMNet()
    with pytest.raises(ValueError, match=r"returns a tuple of 2, not a tensor; pass select="):
        Tracker(model, ids, layers=["lstm"], metrics=("cka",))
    with pytest.raises(ValueError, match="indexes a tuple"):
        Tracker(model, ids, layers=["embed"], metrics=("cka",), select=0)
    reference = LSTMNet()
    tracker = Tracker(model, ids, layers=["lstm"], metrics=("cka",), select=0, reference=reference,
                      reference_layers=["lstm"], reference_select=lambda out: out[1][0].transpose(0, 1), view="mean")
    out_model = model.lstm(model.embed(ids))[0].detach().mean(1)
    h_reference = reference.lstm(reference.embed(ids))[1][0].detach().transpose(0, 1).mean(1)
    row = tracker.update(0).iloc[0]
    assert row.reference_layer == "lstm" and row.value == pytest.approx(linear_cka(h_reference, out_model), abs=1e-6)


def _small_vit() -> nn.Module:
    return torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                hidden_dim=32, mlp_dim=64, num_classes=10)


def test_a_resnet_against_a_vit_layer_by_layer() -> None:
    torch.manual_seed(0)
    resnet, vit = torchvision.models.resnet18(weights=None, num_classes=10), _small_vit()
    images = torch.randn(48, 3, 32, 32)
    table = layer_matrix(resnet, vit, images, layers_a="stages", layers_b=["encoder.layers.encoder_layer_?"],
                         metrics=("cka", "cka_debiased"), view_a="mean", view_b="first")
    layers_a, layers_b = table.attrs["layers_a"], table.attrs["layers_b"]
    assert layers_a == ["relu", "layer1", "layer2", "layer3", "layer4"]
    assert layers_b == ["encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"]
    assert len(table) == 2 * len(layers_a) * len(layers_b)
    assert table.attrs["factorisations"] == len(layers_a) + len(layers_b)  # n_a + n_b, not n_a × n_b
    # each cell equals the metric on the two layers' pooled outputs computed directly
    resnet.eval(), vit.eval()
    with torch.no_grad():
        seen = {}
        hooks = [resnet.layer2.register_forward_hook(lambda m, i, o: seen.__setitem__("a", o)),
                 vit.encoder.layers[1].register_forward_hook(lambda m, i, o: seen.__setitem__("b", o))]
        resnet(images), vit(images)
        for h in hooks:
            h.remove()
    expected = linear_cka(seen["a"].mean((2, 3)), seen["b"][:, 0], debiased=True)
    cell = table.query("layer_a == 'layer2' and layer_b == 'encoder.layers.encoder_layer_1' and "
                       "metric == 'cka_debiased'").value.item()
    assert cell == pytest.approx(expected, abs=1e-6)
    best = best_matches(table, "cka")
    assert list(best.side) == ["a"] * len(layers_a) + ["b"] * len(layers_b)
    assert set(best[best.side == "a"].best) <= set(layers_b)
    fig = plot_matrix(table, "cka_debiased")
    assert fig.axes[0].get_xticklabels()[0].get_text() == layers_b[0]


def test_a_model_against_itself_matches_each_layer_with_itself() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 30), nn.Tanh(), nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 4))
    x = torch.randn(80, 6)
    table = layer_matrix(model, model, x, layers_a=["1", "3", "4"], layers_b=["1", "3", "4"], metrics=("cka",))
    best = best_matches(table)
    assert list(best[best.side == "a"].best) == ["1", "3", "4"]
    assert table.query("layer_a == layer_b").value.tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert table.attrs["factorisations"] == 3
    with pytest.raises(ValueError, match="view_b='positions'"):
        layer_matrix(model, model, x, layers_a=["1"], layers_b=["1"], view_b="positions")
    with pytest.raises(ValueError, match="filter_procrustes pairs filters"):
        layer_matrix(model, model, x, layers_a=["1"], layers_b=["1"], metrics=("filter_procrustes",))


def test_a_layer_matrix_with_its_null_and_an_undefined_cell() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU())
    with torch.no_grad():
        model[2].bias.fill_(-100.0)  # layer 3 dead on every sample
    table = layer_matrix(model, model, torch.randn(40, 5), layers_a=["1", "3"], layers_b=["1", "3"],
                         metrics=("cka",), null=20)
    dead = table[(table.layer_a == "3") | (table.layer_b == "3")]
    assert dead.value.isna().all() and dead.note.str.startswith("undefined:").all()
    alive = table.query("layer_a == '1' and layer_b == '1'").iloc[0]
    assert alive.p_value == pytest.approx(1 / 21) and not math.isnan(alive.null_mean)
    assert pd.isna(best_matches(table).set_index(["side", "layer"]).loc[("a", "3"), "best"])


def test_a_glob_matches_part_by_part_between_the_dots() -> None:
    from repchange.tool.hooks import resolve_layers

    names = [l.name for l in resolve_layers(_small_vit(), ["encoder.layers.*"])]
    assert names == ["encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"]  # not their submodules
    resnet = torchvision.models.resnet18(weights=None)
    assert [l.name for l in resolve_layers(resnet, ["layer*"])] == ["layer1", "layer2", "layer3", "layer4"]
    assert len(resolve_layers(resnet, ["layer1.*.conv?"])) == 4


def test_a_probe_that_cannot_be_permuted_says_so_and_streaming_refuses_it() -> None:
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(torch.randn(40, 4, generator=torch.Generator().manual_seed(0)))

    class Unsized(torch.utils.data.Dataset):
        def __getitem__(self, i: int) -> torch.Tensor:
            return torch.randn(4, generator=torch.Generator().manual_seed(i))

    sized = TensorDataset(torch.randn(40, 4))
    assert Probe(sized).permuted and Probe(DataLoader(sized, batch_size=8)).permuted
    assert not Probe(sized, seed=None).permuted
    assert not Probe(Stream()).permuted and not Probe(DataLoader(Unsized(), sampler=range(40), batch_size=8)).permuted
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
    with pytest.raises(ValueError, match="IterableDataset"):
        Tracker(model, DataLoader(Stream(), batch_size=8), layers=["1"], metrics=("cka_debiased",), streaming=True)
    exact = Tracker(model, DataLoader(Stream(), batch_size=8), layers=["1"], metrics=("cka",))  # order is irrelevant
    assert exact.update(0).value.item() == pytest.approx(1.0)


def test_the_streamed_matrix_equals_minibatch_cka_per_pair_and_exact_with_one_batch() -> None:
    from repchange.measure.metrics import MinibatchCKA, linear_cka
    from repchange.tool.probes import Probe

    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(6, 20), nn.Tanh(), nn.Linear(20, 10), nn.ReLU())
    b = nn.Sequential(nn.Linear(6, 14), nn.ReLU(), nn.Linear(14, 8))
    x = torch.randn(130, 6)
    table = layer_matrix(a, b, x, layers_a=["1", "3"], layers_b=["1", "2"], metrics=("cka_debiased",),
                         streaming=True, batch_size=32, probe_seed=3)
    assert len(table) == 4 and table.note.eq("").all()
    order = Probe(x, 32, 3)  # the same batches, in the same order: MinibatchCKA per pair, written out
    for row in table.itertuples():
        acc = MinibatchCKA()
        for batch in order.batches(a):
            if len(batch) < 4:
                continue
            with torch.no_grad():
                acc.update(a[: int(row.layer_a) + 1](batch), b[: int(row.layer_b) + 1](batch))
        assert row.value == pytest.approx(acc.value, abs=1e-10)
    whole = layer_matrix(a, b, x, layers_a=["3"], layers_b=["2"], metrics=("cka_debiased",), streaming=True,
                         batch_size=130)
    with torch.no_grad():
        exact = linear_cka(a(x), b(x), debiased=True)
    assert whole.value.item() == pytest.approx(exact, abs=1e-8)  # float32 activations of a permuted batch
    with pytest.raises(ValueError, match=r"streaming=True computes only metrics=\('cka_debiased',\)"):
        layer_matrix(a, b, x, metrics=("cka",), streaming=True, layers_a=["1"], layers_b=["1"])
