"""The ELBO taken apart: its two terms per epoch, one image's own terms and posterior, and β's trade-off.

Arrays in, small dataclasses out; TensorFlow is reached only through the models passed in.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from vae_core.images.compare import latent_spread
from vae_core.config import TrainConfig, VAEConfig
from vae_core.errors import ConfigError, DataError
from vae_core.latent import decode_images

if TYPE_CHECKING:
    from vae_core.images.data import ImageDataset
    from vae_core.model import VAE
    from vae_core.training import ProgressCallback


def loss_terms_per_epoch(metadata: dict[str, Any]) -> dict[str, list[float]]:
    """The two terms of the loss per epoch from a saved model's history, nats per example:
    {"reconstruction", "kl"[, "val_reconstruction", "val_kl"]} → equal-length lists ({} if absent)."""
    history = metadata.get("history") or {}
    curves = {}
    for key in ("reconstruction", "kl", "val_reconstruction", "val_kl"):
        values = history.get(key)
        if isinstance(values, list) and values and all(isinstance(v, (int, float)) for v in values):
            curves[key] = [float(v) for v in values]
    if "reconstruction" not in curves or "kl" not in curves:
        return {}
    n = len(curves["reconstruction"])
    return {k: v for k, v in curves.items() if len(v) == n}


@dataclass(frozen=True)
class Anatomy:
    """One image's −ELBO taken apart.

    reconstruction: E_q[−log p(x|z)] (Monte-Carlo mean over the samples, nats); kl: KL(q(z|x) ‖ p(z))
    (closed form, nats); kl_per_dim, mu, sigma: (latent_dim,); z_samples: (k, latent_dim) draws
    z = μ + σ·ε; sample_nll: (k,) −log p(x|z) of each draw; samples: (k, 28, 28) their decodings;
    reconstruction_from_mu: (28, 28). For an AE σ is 0, every draw is μ and the KL is 0, and there is
    no likelihood bound.
    """

    image: np.ndarray
    label: int | None
    reconstruction: float
    kl: float
    kl_per_dim: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    z_samples: np.ndarray
    sample_nll: np.ndarray
    samples: np.ndarray
    reconstruction_from_mu: np.ndarray
    nll_at_mu: float
    variational: bool = True
    beta: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)
    # −log p(x) from the importance-weighted bound with `iw_samples` draws (None for an AE or 0 draws).
    iw_nll: float | None = None
    iw_samples: int = 0

    @property
    def neg_elbo(self) -> float:
        return self.reconstruction + self.kl


def elbo_anatomy(vae: VAE, image: np.ndarray, label: int | None = None, *, n_samples: int = 8,
                 seed: int = 0, iw_samples: int = 1000) -> Anatomy:
    """Take one image's −ELBO apart: its own terms, μ and σ per dim, and draws z ~ q(z|x) decoded;
    with `iw_samples` > 0, also its importance-weighted −log p(x) (never above the −ELBO in expectation).

    image: (28, 28[, 1]); label: its digit (needed by conditional models).
    """
    if not 1 <= n_samples <= 256:
        raise ConfigError("Use between 1 and 256 samples of z.")
    x = np.asarray(image, np.float32).reshape(1, *vae.vae_config.input_shape)
    y = None if not vae.vae_config.conditional else np.array([-1 if label is None else int(label)])
    if vae.vae_config.conditional and label is None:
        raise DataError("This conditional model needs the image's digit label.")
    mu, log_var = vae.encode(x, y)
    mu, log_var = mu[0].astype(np.float64), log_var[0].astype(np.float64)
    variational = vae.variational
    sigma = np.exp(0.5 * log_var) if variational else np.zeros_like(mu)
    eps = np.random.default_rng(seed).standard_normal((n_samples, len(mu)))
    z = (mu + sigma * eps).astype(np.float32)
    xs = np.repeat(x, n_samples, axis=0)
    ys = None if y is None else np.repeat(y, n_samples)
    sample_nll = vae.decoder_nll(xs, z, ys)
    kl_per_dim = (0.5 * (mu ** 2 + sigma ** 2 - 1.0 - log_var) if variational else np.zeros_like(mu))
    nll_at_mu = float(vae.decoder_nll(x, mu[None, :].astype(np.float32), y)[0])
    return Anatomy(
        image=x.reshape(28, 28) if x.size == 784 else x[0],
        label=None if label is None else int(label),
        reconstruction=float(sample_nll.mean()),
        kl=float(kl_per_dim.sum()),
        kl_per_dim=kl_per_dim,
        mu=mu,
        sigma=sigma,
        z_samples=z,
        sample_nll=sample_nll,
        samples=decode_images(vae, z, ys),
        reconstruction_from_mu=decode_images(vae, mu[None, :], y)[0],
        nll_at_mu=nll_at_mu,
        variational=variational,
        beta=float(vae.vae_config.beta),
        iw_nll=(float(vae.importance_weighted_nll(x, y, n_samples=iw_samples, seed=seed)[0])
                if variational and iw_samples else None),
        iw_samples=iw_samples if variational else 0,
    )


# --- β: reconstruction vs KL vs spread ----------------------------------------------------------------

@dataclass(frozen=True)
class BetaRow:
    """One model's place on the β trade-off (nats per test image); mu: (n, latent_dim) for a scatter."""

    name: str
    beta: float
    latent_dim: int
    reconstruction: float
    kl: float
    spread: dict[str, Any]
    mu: np.ndarray
    labels: np.ndarray


def beta_row(name: str, vae: VAE, x: np.ndarray, y: np.ndarray | None = None, *, seed: int = 0) -> BetaRow:
    """Measure a VAE on test images x (n, 28, 28, 1): its two loss terms and how spread its μ are."""
    if not vae.variational:
        raise ConfigError(f"{name} is an autoencoder: β only weighs a VAE's KL term.")
    terms = vae.per_example_losses(x, y, seed=seed)
    mu = vae.encode(x, y)[0]
    return BetaRow(name, float(vae.vae_config.beta), vae.vae_config.latent_dim,
                   float(terms["reconstruction"].mean()), float(terms["kl"].mean()), latent_spread(mu), mu,
                   np.zeros(len(x), np.int64) if y is None else np.asarray(y, np.int64))


def beta_sweep(data: ImageDataset, betas: Iterable[float] = (0.25, 1.0, 4.0), *,
               config: VAEConfig | None = None, train_config: TrainConfig | None = None,
               n_train: int = 10_000, n_test: int = 2000, on_progress: ProgressCallback | None = None,
               cancel: threading.Event | None = None) -> list[BetaRow]:
    """Train one small VAE per β (same shapes, data, seed, epochs; unsaved) and measure each.

    Defaults are sized for a page button on 2 CPU cores: dense 256-128, latent 2, 3 epochs on up
    to 10,000 images. `on_progress` hears every model's training; after `cancel`, the rows so far.
    """
    from vae_core.images.mnist import split_validation_labelled
    from vae_core.training import fit_vae

    config = config or VAEConfig(hidden_units=(256, 128), latent_dim=2)
    train_config = train_config or TrainConfig(epochs=3, batch_size=128, early_stopping_patience=0)
    betas = [float(b) for b in betas]
    if not betas:
        raise ConfigError("Give at least one β.")
    size = min(5000, len(data.x_train) // 10)
    x_train, y_train, _, _ = split_validation_labelled(data, size, train_config.seed)
    x_train, y_train = x_train[:n_train], y_train[:n_train]
    x_test, y_test = data.x_test[:n_test], data.y_test[:n_test]
    rows = []
    for beta in betas:
        model_config = dataclasses.replace(config, beta=beta, model_type="vae")
        result = fit_vae(x_train, model_config, train_config, y_train=y_train, on_progress=on_progress, cancel=cancel)
        if result.cancelled:
            break
        rows.append(beta_row(f"β = {beta:g}", result.model, x_test, y_test))
    return rows


