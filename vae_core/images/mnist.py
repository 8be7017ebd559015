"""MNIST workflows shared by the CLI and the dashboard: train → evaluate → save, and evaluate a saved model."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from vae_core.config import TrainConfig, VAEConfig
from vae_core import sources
from vae_core.images.data import ImageDataset
from vae_core.errors import ConfigError
from vae_core.training import ProgressCallback, TrainResult, fit_vae

KIND = "mnist"
VALIDATION_SIZE = 5000
# Importance samples per test image for `evaluate`: at 1,000 the bound moves < 0.1 nat between seeds.
IW_SAMPLES = 1000
# Training stores a 20-sample bound in the model's metrics (iw_samples says so): 2.7 s for the default
# model on 2 cores, a 35th of the 1,000-sample one that `evaluate` gives, and 0.6 nat above it (1.2 for
# the shipped wide 2-D model; 50 samples: 4.5 s and 0.4 nat).
TRAINING_IW_SAMPLES = 20
PROTOCOL = {
    "data": "continuous MNIST: pixel intensities in [0, 1] scored with summed Bernoulli cross-entropy "
            "(not stochastically binarized MNIST); n_test test images",
    "test_neg_elbo": "single-sample ELBO: one z ~ q(z|x) per image (seed 0), closed-form KL",
    "test_iw_nll": "importance-weighted bound: -log (1/k) sum_i p(x, z_i) / q(z_i|x) with k = iw_samples "
                   "draws z_i ~ q(z|x) per image (seed 0); an upper bound on -log p(x) in expectation, tighter than the ELBO",
}


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


def iw_metrics(vae, x: np.ndarray, y: np.ndarray | None = None, *, iw_samples: int = IW_SAMPLES,
               seed: int = 0) -> dict[str, Any]:
    """Mean importance-weighted −log p(x) (nats per example) over x (n, 28, 28, 1), with the sample
    count and the seconds it took; {} for a plain autoencoder (it has no likelihood) or iw_samples 0."""
    if not vae.vae_config.variational or not iw_samples:
        return {}
    start = time.perf_counter()
    nll = vae.importance_weighted_nll(x, y if vae.vae_config.conditional else None, n_samples=iw_samples, seed=seed)
    return {"test_iw_nll": float(nll.mean()), "iw_samples": iw_samples,
            "iw_seconds": round(time.perf_counter() - start, 1)}


def train_mnist(name: str | None, vae_config: VAEConfig, train_config: TrainConfig, *,
                data: ImageDataset | None = None, data_path: str | None = None,
                models_dir: str | None = None, on_progress: ProgressCallback | None = None,
                cancel: threading.Event | None = None, may_save: Callable[[], bool] | None = None,
                iw_samples: int = TRAINING_IW_SAMPLES) -> MNISTTraining:
    """Train on MNIST, evaluate on its test set and save as `name` (skipped when name is None or cancelled).

    The name is validated and checked for clashes before training, so a bad name costs no time.
    `may_save()`, asked just before saving, can still veto the save (e.g. its browser tab is gone).
    The metrics hold the test −ELBO and, with `iw_samples` > 0, the importance-weighted −log p(x).
    """
    from vae_core import registry

    if name is not None:
        registry.check_new_name(name, models_dir)
    if tuple(vae_config.input_shape) != (28, 28, 1):
        raise ConfigError("MNIST models take 28x28x1 images.")
    data = data or sources.mnist("path" if data_path else "auto", data_path)
    validation_size = min(VALIDATION_SIZE, len(data.x_train) // 10)
    x_train, y_train, x_val, y_val = split_validation_labelled(data, validation_size, train_config.seed)
    result = fit_vae(x_train, vae_config, train_config, x_val=x_val, on_progress=on_progress, cancel=cancel,
                     y_train=y_train, y_val=y_val)
    if result.cancelled:
        return MNISTTraining(result, {}, {}, None)
    metrics = {
        **neg_elbo_metrics(result.model, data.x_test, data.y_test),
        **iw_metrics(result.model, data.x_test, data.y_test, iw_samples=iw_samples),
        "train_neg_elbo": result.history["neg_elbo"][-1],
        "val_neg_elbo": result.history["val_neg_elbo"][-1],
    }
    metadata = {
        "dataset": "mnist",
        "data_source": data.source,
        "data_options": data.options,
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
    if name is not None and not (cancel is not None and cancel.is_set()) and (may_save is None or may_save()):
        from vae_core.registry import save_model

        saved_to = save_model(result.model, name, kind=KIND, metadata=metadata, directory=models_dir)
    return MNISTTraining(result, metrics, metadata, saved_to)


def evaluate_mnist(vae, data: ImageDataset, *, iw_samples: int = IW_SAMPLES) -> dict[str, Any]:
    """Test-set −ELBO and importance-weighted −log p(x) of a loaded VAE (or AE: −ELBO only, or
    conditional VAE: −log p(x|y)), with the data source and the protocol: JSON-friendly.
    `iw_samples` 0 skips the importance-weighted bound."""
    return {**neg_elbo_metrics(vae, data.x_test, data.y_test),
            **iw_metrics(vae, data.x_test, data.y_test, iw_samples=iw_samples),
            "data_source": data.source, "protocol": PROTOCOL}
