"""Data sets by name, as in-memory uint8 image tensors with fixed, documented splits.

Every loader returns a :class:`DataSet` whose ``train``/``test`` splits hold
``images`` as ``uint8`` tensors of shape (N, C, H, W) and ``labels`` as ``int64`` (N,).

Resolution order for files (never a silent substitute):
1. an explicit ``root`` argument, else the ``REPCHANGE_DATA`` environment variable -- when either names a
   folder, **only** that folder (and its ``<name>`` subfolder) is read, and ``download=True`` downloads into it:
   an explicit choice is honoured or refused, never replaced by another copy;
2. otherwise the system package location (Fashion-MNIST: Debian's ``dataset-fashion-mnist``);
3. otherwise a torchvision download into ``~/.cache/repchange/data`` -- only when ``download=True``.
A data set found nowhere raises :class:`DataNotFoundError` saying where it looked and how to get it.

Splits:
- ``fashion_mnist``: the official 60,000 train / 10,000 test images (28x28x1).
- ``digits``: scikit-learn's 1,797 8x8 digits (values 0..16 rescaled to 0..255), shuffled
  once with ``numpy.random.default_rng(0)``; the first 797 are train, the last 1,000 test
  (a test split large enough for Goerttler & Obermayer's fine-tuning protocol, which trains and evaluates on
  disjoint halves of the target's test split).
- ``cifar10``: the official 50,000 / 10,000 (32x32x3), read from the python pickle batches.
- ``svhn``: the official 73,257 train / 26,032 test (32x32x3) from ``*_32x32.mat``.
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

__all__ = [
    "DataNotFoundError",
    "DataSet",
    "Split",
    "available",
    "load",
    "normalise",
    "stratified_index",
    "IMAGENET_STATS",
]

SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "repchange" / "data"


class DataNotFoundError(FileNotFoundError):
    """A data set's files are not where any resolution step looked."""


def stratified_index(labels: np.ndarray, n: int, seed: int = 42) -> list[int]:
    """Sorted indices of ``n`` of ``labels``' positions spread evenly over the classes (round robin over
    each class's seeded permutation, class sizes permitting); all positions when ``n >= len(labels)``."""
    if n < 1:
        raise ValueError(f"a stratified subset needs n >= 1, got {n}")
    if n >= len(labels):
        return list(range(len(labels)))
    rng = np.random.default_rng(seed)
    pools = [rng.permutation(np.flatnonzero(labels == c)).tolist() for c in np.unique(labels)]
    chosen: list[int] = []
    while len(chosen) < n:  # round robin over the classes that still have images
        for pool in pools:
            if pool and len(chosen) < n:
                chosen.append(pool.pop())
    return sorted(chosen)


@dataclass(frozen=True)
class Split:
    """One split: ``images`` uint8 (N, C, H, W), ``labels`` int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels shape {tuple(self.labels.shape)} does not match {self.images.shape[0]} images"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: slice | torch.Tensor | np.ndarray) -> "Split":
        """Rows ``index`` of both tensors (a slice or an index array)."""
        return Split(self.images[index], self.labels[index])

    def stratified(self, n: int | None, seed: int = 42) -> "Split":
        """``n`` images spread evenly over the classes (class sizes permitting), drawn with ``seed``,
        in their original order; the whole split when ``n`` is None or at least its length.

        Class-sorted folders (Fruits-360's test tree) would otherwise give a first-``n`` subset
        of only a few classes."""
        if n is None or n >= len(self):
            return self
        return self.subset(torch.as_tensor(stratified_index(self.labels.numpy(), n, seed)))

    def with_labels(self, labels: torch.Tensor) -> "Split":
        """The same images with other labels (e.g. corrupted ones)."""
        return Split(self.images, torch.as_tensor(labels, dtype=torch.int64))


@dataclass(frozen=True)
class DataSet:
    """A named data set with its fixed splits and where its files came from."""

    name: str
    train: Split
    test: Split
    num_classes: int
    source: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]

    def conformed_to(self, image_shape: tuple[int, int, int]) -> "DataSet":
        """This data set with images resized (bilinear, antialiased) to ``image_shape`` = (C, H, W).

        Grey images are repeated to 3 channels when asked; colour to grey is refused. Used to
        fine-tune a net pre-trained on one image shape on another data set (e.g. 8x8 digits for
        a 28x28 Fashion-MNIST net). Returns ``self`` when the shape already matches.
        """
        c, h, w = (int(v) for v in image_shape)
        c0 = self.image_shape[0]
        if (c, h, w) == tuple(self.image_shape):
            return self
        if c0 != c and not (c0 == 1 and c == 3):
            raise ValueError(
                f"cannot conform {self.name} images of shape {self.image_shape} to {tuple(image_shape)}: "
                f"only grey-to-colour channel changes are supported; pick a source and target with the same channels"
            )

        def resize(split: Split) -> Split:
            x = split.images.float()
            if (x.shape[2], x.shape[3]) != (h, w):
                x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", antialias=True,
                                                    align_corners=False)
            x = x.round_().clamp_(0, 255).to(torch.uint8)
            if c != c0:
                x = x.expand(-1, c, -1, -1).contiguous()
            return Split(x, split.labels)

        return DataSet(self.name, resize(self.train), resize(self.test), self.num_classes,
                       f"{self.source}, resized to {h}x{w}x{c}")

    def describe(self) -> str:
        c, h, w = self.image_shape
        return (
            f"{self.name}: {len(self.train):,} train / {len(self.test):,} test images, "
            f"{h}x{w}x{c}, {self.num_classes} classes (from {self.source})"
        )


IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # what torchvision's ImageNet weights expect


def normalise(images: torch.Tensor, stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> float32: in [-1, 1] (the authors' ``Normalize(0.5, 0.5)``) by default,
    or ``(x / 255 - mean) / std`` per channel with ``stats = (mean, std)`` (e.g. :data:`IMAGENET_STATS`)."""
    if stats is None:
        return images.float().div_(127.5).sub_(1.0)
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1) for v in stats)
    return images.float().div_(255.0).sub_(mean).div_(std)


# --- file readers ---------------------------------------------------------------------------


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped), the MNIST family's format."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: header says {dims}, found {data.size} bytes")
    return data.reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    return None


def _fashion_mnist_from(folder: Path) -> tuple[Split, Split] | None:
    stems = {
        "train_x": "train-images-idx3-ubyte",
        "train_y": "train-labels-idx1-ubyte",
        "test_x": "t10k-images-idx3-ubyte",
        "test_y": "t10k-labels-idx1-ubyte",
    }
    paths = {k: _find_idx(folder, s) for k, s in stems.items()}
    if any(p is None for p in paths.values()):
        return None
    arrays = {k: _read_idx(p) for k, p in paths.items()}  # type: ignore[arg-type]

    def split(x: np.ndarray, y: np.ndarray) -> Split:
        return Split(torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64)))

    return split(arrays["train_x"], arrays["train_y"]), split(arrays["test_x"], arrays["test_y"])


def _cifar10_from(folder: Path) -> tuple[Split, Split] | None:
    base = folder / "cifar-10-batches-py" if (folder / "cifar-10-batches-py").is_dir() else folder
    train_files = [base / f"data_batch_{i}" for i in range(1, 6)]
    test_file = base / "test_batch"
    if not all(p.exists() for p in [*train_files, test_file]):
        return None

    def read(files: list[Path]) -> Split:
        xs, ys = [], []
        for p in files:
            with open(p, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
        return Split(torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)))

    return read(train_files), read([test_file])


def _svhn_from(folder: Path) -> tuple[Split, Split] | None:
    paths = [folder / "train_32x32.mat", folder / "test_32x32.mat"]
    if not all(p.exists() for p in paths):
        return None
    from scipy.io import loadmat

    def read(p: Path) -> Split:
        mat = loadmat(p)
        x = np.ascontiguousarray(np.transpose(mat["X"], (3, 2, 0, 1)), dtype=np.uint8)
        y = mat["y"].astype(np.int64).reshape(-1)
        y[y == 10] = 0  # SVHN stores digit 0 as label 10
        return Split(torch.from_numpy(x), torch.from_numpy(y))

    return read(paths[0]), read(paths[1])


def _digits() -> tuple[Split, Split]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    images, labels = images[order], labels[order]
    n_test = 1000
    train = Split(torch.from_numpy(images[:-n_test].copy()), torch.from_numpy(labels[:-n_test].copy()))
    test = Split(torch.from_numpy(images[-n_test:].copy()), torch.from_numpy(labels[-n_test:].copy()))
    return train, test


# --- registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    reader: Callable[[Path], tuple[Split, Split] | None]
    num_classes: int
    system_dirs: tuple[Path, ...]
    download: Callable[[Path], None] | None
    how_to_get: str


def _torchvision_download(cls_name: str, **kwargs: object) -> Callable[[Path], None]:
    def fetch(root: Path) -> None:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        root.mkdir(parents=True, exist_ok=True)
        if kwargs:
            for split in ("train", "test"):
                cls(str(root), split=split, download=True)
        else:
            cls(str(root), train=True, download=True)
            cls(str(root), train=False, download=True)

    return fetch


_REGISTRY: dict[str, _Entry] = {
    "fashion_mnist": _Entry(
        reader=_fashion_mnist_from,
        num_classes=10,
        system_dirs=(SYSTEM_FASHION_MNIST,),
        download=_torchvision_download("FashionMNIST"),
        how_to_get=(
            "install the Debian package (`sudo apt-get install dataset-fashion-mnist`, which "
            "`make setup` does when run as root), or put the four *-idx?-ubyte[.gz] files in a folder "
            "and pass root=... (or set REPCHANGE_DATA), or pass download=True where the network allows"
        ),
    ),
    "cifar10": _Entry(
        reader=_cifar10_from,
        num_classes=10,
        system_dirs=(),
        download=_torchvision_download("CIFAR10"),
        how_to_get=(
            "put the extracted `cifar-10-batches-py` folder (from "
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz) under root=... or REPCHANGE_DATA, "
            "or pass download=True where the network allows"
        ),
    ),
    "svhn": _Entry(
        reader=_svhn_from,
        num_classes=10,
        system_dirs=(),
        download=_torchvision_download("SVHN", split=True),
        how_to_get=(
            "put train_32x32.mat and test_32x32.mat (from http://ufldl.stanford.edu/housenumbers/) "
            "under root=... or REPCHANGE_DATA, or pass download=True where the network allows"
        ),
    ),
}
_BUILTIN = {"digits": (_digits, 10, "scikit-learn's bundled digits")}


def available() -> list[str]:
    """Names :func:`load` accepts."""
    return sorted([*_REGISTRY, *_BUILTIN])


def _explicit_root(root: str | os.PathLike | None) -> Path | None:
    """The folder the user named: ``root``, else ``REPCHANGE_DATA``; None when neither names one."""
    explicit = root if root is not None else os.environ.get("REPCHANGE_DATA")
    return Path(explicit).expanduser() if explicit else None


def _candidate_dirs(name: str, explicit: Path | None) -> list[Path]:
    """Where ``name`` is looked for: only the user's folder (``explicit``) when there is one."""
    if explicit is not None:  # the user's folder and nothing else
        return [explicit, explicit / name]
    return [*_REGISTRY[name].system_dirs, DOWNLOAD_ROOT / name]


def _with_tv_subdirs(folder: Path, name: str) -> list[Path]:
    """torchvision keeps FashionMNIST files in ``<root>/FashionMNIST/raw``."""
    return [folder, folder / "FashionMNIST" / "raw"] if name == "fashion_mnist" else [folder]


def _resolve(name: str, root: str | os.PathLike | None, download: bool) -> tuple[tuple[Split, Split], str]:
    entry = _REGISTRY[name]
    explicit = _explicit_root(root)
    looked: list[Path] = []
    for folder in _candidate_dirs(name, explicit):
        for sub in _with_tv_subdirs(folder, name):
            looked.append(sub)
            if sub.is_dir():
                found = entry.reader(sub)
                if found is not None:
                    return found, str(sub)
    if download and entry.download is not None:
        target = (explicit if explicit is not None else DOWNLOAD_ROOT) / name
        entry.download(target)
        for sub in _with_tv_subdirs(target, name):
            found = entry.reader(sub)
            if found is not None:
                return found, f"{sub} (downloaded)"
    places = ", ".join(str(p) for p in dict.fromkeys(looked))
    if explicit is not None:
        named = "root / data_root" if root is not None else "REPCHANGE_DATA"
        state = "does not exist" if not explicit.exists() else f"does not hold {name!r}"
        raise DataNotFoundError(
            f"data set {name!r} not found in the folder you named ({named} = {explicit}), which {state}; looked "
            f"in: {places}. Put the data set there, or leave {named} unset to use the system copy or the "
            f"download cache. To get it: {entry.how_to_get}."
        )
    raise DataNotFoundError(
        f"data set {name!r} not found; looked in: {places}. To get it: {entry.how_to_get}."
    )


def load(name: str, *, root: str | os.PathLike | None = None, download: bool = False) -> DataSet:
    """Load data set ``name`` (see :func:`available`) with its fixed splits.

    ``root`` is a folder holding the data set's files (default: ``REPCHANGE_DATA``);
    ``download=True`` lets torchvision fetch it when no local copy exists.
    """
    key = name.lower().replace("-", "_")
    if key in _BUILTIN:
        reader, num_classes, source = _BUILTIN[key]
        train, test = reader()
        return DataSet(key, train, test, num_classes, source)
    if key not in _REGISTRY:
        raise ValueError(f"unknown data set {name!r}; choose one of {available()}")
    (train, test), source = _resolve(key, root, download)
    return DataSet(key, train, test, _REGISTRY[key].num_classes, source)
