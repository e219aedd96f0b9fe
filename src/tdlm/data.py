"""Training and test sets for the machine: binarised +/-1 inputs, one-hot +/-1 labels.

Every sample draws its own class-balanced training set (and a test set from what is left)
from a permutation seeded by the sample's seed, so that independent samples see
independent data and the indices can be recorded for provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tdlm.fields import FOLDER, Field

IMAGE_FILES = ("images-idx3-ubyte.gz", "images-idx3-ubyte", "train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")
LABEL_FILES = ("labels-idx1-ubyte.gz", "labels-idx1-ubyte", "train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte")
SOURCES = ("digits", "mnist")
PIXELS = {"digits": 64, "mnist": 28 * 28}  # inputs per image, for memory estimates before any data is read
# the data folder, a parameter of both families (simulate and binary-simulate): one field, one help text
PATH_FIELD = Field(
    "data.path",
    str,
    None,
    "folder with `images-idx3-ubyte[.gz]` and `labels-idx1-ubyte[.gz]` (also `train-*` names); required for mnist",
    FOLDER,
    nullable=True,
)


@dataclass(frozen=True)
class Pool:
    """All images of the chosen classes, flattened, with their grey-value range."""

    images: np.ndarray  # (n, N_0) raw grey values
    labels: np.ndarray  # (n,) class labels as in the source
    value_range: tuple[float, float]
    source: str


@dataclass(frozen=True)
class Dataset:
    """One sample's data: +/-1 inputs and one-hot +/-1 labels, with the pool indices used."""

    x_train: np.ndarray  # (M, N_0)
    y_train: np.ndarray  # (M, n_classes)
    x_test: np.ndarray  # (n_test, N_0)
    y_test: np.ndarray  # (n_test, n_classes)
    train_index: np.ndarray  # (M,) indices into the pool
    test_index: np.ndarray  # (n_test,)


def _find(folder: Path, names: tuple[str, ...], what: str, field: str) -> Path:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{field}: no MNIST {what} file in {folder}; looked for {', '.join(names)}")


def read_images(
    source: str, path: str | Path | None = None, field: str = "data.path"
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """(flattened raw images, labels, grey-value range) of the embedded digits or an MNIST IDX folder: the
    one loader of both model families. `field` is the parameter named in errors (data.path, mnist_dir)."""
    if source == "digits":
        from sklearn.datasets import load_digits  # sklearn is slow to import: only when used

        bunch = load_digits()
        return bunch.data, bunch.target, (0.0, 16.0)
    if source != "mnist":
        raise ValueError(f"data.source: unknown source {source!r}; allowed values: {', '.join(SOURCES)}")
    from tdlm.idx import read_idx

    if not path:
        raise ValueError(f"{field}: required when the source is 'mnist' (a folder with the IDX files)")
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"{field}: MNIST folder not found: {folder}")
    files = _find(folder, IMAGE_FILES, "images", field), _find(folder, LABEL_FILES, "labels", field)
    try:
        images, labels = (read_idx(file, expected_ndim=n) for file, n in zip(files, (3, 1)))
    except (OSError, EOFError, ValueError) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{field}: cannot read the MNIST files in {folder}: {err}") from None
    if len(images) != len(labels):
        raise ValueError(f"{field}: {len(images)} images but {len(labels)} labels in {folder}")
    return images.reshape(len(images), -1), labels, (0.0, 255.0)


def load_pool(source: str, classes: list[int], path: str | None = None) -> Pool:
    """The raw images of the requested classes from the embedded digits or an MNIST IDX folder."""
    images, labels, value_range = read_images(source, path)
    available = sorted(int(c) for c in np.unique(labels))
    unknown = [c for c in classes if c not in available]
    if unknown:
        raise ValueError(f"data.classes: unknown class(es) {unknown}; allowed values for {source}: {available}")
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"data.classes: need at least two distinct classes, got {classes}")
    keep = np.isin(labels, classes)
    return Pool(np.asarray(images[keep], dtype=np.float64), np.asarray(labels[keep]), value_range, source)


def binarise(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """+1 where the grey value is above the midpoint of the value range, else -1."""
    midpoint = 0.5 * (value_range[0] + value_range[1])
    return np.where(images > midpoint, 1.0, -1.0)


def one_hot(labels: np.ndarray, classes: list[int]) -> np.ndarray:
    """+1 in the column of the label's class, -1 elsewhere."""
    return np.where(labels[:, None] == np.asarray(classes)[None, :], 1.0, -1.0)


def draw(pool: Pool, classes: list[int], M: int, n_test: int, rng: np.random.Generator) -> Dataset:
    """A class-balanced training set of M examples and up to n_test test examples from the rest."""
    n_classes = len(classes)
    if M % n_classes:
        raise ValueError(f"M: must be a multiple of the number of classes ({n_classes}) for a balanced set, got {M}")
    perm = rng.permutation(len(pool.labels))
    per_class = M // n_classes
    train = []
    for c in classes:
        members = perm[pool.labels[perm] == c]
        if len(members) < per_class:
            limit = n_classes * min(int(np.sum(pool.labels == k)) for k in classes)
            raise ValueError(
                f"M: {M} is larger than the balanced pool of {pool.source} classes {classes} allows (at most {limit})"
            )
        train.append(members[:per_class])
    # interleave classes in permutation order so minibatch-free MD sees no class blocks
    train_index = perm[np.isin(perm, np.concatenate(train))]
    rest = perm[~np.isin(perm, train_index)]
    test_index = rest[:n_test]
    x = binarise(pool.images, pool.value_range)
    y = one_hot(pool.labels, classes)
    return Dataset(x[train_index], y[train_index], x[test_index], y[test_index], train_index, test_index)
