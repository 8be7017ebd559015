"""MNIST workflows shared by the CLI and the dashboard: train → evaluate → save, and evaluate a saved model."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from vae_core.config import TrainConfig, VAEConfig
from vae_core.data import ImageDataset, load_mnist
from vae_core.errors import ConfigError, RegistryError
from vae_core.training import ProgressCallback, TrainResult, fit_vae

KIND = "mnist"
VALIDATION_SIZE = 5000


@dataclass
class MNISTTraining:
    """A finished (or cancelled) MNIST training; `saved_to` is None when nothing was saved."""

    result: TrainResult
    metrics: dict[str, float]
    metadata: dict[str, Any]
    saved_to: os.PathLike | None


def split_validation(data: ImageDataset, validation_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of the training images into (train, validation) arrays."""
    if not 0 < validation_size < len(data.x_train) // 2:
        raise ConfigError(f"Validation size must be between 1 and half the {len(data.x_train)} training images.")
    order = np.random.default_rng(seed).permutation(len(data.x_train))
    return data.x_train[order[validation_size:]], data.x_train[order[:validation_size]]


def split_validation_labelled(data: ImageDataset, validation_size: int,
                              seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The same seeded split as `split_validation`, with labels: (x_train, y_train, x_val, y_val)."""
    x_train, x_val = split_validation(data, validation_size, seed)
    order = np.random.default_rng(seed).permutation(len(data.x_train))
    return x_train, data.y_train[order[validation_size:]], x_val, data.y_train[order[:validation_size]]


def neg_elbo_metrics(vae, x: np.ndarray, y: np.ndarray | None = None, *, n_samples: int = 1,
                     seed: int = 0) -> dict[str, float]:
    """Mean test −ELBO and its parts (nats per example) for any model kind: conditional models
    read the labels y (n,); for the AE the KL is 0 and −ELBO is the reconstruction term."""
    terms = vae.per_example_losses(x, y if vae.vae_config.conditional else None, n_samples=n_samples, seed=seed)
    return {
        "test_neg_elbo": float(terms["neg_elbo"].mean()),
        "test_reconstruction": float(terms["reconstruction"].mean()),
        "test_kl": float(terms["kl"].mean()),
        "n_test": int(len(x)),
    }


def train_mnist(name: str | None, vae_config: VAEConfig, train_config: TrainConfig, *,
                data: ImageDataset | None = None, data_path: str | None = None,
                models_dir: str | None = None, on_progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None) -> MNISTTraining:
    """Train on MNIST, evaluate on its test set and save as `name` (skipped when name is None or cancelled).

    The name is validated and checked for clashes before training, so a bad name costs no time.
    """
    from vae_core import registry

    if name is not None:
        registry.validate_name(name)
        if (registry.models_dir(models_dir) / name).exists():
            raise RegistryError(f"A model named {name!r} already exists; choose another name.")
    if tuple(vae_config.input_shape) != (28, 28, 1):
        raise ConfigError("MNIST models take 28x28x1 images.")
    data = data or load_mnist(data_path)
    validation_size = min(VALIDATION_SIZE, len(data.x_train) // 10)
    x_train, y_train, x_val, y_val = split_validation_labelled(data, validation_size, train_config.seed)
    result = fit_vae(x_train, vae_config, train_config, x_val=x_val, on_progress=on_progress, cancel=cancel,
                     y_train=y_train, y_val=y_val)
    if result.cancelled:
        return MNISTTraining(result, {}, {}, None)
    metrics = {
        **neg_elbo_metrics(result.model, data.x_test, data.y_test),
        "train_neg_elbo": result.history["neg_elbo"][-1],
        "val_neg_elbo": result.history["val_neg_elbo"][-1],
    }
    metadata = {
        "dataset": "mnist",
        "data_source": data.source,
        "latent_dim": vae_config.latent_dim,
        "likelihood": vae_config.likelihood,
        "architecture": vae_config.architecture,
        "model_type": vae_config.model_type,
        "conditional": vae_config.conditional,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "training_seconds": round(result.seconds, 2),
        "training_cpu_seconds": round(result.cpu_seconds, 2),
        "n_train": len(x_train),
        "n_validation": len(x_val),
        "train_config": train_config.to_dict(),
        "metrics": metrics,
        "history": result.history,
    }
    saved_to = None
    if name is not None and not (cancel is not None and cancel.is_set()):  # a cancel during evaluation
        from vae_core.registry import save_model

        saved_to = save_model(result.model, name, kind=KIND, metadata=metadata, directory=models_dir)
    return MNISTTraining(result, metrics, metadata, saved_to)


def evaluate_mnist(vae, data: ImageDataset) -> dict[str, Any]:
    """Test-set −ELBO of a loaded VAE (or AE, or conditional VAE), with the data source: JSON-friendly."""
    return {**neg_elbo_metrics(vae, data.x_test, data.y_test), "data_source": data.source}
