"""The target data sets of Behzadi-Khormouji et al. read from ImageFolder trees: 15-Scene, AwA2 and Fruits-360.

A tree is ``<folder>/<class name>/<image files>`` (torchvision's ImageFolder layout; classes
in sorted order get labels 0, 1, ...). Images are decoded with Pillow, converted to RGB and
resized to ``image_size`` × ``image_size`` (bilinear), and held as uint8 (N, 3, S, S).

Splits, as the authors made them:
- ``scene15``, ``awa2``: one tree, split 80 / 20 by a permutation from
  ``numpy.random.default_rng(42)`` (the first 80 % train).
- ``fruits360``: its own ``Training/`` and ``Test/`` trees, restricted to 20 classes drawn
  without replacement by ``numpy.random.default_rng(42)`` from the training classes.

Where the files are looked for: ``<root>/<one of the folder names below>`` for the root named
by the ``data_root`` parameter or ``REPCHANGE_DATA``. The decoded tensors are cached under
``~/.cache/repchange/folders`` (keyed by the file list and size) so later chapters start at once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from repchange.data.datasets import DataNotFoundError, DataSet, Split
from repchange.base.files import atomic_write

__all__ = ["FOLDER_SETS", "FolderSet", "folder_set_classes", "load_folder_set", "load_image_folder", "own_split_dirs", "read_probe_folder", "read_tree"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "repchange" / "folders"


@dataclass(frozen=True)
class FolderSet:
    """Where one paper target lives and how it is split."""

    folder_names: tuple[str, ...]
    train_test_dirs: tuple[str, str] | None = None  # e.g. ("Training", "Test"); None = one tree, split 80/20
    num_classes: int | None = None  # draw this many classes (seeded); None = all
    how_to_get: str = ""


FOLDER_SETS = {
    "scene15": FolderSet(("scene15", "15-Scene", "15-scene", "15_scene"),
                         how_to_get="the 15-Scene categories data set (Lazebnik et al. 2006), one folder per class"),
    "awa2": FolderSet(("awa2", "AwA2/JPEGImages", "Animals_with_Attributes2/JPEGImages", "JPEGImages"),
                      how_to_get="Animals with Attributes 2 (https://cvml.ist.ac.at/AwA2/), its JPEGImages folder "
                                 "with one folder per class"),
    "fruits360": FolderSet(("fruits360", "fruits-360", "Fruits-360", "fruits-360_dataset/fruits-360"),
                           train_test_dirs=("Training", "Test"), num_classes=20,
                           how_to_get="Fruits-360 (https://github.com/Horea94/Fruit-Images-Dataset) with its "
                                      "Training/ and Test/ folders"),
}


def read_tree(folder: Path, classes: list[str] | None = None) -> tuple[list[Path], list[int], list[str]]:
    """Image files and labels of an ImageFolder tree (classes sorted; ``classes`` restricts and orders)."""
    found = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if classes is None:
        classes = found
    missing = [c for c in classes if c not in found]
    if missing:
        raise DataNotFoundError(f"{folder} has no class folder(s) {missing[:5]}; it has {found[:10]}")
    files, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((folder / name).rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                files.append(path)
                labels.append(label)
    if not files:
        raise DataNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the class folders of {folder}")
    return files, labels, list(classes)


def _decode(files: list[Path], image_size: int, desc: str) -> torch.Tensor:
    from PIL import Image

    out = torch.empty(len(files), 3, image_size, image_size, dtype=torch.uint8)
    for k, path in enumerate(tqdm(files, desc=desc, leave=False, disable=len(files) < 200)):
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB").resize((image_size, image_size), Image.BILINEAR))
        out[k] = torch.from_numpy(pixels.copy()).permute(2, 0, 1)
    return out


def _cached_split(files: list[Path], labels: list[int], image_size: int, desc: str) -> Split:
    key = hashlib.sha256("\n".join([str(image_size), *map(str, files)]).encode()).hexdigest()[:20]
    path = CACHE_ROOT / f"{desc}-{image_size}-{key}.pt"
    if path.exists():
        images = torch.load(path, weights_only=True)
    else:
        images = _decode(files, image_size, desc)
        # a temporary file of this process's own: two workers decoding the same split at once both write whole
        # files and rename them into place (the same bytes; one wins), instead of racing for one ".tmp" name
        atomic_write(path, lambda tmp: torch.save(images, tmp))
    return Split(images, torch.tensor(labels, dtype=torch.int64))


def _find(name: str, root: str | os.PathLike | None) -> Path:
    spec = FOLDER_SETS[name]
    base = root if root is not None else os.environ.get("REPCHANGE_DATA")
    if not base:
        raise DataNotFoundError(f"data set {name!r} needs a folder: pass data_root=<folder holding "
                                f"{spec.folder_names[0]}/> (or set REPCHANGE_DATA). It is {spec.how_to_get}.")
    looked = []
    for sub in spec.folder_names:
        folder = Path(base).expanduser() / sub
        looked.append(str(folder))
        inner = [folder / d for d in spec.train_test_dirs] if spec.train_test_dirs else [folder]
        if all(d.is_dir() for d in inner):
            return folder
    layout = f"/{spec.train_test_dirs[0]}/<class>/*.jpg and /{spec.train_test_dirs[1]}/<class>/*.jpg" \
        if spec.train_test_dirs else "/<class>/*.jpg"
    raise DataNotFoundError(f"data set {name!r} not found; looked in: {', '.join(looked)} (expected "
                            f"<folder>{layout}). It is {spec.how_to_get}; the book never substitutes other data.")


TRAIN_TEST_DIRS = (("Training", "Test"), ("train", "test"), ("train", "val"))


def own_split_dirs(folder: Path) -> tuple[str, str] | None:
    """The (train, test) subfolder names of ``folder`` from :data:`TRAIN_TEST_DIRS`, or None if it is one tree."""
    return next((d for d in TRAIN_TEST_DIRS if all((folder / x).is_dir() for x in d)), None)


def _drawn_classes(name: str, train_dir: Path, num_classes: int | None, rng: np.random.Generator) -> list[str]:
    """The class folders of a tree with its own training folder, sorted; ``num_classes`` of them drawn by ``rng``."""
    classes = sorted(d.name for d in train_dir.iterdir() if d.is_dir())
    if num_classes is None:
        return classes
    if len(classes) < num_classes:
        raise DataNotFoundError(f"{train_dir} has {len(classes)} classes; {name} needs {num_classes}")
    return sorted(rng.choice(classes, size=num_classes, replace=False).tolist())


def folder_set_classes(name: str, root: str | os.PathLike | None = None, *, seed: int = 42) -> list[str]:
    """The class names of :func:`load_folder_set`'s labels 0, 1, ... for ``name`` (no image is read)."""
    if name not in FOLDER_SETS:
        raise ValueError(f"unknown image-folder data set {name!r}; choose one of {sorted(FOLDER_SETS)}")
    spec, folder = FOLDER_SETS[name], _find(name, root)
    if spec.train_test_dirs:
        return _drawn_classes(name, folder / spec.train_test_dirs[0], spec.num_classes, np.random.default_rng(seed))
    return sorted(d.name for d in folder.iterdir() if d.is_dir())


def _split_tree(name: str, folder: Path, train_test_dirs: tuple[str, str] | None, num_classes: int | None,
                image_size: int, seed: int, test_fraction: float) -> DataSet:
    """The split rules shared by every tree: its own train/test folders (then ``num_classes``
    classes drawn with ``seed`` from the training classes when given), else one tree split
    ``1 - test_fraction`` / ``test_fraction`` by a permutation from ``default_rng(seed)``."""
    if not 0 < test_fraction < 1 or image_size < 8:
        raise ValueError(f"test_fraction must lie in (0, 1) and image_size be at least 8, got {test_fraction}, "
                         f"{image_size}")
    rng = np.random.default_rng(seed)
    if train_test_dirs:
        train_dir, test_dir = (folder / d for d in train_test_dirs)
        classes = _drawn_classes(name, train_dir, num_classes, rng)
        train_files, train_labels, classes = read_tree(train_dir, classes)
        test_files, test_labels, _ = read_tree(test_dir, classes)
    else:
        files, labels, classes = read_tree(folder)
        order = rng.permutation(len(files))
        cut = int(round(len(files) * (1 - test_fraction)))
        train_files, train_labels = [files[i] for i in order[:cut]], [labels[i] for i in order[:cut]]
        test_files, test_labels = [files[i] for i in order[cut:]], [labels[i] for i in order[cut:]]
    if len(classes) < 2:
        raise DataNotFoundError(f"{folder} has {len(classes)} class folder(s); a classification target needs 2 or more")
    train = _cached_split(train_files, train_labels, image_size, f"{name}-train")
    test = _cached_split(test_files, test_labels, image_size, f"{name}-test")
    return DataSet(name, train, test, len(classes), f"{folder} ({len(classes)} classes)")


def load_folder_set(name: str, root: str | os.PathLike | None = None, *, image_size: int = 224,
                    seed: int = 42, test_fraction: float = 0.2) -> DataSet:
    """One of :data:`FOLDER_SETS` as a :class:`DataSet` of uint8 (N, 3, image_size, image_size) images."""
    if name not in FOLDER_SETS:
        raise ValueError(f"unknown image-folder data set {name!r}; choose one of {sorted(FOLDER_SETS)}")
    spec = FOLDER_SETS[name]
    folder = _find(name, root)
    return _split_tree(name, folder, spec.train_test_dirs, spec.num_classes, image_size, seed, test_fraction)


def load_image_folder(folder: str | os.PathLike, *, image_size: int = 224, seed: int = 42,
                      test_fraction: float = 0.2) -> DataSet:
    """Any ImageFolder tree as a :class:`DataSet`, split by the same rules as the paper targets:
    its own ``Training/Test``, ``train/test`` or ``train/val`` folders when it has them, else
    ``<folder>/<class>/<images>`` split 80 / 20 with seed 42."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise DataNotFoundError(f"image folder {path} does not exist; expected <folder>/<class>/<images>")
    return _split_tree(path.name, path, own_split_dirs(path), None, image_size, seed, test_fraction)


def read_probe_folder(folder: str | os.PathLike, n: int | None, *, image_size: int = 224, seed: int = 42) -> Split:
    """``n`` images of an ImageFolder tree (all of it, train and test folders alike), spread evenly
    over the classes with ``seed`` and decoded at ``image_size``; None = every image."""
    from repchange.data.datasets import stratified_index

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise DataNotFoundError(f"probe folder {path} does not exist; expected <folder>/<class>/<images>")
    dirs = own_split_dirs(path)
    files, labels = [], []
    for tree in ([path / d for d in dirs] if dirs else [path]):
        f, l, _ = read_tree(tree)
        files, labels = files + f, labels + l
    keep = stratified_index(np.asarray(labels), n, seed) if n is not None else range(len(files))
    return _cached_split([files[i] for i in keep], [labels[i] for i in keep], image_size, f"{path.name}-probe")
