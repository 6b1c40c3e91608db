"""Study B's engine: target splits, source and fine-tuning runs, and the feature-dynamics table."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from repchange.data import datasets as data
from repchange.measure.features import positions_as_samples
from repchange.measure.metrics import pwsm, pwsm_key
from repchange.runs.runtime import Runtime
from repchange.runs.store import Store
from repchange.studies import deviations
from repchange.studies.b import runs, tables

SOURCE = runs.SourceConfig(arch="vgg_small", epochs=1, train_size=256)
TINY = runs.FinetuneBConfig(source=SOURCE, epochs=2, checkpoints=(0, 1, 2), train_size=64, eval_size=40)


def _rows_of(images: torch.Tensor, pool: torch.Tensor) -> set[bytes]:
    return {bytes(img.numpy().tobytes()) for img in images} & {bytes(img.numpy().tobytes()) for img in pool}


def test_the_transfer_design_separates_source_and_target_classes_and_images() -> None:
    fm = data.load("fashion_mnist")
    source_train, source_eval = runs.source_splits(SOURCE)
    source_idx = torch.nonzero(torch.isin(fm.train.labels, torch.tensor(runs.SOURCE_CLASSES))).flatten()[:256]
    assert torch.equal(source_train.images, fm.train.images[source_idx])  # the first 256 images of classes 0-4
    assert set(source_train.labels.tolist()) == set(range(5)) and len(source_eval) == 1000
    new, new_eval, classes = runs.target_splits(replace(TINY, target="fashion_new_classes"))
    assert classes == 5 and new.labels.bincount().tolist() == [13, 13, 13, 13, 12]  # 64 stratified over 5 classes
    assert new_eval.labels.bincount().tolist() == [8] * 5
    new_originals = fm.train.labels[torch.isin(fm.train.labels, torch.tensor(runs.NEW_CLASSES))]
    assert set(new_originals.tolist()) == {5, 6, 7, 8, 9}
    assert not _rows_of(new.images, source_train.images)  # never a source image
    inverted, inverted_eval, _ = runs.target_splits(replace(TINY, target="fashion_inverted"))
    assert torch.equal(inverted.images, 255 - new.images) and torch.equal(inverted.labels, new.labels)
    assert torch.equal(inverted_eval.images, 255 - new_eval.images)
    held, _, classes = runs.target_splits(replace(TINY, target="fashion_heldout"))
    assert classes == 5 and not _rows_of(held.images, source_train.images)
    coarse, _, classes = runs.target_splits(replace(TINY, target="fashion_coarse"))
    assert classes == 4 and set(coarse.labels.tolist()) == {0, 1, 2, 3} and not _rows_of(coarse.images, source_train.images)
    digits, digits_eval, _ = runs.target_splits(replace(TINY, target="digits"))
    assert digits.images.shape[1:] == (1, 28, 28) and len(digits_eval) == 40
    assert digits_eval.labels.bincount().tolist() == [4] * 10  # stratified, not the first 40


def test_stratified_subsets_cover_every_class_of_a_class_sorted_split() -> None:
    sorted_split = data.Split(torch.zeros(200, 1, 2, 2, dtype=torch.uint8), torch.arange(20).repeat_interleave(10))
    first = sorted_split.subset(slice(0, 30))
    assert len(set(first.labels.tolist())) == 3  # what a first-n probe of Fruits-360's test tree gives
    chosen = sorted_split.stratified(30, seed=42)
    assert chosen.labels.bincount().tolist() == [2] * 10 + [1] * 10 or sorted(chosen.labels.bincount().tolist()) == [1] * 10 + [2] * 10
    assert torch.equal(chosen.labels, sorted_split.stratified(30, seed=42).labels)  # fixed seed: the same subset
    assert sorted_split.stratified(None) is sorted_split and sorted_split.stratified(500) is sorted_split


@pytest.mark.parametrize("change, message", [
    (dict(target="imagenet"), "unknown target 'imagenet'"),
    (dict(source=replace(SOURCE, arch="vgg19")), "vgg19 cannot be fine-tuned on 'fashion_new_classes'"),
    (dict(target="scene15"), "the torchvision nets with the paper targets"),
    (dict(source=replace(SOURCE, arch="alexnet")), "unknown architecture 'alexnet'"),
    (dict(train_size=None), "offline targets need explicit train_size"),
    (dict(checkpoints=(1, 2)), "checkpoints must include 0"),
    (dict(checkpoints=(0, 5)), r"lie in 0\.\.2"),
])
def test_bad_study_b_configs_name_the_problem(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(TINY, **change).validate()


@pytest.mark.slow
def test_dynamics_start_at_zero_move_away_and_are_stored_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "store")
    params = tables.DynamicsParams(finetune=TINY, archs=("vgg_small", "densenet_small"),
                                    targets=("fashion_coarse", "digits"), n_probe=20)
    table = tables.dynamics(params, runtime=Runtime(store, "cpu"))
    assert set(table.arch) == {"vgg_small", "densenet_small"} and set(table.target) == {"fashion_coarse", "digits"}
    agreement = tables.filter_agreement(params, runtime=Runtime(store, "cpu"))  # reuses the stored fine-tuning runs
    assert set(agreement.epoch) == {1, 2} and (agreement.cls != "all").all()
    assert set(agreement.pairing) == {"pwsm_alpha_0.5", "cka"} == set(tables.AGREEMENT_PAIRINGS)
    assert tables.AGREEMENT_PAIRINGS[0] == pwsm_key(tables.AGREEMENT_ALPHA)
    cells = agreement.groupby(["arch", "target", "seed", "layer", "epoch", "cls"]).size()
    assert (cells == 2).all()  # every cell has one r per pairing
    for pairing in ("pwsm_alpha_0.5", "cka"):
        finite = agreement[agreement.pairing == pairing].r.dropna()
        assert len(finite) > 0.5 * len(cells) and finite.between(-1, 1).all(), pairing
    assert (agreement.n_filters[agreement.r.notna()] >= 3).all()
    # the deviations page's comparison reads the same r's as the table at the last checkpoint (20 probes: under 16 a class)
    images = deviations.agreement_images_effect(params, "vgg_small", "digits", Runtime(store, "cpu"))
    stored = agreement[(agreement.arch == "vgg_small") & (agreement.target == "digits") & (agreement.epoch == 2)]
    both = images.merge(stored.astype({"cls": str}), on=["layer", "cls", "pairing"], validate="one_to_one")
    assert len(both) == len(images) == len(stored)
    np.testing.assert_allclose(both.images.to_numpy(), both.r.to_numpy(), equal_nan=True)
    np.testing.assert_allclose(images.difference.fillna(0).to_numpy(), 0.0, atol=1e-12)
    _, maps, _ = tables.checkpoint_maps(tables.run_config(params, "vgg_small", "digits"), None, 20, Runtime(store, "cpu"))
    widths = agreement[(agreement.arch == "vgg_small") & (agreement.target == "digits")].groupby("layer").n_filters.max()
    assert all(widths[layer] <= m.shape[1] for layer, m in maps[2].items())  # at most every filter of the layer
    # the deviations page's PWSM conventions from the positions' moments: the values of the positions themselves
    conventions = deviations.pwsm_convention_effect(params, "vgg_small", "digits", runtime=Runtime(store, "cpu"))
    assert len(conventions) > 0
    for row in conventions.itertuples():
        x, y = positions_as_samples(maps[0][row.layer]), positions_as_samples(maps[2][row.layer])
        assert row.ours == pytest.approx(pwsm(x, y, alpha=0.5), abs=1e-9)  # measured: within 1e-14 rad
        assert row.netrep == pytest.approx(pwsm(x, y, alpha=0.5, scale_free=False), abs=1e-9)
    assert set(table.metric) == {"procrustes_filter", "pwsm_alpha_0", "pwsm_alpha_0.5", "pwsm_alpha_1"}
    assert set(table.epoch) == {0, 1, 2}
    start = table[table.epoch == 0]
    assert start.value.abs().max() < 1e-5  # the source net against itself
    moved = table[(table.epoch == 2) & (table.cls == "all")]
    assert (moved.value > 1e-4).all()  # every layer of every net moved
    assert table.value.dropna().between(0, math.pi / 2 + 1e-9).all()
    assert table[table.cls == "all"].value.notna().all()
    undefined = table[table.value.isna()]
    assert (undefined.cls != "all").all() and not undefined.metric.eq("pwsm_alpha_1").any()
    procrustes = table[table.metric == "procrustes_filter"]
    assert procrustes.dead_fraction.between(0, 1).all()
    classes = set(table[table.cls != "all"].cls)
    assert classes and classes <= {str(c) for c in range(10)}
    layers = table[table.arch == "densenet_small"].layer.unique().tolist()
    assert layers == ["denseblock1", "transition1", "denseblock2", "transition2", "denseblock3"]
    again = tables.dynamics(params, runtime=Runtime(store, "cpu"))
    assert again.equals(table)
    # the deviations page's last-checkpoint table: the same numbers as the dynamics table's rows there
    last = tables.last_checkpoint_distances(params, runtime=Runtime(store, "cpu"))
    full = table[(table.epoch == 2) & (table.cls == "all")].drop(columns=["cls", "train_acc", "test_acc"])
    keys = ["arch", "target", "seed", "layer", "metric"]
    both = last.merge(full, on=keys, suffixes=("", "_full"), validate="one_to_one")
    assert len(both) == len(full) == len(last) and (both.epoch == 2).all()
    np.testing.assert_allclose(both.value, both.value_full, rtol=1e-12)
    np.testing.assert_allclose(both.dead_fraction, both.dead_fraction_full, rtol=1e-12)
    # computed in the calling process instead of two workers: the same numbers to the bit (one thread either way)
    monkeypatch.setenv("REPCHANGE_WORKERS", "1")
    shutil.rmtree(store.root / "study_b" / "dynamics")
    pd.testing.assert_frame_equal(tables.dynamics(params, runtime=Runtime(store, "cpu")), table)
    monkeypatch.delenv("REPCHANGE_WORKERS")
    assert len(list((store.root / "study_b" / "source").iterdir())) == 2  # one source net per architecture
    chance = tables.filter_agreement_chance(params, runtime=Runtime(store, "cpu"))  # trains each net's twin
    assert set(chance.pairing) == set(agreement.pairing) and "epoch" not in chance
    assert set(chance.arch) == {"vgg_small", "densenet_small"} and chance.r.dropna().between(-1, 1).all()
    assert len(list((store.root / "study_b" / "source").iterdir())) == 4
    assert len(list((store.root / "study_b" / "finetune").iterdir())) == 4


@pytest.mark.slow
def test_checkpoint_maps_give_every_epoch_and_the_receptive_fields(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    params = tables.DynamicsParams(finetune=TINY, archs=("vgg_small",), targets=("digits",), n_probe=20)
    cfg = tables.run_config(params, "vgg_small", "digits")
    probe, maps, fields = tables.checkpoint_maps(cfg, ["conv2_2"], 12, runtime=Runtime(store, "cpu"))
    assert len(probe) == 12 and sorted(maps) == [0, 1, 2]
    assert maps[0]["conv2_2"].shape == (12, 32, 14, 14) and not torch.equal(maps[0]["conv2_2"], maps[2]["conv2_2"])
    assert fields["conv2_2"].jump == 2.0
    with pytest.raises(ValueError, match=r"vgg_small has no probed layer\(s\) \['layer9'\]"):
        tables.checkpoint_maps(cfg, ["layer9"], 12, runtime=Runtime(store, "cpu"))
    _, two, _ = tables.checkpoint_maps(cfg, ["conv2_2"], 12, runtime=Runtime(store, "cpu"), epochs=[2, 0])
    assert sorted(two) == [0, 2] and torch.equal(two[2]["conv2_2"], maps[2]["conv2_2"])
    with pytest.raises(ValueError, match=r"epochs \[5\] are not checkpoints of the run; it saved \[0, 1, 2\]"):
        tables.checkpoint_maps(cfg, ["conv2_2"], 12, runtime=Runtime(store, "cpu"), epochs=[0, 5])


def _scene_tree(root: Path, classes: int = 3, per_class: int = 8) -> None:
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    for c in range(classes):
        folder = root / "scene15" / f"class{c}"
        folder.mkdir(parents=True)
        for k in range(per_class):
            pixels = torch.randint(0, 256, (48, 40, 3), generator=gen, dtype=torch.uint8).numpy()
            Image.fromarray(pixels).save(folder / f"{k}.png")


@pytest.mark.slow
def test_paper_path_fine_tunes_a_torchvision_net_on_an_image_folder_target(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The paper profile's code path, small: ResNet50 (random weights here) on a generated 15-Scene tree."""
    from repchange.data import image_folders

    monkeypatch.setattr(image_folders, "CACHE_ROOT", tmp_path / "cache")
    _scene_tree(tmp_path / "data")
    source = runs.SourceConfig(arch="resnet50", weights=None)
    cfg = runs.FinetuneBConfig(source=source, target="scene15", epochs=1, checkpoints=(0, 1), train_size=None,
                                  eval_size=None, image_size=64)
    params = tables.DynamicsParams(finetune=cfg, archs=("resnet50",), targets=("scene15",), alphas=(1.0,), n_probe=5)
    store = Store(tmp_path / "store")
    table = tables.dynamics(params, runtime=Runtime(store, "cpu", data_root=str(tmp_path / "data")))
    assert table.layer.unique().tolist() == ["conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x"]
    overall = table[table.cls == "all"]
    assert overall[overall.epoch == 0].value.abs().max() < 1e-5
    moved = overall[overall.epoch == 1]
    assert (moved[moved.metric == "pwsm_alpha_1"].value > 0).all() and (moved.value >= 0).all()
    assert not (store.root / "study_b" / "source").exists()  # the published weights are the source: no training
    _, ev, classes = runs.target_splits(cfg, str(tmp_path / "data"))
    assert classes == 3 and len(ev) == 5 and ev.images.shape[1:] == (3, 64, 64)  # 24 images, 80/20
    model = runs.model_at(cfg, runs.finetune_b(cfg, runtime=Runtime(store, data_root=str(tmp_path / "data"))), 1, 3)
    assert model.input_stats == data.IMAGENET_STATS and model.fc.out_features == 3
    with pytest.raises(ValueError, match="n_probe=7 exceeds the 5 evaluation images of scene15"):
        tables.dynamics(replace(params, n_probe=7), runtime=Runtime(store, "cpu", data_root=str(tmp_path / "data")))


def test_missing_imagenet_weights_stop_fine_tuning_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from repchange.data import image_folders
    from repchange.nets.architectures import WeightsNotFoundError

    monkeypatch.setattr(image_folders, "CACHE_ROOT", tmp_path / "cache")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    _scene_tree(tmp_path / "data")
    cfg = runs.FinetuneBConfig(source=runs.SourceConfig(arch="vgg19"), target="scene15", epochs=1,
                                  checkpoints=(0, 1), train_size=None, eval_size=None, image_size=32)
    store = Store(tmp_path / "store")
    with pytest.raises(WeightsNotFoundError, match="not in the local cache"):
        runs.finetune_b(cfg, runtime=Runtime(store, "cpu", data_root=str(tmp_path / "data")))
    assert not any(store.is_complete(run) for run in (store.root / "study_b" / "finetune").iterdir())


@pytest.mark.slow
def test_baseline_compares_the_source_with_an_independently_trained_twin(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    params = tables.DynamicsParams(finetune=TINY, archs=("vgg_small",), targets=("fashion_heldout", "digits"),
                                    n_probe=20)
    base = tables.baseline(params, runtime=Runtime(store, "cpu"))
    assert set(base.target) == {"fashion_heldout", "digits"} and set(base.seed) == {1}
    assert base.layer.unique().tolist() == ["conv1_2", "conv2_2", "conv3_2", "conv4_2"]
    assert (base[base.metric.str.startswith("pwsm")].value > 0.01).all()  # another seed: another net
    sources = sorted(run.name for run in (store.root / "study_b" / "source").iterdir())
    assert len(sources) == 2  # the source (seed 1) and its twin (seed 1001), shared by both targets
    assert tables.baseline(params, runtime=Runtime(store, "cpu")).equals(base)


@pytest.mark.slow
def test_any_image_folder_is_a_target_for_the_small_nets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """folder:<path>: split 80/20 with seed 42 (or its own train/test folders), grey 28x28 for a small net."""
    from repchange.data import image_folders

    monkeypatch.setattr(image_folders, "CACHE_ROOT", tmp_path / "cache")
    _scene_tree(tmp_path / "mine", classes=3, per_class=10)
    target = f"folder:{tmp_path / 'mine' / 'scene15'}"
    cfg = replace(TINY, target=target, train_size=None, eval_size=None)
    cfg.validate()
    train_split, ev, classes = runs.target_splits(cfg)
    assert classes == 3 and (len(train_split), len(ev)) == (24, 6)
    assert train_split.images.shape[1:] == (1, 28, 28) and train_split.images.dtype == torch.uint8
    assert runs.class_names(target) == {0: "class0", 1: "class1", 2: "class2"}
    assert "ImageFolder tree" in runs.describe_target(target)
    params = tables.DynamicsParams(finetune=cfg, archs=("vgg_small",), targets=(target,), alphas=(1.0,), n_probe=6)
    table = tables.dynamics(params, runtime=Runtime(Store(tmp_path / "store"), "cpu"))
    overall = table[(table.cls == "all") & (table.metric == "pwsm_alpha_1")]
    assert overall[overall.epoch == 0].value.abs().max() < 1e-5 and (overall[overall.epoch == 2].value > 0).all()
    # a tree with its own train/test folders keeps them
    (tmp_path / "split").mkdir()
    for part, n in (("train", 4), ("test", 2)):
        _scene_tree(tmp_path / "raw" / part, classes=2, per_class=n)
        (tmp_path / "raw" / part / "scene15").rename(tmp_path / "split" / part)
    own = replace(cfg, target=f"folder:{tmp_path / 'split'}")
    tr, ev, classes = runs.target_splits(own)
    assert (len(tr), len(ev), classes) == (8, 4, 2)
    with pytest.raises(data.DataNotFoundError, match="does not exist"):
        runs.target_splits(replace(cfg, target=f"folder:{tmp_path / 'nothing'}"))


@pytest.mark.slow
def test_filter_choice_picks_the_most_and_least_changed_filter_of_the_default_layers(tmp_path: Path) -> None:
    from repchange.studies.b import filter_choice

    params = tables.DynamicsParams(finetune=TINY, archs=("vgg_small",), targets=("digits",), n_probe=20)
    choice = filter_choice.choose_filters(params, "vgg_small", "digits", None, 12,
                                          Runtime(Store(tmp_path / "store"), "cpu"))
    assert choice.layers == ["conv2_2", "conv3_2"] and choice.epochs == [0, 1, 2]  # the second and second-to-last
    assert list(choice.maps[0]) == choice.layers  # only the chosen layers' maps are held
    full = tables.checkpoint_maps(choice.cfg, choice.layers, 12, Runtime(Store(tmp_path / "store"), "cpu"))[1]
    for epoch in choice.epochs:  # and of those only the chosen filters', at every epoch: the very maps
        for layer, (most, least) in choice.chosen.items():
            assert torch.equal(choice.maps[epoch][layer], full[epoch][layer][:, [most, least]])
    for layer, (most, least) in choice.chosen.items():
        table = choice.changes[layer]
        live = table[(table.dead_fraction <= 0.5) & table.distance.notna()].set_index("filter").distance
        assert live[most] == live.max() and live[least] == live.min() and most != least
    assert any("receptive field" in line for line in choice.summary_lines())


def test_agreement_images_keep_the_first_images_of_each_class_in_probe_order() -> None:
    labels = torch.tensor([2, 0, 2, 1, 0, 2, 0, 1])
    assert tables.agreement_images(labels, 2).tolist() == [0, 1, 2, 3, 4, 7]
    assert tables.agreement_images(labels, None).tolist() == list(range(8))



def test_the_independent_twin_is_another_seeds_source_net_when_the_run_has_one() -> None:
    source = runs.SourceConfig(arch="resnet_small", seed=2, epochs=10)
    assert tables.independent_twin(source, (1, 2)) == replace(source, seed=1)
    assert tables.independent_twin(replace(source, seed=1), (1, 2)) == source
    assert tables.independent_twin(replace(source, seed=3), (1, 2, 3)) == replace(source, seed=1)  # cyclic
    assert tables.independent_twin(source, (2,)) == replace(source, seed=1002)  # one seed: a net of its own
    twin = tables.independent_twin(source, (1, 2))
    assert (twin.arch, twin.epochs, twin.train_size, twin.optimiser) == (source.arch, 10, source.train_size,
                                                                         source.optimiser)


def test_with_two_seeds_the_baseline_trains_no_source_net_beyond_the_runs_own(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    params = tables.DynamicsParams(finetune=TINY, archs=("vgg_small",), targets=("digits",), seeds=(1, 2), n_probe=20)
    base = tables.baseline(params, runtime=Runtime(store, "cpu"))
    assert sorted(base.seed.unique()) == [1, 2]
    seeds = sorted(json.loads((run / "config.json").read_text())["config"]["seed"]
                   for run in (store.root / "study_b" / "source").iterdir())
    assert seeds == [1, 2]  # the two sources of the run, each the other's twin
    one, two = (base[base.seed == s].set_index(["layer", "metric"]).value for s in (1, 2))
    np.testing.assert_allclose(one, two.loc[one.index], rtol=1e-5)  # one pair of nets, seen from each side


@pytest.mark.slow
def test_last_checkpoint_distances_read_from_a_stored_dynamics_table_are_the_computed_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = tables.DynamicsParams(finetune=TINY, archs=("resnet_small",), targets=("digits",), n_probe=20)
    alone = tables.last_checkpoint_distances(params, Runtime(Store(tmp_path / "alone"), "cpu"))
    store = Store(tmp_path / "after_dynamics")
    tables.dynamics(params, Runtime(store, "cpu"))
    monkeypatch.setenv("REPCHANGE_WORKERS", "1")  # in this process, where the patch below holds

    def no_maps(*args, **kwargs):
        raise AssertionError("the maps were extracted again though the dynamics table was stored")

    monkeypatch.setattr(tables, "_run_maps", no_maps)
    read = tables.last_checkpoint_distances(params, Runtime(store, "cpu"))
    pd.testing.assert_frame_equal(read, alone, check_exact=True)
    stored = sorted((tmp_path / "alone" / "study_b" / "last_checkpoint_distances").glob("*/table.csv"))
    again = sorted((tmp_path / "after_dynamics" / "study_b" / "last_checkpoint_distances").glob("*/table.csv"))
    assert [p.parent.name for p in stored] == [p.parent.name for p in again]  # one key either way
    assert [p.read_bytes() for p in stored] == [p.read_bytes() for p in again]  # and the same bytes
