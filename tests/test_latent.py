"""Grids, interpolation and prior samples: hand-checkable arrays."""

import re

import numpy as np
import pytest
from scipy.stats import norm

from vae_core.errors import ConfigError
from vae_core.latent import (grid_axis, grid_points, interpolate, manifold_grid, mosaic, nearest_neighbours,
                             sample_prior)


def test_linear_and_quantile_axes():
    np.testing.assert_allclose(grid_axis(5, 2.0, "linear"), [-2, -1, 0, 1, 2])
    quantile = grid_axis(3, 1.0, "quantile")
    np.testing.assert_allclose(quantile, [-1.0, 0.0, 1.0], atol=1e-12)
    # equal prior mass between neighbours
    np.testing.assert_allclose(np.diff(norm.cdf(grid_axis(7, 2.0, "quantile"))),
                               np.full(6, (norm.cdf(2) - norm.cdf(-2)) / 6))
    with pytest.raises(ConfigError):
        grid_axis(3, 1.0, "log")


def test_grid_points_layout_reads_like_a_plot():
    points = grid_points(3, 2, extent=1.0, dims=(0, 2), base=np.array([9.0, 5.0, 9.0]))
    # top-left first: x = −1, y = +1; the untouched dim keeps its base value
    np.testing.assert_allclose(points, [[-1, 5, 1], [1, 5, 1], [-1, 5, -1], [1, 5, -1]])


def test_interpolation_and_prior():
    path = interpolate(np.zeros(2), np.array([2.0, -4.0]), 3)
    np.testing.assert_allclose(path, [[0, 0], [1, -2], [2, -4]])
    a, b = sample_prior(4, 1000, seed=1), sample_prior(4, 1000, seed=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (1000, 4) and abs(a.mean()) < 0.1


def test_mosaic_lays_images_out_row_major_and_pads_with_zeros():
    images = np.arange(5 * 2 * 2, dtype=np.float32).reshape(5, 2, 2, 1)
    tiled = mosaic(images, 3)
    assert tiled.shape == (4, 6)
    np.testing.assert_array_equal(tiled[:2, 2:4], images[1, :, :, 0])
    np.testing.assert_array_equal(tiled[2:4, 2:4], images[4, :, :, 0])
    np.testing.assert_array_equal(tiled[2:4, 4:6], 0)


def test_manifold_grid_is_one_batch_of_decoded_images(tiny_vae):
    grid = manifold_grid(tiny_vae, n=4, extent=2.0)
    assert grid.shape == (4, 4, 28, 28, 1)
    np.testing.assert_allclose(grid[0, 0], tiny_vae.decode(np.array([[-2.0, 2.0]]))[0], atol=1e-6)


def test_nearest_neighbours_are_the_closest_by_mu_over_every_dim_nearest_first():
    codes = np.random.default_rng(0).normal(size=(500, 5)).astype(np.float32)
    codes[10] = codes[3]  # an exact twin of the chosen point
    indices, distances = nearest_neighbours(codes, 3, 6)
    brute = np.linalg.norm(codes.astype(np.float64) - codes[3], axis=1)
    brute[3] = np.inf
    assert indices.tolist() == np.argsort(brute)[:6].tolist() and 3 not in indices.tolist()
    assert indices[0] == 10 and distances[0] == 0.0
    np.testing.assert_allclose(distances, brute[indices], rtol=1e-12)
    assert np.all(np.diff(distances) > 0)
    # Every dim counts, not only the two a map draws: point 1 is nearer in (z0, z1), point 2 over all three.
    far_in_z2 = np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 5.0], [1.0, 1.0, 0.0]])
    assert nearest_neighbours(far_in_z2, 0, 1)[0].tolist() == [2]


def test_nearest_neighbours_break_ties_in_row_order_and_cap_k():
    indices, distances = nearest_neighbours(np.zeros((4, 2)), 2, 10)
    assert indices.tolist() == [0, 1, 3] and distances.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("row, k, message", [(4, 1, "Point 4 is not one of the 4 points (0 to 3)"),
                                              (-1, 1, "Point -1 is not one"),
                                              (0, 0, "must be 1 or more, not 0")])
def test_nearest_neighbours_refuse_a_missing_point_or_no_neighbours(row, k, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        nearest_neighbours(np.zeros((4, 2)), row, k)
