"""Conditional generation: one style (z) as every digit, styles × digits grids, judged samples.

For models trained with the digit label (`num_classes` > 0); others get a clear ConfigError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from vae_core.images.classifier import N_DIGITS, DigitClassifier, sample_quality
from vae_core.errors import ConfigError
from vae_core.latent import decode_images, mosaic

if TYPE_CHECKING:
    from vae_core.model import VAE


def require_conditional(vae: VAE) -> None:
    if not vae.vae_config.conditional:
        raise ConfigError("This model is not conditional: train one with the digit label (`--conditional`).")


def digit_row(vae: VAE, z, labels: Iterable[int] = range(N_DIGITS)) -> np.ndarray:
    """All digits in one style: the same z decoded with each label → (28, 28·k) strip, one batched call."""
    require_conditional(vae)
    labels = np.asarray(list(labels), np.int64)
    z = np.repeat(np.asarray(z, np.float32).reshape(1, -1), len(labels), axis=0)
    return mosaic(decode_images(vae, z, labels), len(labels))


def style_grid(vae: VAE, n_styles: int = 6, seed: int = 0) -> np.ndarray:
    """Rows = styles (prior draws), columns = digits 0–9: (28·n_styles, 280), one batched call."""
    require_conditional(vae)
    styles = np.random.default_rng(seed).standard_normal((n_styles, vae.vae_config.latent_dim)).astype(np.float32)
    z = np.repeat(styles, N_DIGITS, axis=0)
    labels = np.tile(np.arange(N_DIGITS), n_styles)
    return mosaic(decode_images(vae, z, labels), N_DIGITS)


def style_of(vae: VAE, image: np.ndarray, label: int) -> np.ndarray:
    """The style code of a real digit: its μ given its own label → (latent_dim,)."""
    require_conditional(vae)
    return vae.encode(np.asarray(image, np.float32).reshape(1, 28, 28, 1), np.array([int(label)]))[0][0]


def conditional_quality(vae: VAE, classifier: DigitClassifier, n_per_digit: int = 50,
                        seed: int = 0) -> dict[str, Any]:
    """Prior draws decoded with each label, judged by the classifier (label_agreement: share
    classified as the digit asked for)."""
    require_conditional(vae)
    z = np.random.default_rng(seed).standard_normal((n_per_digit * N_DIGITS, vae.vae_config.latent_dim))
    labels = np.repeat(np.arange(N_DIGITS), n_per_digit)
    return sample_quality(classifier, decode_images(vae, z.astype(np.float32), labels), labels)
