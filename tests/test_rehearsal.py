"""The rehearsal profile: the paper profile with only sizes cut, on miniature data in the published formats."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from repchange.book import parameter_checks, rehearsal, runner
from repchange.data import datasets as data
from repchange.data import image_folders
from repchange.nets.architectures import build_architecture
from repchange.studies.b import runs

SIZES = {"a_seeds", "a_pretrain_epochs", "a_pretrain_size", "a_pretrain_eval_size", "a_probe_size", "a_pretrain_sizes",
         "a_finetune_epochs", "a_finetune_size", "a_finetune_eval_size", "b_finetune_epochs", "b_finetune_checkpoints",
         "b_finetune_size", "b_finetune_eval_size",
         "own_train_size", "own_probe_size", "own_epochs", "own_null",
         "b_probe_size"}


def test_the_rehearsal_differs_from_the_paper_profile_in_sizes_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parameter_checks, "_existing_folder", lambda value: value)
    monkeypatch.setattr(parameter_checks, "_device", lambda value: value)
    parameter_checks._model.cache_clear()
    try:
        for path in runner.book_notebooks():
            paper, cut = runner.resolve_parameters(path, "paper"), runner.resolve_parameters(path, "rehearsal")
            differ = {k for k in paper.keys() | cut.keys() if paper.get(k) != cut.get(k)} - {"profile"}  # its name
            assert differ <= SIZES, f"{path.stem}: the rehearsal changes {sorted(differ - SIZES)}, not sizes"
            assert cut.get("b_archs", ["vgg19", "resnet50", "densenet121"]) == ["vgg19", "resnet50", "densenet121"]
    finally:
        parameter_checks._model.cache_clear()


@pytest.fixture(scope="module")
def miniature(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rehearsal")
    rehearsal.write_data(root, per_class=5)
    return root


def test_the_miniature_data_read_through_the_real_loaders(miniature: Path) -> None:
    for name in ("cifar10", "svhn"):
        ds = data.load(name, root=miniature)
        assert tuple(ds.train.images.shape[1:]) == (3, 32, 32)
        per_class = 30 if name == "cifar10" else 5  # CIFAR-10's test batch serves the metrics chapter's 300 probes
        assert ds.test.labels.bincount().tolist() == [per_class] * 10  # SVHN's stored 10 read as digit 0
    scene = image_folders.load_folder_set("scene15", miniature, image_size=64)
    assert tuple(scene.train.images.shape[1:]) == (3, 64, 64)  # greyscale JPEGs become three channels
    assert len(scene.train) + len(scene.test) == 15 * 5
    awa2 = image_folders.load_folder_set("awa2", miniature, image_size=64)
    assert len(awa2.train) + len(awa2.test) == 50 * 5
    fruits = image_folders.load_folder_set("fruits360", miniature, image_size=64)
    assert len(fruits.test.labels.unique()) == 20  # 20 of its classes drawn, as the paper profile reads it


def test_the_class_names_are_those_the_loader_drew(miniature: Path) -> None:
    """Caught by the rehearsal: chapter b4 labelled its crops with class names the paper targets lacked. Every
    label's name is a class folder whose image count is that label's (Fruits-360 draws 20 of its classes)."""
    for target, folder, counts_dir in (("scene15", miniature / "15-Scene", None),
                                       ("fruits360", miniature / "fruits-360_dataset" / "fruits-360", "Training")):
        names = runs.class_names(target, str(miniature))
        ds = image_folders.load_folder_set(target, miniature, image_size=16)
        labels = ds.train.labels if counts_dir else torch.cat([ds.train.labels, ds.test.labels])
        assert sorted(names) == list(range(int(labels.max()) + 1))
        tree = folder / counts_dir if counts_dir else folder
        for label, name in names.items():
            assert int((labels == label).sum()) == len(list((tree / name).glob("*.jpg"))), (target, name)
    assert len(runs.class_names("fruits360", str(miniature))) == 20
    assert runs.class_names("scene15", str(miniature))[0] == "CALsuburb"  # sorted as ImageFolder sorts


def test_imagenet_weights_are_found_where_torchvisions_cache_keeps_them(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(Exception, match="not in the local cache"):
        build_architecture("densenet121", num_classes=15, weights="imagenet")
    (written,) = rehearsal.write_imagenet_weights(tmp_path / "hub", archs=("densenet121",))
    assert written.name.startswith("densenet121-") and written.suffix == ".pth"
    model = build_architecture("densenet121", num_classes=15, weights="imagenet")
    saved = torch.load(written, weights_only=True)
    own = model.state_dict()
    assert torch.equal(own["features.conv0.weight"], saved["features.conv0.weight"])  # the file's values, loaded
    assert own["classifier.weight"].shape[0] == 15  # a new head for the target's classes


PUBLISHED_MAPS = {  # (channels, height = width) of each probed layer at 224 pixels
    "vgg19": {"conv1_2": (64, 224), "conv2_2": (128, 112), "conv3_4": (256, 56), "conv4_4": (512, 28),
              "conv5_4": (512, 14)},
    "resnet50": {"conv1": (64, 112), "conv2_x": (256, 56), "conv3_x": (512, 28), "conv4_x": (1024, 14),
                 "conv5_x": (2048, 7)},
    "densenet121": {"denseblock1": (128, 56), "transition1": (256, 56), "denseblock2": (128, 28),
                    "transition2": (512, 28), "denseblock3": (128, 14), "transition3": (1024, 14),
                    "denseblock4": (128, 7)},
}


@pytest.mark.slow
def test_the_published_nets_load_their_cached_weights_and_probe_their_layers_at_224_pixels(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from repchange.data.datasets import Split
    from repchange.measure.features import extract

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    rehearsal.write_imagenet_weights(tmp_path / "hub")
    images = torch.randint(0, 256, (2, 3, 224, 224), dtype=torch.uint8)
    for arch, expected in PUBLISHED_MAPS.items():
        model = build_architecture(arch, num_classes=15, weights="imagenet")
        maps = extract(model, model.probe_layers, Split(images, torch.zeros(2, dtype=torch.int64)), flatten=False)
        assert {k: (v.shape[1], v.shape[2]) for k, v in maps.items()} == expected, arch
        assert all(v.shape[2] == v.shape[3] for v in maps.values())
