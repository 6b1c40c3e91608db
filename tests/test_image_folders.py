"""The paper targets' ImageFolder readers, on small trees the tests write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from repchange.data import image_folders
from repchange.data.datasets import DataNotFoundError


def _tree(folder: Path, classes: list[str], per_class: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for name in classes:
        (folder / name).mkdir(parents=True)
        for k in range(per_class):
            shade = rng.integers(0, 256, size=3)
            pixels = np.broadcast_to(shade, (10, 13, 3)).astype(np.uint8)  # one colour per image: easy to trace
            Image.fromarray(pixels).save(folder / name / f"img{k}.png")
        (folder / name / "notes.txt").write_text("not an image")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_folders, "CACHE_ROOT", tmp_path / "cache")


def test_one_tree_is_split_80_20_with_seed_42_and_resized(tmp_path: Path) -> None:
    _tree(tmp_path / "data" / "15-Scene", ["kitchen", "bedroom", "coast"], per_class=5)
    scene = image_folders.load_folder_set("scene15", tmp_path / "data", image_size=16)
    assert scene.num_classes == 3 and len(scene.train) == 12 and len(scene.test) == 3
    assert scene.train.images.shape == (12, 3, 16, 16) and scene.train.images.dtype == torch.uint8
    assert set(scene.train.labels.tolist() + scene.test.labels.tolist()) == {0, 1, 2}  # bedroom, coast, kitchen
    files, labels, classes = image_folders.read_tree(tmp_path / "data" / "15-Scene")
    assert classes == ["bedroom", "coast", "kitchen"] and len(files) == 15
    order = np.random.default_rng(42).permutation(15)
    expected = [labels[i] for i in order[:12]]
    assert scene.train.labels.tolist() == expected
    first = np.asarray(Image.open(files[order[0]]).convert("RGB"))[0, 0]
    assert scene.train.images[0, :, 5, 5].tolist() == first.tolist()  # a constant image stays that colour
    again = image_folders.load_folder_set("scene15", tmp_path / "data", image_size=16)
    assert torch.equal(again.train.images, scene.train.images) and torch.equal(again.test.labels, scene.test.labels)


def test_fruits_draws_20_classes_and_keeps_its_own_training_and_test_trees(tmp_path: Path) -> None:
    names = [f"fruit{k:02d}" for k in range(25)]
    _tree(tmp_path / "fruits-360" / "Training", names, per_class=2)
    _tree(tmp_path / "fruits-360" / "Test", names, per_class=1, seed=1)
    fruits = image_folders.load_folder_set("fruits360", tmp_path, image_size=8)
    chosen = sorted(np.random.default_rng(42).choice(sorted(names), size=20, replace=False).tolist())
    assert fruits.num_classes == 20 and len(fruits.train) == 40 and len(fruits.test) == 20
    assert fruits.source.endswith("(20 classes)")
    assert fruits.test.labels.tolist() == list(range(20))
    assert sorted(set(names) - set(chosen)) != []  # five classes were left out


def test_decoded_images_are_cached_between_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tree(tmp_path / "awa2", ["zebra", "otter"], per_class=3)
    first = image_folders.load_folder_set("awa2", tmp_path, image_size=8)
    monkeypatch.setattr(image_folders, "_decode", lambda *a: pytest.fail("decoded again instead of the cache"))
    assert torch.equal(image_folders.load_folder_set("awa2", tmp_path, image_size=8).train.images, first.train.images)


def test_two_workers_decoding_one_split_at_once_both_succeed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Caught by the rehearsal: two fine-tunings on one target, side by side with a cold cache, both wrote the
    split to one ".tmp" name and the second rename failed. Here the other worker decodes and renames the split
    while the first is still saving it."""
    _tree(tmp_path / "awa2", ["zebra", "otter"], per_class=3)
    real_save, saves = torch.save, []

    def save_while_another_worker_saves(obj, f, *args, **kwargs):
        saves.append(f)
        real_save(obj, f, *args, **kwargs)
        if len(saves) == 1:  # meanwhile the other worker loads the same split and renames its file into place
            image_folders.load_folder_set("awa2", tmp_path, image_size=8)

    monkeypatch.setattr(image_folders.torch, "save", save_while_another_worker_saves)
    first = image_folders.load_folder_set("awa2", tmp_path, image_size=8)
    monkeypatch.setattr(image_folders.torch, "save", real_save)
    assert len(saves) >= 3  # the first save, and the other worker's two splits
    assert torch.equal(image_folders.load_folder_set("awa2", tmp_path, image_size=8).train.images, first.train.images)
    assert not list((tmp_path / "cache").glob("*.tmp")) and not list((tmp_path / "cache").glob(".*.tmp"))


def test_missing_data_names_where_it_looked_and_what_it_needs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("REPCHANGE_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="needs a folder: pass data_root"):
        image_folders.load_folder_set("scene15")
    with pytest.raises(DataNotFoundError, match=r"'fruits360' not found; looked in: .*fruits360.*Training/<class>"):
        image_folders.load_folder_set("fruits360", tmp_path)
    (tmp_path / "awa2" / "zebra").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="no images"):
        image_folders.load_folder_set("awa2", tmp_path)
    with pytest.raises(ValueError, match="unknown image-folder data set 'cub200'"):
        image_folders.load_folder_set("cub200", tmp_path)
