"""A dense decoder as NumPy arrays, and its forward pass: what the server runs for a few points (no
TensorFlow call overhead) and what the browser's scrub decoder mirrors (vae_core.export).

Pure NumPy; reads a model's weights through its Keras layers without importing Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vae_core.errors import ConfigError


def is_dense_decoder(vae: Any) -> bool:
    """True when `vae` (a vae_core.model.VAE) has a decoder of only Dense layers (plus input,
    concatenation and reshape)."""
    return vae.vae_config.architecture == "dense" and not vae.vae_config.linear_skip


DenseLayer = tuple[np.ndarray, np.ndarray, str]  # kernel (inputs, units) float32, bias (units,) float32, activation


def dense_layers(vae: Any) -> list[DenseLayer]:
    """The Dense layers of a VAE's decoder in order, as (kernel, bias, "relu" | "silu" | "linear") copies."""
    if not is_dense_decoder(vae):
        raise ConfigError("Only dense decoders can run outside TensorFlow; use export_decoded_grid for conv models.")
    result = []
    for layer in vae.decoder.layers:
        kind = type(layer).__name__
        if kind in ("InputLayer", "Concatenate", "Reshape"):
            continue
        if kind != "Dense":
            raise ConfigError(f"The decoder has a {kind} layer; only Dense layers can run outside TensorFlow.")
        activation = getattr(layer.activation, "__name__", str(layer.activation))
        if activation not in ("relu", "silu", "linear"):
            raise ConfigError(f"Decoder activation {activation!r} cannot run outside TensorFlow.")
        kernel, bias = (np.asarray(w, np.float32) for w in layer.get_weights())
        result.append((kernel, bias, activation))
    config = vae.vae_config
    if not result or result[0][0].shape[0] != config.latent_dim + config.num_classes:
        raise ConfigError("The decoder's first layer does not read concat(z, label); cannot export it.")
    return result


def output_mapping(likelihood: str) -> str:
    """How the last layer's values become the expected x: "sigmoid" (Bernoulli logits) or "identity"."""
    return "sigmoid" if likelihood == "bernoulli" else "identity"


def decoder_inputs(z: np.ndarray, labels, latent_dim: int, num_classes: int, dtype=np.float64) -> np.ndarray:
    """(n, latent_dim) z and labels → (n, latent_dim + num_classes) decoder inputs; label −1/None → zeros."""
    z = np.asarray(z, dtype).reshape(-1, latent_dim)
    if not num_classes:
        return z
    one_hot = np.zeros((len(z), num_classes), dtype)
    if labels is not None:
        labels = np.broadcast_to(np.asarray(labels, np.int64).reshape(-1), (len(z),))
        rows = np.flatnonzero((labels >= 0) & (labels < num_classes))
        one_hot[rows, labels[rows]] = 1.0
    return np.concatenate([z, one_hot], axis=1)


def run_dense(layers: list[DenseLayer], h: np.ndarray, output: str) -> np.ndarray:
    """The forward pass in h's dtype: (n, inputs) → (n, outputs) after the output mapping."""
    for kernel, bias, activation in layers:
        h = h @ kernel.astype(h.dtype, copy=False) + bias.astype(h.dtype, copy=False)
        if activation == "relu":
            h = np.maximum(h, 0.0)
        elif activation == "silu":
            h = h * _sigmoid(h)
    return _sigmoid(h) if output == "sigmoid" else h


def _sigmoid(h: np.ndarray) -> np.ndarray:
    """1 / (1 + e^−h) without overflow for large |h|."""
    return np.exp(-np.logaddexp(0.0, -h))
