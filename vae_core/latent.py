"""Latent-space tools on a trained VAE: encoding rows, projections to 2-D, densities, grids,
interpolation, prior samples and image mosaics.

Pure NumPy around `VAE.encode` / `VAE.decode`; each helper makes one batched model call. Conditional
models take labels everywhere (an unconditional model ignores them), so callers never branch.
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
                  dims: tuple[int, int] = (0, 1), base: np.ndarray | None = None,
                  label: int | None = None) -> np.ndarray:
    """Decoded n×n grid in one batched call: (n, n, *input_shape)."""
    points = grid_points(vae.vae_config.latent_dim, n, extent, spacing, dims, base)
    return vae.decode(points, _labels(label)).reshape(n, n, *vae.vae_config.input_shape)


def mosaic(images: np.ndarray, columns: int) -> np.ndarray:
    """(k, h, w[, 1]) images → one (rows·h, columns·w) image, row-major; missing cells are 0."""
    images = np.asarray(images, np.float32)
    k, h, w = images.shape[:3]
    rows = max(1, -(-k // columns))
    padded = np.zeros((rows * columns, h, w), np.float32)
    padded[:k] = images.reshape(k, h, w)
    return padded.reshape(rows, columns, h, w).transpose(0, 2, 1, 3).reshape(rows * h, columns * w)


def interpolate(z_start: np.ndarray, z_end: np.ndarray, steps: int) -> np.ndarray:
    """Straight line from z_start to z_end inclusive: (latent_dim,) ×2 → (steps, latent_dim)."""
    if steps < 2:
        raise ConfigError("Interpolation needs at least 2 steps.")
    weights = np.linspace(0.0, 1.0, steps)[:, None]
    return ((1 - weights) * np.asarray(z_start, float) + weights * np.asarray(z_end, float)).astype(np.float32)


def sample_prior(latent_dim: int, n: int, seed: int = 0) -> np.ndarray:
    """n draws from p(z) = N(0, I): (n, latent_dim)."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


# --- encoding and projecting rows ----------------------------------------------------------------

# t-SNE is O(n log n) but slow on 2 cores: past this many points it is fitted on a sample.
TSNE_MAX_POINTS = 3000
PROJECTIONS: tuple[str, ...] = ("dims", "pca", "tsne")


def _labels(label: int | np.ndarray | None) -> np.ndarray | None:
    return None if label is None else np.asarray(label)


def sample_rows(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """Up to n sorted row numbers from range(n_total), a seeded random subset when n < n_total."""
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


def encode_decode(vae: VAE, x: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """x (n, *input_shape) [, labels y (n,)] → (μ (n, latent_dim), reconstruction from μ, like x)."""
    mu, _ = vae.encode(x, y)
    return mu, vae.decode(mu, y)


def project(mu: np.ndarray, method: str = "dims", dims: tuple[int, int] = (0, 1),
            seed: int = 0) -> tuple[np.ndarray, tuple[str, str]]:
    """(n, latent_dim) → ((n, 2) coordinates, axis titles).

    "dims" picks two latent coordinates; "pca" and "tsne" project all of them (t-SNE refuses more
    than TSNE_MAX_POINTS rows; callers subsample first).
    """
    mu = np.asarray(mu, np.float32)
    latent_dim = mu.shape[1]
    if method == "dims" or latent_dim == 1:
        if latent_dim == 1:
            return np.column_stack([mu[:, 0], np.zeros(len(mu), np.float32)]), ("z0", "")
        a, b = dims
        if not (0 <= a < latent_dim and 0 <= b < latent_dim) or a == b:
            raise ConfigError(f"Pick two different dims between 0 and {latent_dim - 1}.")
        return mu[:, [a, b]], (f"z{a}", f"z{b}")
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(mu)
        shares = pca.explained_variance_ratio_
        return pca.transform(mu).astype(np.float32), (f"PC1 ({shares[0]:.0%} of variance)",
                                                      f"PC2 ({shares[1]:.0%} of variance)")
    if method == "tsne":
        if len(mu) > TSNE_MAX_POINTS:
            raise ConfigError(f"t-SNE is limited to {TSNE_MAX_POINTS:,} points here; lower the number of points.")
        from sklearn.manifold import TSNE

        perplexity = float(min(30, max(2, (len(mu) - 1) // 3)))
        xy = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(mu)
        return xy.astype(np.float32), ("t-SNE 1", "t-SNE 2")
    raise ConfigError(f"Unknown projection {method!r}; choose one of {', '.join(PROJECTIONS)}.")


def density(xy: np.ndarray, extent: float = 4.0, bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """2-D histogram of points (n, 2) over [−extent, extent]²: (counts (bins, bins) [y, x], centres (bins,))."""
    edges = np.linspace(-extent, extent, bins + 1)
    counts, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=[edges, edges])
    return counts, 0.5 * (edges[1:] + edges[:-1])


# --- images ------------------------------------------------------------------------------------

def decode_images(vae: VAE, z: np.ndarray, label: int | np.ndarray | None = None) -> np.ndarray:
    """z (n, latent_dim) [+ one label, or labels (n,)] → images (n, 28, 28) in [0, 1]."""
    z = np.asarray(z, np.float32).reshape(-1, vae.vae_config.latent_dim)
    return np.clip(vae.decode(z, _labels(label)).reshape(len(z), 28, 28), 0.0, 1.0)


def manifold_mosaic(vae: VAE, n: int, extent: float, spacing: Spacing = "linear", dims: tuple[int, int] = (0, 1),
                    base: np.ndarray | None = None, label: int | None = None) -> np.ndarray:
    """The decoded n×n grid over two latent dims as one (28n, 28n) image; one batched decoder call."""
    points = grid_points(vae.vae_config.latent_dim, n, extent, spacing, dims, base)
    return mosaic(decode_images(vae, points, label), n)


def prior_mosaic(vae: VAE, side: int, seed: int, label: int | None = None) -> np.ndarray:
    """side² draws from p(z) = N(0, I), decoded into one (28·side, 28·side) image."""
    return mosaic(decode_images(vae, sample_prior(vae.vae_config.latent_dim, side * side, seed), label), side)
