"""Latent-space tools on a trained VAE: grids, interpolation, prior samples, evaluation.

Pure NumPy around `VAE.encode` / `VAE.decode`; each helper makes one batched decoder call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.stats import norm

from vae_core.errors import ConfigError

if TYPE_CHECKING:
    from vae_core.model import VAE

Spacing = Literal["linear", "quantile"]


def grid_axis(n: int, extent: float = 3.0, spacing: Spacing = "linear") -> np.ndarray:
    """n values along one latent axis: (n,).

    linear: evenly spaced in [−extent, extent]; quantile: standard-normal quantiles at evenly
    spaced probabilities in [Φ(−extent), Φ(extent)], so each cell holds equal prior mass.
    """
    if not 1 <= n <= 100:
        raise ConfigError(f"Grid size must be from 1 to 100 per side, got {n}.")
    if extent <= 0:
        raise ConfigError(f"Grid range must be positive, got {extent}.")
    if spacing == "linear":
        return np.linspace(-extent, extent, n)
    if spacing == "quantile":
        low, high = norm.cdf(-extent), norm.cdf(extent)
        return norm.ppf(np.linspace(low, high, n))
    raise ConfigError(f"Spacing must be 'linear' or 'quantile', got {spacing!r}.")


def grid_points(latent_dim: int, n: int, extent: float = 3.0, spacing: Spacing = "linear",
                dims: tuple[int, int] = (0, 1), base: np.ndarray | None = None) -> np.ndarray:
    """Latent points of an n×n grid over two dims, the others held at `base` (default 0): (n*n, latent_dim).

    Row-major with the second dim decreasing down the rows, so it lays out like a plot.
    """
    if latent_dim < 2:
        raise ConfigError("A 2-D grid needs a latent space of at least 2 dims.")
    axis = grid_axis(n, extent, spacing)
    points = np.tile(np.zeros(latent_dim) if base is None else np.asarray(base, float), (n * n, 1))
    ys, xs = np.meshgrid(axis[::-1], axis, indexing="ij")
    points[:, dims[0]] = xs.ravel()
    points[:, dims[1]] = ys.ravel()
    return points.astype(np.float32)


def manifold_grid(vae: VAE, n: int = 15, extent: float = 3.0, spacing: Spacing = "linear",
                  dims: tuple[int, int] = (0, 1), base: np.ndarray | None = None) -> np.ndarray:
    """Decoded n×n grid in one batched call: (n, n, *input_shape)."""
    points = grid_points(vae.vae_config.latent_dim, n, extent, spacing, dims, base)
    return vae.decode(points).reshape(n, n, *vae.vae_config.input_shape)


def tile_images(images: np.ndarray) -> np.ndarray:
    """(rows, cols, h, w[, 1]) → one (rows*h, cols*w) mosaic."""
    rows, cols, height, width = images.shape[:4]
    return images.reshape(rows, cols, height, width).transpose(0, 2, 1, 3).reshape(rows * height, cols * width)


def interpolate(z_start: np.ndarray, z_end: np.ndarray, steps: int) -> np.ndarray:
    """Straight line from z_start to z_end inclusive: (latent_dim,) ×2 → (steps, latent_dim)."""
    if steps < 2:
        raise ConfigError("Interpolation needs at least 2 steps.")
    weights = np.linspace(0.0, 1.0, steps)[:, None]
    return ((1 - weights) * np.asarray(z_start, float) + weights * np.asarray(z_end, float)).astype(np.float32)


def sample_prior(latent_dim: int, n: int, seed: int = 0) -> np.ndarray:
    """n draws from p(z) = N(0, I): (n, latent_dim)."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


def evaluate_neg_elbo(vae: VAE, x: np.ndarray, *, n_samples: int = 1, seed: int = 0) -> dict[str, float]:
    """Mean test −ELBO and its parts, nats per example: x (n, *input_shape)."""
    terms = vae.per_example_losses(x, n_samples=n_samples, seed=seed)
    return {
        "test_neg_elbo": float(terms["neg_elbo"].mean()),
        "test_reconstruction": float(terms["reconstruction"].mean()),
        "test_kl": float(terms["kl"].mean()),
        "n_test": int(len(x)),
    }
