"""Study A's fine-tuning runs: splits, labels, validation, and that they start from the stored pre-training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import make_fashion_mnist_tree

from repchange.data import datasets as data
from repchange.runs.runtime import Runtime
from repchange.runs.store import Store
from repchange.runs.trainer import OptimiserSpec, checkpoint_path
from repchange.studies.a.finetuning import FinetuneConfig, finetune, finetuning_splits
from repchange.studies.a.pretraining import PretrainConfig

TINY = PretrainConfig(dataset="digits", epochs=1, train_size=64, eval_size=32, width=8,
                      optimiser=OptimiserSpec(batch_size=16))


def test_splits_are_disjoint_halves_of_the_target_test_split_with_the_asked_labels() -> None:
    digits = data.load("digits")
    cfg = FinetuneConfig(pretrain=TINY, target="digits", train_size=300, eval_size=200)
    train, evaluation = finetuning_splits(cfg, digits)
    assert torch.equal(train.images, digits.test.images[:300])
    assert torch.equal(evaluation.images, digits.test.images[300:500])
    assert torch.equal(train.labels, digits.test.labels[:300])  # clean
    shifted_train, shifted_eval = finetuning_splits(FinetuneConfig(pretrain=TINY, target="digits", shift=3,
                                                                   train_size=300, eval_size=200), digits)
    assert torch.equal(shifted_eval.labels, (digits.test.labels[300:500] + 3) % 10)
    noisy = FinetuneConfig(pretrain=TINY, target="digits", degree=9, train_size=300, eval_size=200)
    a, b = finetuning_splits(noisy, digits), finetuning_splits(noisy, digits)
    assert torch.equal(a[0].labels, b[0].labels)  # drawn once, reproducibly
    assert 0.0 < float((a[0].labels == train.labels).float().mean()) < 0.3  # fully random: ~1/10 agree
    with pytest.raises(ValueError, match=r"needs 900 \+ 200 = 1100 images of the digits test split, which has 1000"):
        finetuning_splits(FinetuneConfig(pretrain=TINY, target="digits", train_size=900, eval_size=200), digits)


@pytest.mark.parametrize("change, message", [
    (dict(degree=2, shift=1), "not both"),
    (dict(shift=10), r"label shift 10 is out of range: it must lie in 1\.\.9"),
    (dict(degree=-1), r"degree -1 is out of range"),
    (dict(target="imagenet"), "unknown target data set 'imagenet'"),
    (dict(epochs=0), "fine-tuning epochs must be at least 1"),
    (dict(eval_size=0), "must be positive"),
])
def test_bad_fine_tuning_configs_name_the_problem(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FinetuneConfig(**{"pretrain": TINY, "target": "digits", **change}).validate(10)


def test_labels_name_the_condition() -> None:
    assert FinetuneConfig().labels == "clean"
    assert FinetuneConfig(degree=4).labels == "random d=4"
    assert FinetuneConfig(shift=2).labels == "shift s=2"


def test_cross_domain_run_starts_from_the_stored_pre_training_and_is_stored_once(tmp_path: Path) -> None:
    make_fashion_mnist_tree(tmp_path / "fm", n_train=80, n_test=40)
    source, target = data.load("fashion_mnist", root=tmp_path / "fm"), data.load("digits")
    store = Store(tmp_path / "store")
    tiny_fm = PretrainConfig(dataset="fashion_mnist", epochs=1, train_size=64, eval_size=32, width=8,
                             optimiser=OptimiserSpec(batch_size=16))
    cfg = FinetuneConfig(pretrain=tiny_fm, target="digits", degree=2, epochs=2, train_size=40, eval_size=20,
                         optimiser=OptimiserSpec(batch_size=16))
    run = finetune(cfg, source, target, runtime=Runtime(store, "cpu"))
    pretrained = torch.load(checkpoint_path(run.source.run_dir, tiny_fm.epochs), weights_only=True)
    start = torch.load(checkpoint_path(run.run_dir, 0), weights_only=True)
    assert all(torch.equal(pretrained[k], start[k]) for k in pretrained)  # head kept, nothing re-initialised
    assert list(run.history.epoch) == [0, 1, 2]
    moved = run.model_at(2).state_dict()
    assert any(not torch.equal(moved[k], start[k]) for k in start if k.endswith("weight"))
    assert run.model_at(0)(torch.zeros(1, 1, 28, 28)).shape == (1, 10)  # 8x8 digits were resized to 28x28
    again = finetune(cfg, source, target, runtime=Runtime(store, "cpu"))
    assert again.run_dir == run.run_dir
    assert len(list((store.root / "study_a" / "finetune").iterdir())) == 1
    assert len(list((store.root / "study_a" / "pretrain").iterdir())) == 1
    with pytest.raises(ValueError, match="config asks for 'fashion_mnist' -> 'digits' but 'fashion_mnist' -> 'fashion_mnist'"):
        finetune(cfg, source, source, runtime=Runtime(store, "cpu"))


def test_one_name_per_label_condition() -> None:
    from repchange.studies.a.finetuning import condition_label

    assert [condition_label(), condition_label(4), condition_label(shift=1), condition_label(shift="seed")] == \
        ["clean", "random d=4", "shift s=1", "shift s=seed"]
    assert condition_label(9, shift=2) == "shift s=2"  # as FinetuneConfig.labels: a shift names the condition
