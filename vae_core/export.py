"""Decoders in a form a browser can run without a round trip to Python.

Dense decoders export their weights (float32, base64) so the browser runs the forward pass itself:
ReLU or SiLU dense layers, then a linear output layer and the likelihood's mean (sigmoid for Bernoulli).
`dense_forward` is the same computation in NumPy, written the way the JavaScript does it (float64
accumulation over float32 weights), so the two can be checked against the Keras decoder. Other
decoders (conv) export a precomputed grid of decoded images over two latent dims instead.

Pure NumPy apart from reading a model's weights; never imports Streamlit.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from vae_core.dense import decoder_inputs, dense_layers, is_dense_decoder, output_mapping, run_dense
from vae_core.errors import ConfigError

if TYPE_CHECKING:
    from vae_core.model import VAE

DENSE_FORMAT = "dense-v1"
GRID_FORMAT = "grid-v1"
# 33 cells per side over ±4: one cell every 0.25 σ, ~0.85 MB of uint8 images for MNIST.
DEFAULT_GRID_SIZE = 33
DEFAULT_EXTENT = 4.0
GRID_CACHE_SIZE = 8  # grids kept per model (a release over a conv decoder reuses them)
_GRID_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()  # Streamlit sessions share loaded models across threads


def _b64(array: np.ndarray, dtype: str) -> str:
    """Little-endian bytes of `array` as `dtype`, base64-encoded (what the browser's typed arrays read)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode("ascii")


def unpack(text: str, dtype: str = "float32") -> np.ndarray:
    """Inverse of the export encoding: base64 text → 1-D array of `dtype`."""
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)


def export_dense_decoder(vae: VAE) -> dict[str, Any]:
    """The decoder's weights as a JSON-able dict for the browser's forward pass.

    Layout: `layers` in order, each {"inputs", "units", "activation" ("relu" | "silu" | "linear"),
    "kernel" (inputs×units row-major float32, base64), "bias" (units float32, base64)}; the
    input is concat(z (latent_dim,), one-hot label (num_classes,)); `output` "sigmoid" maps the
    last layer's logits to pixel probabilities (Bernoulli), "identity" leaves the mean as it is.
    `id` changes whenever any weight does, so a browser can keep its decoded copy. Not cached:
    reading and encoding the default 512-256 decoder's weights takes ~5 ms.
    """
    config = vae.vae_config
    layers, digest = [], hashlib.sha1()
    for kernel, bias, activation in dense_layers(vae):
        digest.update(kernel.tobytes())
        digest.update(bias.tobytes())
        layers.append({"inputs": int(kernel.shape[0]), "units": int(kernel.shape[1]), "activation": activation,
                       "kernel": _b64(kernel, "float32"), "bias": _b64(bias, "float32")})
    return {
        "format": DENSE_FORMAT,
        "id": digest.hexdigest()[:16],
        "latent_dim": config.latent_dim,
        "num_classes": config.num_classes,
        "output": output_mapping(config.likelihood),
        "output_shape": [int(d) for d in config.input_shape],
        "layers": layers,
    }


def dense_forward(export: dict[str, Any], z: np.ndarray, labels=None) -> np.ndarray:
    """NumPy twin of the browser's forward pass: z (n, latent_dim) → outputs (n, *output_shape) float64.

    Float32 weights, float64 arithmetic, ReLU or SiLU hidden layers, then the output mapping — exactly the
    operations of dashboard/components/latent_scrub/frontend/scrub.js.
    """
    layers = [(unpack(layer["kernel"]).reshape(layer["inputs"], layer["units"]), unpack(layer["bias"]),
               layer["activation"]) for layer in export["layers"]]
    h = decoder_inputs(z, labels, export["latent_dim"], export["num_classes"])
    return run_dense(layers, h, export["output"]).reshape(len(h), *export["output_shape"])


def export_decoded_grid(vae: VAE, *, n: int = DEFAULT_GRID_SIZE, extent: float = DEFAULT_EXTENT,
                        dims: tuple[int, int] = (0, 1), base: np.ndarray | None = None,
                        label: int | None = None) -> dict[str, Any]:
    """A precomputed n×n grid of decoded images over two latent dims, for decoders the browser cannot run.

    The other dims are held at `base` (default 0); a conditional model decodes every cell with
    `label`. Cell (row r, column c) decodes z[dims[0]] = axis[c], z[dims[1]] = axis[n − 1 − r]
    (rows run top to bottom like a plot); `images` are (n·n·h·w) uint8 in that order, base64. One
    batched decoder call (~0.25 s for the conv MNIST decoder at n=33 here), so the last
    GRID_CACHE_SIZE grids of each model object are kept: meant for loaded models, whose weights
    never change.
    """
    from vae_core.latent import grid_axis, grid_points

    config = vae.vae_config
    if config.latent_dim < 2:
        raise ConfigError("A 2-D grid needs a latent space of at least 2 dims.")
    if dims[0] == dims[1] or not all(0 <= d < config.latent_dim for d in dims):
        raise ConfigError(f"Pick two different dims between 0 and {config.latent_dim - 1}.")
    base_z = np.zeros(config.latent_dim, np.float32) if base is None else np.asarray(base, np.float32).reshape(-1)
    if base_z.size != config.latent_dim:
        raise ConfigError(f"The base point needs {config.latent_dim} values, got {base_z.size}.")
    base_z = base_z.copy()
    base_z[list(dims)] = 0.0  # the grid sets these two dims itself
    label = None if not config.conditional or label is None else int(label)
    key = (int(n), float(extent), tuple(int(d) for d in dims), base_z.tobytes(), label)
    cache = _grid_cache(vae)
    if cache is not None:
        with _LOCK:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
    points = grid_points(config.latent_dim, n, extent, "linear", dims, base_z)
    labels = None if label is None else np.full(len(points), label)
    images = vae.decode(points, labels) if config.conditional else vae.decode(points)
    pixels = np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)
    export = {
        "format": GRID_FORMAT,
        "n": int(n),
        "extent": float(extent),
        "axis": [float(v) for v in grid_axis(n, extent, "linear")],
        "dims": [int(dims[0]), int(dims[1])],
        "base": [float(v) for v in base_z],
        "label": None if label is None else int(label),
        "latent_dim": config.latent_dim,
        "num_classes": config.num_classes,
        "output_shape": [int(d) for d in config.input_shape],
        "images": _b64(pixels, "uint8"),
        "id": hashlib.sha1(pixels.tobytes()).hexdigest()[:16],
    }
    if cache is not None:
        with _LOCK:
            cache[key] = export
            while len(cache) > GRID_CACHE_SIZE:
                cache.popitem(last=False)
    return export


def _grid_cache(vae: VAE) -> OrderedDict | None:
    """This model's recent grids (least recently used first), or None when it cannot be cached."""
    try:
        with _LOCK:
            return _GRID_CACHE.setdefault(vae, OrderedDict())
    except TypeError:
        return None


def grid_lookup(export: dict[str, Any], zx: float, zy: float) -> np.ndarray:
    """The nearest grid cell's image for (z[dims[0]], z[dims[1]]) = (zx, zy): (*output_shape,) in [0, 1].

    The same rule as the browser's lookup (nearest cell, clamped to the grid's edge).
    """
    n, extent = export["n"], export["extent"]
    to_index = lambda v: int(np.clip(np.round((v + extent) / (2 * extent) * (n - 1)), 0, n - 1))  # noqa: E731
    column, row = to_index(zx), n - 1 - to_index(zy)
    size = int(np.prod(export["output_shape"]))
    images = unpack(export["images"], "uint8")
    start = (row * n + column) * size
    return (images[start:start + size].astype(np.float32) / 255.0).reshape(export["output_shape"])


def browser_decoder(vae: VAE, *, dims: tuple[int, int] = (0, 1), base: np.ndarray | None = None,
                    label: int | None = None, n: int = DEFAULT_GRID_SIZE,
                    extent: float = DEFAULT_EXTENT) -> dict[str, Any]:
    """What the scrub component needs: the dense export when the decoder is dense, else the grid."""
    if is_dense_decoder(vae):
        return export_dense_decoder(vae)
    return export_decoded_grid(vae, n=n, extent=extent, dims=dims, base=base, label=label)
