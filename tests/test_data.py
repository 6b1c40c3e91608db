from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_fashion_mnist_tree
from scipy.io import savemat

from repchange.data import datasets as data


@pytest.fixture
def no_system_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Hide the system Fashion-MNIST and the download cache, so only explicit roots count."""
    entry = dataclasses.replace(data._REGISTRY["fashion_mnist"], system_dirs=(tmp_path / "no-system",))
    monkeypatch.setitem(data._REGISTRY, "fashion_mnist", entry)
    monkeypatch.setattr(data, "DOWNLOAD_ROOT", tmp_path / "no-cache")
    monkeypatch.delenv("REPCHANGE_DATA", raising=False)
    return tmp_path


def test_fashion_mnist_from_the_system_package_has_the_official_splits() -> None:
    if not data.SYSTEM_FASHION_MNIST.exists():
        pytest.fail("Fashion-MNIST is not installed: `make test` installs dataset-fashion-mnist as root")
    ds = data.load("fashion_mnist")
    assert ds.train.images.shape == (60_000, 1, 28, 28) and ds.test.images.shape == (10_000, 1, 28, 28)
    assert ds.train.images.dtype == torch.uint8 and ds.train.labels.dtype == torch.int64
    assert torch.bincount(ds.train.labels).tolist() == [6000] * 10
    assert torch.bincount(ds.test.labels).tolist() == [1000] * 10
    assert "fashion-mnist" in ds.source


def test_explicit_root_is_read_exactly(no_system_data: Path) -> None:
    arrays = make_fashion_mnist_tree(no_system_data / "fm")
    ds = data.load("fashion-mnist", root=no_system_data / "fm")
    assert torch.equal(ds.train.images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert ds.test.labels.tolist() == arrays["t10k-labels-idx1-ubyte"].astype(int).tolist()


def test_repchange_data_environment_variable_is_a_root(no_system_data: Path, monkeypatch) -> None:
    make_fashion_mnist_tree(no_system_data / "env" / "fashion_mnist", n_train=12)
    monkeypatch.setenv("REPCHANGE_DATA", str(no_system_data / "env"))
    assert len(data.load("fashion_mnist").train) == 12


def test_an_explicit_folder_is_honoured_or_refused_never_replaced_by_the_system_copy(tmp_path: Path, monkeypatch) -> None:
    """The system Fashion-MNIST exists here, but a named folder that lacks it stops the run instead."""
    monkeypatch.delenv("REPCHANGE_DATA", raising=False)
    with pytest.raises(data.DataNotFoundError, match=r"folder you named \(root / data_root = .*nonexistent.*\), which "
                                                     r"does not exist.*leave root / data_root unset"):
        data.load("fashion_mnist", root=tmp_path / "nonexistent")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("REPCHANGE_DATA", str(tmp_path / "empty"))
    with pytest.raises(data.DataNotFoundError, match="REPCHANGE_DATA = .*empty.*does not hold 'fashion_mnist'"):
        data.load("fashion_mnist")


def test_missing_data_set_says_where_it_looked_and_how_to_get_it(no_system_data: Path) -> None:
    with pytest.raises(data.DataNotFoundError) as err:
        data.load("fashion_mnist", root=no_system_data / "empty")
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(no_system_data / "empty") in message and "download=True" in message


def test_truncated_idx_file_is_an_error(no_system_data: Path) -> None:
    import gzip

    make_fashion_mnist_tree(no_system_data / "fm")
    header = bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big") for d in (5, 28, 28))
    with gzip.open(no_system_data / "fm" / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + bytes(5 * 28 * 28 - 10))
    with pytest.raises(ValueError, match="truncated"):
        data.load("fashion_mnist", root=no_system_data / "fm")


def test_unknown_data_set_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown data set 'imagenet'.*cifar10.*digits.*fashion_mnist"):
        data.load("imagenet")


def test_digits_split_is_fixed_and_scaled() -> None:
    a, b = data.load("digits"), data.load("digits")
    assert len(a.train) == 797 and len(a.test) == 1000 and a.image_shape == (1, 8, 8)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.labels, b.test.labels)
    assert int(a.train.images.max()) == 255 and int(a.train.images.min()) == 0
    assert set(a.test.labels.tolist()) == set(range(10))


def test_cifar10_pickle_batches_keep_channel_layout(tmp_path: Path) -> None:
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(1)
    images = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
        images[name] = x
        with open(base / name, "wb") as f:
            pickle.dump({b"data": x.reshape(3, -1), b"labels": [1, 2, 3]}, f)
    ds = data.load("cifar10", root=tmp_path)
    assert ds.train.images.shape == (15, 3, 32, 32) and ds.test.images.shape == (3, 3, 32, 32)
    assert torch.equal(ds.test.images, torch.from_numpy(images["test_batch"]))
    assert torch.equal(ds.train.images[:3], torch.from_numpy(images["data_batch_1"]))


def test_svhn_mat_files_map_label_10_to_0(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    for split, n in (("train", 4), ("test", 3)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        savemat(tmp_path / f"{split}_32x32.mat", {"X": x, "y": np.array([[10], [1], [5], [10]])[:n]})
    ds = data.load("svhn", root=tmp_path)
    assert ds.train.images.shape == (4, 3, 32, 32)
    assert ds.train.labels.tolist() == [0, 1, 5, 0]
    x = rng.integers(0, 256, (32, 32, 3, 1), dtype=np.uint8)
    savemat(tmp_path / "test_32x32.mat", {"X": x, "y": np.array([[3]])})
    one = data.load("svhn", root=tmp_path).test.images[0]
    assert torch.equal(one, torch.from_numpy(x[..., 0]).permute(2, 0, 1))


def test_cifar10_missing_names_the_download_option(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(data, "DOWNLOAD_ROOT", tmp_path / "cache")
    with pytest.raises(data.DataNotFoundError, match="cifar-10-batches-py.*download=True"):
        data.load("cifar10", root=tmp_path)


def test_normalise_maps_bytes_to_minus_one_one() -> None:
    x = torch.tensor([0, 255], dtype=torch.uint8).reshape(1, 1, 1, 2)
    assert data.normalise(x).flatten().tolist() == [-1.0, 1.0]


def test_split_checks_shapes() -> None:
    with pytest.raises(ValueError, match="labels shape"):
        data.Split(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="uint8"):
        data.Split(torch.zeros(3, 1, 2, 2), torch.zeros(3, dtype=torch.int64))


def test_conformed_to_resizes_digits_to_the_source_shape_and_keeps_labels() -> None:
    digits = data.load("digits")
    big = digits.conformed_to((1, 28, 28))
    assert big.image_shape == (1, 28, 28) and big.train.images.dtype == torch.uint8
    assert torch.equal(big.test.labels, digits.test.labels)
    # resizing preserves the picture: the mean brightness per image moves by little
    before = digits.test.images.float().mean((1, 2, 3))
    after = big.test.images.float().mean((1, 2, 3))
    assert float((before - after).abs().max()) < 8.0
    assert digits.conformed_to((1, 8, 8)) is digits
    assert digits.conformed_to((3, 16, 16)).image_shape == (3, 16, 16)
    rgb = data.DataSet("rgb", digits.train.subset(slice(0, 4)), digits.test.subset(slice(0, 4)), 10, "t")
    rgb = rgb.conformed_to((3, 8, 8))
    with pytest.raises(ValueError, match="grey-to-colour"):
        rgb.conformed_to((1, 8, 8))
