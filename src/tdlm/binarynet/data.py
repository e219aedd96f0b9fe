"""Training data for binary networks: images scaled to [0, 1], centred, reduced by PCA.

The paper feeds MNIST's first 20 principal components (no whitening) to a 20-input network; the
embedded default uses scikit-learn's bundled 8x8 digits so that a run needs no download.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tdlm.data import SOURCES, read_images

PCA_FITS = ("train", "all")


@dataclass(frozen=True)
class Split:
    """PCA features (float32) and integer labels of the training and test sets."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    explained_variance: float  # fraction of the pixel variance kept by the components

    @property
    def n_train(self) -> int:
        return len(self.y_train)


def load_images(source: str, mnist_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (images as float64 rows scaled to [0, 1], integer labels) of one source (tdlm.data's loader)."""
    if source not in SOURCES:
        raise ValueError(f"dataset: got {source!r}; allowed values: {', '.join(SOURCES)}")
    images, labels, (_, top) = read_images(source, mnist_dir, field="mnist_dir")
    return images / top, labels.astype(np.int64)


def pca_split(
    images: np.ndarray,
    labels: np.ndarray,
    n_train: int,
    n_test: int | None,
    n_components: int,
    seed: int,
    pca_fit: str = "train",
) -> Split:
    """Seeded train/test split, then centring and PCA (fitted on `pca_fit` examples, no whitening).

    The centring mean is part of the PCA fit, so train and test share one affine map.
    """
    n_total = len(labels)
    n_test = n_total - n_train if n_test is None else n_test
    if n_train < 1 or n_test < 1 or n_train + n_test > n_total:
        raise ValueError(f"n_train={n_train}, n_test={n_test}: need both >= 1 and n_train + n_test <= {n_total} examples")
    if not 1 <= n_components <= images.shape[1]:
        raise ValueError(f"n_components: got {n_components}; allowed values: 1 to the {images.shape[1]} pixels of an image")
    if pca_fit not in PCA_FITS:
        raise ValueError(f"pca_fit: got {pca_fit!r}; allowed values: {', '.join(PCA_FITS)}")
    order = np.random.default_rng(seed).permutation(n_total)
    train, test = order[:n_train], order[n_train : n_train + n_test]
    fit_rows = train if pca_fit == "train" else order[: n_train + n_test]
    from sklearn.decomposition import PCA

    pca = PCA(n_components=n_components, whiten=False, svd_solver="full").fit(images[fit_rows])
    return Split(
        x_train=pca.transform(images[train]).astype(np.float32),
        y_train=labels[train],
        x_test=pca.transform(images[test]).astype(np.float32),
        y_test=labels[test],
        n_classes=int(labels.max()) + 1,
        explained_variance=float(pca.explained_variance_ratio_.sum()),
    )


def load_split(
    source: str,
    n_train: int,
    n_test: int | None = None,
    n_components: int = 20,
    seed: int = 0,
    pca_fit: str = "train",
    mnist_dir: str | Path | None = None,
) -> Split:
    """Load a source and return its PCA train/test split (see `pca_split`)."""
    images, labels = load_images(source, mnist_dir)
    return pca_split(images, labels, n_train, n_test, n_components, seed, pca_fit)
