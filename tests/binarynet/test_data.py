import gzip
from pathlib import Path

import numpy as np
import pytest

from tdlm.binarynet.data import load_split

from helpers.workflow import MNIST01


def test_digits_split_is_seeded_centred_and_reduced() -> None:
    a = load_split("digits", n_train=300, n_test=100, n_components=20, seed=0)
    b = load_split("digits", n_train=300, n_test=100, n_components=20, seed=0)
    c = load_split("digits", n_train=300, n_test=100, n_components=20, seed=1)
    assert a.x_train.shape == (300, 20) and a.x_test.shape == (100, 20)
    assert a.n_train == 300 and a.n_classes == 10
    assert set(np.unique(a.y_train)) == set(range(10))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.y_train, c.y_train)
    np.testing.assert_allclose(a.x_train.mean(0), 0, atol=1e-5)  # PCA fitted on the training set: centred
    var = a.x_train.var(0)
    assert np.all(np.diff(var) <= 1e-6)  # no whitening: component variances decrease
    assert var[0] / var[-1] > 5
    assert 0.8 < a.explained_variance < 1


def test_digits_default_test_set_is_the_rest() -> None:
    split = load_split("digits", n_train=1000)
    assert len(split.y_test) == 1797 - 1000


def test_split_rejects_too_many_examples() -> None:
    with pytest.raises(ValueError, match="n_train"):
        load_split("digits", n_train=1700, n_test=200)


def test_unknown_source_names_allowed_values() -> None:
    with pytest.raises(ValueError, match="digits, mnist"):
        load_split("cifar", n_train=10)


@pytest.mark.skipif(not MNIST01.is_dir(), reason="MNIST 0/1 files not present")
def test_mnist_from_idx_folder() -> None:
    split = load_split("mnist", n_train=500, n_test=200, mnist_dir=MNIST01)
    assert split.x_train.shape == (500, 20)
    assert split.n_classes == 2
    assert set(np.unique(split.y_train)) == {0, 1}


def test_mnist_bad_file_is_named(tmp_path: Path) -> None:
    for name in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"):
        with gzip.open(tmp_path / name, "wb") as fh:
            fh.write(b"not an idx file")
    with pytest.raises(ValueError, match="images-idx3-ubyte.gz"):
        load_split("mnist", n_train=10, mnist_dir=tmp_path)
