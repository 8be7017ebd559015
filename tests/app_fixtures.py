"""Fixtures for the dashboard tests: tiny real models in a temporary registry, small offline data.

Kept apart from conftest.py (owned by the engine tests); test_app.py imports these fixtures by
name (`from app_fixtures import ...`), which is how pytest finds them there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import write_mnist_idx

MNIST_MODEL = "tiny-digits"
CONDITIONAL_MODEL = "tiny-cdigits"
FRAUD_MODEL = "tiny-fraud"
N_FRAUD_ROWS = 1200


@pytest.fixture(scope="session")
def app_data_dir(tmp_path_factory, bundled_digits) -> Path:
    """A VAE_DATA_DIR with 600 real digits as MNIST IDX files and a small labelled transactions CSV.

    The CSV is real rows from ../shared/data when present (all its frauds kept in proportion), else
    the engine's synthetic generator, so the tests never depend on the network or ../shared.
    """
    root = tmp_path_factory.mktemp("app_data")
    write_mnist_idx(root / "mnist", bundled_digits, 400, 200)

    creditcard = root / "creditcard"
    creditcard.mkdir()
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "creditcard" / "creditcard_subset.csv"
    if shared.is_file():
        import pandas as pd

        frame = pd.read_csv(shared).sample(N_FRAUD_ROWS, random_state=0)
    else:
        from vae_core.tables.tabular import make_synthetic_creditcard

        frame = make_synthetic_creditcard(n_rows=N_FRAUD_ROWS, fraud_fraction=0.1, seed=0).to_frame()
    frame.to_csv(creditcard / "creditcard.csv", index=False)
    return root


@pytest.fixture(scope="session")
def trained_models_dir(tmp_path_factory, app_data_dir) -> Path:
    """A registry of tiny real models: an MNIST VAE (dense, latent 2, hidden (32,), 1 epoch), a
    conditional MNIST VAE, and a fraud VAE with a 3-D latent (so projections are exercised)."""
    from vae_core.config import TrainConfig, VAEConfig, build_configs
    from vae_core import sources
    from vae_core.tables.fraud import train_fraud
    from vae_core.images.mnist import train_mnist

    root = tmp_path_factory.mktemp("app_models")
    digits = sources.mnist("path", app_data_dir / "mnist")
    train_mnist(MNIST_MODEL, VAEConfig(latent_dim=2, hidden_units=(32,)),
                TrainConfig(epochs=1, batch_size=64, seed=0), data=digits, models_dir=str(root))
    train_mnist(CONDITIONAL_MODEL, VAEConfig(latent_dim=2, hidden_units=(32,), num_classes=10),
                TrainConfig(epochs=1, batch_size=64, seed=0), data=digits, models_dir=str(root))
    transactions = sources.transactions(app_data_dir / "creditcard" / "creditcard.csv")
    train_fraud(FRAUD_MODEL, transactions, build_configs("fraud", latent_dim=3, hidden_units=(32,))[0],
                TrainConfig(epochs=2, batch_size=64, seed=0), models_dir=str(root))
    return root


@pytest.fixture()
def app_env(monkeypatch, app_data_dir):
    """Point the app at the small offline data; returns a function that sets the models folder."""
    monkeypatch.setenv("VAE_DATA_DIR", str(app_data_dir))
    monkeypatch.setenv("VAE_OFFLINE", "1")

    def use_models(folder: Path) -> Path:
        monkeypatch.setenv("VAE_MODELS_DIR", str(folder))
        return folder

    return use_models


@pytest.fixture()
def models_copy(tmp_path, trained_models_dir) -> Path:
    """A private copy of the trained registry, for tests that delete or import models."""
    target = tmp_path / "models"
    shutil.copytree(trained_models_dir, target)
    return target
