"""Study B's tables read their probe a chunk of images at a time: the same numbers as the whole probe at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repchange.data.datasets import Split
from repchange.measure.position_moments import PairStream, ReferenceStream, pair_moments, pwsm_alphas_from_moments
from repchange.nets.architectures import build_architecture
from repchange.studies.b import tables
from repchange.studies.b.streaming import EXTRACTION_BATCH, ChunkPlan, ProbeMaps, chunk_plan

ALPHAS = (0.0, 0.5, 1.0)


def _maps(seed: int, n: int, c: int, h: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.relu(torch.randn(n, c, h, h, generator=g)) + 2.0
    return x, torch.relu(x + 0.5 * torch.randn(n, c, h, h, generator=g))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 14), c=st.integers(1, 40), h=st.integers(1, 5),
       classes=st.integers(1, 4), step=st.integers(1, 5))
def test_moments_streamed_in_chunks_match_the_whole_probe(seed: int, n: int, c: int, h: int, classes: int,
                                                          step: int) -> None:
    x, y = _maps(seed, n, c, h)
    labels = torch.arange(n) % classes
    whole = pair_moments(x, y, labels)
    stream = PairStream(labels, n)
    for start in range(0, n, step):
        stream.add(x[start : start + step], y[start : start + step])
    streamed = stream.finish()
    assert list(streamed) == list(whole)
    for group, moments in whole.items():
        assert (moments.positions is None) == (streamed[group].positions is None)
        # whitening a group of barely more positions than channels magnifies the float order of the sums (another
        # shift, another order): 3.7e-8 rad at 16 positions of 15 channels; with twice the channels' positions, 1e-9
        alphas = [1.0] if moments.count < 2 * moments.channels else list(ALPHAS)
        if moments.x.constant or moments.y.constant:
            continue
        a = pwsm_alphas_from_moments(moments, alphas)
        b = pwsm_alphas_from_moments(streamed[group], alphas)
        # compared as cosines: near 0 rad, arccos turns a rounding of 1e-16 in the cosine into 1e-8 rad (one channel,
        # five positions, hypothesis seed 1: 4.9e-8 rad apart, cosines 1e-15 apart)
        assert max(abs(np.cos(a[k]) - np.cos(b[k])) for k in alphas) < 1e-11


def test_one_chunk_is_the_whole_probe_to_the_bit() -> None:
    x, y = _maps(3, 12, 6, 4)
    labels = torch.arange(12) % 3
    stream = PairStream(labels, 12)
    stream.add(x, y)
    streamed = stream.finish()
    for group, moments in pair_moments(x, y, labels).items():
        assert torch.equal(streamed[group].cross, moments.cross) and torch.equal(streamed[group].y.cov, moments.y.cov)
        assert torch.equal(streamed[group].x.cov, moments.x.cov)


def test_a_stream_refuses_too_many_or_too_few_images() -> None:
    x, y = _maps(1, 6, 3, 2)
    stream = ReferenceStream(None, 4)
    with pytest.raises(ValueError, match="6 images given to moments of 4"):
        stream.add(x)
    stream.add(x[:3])
    with pytest.raises(ValueError, match="were given 3"):
        stream.finish()
    pair = PairStream(None, 6)
    pair.add(x[:2], y[:2])
    with pytest.raises(ValueError, match="one shape"):
        pair.add(x[2:4, :2], y[2:4, :2])


def test_the_chunk_is_the_extraction_batch_where_batch_statistics_make_it_matter() -> None:
    bn_net = build_architecture("vgg_small", in_channels=1, num_classes=3)
    plain = build_architecture("vgg19", in_channels=3, num_classes=3, weights=None)
    assert chunk_plan(bn_net, 1200, 10**6, "batch").images == EXTRACTION_BATCH
    assert chunk_plan(bn_net, 1200, 10**6, "eval", budget=10**8).images == 50  # 2 nets x 1 MB an image
    vgg19 = chunk_plan(plain, 300, 24_485_888, "batch")  # VGG19's five probed layers at 224 px
    assert vgg19.images == 21 and not vgg19.whole and len(vgg19.slices) == 15
    assert chunk_plan(plain, 10, 24_485_888, "batch").whole


def _probe(n: int, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    return Split(torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g), torch.arange(n) % 4)


def _nets(arch: str = "vgg_small") -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(1)
    a = build_architecture(arch, in_channels=1, num_classes=4)
    torch.manual_seed(2)
    return a, build_architecture(arch, in_channels=1, num_classes=4)


def _frame(distances: dict) -> pd.DataFrame:
    return pd.DataFrame([dict(layer=layer, **row) for layer, d in distances.items() for row in d.rows()])


@pytest.mark.parametrize("bn", ["eval", "batch"])
def test_a_table_read_in_chunks_has_the_whole_probes_numbers(bn: str) -> None:
    """Per-filter values to the bit, PWSM to 1e-10 rad; with batch statistics the chunk must be the extraction batch,
    so the whole probe is one chunk and nothing changes."""
    probe, (source_net, tuned_net) = _probe(24), _nets()
    params = tables.DynamicsParams(alphas=ALPHAS)
    rows = {}
    # whole; 5-image forward passes; 5-image chunks of one 24-image forward pass, spilled to disk; a batch of 10
    plans = {"whole": ChunkPlan(24, 24, "test"), "own passes": ChunkPlan(24, 5, "test"),
             "spilled": ChunkPlan(24, 5, "test", batch=24), "batches of 10": ChunkPlan(24, 5, "test", batch=10)}
    for name, plan in plans.items():
        source, tuned = ProbeMaps(source_net, probe, plan, bn=bn), ProbeMaps(tuned_net, probe, plan, bn=bn)
        rows[name] = _frame(tables._distances(source, tuned, probe.labels, params))
        assert (source.kept is not None) == plan.whole
    assert plans["spilled"].spilled and not plans["own passes"].spilled
    assert [(s.start, s.stop) for s in plans["batches of 10"].slices] == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 24)]
    whole = rows["whole"]
    filters = whole.metric == "procrustes_filter"
    same = ["spilled", "own passes"] if bn == "eval" else ["spilled"]
    for name in same:
        chunked = rows[name]
        assert whole[["layer", "cls", "metric"]].equals(chunked[["layer", "cls", "metric"]])
        assert np.array_equal(whole[filters].value.to_numpy(), chunked[filters].value.to_numpy()), name
        assert np.allclose(whole[~filters].value, chunked[~filters].value, atol=1e-10, rtol=0, equal_nan=True), name
    if bn == "batch":  # batch statistics of other batches are other maps: the plan keeps the extraction batch
        assert not np.allclose(whole.value, rows["own passes"].value, equal_nan=True)
        assert chunk_plan(source_net, 24, 10**4, "batch").whole
        tight = chunk_plan(source_net, 24, 10**6, "batch", budget=10**7)  # 5 images a chunk, one 24-image pass
        assert (tight.images, tight.batch, tight.spilled) == (5, 24, True)


def test_the_agreements_per_filter_distances_read_in_chunks_are_the_same() -> None:
    probe, (source_net, tuned_net) = _probe(40), _nets()
    keep = tables._kept(probe.labels)
    out = []
    for images in (40, 7):
        plan = ChunkPlan(40, images, "test")
        source = ProbeMaps(source_net, probe, plan, bn="eval")
        out.append(tables._agreement_distances(source, ProbeMaps(tuned_net, probe, plan, bn="eval"), keep, "rows", {}))
    for layer, distances in out[0].items():
        for name, values in distances.items():
            assert values.shape[0] == int(keep.sum())
            assert np.array_equal(values, out[1][layer][name], equal_nan=True), (layer, name)


def test_tables_run_as_many_at_once_as_fit_and_one_that_cannot_is_refused_before_anything_trains(
        tmp_path, monkeypatch) -> None:
    from repchange.runs.runtime import Runtime
    from repchange.runs.store import Store
    from repchange.studies.b import streaming

    vgg19 = streaming.table_plan("vgg19", 300, 224, 3, "batch")
    shapes = streaming.probe_shapes("vgg19", 224, 3)
    one = streaming.predicted_peak_bytes(vgg19, shapes, "vgg19")
    table = ("vgg19 on a", "vgg19", vgg19, shapes)
    monkeypatch.setattr(streaming, "available_bytes", lambda device: int(2.6 * one / streaming.MEMORY_SHARE))
    assert streaming.tables_at_once([table] * 4, 16, torch.device("cpu")) == 2  # two fit, not three
    assert streaming.tables_at_once([table] * 4, 1, torch.device("cpu")) == 1
    monkeypatch.setattr(streaming, "available_bytes", lambda device: 4 * 2**30)
    with pytest.raises(MemoryError, match="REPCHANGE_TABLE_CHUNK_GB below 1.00"):
        streaming.tables_at_once([table], 2, torch.device("cpu"))
    resnet = streaming.table_plan("resnet50", 300, 224, 3, "batch")  # batch statistics: the chunk is the batch
    with pytest.raises(MemoryError, match="CHUNK_GB below 1.00.*lower b_probe_size, or extract with extraction_bn 'eval'"):
        streaming.tables_at_once([("resnet50 on a", "resnet50", resnet, streaming.probe_shapes("resnet50", 224, 3))],
                                 1, torch.device("cpu"))
    monkeypatch.setenv("REPCHANGE_TABLE_CHUNK_GB", "0.25")
    small = streaming.table_plan("vgg19", 300, 224, 3, "batch")
    assert small.images == 5
    assert streaming.tables_at_once([("vgg19 on a", "vgg19", small, shapes)], 1, torch.device("cpu")) == 1
    monkeypatch.setenv("REPCHANGE_TABLE_CHUNK_GB", "none")
    with pytest.raises(ValueError, match="REPCHANGE_TABLE_CHUNK_GB must be a positive number"):
        streaming.chunk_bytes()
    monkeypatch.delenv("REPCHANGE_TABLE_CHUNK_GB")

    # through a table: refused before its runs are trained (nothing is lost, nothing half-done)
    monkeypatch.setattr(streaming, "available_bytes", lambda device: 1000)
    params = tables.dynamics_params(archs=["vgg_small"], targets=["digits"], seeds=[1], source_epochs=1,
                                    source_size=64, finetune_epochs=1, finetune_checkpoints=[0, 1], finetune_size=32,
                                    finetune_eval_size=40, finetune_lr=1e-3, finetune_batch_size=16, n_probe=20)
    with pytest.raises(MemoryError, match="lower b_probe_size"):
        tables.dynamics(params, Runtime(Store(tmp_path / "store"), "cpu"))
    assert not any((tmp_path / "store").rglob("*.pt"))
