"""Data: IDX reader, MNIST folder loading, binarisation, one-hot labels, balanced draws (spec section 2)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from tdlm.data import binarise, draw, load_pool, one_hot
from tdlm.idx import read_idx

from helpers.workflow import MNIST01

# IDX type byte -> (big-endian struct code, numpy dtype), written here from the IDX format description
IDX_TYPES = {
    0x08: ("B", np.uint8),
    0x09: ("b", np.int8),
    0x0B: ("h", np.int16),
    0x0C: ("i", np.int32),
    0x0D: ("f", np.float32),
    0x0E: ("d", np.float64),
}


def idx_bytes(array: np.ndarray, type_byte: int) -> bytes:
    code, _ = IDX_TYPES[type_byte]
    header = bytes([0, 0, type_byte, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    body = struct.pack(">" + code * array.size, *array.ravel().tolist())
    return header + body


def write_idx(path: Path, array: np.ndarray, type_byte: int = 0x08, gz: bool = False) -> Path:
    data = idx_bytes(array, type_byte)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("type_byte", sorted(IDX_TYPES))
def test_read_idx_round_trip(tmp_path, gz, type_byte):
    rng = np.random.default_rng(type_byte)
    dtype = IDX_TYPES[type_byte][1]
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)
    else:
        array = rng.standard_normal((3, 4, 5)).astype(dtype)
    got = read_idx(write_idx(tmp_path / "a.idx", array, type_byte, gz))
    assert got.shape == (3, 4, 5)
    assert got.dtype == np.dtype(dtype)  # native byte order, same kind
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, array)


def test_read_idx_labels_1d_and_expected_ndim(tmp_path):
    labels = np.array([0, 1, 1, 0, 7], dtype=np.uint8)
    path = write_idx(tmp_path / "l.gz", labels, gz=True)
    np.testing.assert_array_equal(read_idx(path, expected_ndim=1), labels)
    with pytest.raises(ValueError, match="dimensions"):
        read_idx(path, expected_ndim=3)


@pytest.mark.parametrize("magic", [b"\x08\x03\x00\x00", b"\x00\x01\x08\x03", b"\x00\x00\x07\x03", b"\x00\x00"])
def test_read_idx_bad_magic(tmp_path, magic):
    path = tmp_path / "bad.idx"
    path.write_bytes(magic + bytes(20))
    with pytest.raises(ValueError, match="magic"):
        read_idx(path)


@pytest.mark.parametrize("delta", [-1, +3])
def test_read_idx_size_mismatch(tmp_path, delta):
    data = idx_bytes(np.zeros((2, 3, 3), dtype=np.uint8), 0x08)
    data = data[:delta] if delta < 0 else data + bytes(delta)
    path = tmp_path / "short.idx"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=r"\(2, 3, 3\)"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.idx"):
        read_idx(tmp_path / "nope.idx")


def make_mnist_folder(folder: Path, n_images: int, labels: np.ndarray, gz: bool = True) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n_images, 4, 3)).astype(np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"images-idx3-ubyte{suffix}", images, gz=gz)
    write_idx(folder / f"labels-idx1-ubyte{suffix}", labels.astype(np.uint8), gz=gz)
    return images


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_folder_pool(tmp_path, gz):
    labels = np.array([0, 1, 2, 1, 0, 1, 2, 0])
    images = make_mnist_folder(tmp_path / "m", len(labels), labels, gz)
    pool = load_pool("mnist", [0, 1], str(tmp_path / "m"))
    keep = np.isin(labels, [0, 1])
    assert pool.images.shape == (keep.sum(), 12)
    np.testing.assert_array_equal(pool.images, images[keep].reshape(-1, 12))
    np.testing.assert_array_equal(pool.labels, labels[keep])
    assert pool.value_range == (0.0, 255.0)


def test_mnist_count_mismatch(tmp_path):
    folder = tmp_path / "m"
    make_mnist_folder(folder, 5, np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="5 images but 4 labels"):
        load_pool("mnist", [0, 1], str(folder))


def test_mnist_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="data.path"):
        load_pool("mnist", [0, 1], str(tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="images"):
        load_pool("mnist", [0, 1], str(tmp_path / "empty"))
    folder = tmp_path / "nolabels"
    make_mnist_folder(folder, 4, np.array([0, 1, 0, 1]))
    (folder / "labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="labels"):
        load_pool("mnist", [0, 1], str(folder))


def test_unknown_class():
    with pytest.raises(ValueError, match=r"data\.classes.*\[10\]"):
        load_pool("digits", [0, 10])


def test_binarise_threshold_is_the_midpoint():
    grey = np.array([0, 7, 8, 8.0001, 9, 16], dtype=np.float64)
    np.testing.assert_array_equal(binarise(grey, (0.0, 16.0)), [-1, -1, -1, 1, 1, 1])
    mnist = np.array([0, 127, 128, 255], dtype=np.uint8)
    np.testing.assert_array_equal(binarise(mnist, (0.0, 255.0)), [-1, -1, 1, 1])
    assert set(np.unique(binarise(np.arange(256.0), (0.0, 255.0)))) == {-1.0, 1.0}


def test_one_hot_plus_minus_one():
    y = one_hot(np.array([0, 1, 1, 0]), [0, 1])
    np.testing.assert_array_equal(y, [[1, -1], [-1, 1], [-1, 1], [1, -1]])  # spec: 0 -> (+1, -1), 1 -> (-1, +1)
    labels = np.array([7, 3, 5, 3])
    y3 = one_hot(labels, [3, 5, 7])
    assert y3.shape == (4, 3)
    assert set(np.unique(y3)) == {-1.0, 1.0}
    assert np.all((y3 == 1).sum(axis=1) == 1)
    np.testing.assert_array_equal(np.array([3, 5, 7])[np.argmax(y3, axis=1)], labels)


@pytest.mark.parametrize("classes, M", [([0, 1], 40), ([0, 1, 2], 30), ([1, 0], 20)])
def test_draw_is_balanced_and_disjoint(classes, M):
    pool = load_pool("digits", classes)
    ds = draw(pool, classes, M, 50, np.random.default_rng(3))
    assert ds.x_train.shape == (M, 64) and ds.y_train.shape == (M, len(classes))
    train_labels = pool.labels[ds.train_index]
    for c in classes:
        assert np.sum(train_labels == c) == M // len(classes)
    assert len(set(ds.train_index.tolist())) == M
    assert not set(ds.train_index.tolist()) & set(ds.test_index.tolist())
    assert len(ds.test_index) == 50
    # the drawn arrays are the binarised pool rows and the one-hot labels of those rows
    np.testing.assert_array_equal(ds.x_train, np.where(pool.images[ds.train_index] > 8, 1.0, -1.0))
    np.testing.assert_array_equal(ds.y_test, np.where(pool.labels[ds.test_index][:, None] == np.array(classes), 1.0, -1.0))
    # the order does not put the classes in blocks (first half not a single class)
    assert len(set(train_labels[: M // 2].tolist())) > 1


def test_draw_is_seeded():
    pool = load_pool("digits", [0, 1])
    a = draw(pool, [0, 1], 20, 10, np.random.default_rng(1))
    b = draw(pool, [0, 1], 20, 10, np.random.default_rng(1))
    c = draw(pool, [0, 1], 20, 10, np.random.default_rng(2))
    np.testing.assert_array_equal(a.train_index, b.train_index)
    assert not np.array_equal(a.train_index, c.train_index)


def test_draw_M_too_large():
    pool = load_pool("digits", [0, 1])
    smallest = min(np.sum(pool.labels == 0), np.sum(pool.labels == 1))
    draw(pool, [0, 1], 2 * smallest, 0, np.random.default_rng(0))  # the largest balanced set still works
    with pytest.raises(ValueError, match=rf"M: .*at most {2 * smallest}"):
        draw(pool, [0, 1], 2 * smallest + 2, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="M"):
        draw(pool, [0, 1], 21, 10, np.random.default_rng(0))


@pytest.mark.skipif(not MNIST01.is_dir(), reason="MNIST 0/1 IDX files not available")
def test_real_mnist01():
    pool = load_pool("mnist", [0, 1], str(MNIST01))
    assert pool.images.shape[1] == 784
    assert set(np.unique(pool.labels).tolist()) == {0, 1}
    assert pool.images.min() >= 0 and pool.images.max() <= 255
    ds = draw(pool, [0, 1], 200, 40, np.random.default_rng(0))
    assert ds.x_train.shape == (200, 784)
    assert set(np.unique(ds.x_train).tolist()) == {-1.0, 1.0}
    assert np.sum(pool.labels[ds.train_index] == 0) == np.sum(pool.labels[ds.train_index] == 1) == 100
    # a "1" lights fewer pixels than a "0"
    ones = ds.x_train[pool.labels[ds.train_index] == 1]
    zeros = ds.x_train[pool.labels[ds.train_index] == 0]
    assert (ones > 0).sum(axis=1).mean() < (zeros > 0).sum(axis=1).mean()
