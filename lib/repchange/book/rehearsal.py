"""Miniature data in the paper profile's real formats, and ImageNet weight files where torchvision's cache has them.

The ``rehearsal`` profile is the ``paper`` profile with only the sizes cut down; it runs on what this module
writes, never on anything downloaded:

- ``cifar-10-batches-py/`` (five ``data_batch_*`` pickles, ``test_batch`` of at least 300 images,
  ``batches.meta``) and SVHN's
  ``train_32x32.mat`` / ``test_32x32.mat`` (``X`` as (32, 32, 3, N), digit 0 stored as label 10);
- ImageFolder trees laid out and named as the published data sets are: ``15-Scene/<15 classes>/`` (greyscale
  JPEGs of about 250 × 300), ``Animals_with_Attributes2/JPEGImages/<50 classes>/`` (RGB JPEGs of varied sizes),
  ``fruits-360_dataset/fruits-360/{Training,Test}/<classes>/`` (100 × 100 RGB JPEGs);
- torchvision's VGG19, ResNet50 and DenseNet121 state dicts, *randomly initialised*, saved under the file names
  torchvision's cache expects (``$TORCH_HOME/hub/checkpoints``), so the cache lookup, the key matching and the new
  head are the real ones.

Every image is noise tinted by its class (seeded): the rehearsal checks paths, shapes and bookkeeping, not science.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

__all__ = ["AWA2_CLASSES", "FRUITS360_CLASSES", "PAPER_ARCHS", "PER_CLASS", "SCENE15_CLASSES", "write_data", "write_imagenet_weights"]

PAPER_ARCHS = ("vgg19", "resnet50", "densenet121")
SCENE15_CLASSES = ("bedroom", "CALsuburb", "industrial", "kitchen", "livingroom", "MITcoast", "MITforest",
                   "MIThighway", "MITinsidecity", "MITmountain", "MITopencountry", "MITstreet", "MITtallbuilding",
                   "PARoffice", "store")
AWA2_CLASSES = ("antelope", "grizzly+bear", "killer+whale", "beaver", "dalmatian", "persian+cat", "horse",
                "german+shepherd", "blue+whale", "siamese+cat", "skunk", "mole", "tiger", "hippopotamus", "leopard",
                "moose", "spider+monkey", "humpback+whale", "elephant", "gorilla", "ox", "fox", "sheep", "seal",
                "chimpanzee", "hamster", "squirrel", "rhinoceros", "rabbit", "bat", "giraffe", "wolf", "chihuahua",
                "rat", "weasel", "otter", "buffalo", "zebra", "giant+panda", "deer", "bobcat", "pig", "lion", "mouse",
                "polar+bear", "collie", "walrus", "raccoon", "cow", "dolphin")
FRUITS360_CLASSES = ("Apple Braeburn", "Apple Golden 1", "Apple Red 1", "Apricot", "Avocado", "Banana", "Blueberry",
                     "Cantaloupe 1", "Cherry 1", "Cocos", "Dates", "Grape White", "Kiwi", "Lemon", "Lychee", "Mango",
                     "Orange", "Papaya", "Peach", "Pear", "Pineapple", "Plum", "Raspberry", "Strawberry")
PER_CLASS = 15  # 15-Scene's 20 % split then holds 45 images: the 42 probes ResNet50's conv5_x needs (2,048 channels of 7 x 7)
CIFAR10_TEST_PER_CLASS = 30  # 300 test images: the metrics chapter's PWSM needs a probe of at least 256 (block 4's width)
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _tinted(rng: np.random.Generator, label: int, shape: tuple[int, ...]) -> np.ndarray:
    """uint8 noise of ``shape`` (H, W[, C]) around a level set by the class."""
    level = 40 + (label * 37) % 176
    return np.clip(rng.normal(level, 30, size=shape), 0, 255).astype(np.uint8)


def _cifar10(folder: Path, rng: np.random.Generator, per_class: int) -> None:
    base = folder / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)

    def batch(name: str, count: int) -> None:
        labels = [c for c in range(10) for _ in range(count)]
        data = np.stack([_tinted(rng, y, (3, 32, 32)).reshape(-1) for y in labels])
        with open(base / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [f"{name}_{i}.png".encode() for i in range(len(labels))]}, f)

    for i in range(1, 6):
        batch(f"data_batch_{i}", max(1, per_class // 5))
    batch("test_batch", max(per_class, CIFAR10_TEST_PER_CLASS))
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in CIFAR10_NAMES], b"num_cases_per_batch": 10 * per_class,
                     b"num_vis": 3072}, f)


def _svhn(folder: Path, rng: np.random.Generator, per_class: int) -> None:
    from scipy.io import savemat

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train_32x32.mat", "test_32x32.mat"):
        digits = [d for d in range(10) for _ in range(per_class)]
        x = np.stack([_tinted(rng, d, (32, 32, 3)) for d in digits], axis=-1)  # (32, 32, 3, N), as published
        y = np.array([[10 if d == 0 else d] for d in digits], dtype=np.uint8)  # digit 0 is stored as 10
        savemat(folder / name, {"X": x, "y": y})


def _jpegs(folder: Path, classes: tuple[str, ...], rng: np.random.Generator, per_class: int, grey: bool,
           sizes: tuple[tuple[int, int], ...]) -> None:
    from PIL import Image

    for label, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = sizes[(label + i) % len(sizes)]
            pixels = _tinted(rng, label, (h, w) if grey else (h, w, 3))
            Image.fromarray(pixels, mode="L" if grey else "RGB").save(folder / name / f"image_{i + 1:04d}.jpg",
                                                                        quality=90)


def write_data(root: str | Path, *, per_class: int = PER_CLASS, seed: int = 0) -> dict[str, Path]:
    """Every data set the paper profile reads, ``per_class`` images per class (and split), under ``root``;
    returns where each lies. The layout is the published one (see the module docstring)."""
    if per_class < 5:
        raise ValueError(f"per_class must be at least 5 (an 80/20 split keeps one test image per class), got {per_class}")
    root = Path(root).expanduser()
    rng = np.random.default_rng(seed)
    _cifar10(root, rng, per_class)
    _svhn(root, rng, per_class)
    _jpegs(root / "15-Scene", SCENE15_CLASSES, rng, per_class, grey=True, sizes=((256, 256), (220, 293), (256, 341)))
    awa2 = root / "Animals_with_Attributes2" / "JPEGImages"
    _jpegs(awa2, AWA2_CLASSES, rng, per_class, grey=False, sizes=((300, 400), (375, 500), (480, 320)))
    fruits = root / "fruits-360_dataset" / "fruits-360"
    _jpegs(fruits / "Training", FRUITS360_CLASSES, rng, per_class, grey=False, sizes=((100, 100),))
    _jpegs(fruits / "Test", FRUITS360_CLASSES, rng, max(2, per_class // 2), grey=False, sizes=((100, 100),))
    return {"cifar10": root / "cifar-10-batches-py", "svhn": root, "scene15": root / "15-Scene", "awa2": awa2,
            "fruits360": fruits}


def write_imagenet_weights(hub: str | Path, archs: tuple[str, ...] = PAPER_ARCHS, seed: int = 0) -> list[Path]:
    """Each of torchvision's ``archs`` randomly initialised (1,000 classes), saved as
    ``<hub>/checkpoints/<the file name of its IMAGENET1K_V1 weights>``; ``hub`` is what ``torch.hub.get_dir()``
    returns under ``TORCH_HOME`` (``$TORCH_HOME/hub``). Returns the files."""
    import torchvision
    from torchvision.models import get_model_weights

    folder = Path(hub).expanduser() / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for arch in archs:
        target = folder / Path(get_model_weights(arch).IMAGENET1K_V1.url).name
        torch.manual_seed(seed)
        torch.save(torchvision.models.get_model(arch, weights=None).state_dict(), target)
        written.append(target)
    return written
