"""AE vs VAE: the same shapes trained two ways, measured on the same test digits and prior draws.

Arrays in, arrays and small dataclasses out. TensorFlow is reached only through the models passed in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from vae_core.images.classifier import N_DIGITS, DigitClassifier, sample_quality
from vae_core.config import TrainConfig, VAEConfig
from vae_core.errors import ConfigError
from vae_core.latent import decode_images, sample_rows

if TYPE_CHECKING:
    from vae_core.images.data import ImageDataset
    from vae_core.model import VAE
    from vae_core.registry import ModelInfo

# Var(μ) across the data above this marks a latent dim as "active" (Burda et al., 2016).
ACTIVE_DIM_VARIANCE = 0.01


def kind_label(config: VAEConfig) -> str:
    """'VAE', 'AE', 'conditional VAE' or 'conditional AE'."""
    name = "VAE" if config.variational else "AE"
    return f"conditional {name}" if config.conditional else name


def shapes_key(config: VAEConfig) -> tuple:
    """What must match for two models to have "the same shapes" (everything but type, β and warm-up)."""
    return (tuple(config.input_shape), config.architecture, config.latent_dim, tuple(config.hidden_units),
            tuple(config.decoder_units), config.activation, tuple(config.conv_filters), config.conv_dense_units,
            config.likelihood, config.num_classes)


def matched_config(config: VAEConfig, kind: str) -> VAEConfig:
    """The same encoder/decoder shapes as `config`, as a "vae" or an "ae"."""
    if kind not in ("vae", "ae"):
        raise ConfigError(f"Model type must be 'vae' or 'ae', got {kind!r}.")
    return dataclasses.replace(config, model_type=kind)


def pick_pair(infos: Iterable[ModelInfo], active: str | None = None) -> tuple[str | None, str | None]:
    """Default (AE, VAE) names for the comparison: the `active` model (when it can be compared) with
    its twin of the same shapes, or the first model of the other type when it has none; without an
    active model, a pair with the same shapes if there is one.

    `infos` are valid MNIST registry entries; either name may be None.
    """
    infos = [i for i in infos if not i.vae_config.conditional]
    aes = [i for i in infos if not i.vae_config.variational]
    # Plain β = 1 VAEs first: the textbook comparison.
    vaes = sorted((i for i in infos if i.vae_config.variational), key=lambda i: i.vae_config.beta != 1.0)
    chosen = next((i for i in infos if i.name == active), None)
    if chosen is not None:
        partners = aes if chosen.vae_config.variational else vaes
        twin = next((p for p in partners if shapes_key(p.vae_config) == shapes_key(chosen.vae_config)), None)
        other = twin or (partners[0] if partners else None)
        other_name = None if other is None else other.name
        return (other_name, chosen.name) if chosen.vae_config.variational else (chosen.name, other_name)
    for vae in vaes:
        for ae in aes:
            if shapes_key(ae.vae_config) == shapes_key(vae.vae_config):
                return ae.name, vae.name
    return (aes[0].name if aes else None), (vaes[0].name if vaes else None)


def reconstruction_errors(vae: VAE, x: np.ndarray, y: np.ndarray | None = None) -> dict[str, float]:
    """Reconstruction through the code mean (μ for a VAE, z for an AE), so AE and VAE are measured alike.

    nll: −log p(x | z=μ) in nats per image (summed binary cross-entropy for Bernoulli models);
    mse: mean squared error per pixel of the decoded mean.
    """
    mu = vae.encode(x, y)[0]
    nll = vae.decoder_nll(x, mu, y)
    decoded = vae.decode(mu, y)
    mse = float(np.mean((decoded.reshape(len(x), -1) - np.asarray(x).reshape(len(x), -1)) ** 2))
    return {"nll": float(nll.mean()), "mse": mse, "n": int(len(x))}


def latent_spread(mu: np.ndarray) -> dict[str, Any]:
    """How the codes of a data set sit relative to the prior N(0, I): mu (n, latent_dim).

    std: (latent_dim,) per-dim standard deviation; mean_norm: mean ‖μ‖; inside_prior: share of
    codes within the prior's 95% ball (‖z‖² ≤ χ²₀.₉₅ for latent_dim dims); active_dims: dims whose
    variance across the data exceeds ACTIVE_DIM_VARIANCE.
    """
    from scipy.stats import chi2

    mu = np.asarray(mu, np.float64)
    radius2 = chi2.ppf(0.95, mu.shape[1])
    return {
        "std": mu.std(axis=0),
        "mean_std": float(mu.std(axis=0).mean()),
        "mean_norm": float(np.linalg.norm(mu, axis=1).mean()),
        "inside_prior": float((np.sum(mu ** 2, axis=1) <= radius2).mean()),
        "active_dims": int((mu.var(axis=0) > ACTIVE_DIM_VARIANCE).sum()),
    }


@dataclass(frozen=True)
class ModelSummary:
    """One model's side of the comparison.

    codes: (n, latent_dim) codes of the shared test rows; prior_images: (k, 28, 28) decoded from the
    shared prior draws; reconstruction: reconstruction_errors(); quality: sample_quality() of the
    prior images (None without a classifier); spread: latent_spread(codes); test_kl: mean KL (0 for an AE).
    """

    name: str
    kind: str
    codes: np.ndarray
    prior_images: np.ndarray
    reconstruction: dict[str, float]
    quality: dict[str, Any] | None
    spread: dict[str, Any]
    test_kl: float


@dataclass(frozen=True)
class Comparison:
    """Models compared on the same test rows and the same prior draws.

    rows: (n,) test-set row numbers; labels: (n,) digits; prior_z: (k, latent_dim) draws from
    N(0, I); models: one ModelSummary each; reference_confidence: the classifier's mean max
    probability on real test digits (the ceiling for generated ones).
    """

    rows: np.ndarray
    labels: np.ndarray
    prior_z: np.ndarray
    models: list[ModelSummary]
    reference_confidence: float | None
    n_error_rows: int
    source: str


def compare_models(models: dict[str, VAE], data: ImageDataset, *, n_points: int = 2000, n_prior: int = 36,
                   n_error_rows: int = 5000, seed: int = 0,
                   classifier: DigitClassifier | None = None) -> Comparison:
    """Encode the same test rows with each model, decode the same prior draws, measure both.

    Models must share a latent dim (the prior draws are shared). Conditional models decode prior
    draws with labels 0..9 in turn and encode with the true labels.
    """
    if not models:
        raise ConfigError("Pick at least one model to compare.")
    dims = {m.vae_config.latent_dim for m in models.values()}
    if len(dims) != 1:
        raise ConfigError("The models must have the same latent dim to share prior draws; pick a matched pair.")
    latent_dim = dims.pop()
    rows = sample_rows(len(data.x_test), n_points, seed)
    error_rows = sample_rows(len(data.x_test), n_error_rows, seed + 1)
    x, y = data.x_test[rows], data.y_test[rows].astype(np.int64)
    xe, ye = data.x_test[error_rows], data.y_test[error_rows].astype(np.int64)
    prior_z = np.random.default_rng(seed).standard_normal((n_prior, latent_dim)).astype(np.float32)
    prior_labels = np.arange(n_prior) % N_DIGITS
    summaries = []
    for name, vae in models.items():
        conditional = vae.vae_config.conditional
        mu = vae.encode(x, y)[0]
        images = decode_images(vae, prior_z, prior_labels)
        kl = float(vae.per_example_losses(xe, ye)["kl"].mean()) if vae.variational else 0.0
        summaries.append(ModelSummary(
            name=name, kind=kind_label(vae.vae_config), codes=mu, prior_images=images,
            reconstruction=reconstruction_errors(vae, xe, ye),
            quality=None if classifier is None else sample_quality(
                classifier, images, prior_labels if conditional else None),
            spread=latent_spread(mu), test_kl=kl))
    return Comparison(rows, y, prior_z, summaries,
                      None if classifier is None else classifier.test_confidence, len(error_rows), data.source)


def train_matched_pair(data: ImageDataset, config: VAEConfig, train_config: TrainConfig, *,
                       n_train: int | None = None, on_progress=None) -> dict[str, Any]:
    """Train an AE and a VAE with the same shapes, data, seed and epochs (unsaved): {"ae", "vae"} →
    TrainResult. Used by the benchmark and the tests; the app trains through the registry."""
    from vae_core.images.mnist import split_validation_labelled
    from vae_core.training import fit_vae

    size = min(5000, len(data.x_train) // 10)
    x_train, y_train, x_val, y_val = split_validation_labelled(data, size, train_config.seed)
    if n_train is not None:
        x_train, y_train = x_train[:n_train], y_train[:n_train]
    return {kind: fit_vae(x_train, matched_config(config, kind), train_config, x_val=x_val,
                          y_train=y_train, y_val=y_val, on_progress=on_progress)
            for kind in ("ae", "vae")}


def twin_name(name: str, kind: str) -> str:
    """A registry name for the AE (or VAE) twin of model `name`: 'digits' → 'digits-ae'."""
    suffix = f"-{kind}"
    return (name[:64 - len(suffix)] + suffix) if not name.endswith(suffix) else name + "2"


def twin_settings(partner: ModelInfo, kind: str) -> tuple[VAEConfig, TrainConfig, dict[str, Any]]:
    """(VAEConfig, TrainConfig, data options) for `partner`'s twin of type `kind`: the same shapes,
    training settings and data source. A data folder recorded by the partner that is no longer on
    this machine falls back to the best available MNIST (the twin's metadata then names its own)."""
    settings = dict(partner.metadata.get("train_config") or {})
    train_config = TrainConfig.from_dict(settings) if settings else TrainConfig()
    options = dict(partner.metadata.get("data_options") or {"choice": "auto"})
    if options.get("choice") == "path" and not Path(str(options.get("path", ""))).exists():
        options = {"choice": "auto"}
    return matched_config(partner.vae_config, kind), train_config, options
