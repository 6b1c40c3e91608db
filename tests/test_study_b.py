"""Study B's engine: target splits, source and fine-tuning runs, and the feature-dynamics table."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from repchange import data
from repchange.experiments import study_b
from repchange.store import Store

SOURCE = study_b.SourceConfig(arch="vgg_small", epochs=1, train_size=256)
TINY = study_b.FinetuneBConfig(source=SOURCE, epochs=2, checkpoints=(0, 1, 2), train_size=64, eval_size=40)


def test_fashion_targets_never_reuse_source_images_and_relabel_or_invert_as_documented() -> None:
    fm = data.load("fashion_mnist")
    held, held_eval, classes = study_b.target_splits(replace(TINY, target="fashion_heldout"))
    assert classes == 10 and torch.equal(held.images, fm.train.images[256:320])
    assert torch.equal(held_eval.images, fm.test.images[:40])
    coarse, _, classes = study_b.target_splits(replace(TINY, target="fashion_coarse"))
    assert classes == 4 and torch.equal(coarse.labels, study_b.COARSE_FASHION[held.labels])
    assert set(coarse.labels.tolist()) <= {0, 1, 2, 3}
    inverted, _, _ = study_b.target_splits(replace(TINY, target="fashion_inverted"))
    assert torch.equal(inverted.images, 255 - held.images) and torch.equal(inverted.labels, held.labels)
    digits, digits_eval, _ = study_b.target_splits(replace(TINY, target="digits"))
    assert digits.images.shape[1:] == (1, 28, 28) and len(digits_eval) == 40


@pytest.mark.parametrize("change, message", [
    (dict(target="imagenet"), "unknown target 'imagenet'"),
    (dict(source=replace(SOURCE, arch="vgg19")), "vgg19 cannot be fine-tuned on 'fashion_heldout'"),
    (dict(target="scene15"), "the torchvision nets with the paper targets"),
    (dict(source=replace(SOURCE, arch="alexnet")), "unknown architecture 'alexnet'"),
    (dict(train_size=None), "offline targets need explicit train_size"),
    (dict(checkpoints=(1, 2)), "checkpoints must include 0"),
    (dict(checkpoints=(0, 5)), r"lie in 0\.\.2"),
])
def test_bad_study_b_configs_name_the_problem(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(TINY, **change).validate()


def test_dynamics_start_at_zero_move_away_and_are_stored_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    params = study_b.DynamicsParams(finetune=TINY, archs=("vgg_small", "densenet_small"),
                                    targets=("fashion_coarse", "digits"), n_probe=20)
    table = study_b.dynamics(params, store=store, device="cpu")
    assert set(table.arch) == {"vgg_small", "densenet_small"} and set(table.target) == {"fashion_coarse", "digits"}
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
    again = study_b.dynamics(params, store=store, device="cpu")
    assert again.equals(table)
    assert len(list((store.root / "study_b" / "source").iterdir())) == 2  # one source net per architecture
    assert len(list((store.root / "study_b" / "finetune").iterdir())) == 4


def test_checkpoint_maps_give_every_epoch_and_the_receptive_fields(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    params = study_b.DynamicsParams(finetune=TINY, archs=("vgg_small",), targets=("digits",), n_probe=20)
    cfg = study_b.run_config(params, "vgg_small", "digits")
    probe, maps, fields = study_b.checkpoint_maps(cfg, ["conv2_2"], 12, store=store, device="cpu")
    assert len(probe) == 12 and sorted(maps) == [0, 1, 2]
    assert maps[0]["conv2_2"].shape == (12, 32, 14, 14) and not torch.equal(maps[0]["conv2_2"], maps[2]["conv2_2"])
    assert fields["conv2_2"].jump == 2.0
    with pytest.raises(ValueError, match=r"vgg_small has no probed layer\(s\) \['layer9'\]"):
        study_b.checkpoint_maps(cfg, ["layer9"], 12, store=store, device="cpu")


def _scene_tree(root: Path, classes: int = 3, per_class: int = 8) -> None:
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    for c in range(classes):
        folder = root / "scene15" / f"class{c}"
        folder.mkdir(parents=True)
        for k in range(per_class):
            pixels = torch.randint(0, 256, (48, 40, 3), generator=gen, dtype=torch.uint8).numpy()
            Image.fromarray(pixels).save(folder / f"{k}.png")


def test_paper_path_fine_tunes_a_torchvision_net_on_an_image_folder_target(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The paper profile's code path, small: ResNet50 (random weights here) on a generated 15-Scene tree."""
    from repchange import image_folders

    monkeypatch.setattr(image_folders, "CACHE_ROOT", tmp_path / "cache")
    _scene_tree(tmp_path / "data")
    source = study_b.SourceConfig(arch="resnet50", weights=None)
    cfg = study_b.FinetuneBConfig(source=source, target="scene15", epochs=1, checkpoints=(0, 1), train_size=None,
                                  eval_size=None, image_size=64)
    params = study_b.DynamicsParams(finetune=cfg, archs=("resnet50",), targets=("scene15",), alphas=(1.0,), n_probe=5)
    store = Store(tmp_path / "store")
    table = study_b.dynamics(params, store=store, device="cpu", data_root=str(tmp_path / "data"))
    assert table.layer.unique().tolist() == ["conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x"]
    overall = table[table.cls == "all"]
    assert overall[overall.epoch == 0].value.abs().max() < 1e-5
    moved = overall[overall.epoch == 1]
    assert (moved[moved.metric == "pwsm_alpha_1"].value > 0).all() and (moved.value >= 0).all()
    assert not (store.root / "study_b" / "source").exists()  # the published weights are the source: no training
    _, ev, classes = study_b.target_splits(cfg, str(tmp_path / "data"))
    assert classes == 3 and len(ev) == 5 and ev.images.shape[1:] == (3, 64, 64)  # 24 images, 80/20
    model = study_b.model_at(cfg, study_b.finetune_b(cfg, store=store, data_root=str(tmp_path / "data")), 1, 3)
    assert model.input_stats == data.IMAGENET_STATS and model.fc.out_features == 3
    with pytest.raises(ValueError, match="n_probe=7 exceeds the 5 evaluation images of scene15"):
        study_b.dynamics(replace(params, n_probe=7), store=store, device="cpu", data_root=str(tmp_path / "data"))


def test_missing_imagenet_weights_stop_fine_tuning_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from repchange import image_folders
    from repchange.architectures import WeightsNotFoundError

    monkeypatch.setattr(image_folders, "CACHE_ROOT", tmp_path / "cache")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    _scene_tree(tmp_path / "data")
    cfg = study_b.FinetuneBConfig(source=study_b.SourceConfig(arch="vgg19"), target="scene15", epochs=1,
                                  checkpoints=(0, 1), train_size=None, eval_size=None, image_size=32)
    store = Store(tmp_path / "store")
    with pytest.raises(WeightsNotFoundError, match="not in the local cache"):
        study_b.finetune_b(cfg, store=store, device="cpu", data_root=str(tmp_path / "data"))
    assert not any(store.is_complete(run) for run in (store.root / "study_b" / "finetune").iterdir())


def test_baseline_compares_the_source_with_an_independently_trained_twin(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    params = study_b.DynamicsParams(finetune=TINY, archs=("vgg_small",), targets=("fashion_heldout", "digits"),
                                    n_probe=20)
    base = study_b.baseline(params, store=store, device="cpu")
    assert set(base.target) == {"fashion_heldout", "digits"} and set(base.seed) == {1}
    assert base.layer.unique().tolist() == ["conv1_2", "conv2_2", "conv3_2", "conv4_2"]
    assert (base[base.metric.str.startswith("pwsm")].value > 0.01).all()  # another seed: another net
    sources = sorted(run.name for run in (store.root / "study_b" / "source").iterdir())
    assert len(sources) == 2  # the source (seed 1) and its twin (seed 1001), shared by both targets
    assert study_b.baseline(params, store=store, device="cpu").equals(base)
