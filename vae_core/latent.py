"""Latent-space tools on a trained VAE: encoding rows and their per-point ELBO terms, projections to
2-D (cached on disk), densities and their contours, grids, interpolation, prior samples and image
mosaics.

Pure NumPy around `VAE.encode` / `VAE.decode`; each helper makes one batched model call. Conditional
models take labels everywhere (an unconditional model ignores them), so callers never branch.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.special import ndtr, ndtri  # Φ and Φ⁻¹ (scipy.stats takes seconds to import)

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
        return ndtri(np.linspace(ndtr(-extent), ndtr(extent), n))
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


def _pca(mu: np.ndarray, seed: int) -> tuple[np.ndarray, tuple[str, str], tuple[float, float]]:
    """PCA to 2-D: (coordinates (n, 2), axis titles, where z = 0 lands). The components are orthonormal,
    so the prior N(0, I) maps to N(that point, I₂)."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=seed).fit(mu)
    shares = pca.explained_variance_ratio_
    origin = pca.transform(np.zeros((1, mu.shape[1]), np.float32))[0]
    return (pca.transform(mu).astype(np.float32),
            (f"PC1 ({shares[0]:.0%} of variance)", f"PC2 ({shares[1]:.0%} of variance)"),
            (float(origin[0]), float(origin[1])))


def project(mu: np.ndarray, method: str = "dims", dims: tuple[int, int] = (0, 1),
            seed: int = 0) -> tuple[np.ndarray, tuple[str, str]]:
    """(n, latent_dim) → ((n, 2) coordinates, axis titles).

    "dims" picks two latent coordinates; "pca" and "tsne" project all of them (t-SNE refuses more
    than TSNE_MAX_POINTS rows; `project_all` fits it on a sample and places the rest).
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
        xy, titles, _ = _pca(mu, seed)
        return xy, titles
    if method == "tsne":
        if len(mu) > TSNE_MAX_POINTS:
            raise ConfigError(f"t-SNE is limited to {TSNE_MAX_POINTS:,} points here; lower the number of points.")
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        perplexity = float(min(30, max(2, (len(mu) - 1) // 3)))
        # One OpenMP thread: on a shared 2-core machine two spinning threads took 17× longer (67 s vs
        # 3.9 s for 500 rows, measured here under load).
        with threadpool_limits(limits=1, user_api="openmp"):
            xy = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(mu)
        return xy.astype(np.float32), ("t-SNE 1", "t-SNE 2")
    raise ConfigError(f"Unknown projection {method!r}; choose one of {', '.join(PROJECTIONS)}.")


def density(xy: np.ndarray, extent: float = 4.0, bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """2-D histogram of points (n, 2) over [−extent, extent]²: (counts (bins, bins) [y, x], centres (bins,))."""
    edges = np.linspace(-extent, extent, bins + 1)
    counts, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=[edges, edges])
    return counts, 0.5 * (edges[1:] + edges[:-1])


# --- the latent map: every row, its ELBO terms, projections and contours --------------------------

# Past TSNE_MAX_POINTS rows t-SNE is fitted on a seeded sample; every other row is placed at the
# distance-weighted mean of its nearest sampled rows' positions (t-SNE itself cannot place new points).
TSNE_NEIGHBOURS = 10
_PROJECTION_CACHE_VERSION = 1


@dataclass(frozen=True)
class PointTerms:
    """Per-row terms of a model: mu (n, latent_dim); reconstruction (n,) −log p(x|μ) in nats, decoded
    from μ like the map's reconstructions; kl (n,) KL(q(z|x) ‖ N(0, I)) in nats (0 for an autoencoder)."""

    mu: np.ndarray
    reconstruction: np.ndarray
    kl: np.ndarray


def kl_per_point(mu: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """Closed-form KL(N(μ, σ²) ‖ N(0, I)) per row: (n, latent_dim) ×2 → (n,) float32; 0 for rows whose
    code is a point (σ = 0, an autoencoder's)."""
    mu, log_var = np.asarray(mu, np.float64), np.asarray(log_var, np.float64)
    point = ~np.isfinite(log_var).all(axis=1)
    log_var = np.where(np.isfinite(log_var), log_var, 0.0)
    kl = -0.5 * (1.0 + log_var - mu ** 2 - np.exp(log_var)).sum(axis=1)
    return np.where(point, 0.0, kl).astype(np.float32)


def point_terms(vae: VAE, x: np.ndarray, y: np.ndarray | None = None) -> PointTerms:
    """μ, reconstruction error and KL of every row: x (n, *input_shape) [, labels y (n,)]; three batched passes."""
    mu, log_var = vae.encode(x, y)
    reconstruction = vae.decoder_nll(x, mu, y).astype(np.float32)
    return PointTerms(mu, reconstruction, kl_per_point(mu, log_var))


@dataclass(frozen=True)
class Projection:
    """Map coordinates of every row: xy (n, 2) float32 and the axis titles; `fitted_on` rows were used
    to fit it (fewer than n: a seeded sample, the rest placed by their nearest sampled rows);
    `prior_centre` is where the prior N(0, I) lands, with unit spread on both axes (linear projections),
    or None where the projection bends space (t-SNE)."""

    xy: np.ndarray
    axis_titles: tuple[str, str]
    method: str
    fitted_on: int
    prior_centre: tuple[float, float] | None

    @property
    def sampled(self) -> bool:
        return self.fitted_on < len(self.xy)


def project_all(mu: np.ndarray, method: str = "dims", dims: tuple[int, int] = (0, 1), *, seed: int = 0,
                fit_limit: int = TSNE_MAX_POINTS) -> Projection:
    """Every row of μ (n, latent_dim) on the map. "dims" and "pca" use every row; "tsne" is fitted on
    up to `fit_limit` rows and places the others by their TSNE_NEIGHBOURS nearest fitted rows in latent space."""
    mu = np.asarray(mu, np.float32)
    n, latent_dim = mu.shape
    if method == "dims" or latent_dim == 1:
        xy, titles = project(mu, "dims", dims)
        return Projection(xy, titles, "dims", n, (0.0, 0.0))
    if method == "pca":
        xy, titles, origin = _pca(mu, seed)
        return Projection(xy, titles, "pca", n, origin)
    if method == "tsne":
        if fit_limit < 10:
            raise ConfigError("t-SNE needs a sample of at least 10 rows.")
        rows = sample_rows(n, fit_limit, seed)
        fitted, titles = project(mu[rows], "tsne", seed=seed)
        xy = np.empty((n, 2), np.float32)
        xy[rows] = fitted
        rest = np.ones(n, bool)
        rest[rows] = False
        if rest.any():
            from sklearn.neighbors import KNeighborsRegressor

            placer = KNeighborsRegressor(n_neighbors=min(TSNE_NEIGHBOURS, len(rows)), weights="distance")
            xy[rest] = placer.fit(mu[rows], fitted).predict(mu[rest])
        return Projection(xy, titles, "tsne", len(rows), None)
    raise ConfigError(f"Unknown projection {method!r}; choose one of {', '.join(PROJECTIONS)}.")


def cached_projection(mu: np.ndarray, method: str = "dims", dims: tuple[int, int] = (0, 1), *, seed: int = 0,
                      fit_limit: int = TSNE_MAX_POINTS, directory: str | os.PathLike | None = None) -> Projection:
    """`project_all`, kept on disk for t-SNE (minutes on a large set): the file's name is a digest of
    the μ themselves (so of the model and its rows) and the settings, so a retrained model or other
    rows never get a stale map. A damaged or unwritable cache only costs the recomputation."""
    if method != "tsne" or np.asarray(mu).shape[1] == 1:
        return project_all(mu, method, dims, seed=seed, fit_limit=fit_limit)
    import sklearn

    from vae_core.images.classifier import cache_dir

    mu = np.ascontiguousarray(mu, np.float32)
    digest = hashlib.blake2b(mu.tobytes(), digest_size=16)
    digest.update(f"{mu.shape}|{method}|{seed}|{fit_limit}|{TSNE_NEIGHBOURS}|{sklearn.__version__}|"
                  f"{_PROJECTION_CACHE_VERSION}".encode())
    path = cache_dir(directory) / "projections" / f"{method}-{digest.hexdigest()}.npz"
    try:
        with np.load(path, allow_pickle=False) as saved:
            return Projection(saved["xy"], (str(saved["x_title"]), str(saved["y_title"])), method,
                              int(saved["fitted_on"]), None)
    except (OSError, ValueError, KeyError):
        pass  # not cached yet, or damaged: computed below
    projection = project_all(mu, method, dims, seed=seed, fit_limit=fit_limit)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(partial, xy=projection.xy, x_title=projection.axis_titles[0], y_title=projection.axis_titles[1],
                 fitted_on=projection.fitted_on)
        os.replace(partial, path)
    except OSError:
        pass  # a read-only cache folder still gets its map, just not a kept one
    return projection


def largest_terms(errors: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The k largest of each row's per-feature errors (n, d): (feature indices (n, k), their shares of
    the row's total in percent (n, k) uint8), largest first."""
    errors = np.asarray(errors, np.float64)
    k = min(k, errors.shape[1])
    top = np.argsort(-errors, axis=1, kind="stable")[:, :k]
    totals = errors.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(totals > 0, np.take_along_axis(errors, top, axis=1) / totals * 100, 0.0)
    return top, np.clip(np.rint(shares), 0, 100).astype(np.uint8)


def nearest_neighbours(codes: np.ndarray, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k points nearest to point `row` in latent space, itself left out: codes (n, latent_dim)
    (μ, every dim) → (row indices (k,) int64, Euclidean distances (k,) float64), nearest first, ties
    in row order. k is capped at n − 1."""
    codes = np.asarray(codes, np.float64)
    if not 0 <= row < len(codes):
        raise ConfigError(f"Point {row} is not one of the {len(codes):,} points (0 to {len(codes) - 1:,}).")
    if k < 1:
        raise ConfigError(f"The number of neighbours must be 1 or more, not {k}.")
    distances = np.sqrt(np.square(codes - codes[row]).sum(axis=1))
    distances[row] = np.inf
    nearest = np.argsort(distances, kind="stable")[:min(int(k), len(codes) - 1)]
    return nearest.astype(np.int64), distances[nearest]


def map_bounds(xy: np.ndarray, margin: float = 0.06) -> tuple[float, float, float, float]:
    """(x_min, x_max, y_min, y_max) around every point (n, 2), widened on each side by `margin` of the
    larger span: the first view shows every point, the farthest outliers (often the anomalies one
    looks for) included."""
    xy = np.asarray(xy, np.float64)
    if len(xy) == 0:
        return -1.0, 1.0, -1.0, 1.0
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    span = max(x1 - x0, y1 - y0, 1e-6)
    pad = margin * span
    return float(x0 - pad), float(x1 + pad), float(y0 - pad), float(y1 + pad)


def prior_radii(masses: tuple[float, ...] = (0.5, 0.9, 0.99)) -> np.ndarray:
    """Radii of the circles holding `masses` of a 2-D standard normal: √(−2 ln(1 − p)), (k,)."""
    masses = np.asarray(masses, np.float64)
    if ((masses <= 0) | (masses >= 1)).any():
        raise ConfigError("Prior contour masses must lie strictly between 0 and 1.")
    return np.sqrt(-2.0 * np.log1p(-masses))


# Marching squares: for each corner pattern (bit 1 bottom-left, 2 bottom-right, 4 top-right, 8
# top-left above the level), the cell edges a contour segment joins (0 bottom, 1 right, 2 top, 3 left);
# the saddles 5 and 10 get two segments.
_SEGMENTS = {1: [(3, 0)], 2: [(0, 1)], 3: [(3, 1)], 4: [(1, 2)], 5: [(3, 0), (1, 2)], 6: [(0, 2)],
             7: [(3, 2)], 8: [(2, 3)], 9: [(0, 2)], 10: [(0, 1), (2, 3)], 11: [(1, 2)], 12: [(3, 1)],
             13: [(0, 1)], 14: [(3, 0)]}


def contour_segments(grid: np.ndarray, xs: np.ndarray, ys: np.ndarray, level: float) -> np.ndarray:
    """Line segments of the `level` contour of grid (ny, nx) sampled at xs (nx,), ys (ny,) (rows = increasing
    y): (m, 4) [x0, y0, x1, y1], linearly interpolated along the cell edges."""
    g = np.asarray(grid, np.float64)
    a, b, c, d = g[:-1, :-1], g[:-1, 1:], g[1:, 1:], g[1:, :-1]  # bottom-left, bottom-right, top-right, top-left
    case = (a > level) * 1 + (b > level) * 2 + (c > level) * 4 + (d > level) * 8
    x0, x1 = np.broadcast_to(xs[:-1], a.shape), np.broadcast_to(xs[1:], a.shape)
    y0, y1 = np.broadcast_to(ys[:-1, None], a.shape), np.broadcast_to(ys[1:, None], a.shape)

    def cut(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (level - u) / (v - u)
        return np.clip(np.nan_to_num(t, nan=0.5), 0.0, 1.0)

    edges = [  # (x, y) where the contour crosses each edge of each cell
        (x0 + cut(a, b) * (x1 - x0), y0),
        (x1, y0 + cut(b, c) * (y1 - y0)),
        (x0 + cut(d, c) * (x1 - x0), y1),
        (x0, y0 + cut(a, d) * (y1 - y0)),
    ]
    parts = []
    for pattern, pairs in _SEGMENTS.items():
        where = case == pattern
        if not where.any():
            continue
        for start, end in pairs:
            parts.append(np.column_stack([edges[start][0][where], edges[start][1][where],
                                          edges[end][0][where], edges[end][1][where]]))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 4), np.float32)


def density_contours(xy: np.ndarray, masses: tuple[float, ...] = (0.5, 0.9, 0.99), *, bins: int = 96,
                     smooth: float = 1.5, bounds: tuple[float, float, float, float] | None = None
                     ) -> list[tuple[float, np.ndarray]]:
    """Where the points (n, 2) are densest: for each mass p, the contour of their smoothed histogram
    that encloses the densest region holding p of them, as segments (m, 4) [x0, y0, x1, y1]."""
    from scipy.ndimage import gaussian_filter

    x_min, x_max, y_min, y_max = bounds or map_bounds(xy)
    xs, ys = np.linspace(x_min, x_max, bins + 1), np.linspace(y_min, y_max, bins + 1)
    counts, _, _ = np.histogram2d(np.asarray(xy)[:, 1], np.asarray(xy)[:, 0], bins=[ys, xs])
    smoothed = gaussian_filter(counts, smooth)
    grid = np.pad(smoothed, 1)  # zero border: every contour closes inside the grid
    centres_x, centres_y = 0.5 * (xs[1:] + xs[:-1]), 0.5 * (ys[1:] + ys[:-1])
    step_x, step_y = xs[1] - xs[0], ys[1] - ys[0]
    centres_x = np.concatenate([[centres_x[0] - step_x], centres_x, [centres_x[-1] + step_x]])
    centres_y = np.concatenate([[centres_y[0] - step_y], centres_y, [centres_y[-1] + step_y]])
    ordered = np.sort(smoothed.ravel())[::-1]
    cumulative = np.cumsum(ordered) / max(ordered.sum(), 1e-12)
    result = []
    for mass in masses:
        level = ordered[min(int(np.searchsorted(cumulative, mass)), len(ordered) - 1)]
        result.append((float(mass), contour_segments(grid, centres_x, centres_y, float(level))))
    return result


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
