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
    (dict(source=replace(SOURCE, arch="vgg19")), "torchvision nets take ImageNet weights"),
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
