"""Token sequences as a researcher means them: views that honour the attention mask, applied batch by batch."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from repchange.measure.metrics import MinibatchCKA, centred_gram, linear_cka, unbiased_hsic
from repchange.tool.layer_matrix import layer_matrix
from repchange.tool.track import Tracker
from repchange.tool.views import as_samples

T = 16


class MaskedEncoder(nn.Module):
    """Token ids -> embeddings (+ positions) -> a 2-layer transformer encoder that ignores padded positions."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16, padding_idx=0)
        self.position = nn.Parameter(torch.randn(T, 16) * 0.5)
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.embed(input_ids) + self.position[: input_ids.shape[1]]
        return self.encoder(h, src_key_padding_mask=attention_mask == 0)


def _padded(n: int = 48, seed: int = 0) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Right-padded token batches: real lengths 2..T, pad id 0; returns (inputs, lengths)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, T + 1, (n,), generator=g)
    ids = torch.randint(1, 50, (n, T), generator=g)
    mask = (torch.arange(T) < lengths[:, None]).long()
    return {"input_ids": ids * mask, "attention_mask": mask}, lengths


def _outputs(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**inputs)


def _models() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(1)
    a = MaskedEncoder()
    torch.manual_seed(2)
    return a, MaskedEncoder()


def test_the_masked_mean_is_the_mean_over_real_tokens_and_padding_adds_no_similarity() -> None:
    inputs, lengths = _padded()
    reference, model = _models()
    a, b = _outputs(reference, inputs), _outputs(model, inputs)
    real_mean = lambda out: torch.stack([out[i, : lengths[i]].mean(0) for i in range(len(out))])  # noqa: E731
    expected = linear_cka(real_mean(a), real_mean(b), debiased=True)
    tracked = Tracker(model, inputs, layers=["encoder"], metrics=("cka_debiased",), reference=reference, view="mean",
                      probe_seed=None).update(0).value.item()
    assert tracked == pytest.approx(expected, abs=1e-6)
    with_padding = linear_cka(a.mean(1), b.mean(1), debiased=True)  # what the unmasked mean would have reported
    assert abs(with_padding - expected) > 0.01  # the padded positions would have moved the value


@pytest.mark.parametrize("view, pick", [("first", lambda out, n: out[:, 0]),
                                        ("last", lambda out, n: out[torch.arange(len(out)), n - 1])])
def test_first_and_last_take_the_first_and_last_real_token(view: str, pick) -> None:
    inputs, lengths = _padded()
    reference, model = _models()
    a, b = _outputs(reference, inputs), _outputs(model, inputs)
    value = Tracker(model, inputs, layers=["encoder"], metrics=("cka",), reference=reference, view=view,
                    probe_seed=None).update(0).value.item()
    assert value == pytest.approx(linear_cka(pick(a, lengths), pick(b, lengths)), abs=1e-6)


def test_left_padding_reads_the_same_real_tokens() -> None:
    acts = torch.randn(3, 5, 4)
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]])
    assert torch.equal(as_samples(acts, "first", mask), acts[[0, 1, 2], [2, 0, 4]])
    assert torch.equal(as_samples(acts, "last", mask), acts[:, -1])
    assert torch.allclose(as_samples(acts, "mean", mask)[0], acts[0, 2:].mean(0))
    assert as_samples(acts, "positions", mask).shape == (3 + 5 + 1, 4)


def test_dynamically_padded_batches_give_the_same_value_as_one_padded_length() -> None:
    inputs, lengths = _padded()
    reference, model = _models()
    rows = [{"input_ids": inputs["input_ids"][i, : lengths[i]], "attention_mask": inputs["attention_mask"][i, : lengths[i]]}
            for i in range(len(lengths))]

    def collate(batch: list[dict]) -> dict[str, torch.Tensor]:  # Hugging Face's DataCollatorWithPadding, by hand
        longest = max(len(r["input_ids"]) for r in batch)
        pad = lambda t: torch.cat([t, t.new_zeros(longest - len(t))])  # noqa: E731
        return {k: torch.stack([pad(r[k]) for r in batch]) for k in ("input_ids", "attention_mask")}

    loader = DataLoader(rows, batch_size=8, collate_fn=collate)
    assert len({b["input_ids"].shape[1] for b in loader}) > 1  # the batches really differ in length
    streamed = Tracker(model, loader, layers=["encoder"], metrics=("cka_debiased", "procrustes"), reference=reference,
                       view="mean", probe_seed=None).update(0)
    fixed = Tracker(model, inputs, layers=["encoder"], metrics=("cka_debiased", "procrustes"), reference=reference,
                    view="mean", probe_seed=None).update(0)
    assert streamed.value.to_numpy() == pytest.approx(fixed.value.to_numpy(), abs=1e-5)
    matrix = layer_matrix(reference, model, loader, layers_a=["encoder.layers.0", "encoder"], layers_b=["encoder"],
                          view_a="last", probe_seed=None)
    assert len(matrix) == 2 and matrix.value.notna().all()


def test_flatten_on_masked_sequences_is_refused_with_the_fix() -> None:
    inputs, _ = _padded()
    reference, model = _models()
    with pytest.raises(ValueError, match=r"view='flatten' on token sequences with padding.*view='mean'"):
        Tracker(model, inputs, layers=["encoder"], metrics=("cka",), reference=reference, probe_seed=None).update(0)


def test_a_pool_function_is_a_view_and_its_name_is_recorded(tmp_path) -> None:
    inputs, lengths = _padded()
    reference, model = _models()

    def max_over_real(out: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return out.masked_fill(mask[..., None] == 0, -1e9).amax(1)

    a, b = _outputs(reference, inputs), _outputs(model, inputs)
    tracker = Tracker(model, inputs, layers=["encoder"], metrics=("cka",), reference=reference, view=max_over_real,
                      probe_seed=None, out=tmp_path / "run")
    value = tracker.update(0).value.item()
    assert value == pytest.approx(linear_cka(max_over_real(a, inputs["attention_mask"]),
                                             max_over_real(b, inputs["attention_mask"])), abs=1e-6)
    assert '"view": "pool:max_over_real"' in (tmp_path / "run" / "track.json").read_text()
    with pytest.raises(ValueError, match=r"must return \(N, features\)"):
        Tracker(model, inputs, layers=["encoder"], metrics=("cka",), view=lambda out, mask: out, probe_seed=None)
    with pytest.raises(ValueError, match="view must be one of"):
        Tracker(model, inputs, layers=["encoder"], metrics=("cka",), view="average")


def test_a_sample_without_real_tokens_is_named() -> None:
    with pytest.raises(ValueError, match=r"probe samples \[1\] .* no real token"):
        as_samples(torch.randn(2, 3, 4), "mean", torch.tensor([[1, 1, 0], [0, 0, 0]]))


def test_a_batch_constant_on_one_side_is_counted_exactly_not_dropped() -> None:
    torch.manual_seed(0)
    x2, y1, y2 = torch.randn(8, 5), torch.randn(8, 4), torch.randn(8, 4)
    y2 = y2 + x2[:, :4]
    acc = MinibatchCKA(debiased=True)
    acc.update(torch.ones(8, 5), y1)  # X constant on this batch: its centred Gram is zero
    acc.update(x2, y2)
    # the sums over batches: HSIC(K, L) and HSIC(K, K) gain exactly 0 from the constant batch, HSIC(L, L) its own
    h = lambda u, v: float(unbiased_hsic(centred_gram(u), centred_gram(v)))  # noqa: E731
    exact = h(x2, y2) / (h(x2, x2) * (h(y1, y1) + h(y2, y2))) ** 0.5
    assert acc.value == pytest.approx(exact, rel=1e-9)
    dropped = h(x2, y2) / (h(x2, x2) * h(y2, y2)) ** 0.5
    assert dropped > acc.value  # what skipping the batch reported: biased upward
    only_constant = MinibatchCKA(debiased=True)
    only_constant.update(torch.ones(8, 5), y1)
    with pytest.raises(Exception, match="undefined"):
        only_constant.value


def test_hugging_face_hidden_states_without_hooks_equal_the_hooked_modules() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=48, max_position_embeddings=32)
    torch.manual_seed(0)
    model = transformers.BertModel(config)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 60, (40, 16), generator=g)
    lengths = torch.randint(4, 17, (40,), generator=g)
    mask = (torch.arange(16)[None, :] < lengths[:, None]).long()
    probe = {"input_ids": ids * mask, "attention_mask": mask}
    fast = Tracker(model, probe, layers="hidden_states", view="mean", metrics=("cka",), reference=copy.deepcopy(model))
    assert [l.name for l in fast.layers] == ["hidden_states.0", "hidden_states.1", "hidden_states.2"]
    first = lambda out: out[0] if isinstance(out, tuple) else out  # noqa: E731
    hooked = Tracker(model, probe, layers=["embeddings", "encoder.layer.0", "encoder.layer.1"], view="mean",
                     metrics=("cka",), select=first, reference=fast._reference_model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    a, b = fast.update(1), hooked.update(1)
    assert a.value.to_numpy() == pytest.approx(b.value.to_numpy(), abs=1e-6)
    assert (a.value < 1 - 1e-4).all()
    one = Tracker(model, probe, layers="hidden_states.2", view="mean", metrics=("cka",))
    assert [l.name for l in one.layers] == ["hidden_states.2"]
    with pytest.raises(ValueError, match=r"hidden states 0..2"):
        Tracker(model, probe, layers="hidden_states.7", view="mean")
    with pytest.raises(ValueError, match="does not take it"):
        Tracker(nn.Sequential(nn.Linear(4, 4)), torch.randn(10, 4), layers="hidden_states")
