"""A dense VAE as NumPy arrays: the encoder, the decoder and the ELBO terms without TensorFlow.

This is what serves a saved dense model (the dashboard server, `evaluate`, `score`, Dask workers):
the forward pass is a few matrix products, so it needs neither TensorFlow's ~5 s import nor its
~1 GB. The weights are read from the `.keras` file's HDF5 weights with h5py, so nothing in the file
is ever deserialised as code. Training and anything that needs gradients use vae_core.model.VAE;
tests check the two agree. The browser's scrub decoder mirrors `run_dense` (vae_core.export).
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vae_core.config import VAEConfig
from vae_core.errors import ConfigError

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
WEIGHTS_FILE = "model.weights.h5"  # inside a .keras archive

DenseLayer = tuple[np.ndarray, np.ndarray, str]  # kernel (inputs, units) float32, bias (units,) float32, activation
# Keras layer names the builders in vae_core.model give; every other Dense layer is a hidden one.
NAMED_LAYERS = ("z_mean", "z_log_var", "z", "z_mean_linear", "x_params", "x_linear", "x_log_var")


def is_dense_decoder(vae: Any) -> bool:
    """True when `vae` (a vae_core.model.VAE or a DenseVAE) has a decoder of only Dense layers
    (plus input, concatenation and reshape)."""
    return vae.vae_config.architecture == "dense" and not vae.vae_config.linear_skip


def dense_layers(vae: Any) -> list[DenseLayer]:
    """The Dense layers of a VAE's decoder in order, as (kernel, bias, "relu" | "silu" | "linear")."""
    if not is_dense_decoder(vae):
        raise ConfigError("Only dense decoders can run outside TensorFlow; use export_decoded_grid for conv models.")
    if isinstance(vae, DenseVAE):
        return list(vae.weights.decoder)
    return DenseWeights.from_keras(vae).decoder


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


def class_labels(y, n: int, num_classes: int) -> np.ndarray:
    """Validated integer labels (n,) int32 for a conditional model; None → −1 (no label)."""
    if y is None:
        return np.full(n, -1, np.int32)
    labels = np.asarray(y).reshape(-1)
    if labels.size == 1 and n != 1:
        labels = np.repeat(labels, n)
    if labels.size != n:
        raise ConfigError(f"Got {labels.size} labels for {n} inputs; give one label per row.")
    if labels.size and (not np.issubdtype(labels.dtype, np.integer) and not np.all(labels == np.round(labels))):
        raise ConfigError("Labels must be whole numbers (class indices).")
    labels = labels.astype(np.int32)
    if labels.size and (labels.min() < -1 or labels.max() >= num_classes):
        raise ConfigError(f"Labels must be class indices from 0 to {num_classes - 1}.")
    return labels


def run_dense(layers: list[DenseLayer], h: np.ndarray, output: str = "identity") -> np.ndarray:
    """The forward pass in h's dtype: (n, inputs) → (n, outputs) after the output mapping."""
    for kernel, bias, activation in layers:
        h = h @ kernel.astype(h.dtype, copy=False)
        h += bias.astype(h.dtype, copy=False)
        if activation == "relu":
            np.maximum(h, 0, out=h)
        elif activation == "silu":
            h *= _sigmoid(h)
    return _sigmoid(h) if output == "sigmoid" else h


def _sigmoid(h: np.ndarray) -> np.ndarray:
    """1 / (1 + e^−h) without overflow for large |h|."""
    return np.exp(-np.logaddexp(0.0, -h))


def feature_nll(x: np.ndarray, params: np.ndarray, likelihood: str, log_var: np.ndarray | None = None) -> np.ndarray:
    """−log p(x_j|z) per feature in float32, like TensorFlow's: x, params (n, d) → (n, d). Bernoulli:
    `params` are logits (binary cross-entropy, no clipping); Gaussian: `params` is the mean, unit
    variance or log σ² = `log_var`."""
    x, params = np.asarray(x, np.float32), np.asarray(params, np.float32)
    if likelihood == "bernoulli":
        nll = np.abs(params)
        np.negative(nll, out=nll)
        np.exp(nll, out=nll)
        np.log1p(nll, out=nll)
        nll += np.maximum(params, 0.0)
        nll -= x * params
        return nll
    if log_var is None:
        return 0.5 * np.square(x - params) + np.float32(HALF_LOG_2PI)
    log_var = np.asarray(log_var, np.float32)
    return 0.5 * (np.square(x - params) * np.exp(-log_var) + log_var) + np.float32(HALF_LOG_2PI)


def summed(feature_terms: np.ndarray) -> np.ndarray:
    """(n, d) float32 per-feature terms → (n,) float64 sums."""
    return feature_terms.sum(axis=1, dtype=np.float64)


def kl_divergence(z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """KL(N(μ, σ²) ‖ N(0, I)) = −½ Σ(1 + log σ² − μ² − σ²): (n, latent) → (n,) float64."""
    z_mean, z_log_var = np.asarray(z_mean, np.float64), np.asarray(z_log_var, np.float64)
    return -0.5 * np.sum(1.0 + z_log_var - np.square(z_mean) - np.exp(z_log_var), axis=1)


@dataclass(frozen=True)
class DenseWeights:
    """A dense VAE's weights, float32. `encoder`: the hidden layers; `z_mean` (`z` for the AE) and
    `z_log_var`: the heads; `z_mean_linear`: the linear skip's kernel (features, latent) or None;
    `decoder`: hidden layers then the output layer; `x_linear`: (latent + classes, features) or None;
    `variance_decoder`: a heteroscedastic decoder's layers or None; `feature_log_var`: per-feature
    raw log σ² (features,) or None."""

    encoder: list[DenseLayer]
    z_mean: DenseLayer
    z_log_var: DenseLayer | None
    z_mean_linear: np.ndarray | None
    decoder: list[DenseLayer]
    x_linear: np.ndarray | None
    variance_decoder: list[DenseLayer] | None
    feature_log_var: np.ndarray | None

    @classmethod
    def from_layers(cls, config: VAEConfig, parts: dict[str, list[tuple[str, list[np.ndarray]]]],
                    top_level: list[np.ndarray]) -> DenseWeights:
        """Assemble from each sub-model's Dense layers in order, as (Keras layer name, [kernel, bias?]),
        keyed "encoder", "decoder" and "variance_decoder"; `top_level`: the VAE's own variables."""
        if config.architecture != "dense":
            raise ConfigError("Only dense models run outside TensorFlow.")
        hidden = config.activation

        def chain(entries, last: str | None) -> tuple[list[DenseLayer], dict[str, list[np.ndarray]]]:
            named = {name: arrays for name, arrays in entries if name in NAMED_LAYERS}
            layers = [(_f32(a[0]), _f32(a[1]), hidden) for name, a in entries if name not in NAMED_LAYERS]
            if last is not None:
                if last not in named:
                    raise ConfigError(f"The weights have no {last!r} layer.")
                kernel, bias = named[last]
                layers.append((_f32(kernel), _f32(bias), "linear"))
            return layers, named

        encoder, heads = chain(parts.get("encoder", []), None)
        head = "z_mean" if config.variational else "z"
        if head not in heads:
            raise ConfigError(f"The weights have no {head!r} layer.")
        z_mean = (_f32(heads[head][0]), _f32(heads[head][1]), "linear")
        z_log_var = ((_f32(heads["z_log_var"][0]), _f32(heads["z_log_var"][1]), "linear")
                     if config.variational else None)
        decoder, decoder_named = chain(parts.get("decoder", []), "x_params")
        variance = (chain(parts.get("variance_decoder", []), "x_log_var")[0]
                    if config.decoder_variance == "heteroscedastic" else None)
        feature_log_var = _f32(top_level[0]).reshape(-1) if config.decoder_variance == "per_feature" else None
        weights = cls(encoder, z_mean, z_log_var,
                      _f32(heads["z_mean_linear"][0]) if config.linear_skip else None,
                      decoder, _f32(decoder_named["x_linear"][0]) if config.linear_skip else None,
                      variance, feature_log_var)
        weights.check(config)
        return weights

    @classmethod
    def from_keras(cls, vae: Any) -> DenseWeights:
        """A copy of a vae_core.model.VAE's current weights."""
        parts = {}
        for key in ("encoder", "decoder", "variance_decoder"):
            model = getattr(vae, key, None)
            if model is not None:
                parts[key] = [(layer.name, [np.asarray(w) for w in layer.get_weights()])
                              for layer in model.layers if type(layer).__name__ == "Dense"]
        top = [np.asarray(vae.feature_log_var)] if vae.feature_log_var is not None else []
        return cls.from_layers(vae.vae_config, parts, top)

    def check(self, config: VAEConfig) -> None:
        """ConfigError unless every layer's shape is what `config` builds."""
        features = int(np.prod(config.input_shape)) + config.num_classes
        decoder_in = config.latent_dim + config.num_classes
        n_out = int(np.prod(config.input_shape))

        def expect(layers: list[DenseLayer], inputs: int, units: list[int], what: str) -> None:
            shapes = [(k.shape, b.shape) for k, b, _ in layers]
            wanted, width = [], inputs
            for u in units:
                wanted.append(((width, u), (u,)))
                width = u
            if shapes != wanted:
                raise ConfigError(f"The {what}'s weights have shapes {shapes}; the settings need {wanted}.")

        expect(self.encoder, features, list(config.hidden_units), "encoder")
        for head in [self.z_mean] + ([self.z_log_var] if self.z_log_var is not None else []):
            expect([head], config.hidden_units[-1], [config.latent_dim], "encoder head")
        expect(self.decoder, decoder_in, [*config.decoder_units, n_out], "decoder")
        if self.variance_decoder is not None:
            expect(self.variance_decoder, decoder_in, [*reversed(config.hidden_units), n_out], "variance decoder")
        if self.z_mean_linear is not None and self.z_mean_linear.shape != (features, config.latent_dim):
            raise ConfigError("The linear skip's encoder weights do not match the settings.")
        if self.x_linear is not None and self.x_linear.shape != (decoder_in, n_out):
            raise ConfigError("The linear skip's decoder weights do not match the settings.")
        if self.feature_log_var is not None and self.feature_log_var.shape != (n_out,):
            raise ConfigError("The per-feature decoder variance does not match the settings.")


def _f32(array) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


def read_keras_weights(path: str | Path, config: VAEConfig) -> DenseWeights:
    """The weights of a dense VAE saved as `.keras`, read as HDF5 arrays (nothing is deserialised).

    Keras keeps each sub-model's layers under "<group>/layers/<dense | dense_N>/vars" in layer order,
    with a layer's own name in its "vars" group's "name" attribute; a sub-model's group is its
    attribute name or "layers/functional_N", named the same way. The VAE's own variables (the
    per-feature log σ², then the KL weight) are under "vars".
    """
    import h5py

    with zipfile.ZipFile(path) as archive:
        buffer = io.BytesIO(archive.read(WEIGHTS_FILE))
    parts: dict[str, list[tuple[str, list[np.ndarray]]]] = {}
    with h5py.File(buffer, "r") as weights:
        groups = [weights[k] for k in weights if k not in ("layers", "vars")]
        groups += [weights["layers"][k] for k in weights.get("layers", {})]
        for group in groups:
            key = group["vars"].attrs.get("name") if "vars" in group else None
            if key not in ("encoder", "decoder", "variance_decoder") or "layers" not in group:
                continue
            layers = group["layers"]
            dense = sorted((k for k in layers if re.fullmatch(r"dense(_\d+)?", k)),
                           key=lambda k: int(k.rsplit("_", 1)[1]) if "_" in k else 0)
            parts[str(key)] = [(str(layers[k]["vars"].attrs.get("name", k)),
                                [layers[k]["vars"][str(i)][()] for i in range(len(layers[k]["vars"]))])
                               for k in dense]
        top = weights.get("vars")
        top_level = [top[str(i)][()] for i in range(len(top))] if top is not None else []
    return DenseWeights.from_layers(config, parts, top_level)


class DenseVAE:
    """A trained dense VAE (or AE) for inference, in NumPy: the same methods and numbers as
    vae_core.model.VAE's inference methods. Matrix products run in float32 like TensorFlow's; the
    likelihood terms are summed in float64. Thread-safe (read-only arrays)."""

    def __init__(self, vae_config: VAEConfig, weights: DenseWeights, name: str = "vae"):
        weights.check(vae_config)
        self.vae_config = vae_config
        self.weights = weights
        self.name = name

    @classmethod
    def from_keras(cls, vae: Any) -> DenseVAE:
        """A NumPy copy of a vae_core.model.VAE (its weights now)."""
        return cls(vae.vae_config, DenseWeights.from_keras(vae), vae.name)

    @classmethod
    def load(cls, path: str | Path, config: VAEConfig, name: str = "vae") -> DenseVAE:
        """Read a dense VAE's `.keras` file whose settings are `config`."""
        return cls(config, read_keras_weights(path, config), name)

    @property
    def conditional(self) -> bool:
        """True when encode/decode take class labels."""
        return self.vae_config.conditional

    @property
    def variational(self) -> bool:
        """False for the plain autoencoder."""
        return self.vae_config.variational

    def _labels(self, y, n: int) -> np.ndarray | None:
        return class_labels(y, n, self.vae_config.num_classes) if self.conditional else None

    def _posterior(self, x: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """x (n, *input_shape) float32 → μ (n, latent) float32 and log σ² (None for the AE)."""
        config, w = self.vae_config, self.weights
        flat = decoder_inputs(x.reshape(len(x), -1), labels, int(np.prod(config.input_shape)),
                              config.num_classes, np.float32)
        h = run_dense(w.encoder, flat)
        z_mean = run_dense([w.z_mean], h)
        if w.z_mean_linear is not None:
            z_mean = z_mean + flat @ w.z_mean_linear
        return z_mean, (run_dense([w.z_log_var], h) if w.z_log_var is not None else None)

    def _decoder_params(self, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        """z (n, latent) → logits (Bernoulli) or mean (Gaussian), (n, features) float32."""
        config, w = self.vae_config, self.weights
        h0 = decoder_inputs(z, labels, config.latent_dim, config.num_classes, np.float32)
        out = run_dense(w.decoder, h0)
        return out + h0 @ w.x_linear if w.x_linear is not None else out

    def _decoder_log_var(self, z: np.ndarray, labels: np.ndarray | None, n: int) -> np.ndarray | None:
        """log σ² of a Gaussian decoder with a learned variance, (n, features); None for unit variance."""
        config, w = self.vae_config, self.weights
        if w.variance_decoder is not None:
            raw = run_dense(w.variance_decoder, decoder_inputs(z, labels, config.latent_dim, config.num_classes,
                                                               np.float32))
        elif w.feature_log_var is not None:
            raw = np.broadcast_to(w.feature_log_var, (n, w.feature_log_var.size))
        else:
            return None
        floor = np.float32(config.decoder_log_var_floor)
        return floor + np.logaddexp(np.float32(0.0), raw - floor)

    def _feature_nll(self, x: np.ndarray, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        """−log p(x_j|z): x (n, features), z (n, latent) → (n, features) float32."""
        params = self._decoder_params(z, labels)
        return feature_nll(x.reshape(len(x), -1), params, self.vae_config.likelihood,
                           self._decoder_log_var(z, labels, len(z)))

    def _mean(self, params: np.ndarray) -> np.ndarray:
        return _sigmoid(params) if self.vae_config.likelihood == "bernoulli" else params

    def _shaped(self, rows: np.ndarray) -> np.ndarray:
        return rows.astype(np.float32, copy=False).reshape(len(rows), *self.vae_config.input_shape)

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.shape[1:] != tuple(self.vae_config.input_shape):
            x = x.reshape(len(x), *self.vae_config.input_shape)
        return x

    def _points(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float32).reshape(-1, self.vae_config.latent_dim)

    def encode(self, x: np.ndarray, y: np.ndarray | None = None,
               batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """x (n, *input_shape) [, labels y (n,)] → (μ, log σ²), each (n, latent_dim) float32.
        The AE's code is a point: μ is z and log σ² is −inf (σ = 0)."""
        x = self._inputs(x)
        labels = self._labels(y, len(x))
        means, log_vars = [], []
        for start in range(0, len(x), batch_size):
            mu, log_var = self._posterior(x[start:start + batch_size],
                                          None if labels is None else labels[start:start + batch_size])
            means.append(mu)
            log_vars.append(np.full_like(mu, -np.inf) if log_var is None else log_var)
        latent = self.vae_config.latent_dim
        if not means:
            return np.zeros((0, latent), np.float32), np.zeros((0, latent), np.float32)
        return np.concatenate(means), np.concatenate(log_vars)

    def decode(self, z: np.ndarray, y: np.ndarray | None = None, batch_size: int = 4096) -> np.ndarray:
        """z (n, latent_dim) [, labels y (n,) or one label] → expected x (n, *input_shape) float32
        (pixel probabilities for Bernoulli)."""
        z = self._points(z)
        labels = self._labels(y, len(z))
        parts = [self._mean(self._decoder_params(z[s:s + batch_size],
                                                 None if labels is None else labels[s:s + batch_size]))
                 for s in range(0, len(z), batch_size)]
        return self._shaped(np.concatenate(parts) if parts else np.zeros((0, int(np.prod(self.vae_config.input_shape)))))

    def decoder_log_var(self, z: np.ndarray, y: np.ndarray | None = None, batch_size: int = 4096) -> np.ndarray:
        """log σ² of the Gaussian decoder: z (n, latent_dim) [, labels y] → (n, *input_shape) float32;
        zeros for a unit-variance decoder."""
        z = self._points(z)
        log_var = self._decoder_log_var(z, self._labels(y, len(z)), len(z))
        if log_var is None:
            log_var = np.zeros((len(z), int(np.prod(self.vae_config.input_shape))), np.float32)
        return self._shaped(np.asarray(log_var))

    def decoder_feature_nll(self, x: np.ndarray, z: np.ndarray, y: np.ndarray | None = None,
                            batch_size: int = 4096) -> np.ndarray:
        """−log p(x_j|z) per feature: x (n, *input_shape), z (n, latent_dim) → (n, n_features) float32;
        rows sum to `decoder_nll`."""
        x, z = self._inputs(x), self._points(z)
        if len(x) != len(z):
            raise ConfigError(f"Got {len(x)} inputs but {len(z)} latent points.")
        labels = self._labels(y, len(x))
        parts = [self._feature_nll(x[s:s + batch_size], z[s:s + batch_size],
                                   None if labels is None else labels[s:s + batch_size])
                 for s in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, int(np.prod(self.vae_config.input_shape))))

    def decoder_nll(self, x: np.ndarray, z: np.ndarray, y: np.ndarray | None = None,
                    batch_size: int = 4096) -> np.ndarray:
        """−log p(x|z) in nats for given latent points: x (n, *input_shape), z (n, latent_dim) → (n,) float64."""
        return summed(self.decoder_feature_nll(x, z, y, batch_size))

    def per_example_losses(self, x: np.ndarray, y: np.ndarray | None = None, *, n_samples: int = 1,
                           seed: int = 0, batch_size: int = 2048) -> dict[str, np.ndarray]:
        """Per-example −ELBO terms in nats: {"reconstruction", "kl", "neg_elbo"}, each (n,) float64.

        The reconstruction term E_q[−log p(x|z)] is a Monte-Carlo mean over `n_samples` draws of
        z ~ q(z|x) from a seeded generator (repeatable); the KL term is the closed form. For the AE
        the code is deterministic (reconstruction from z itself) and the KL is 0.
        """
        rng = np.random.default_rng(seed)
        x = self._inputs(x)
        labels = self._labels(y, len(x))
        reconstruction, kl = np.zeros(len(x)), np.zeros(len(x))
        for start in range(0, len(x), batch_size):
            rows = slice(start, start + batch_size)
            batch, label = x[rows], None if labels is None else labels[rows]
            z_mean, z_log_var = self._posterior(batch, label)
            if z_log_var is None:
                reconstruction[rows] = summed(self._feature_nll(batch, z_mean, label))
                continue
            sigma = np.exp(0.5 * z_log_var)
            draws = rng.standard_normal((n_samples, len(batch), self.vae_config.latent_dim), np.float32)
            reconstruction[rows] = np.mean([summed(self._feature_nll(batch, z_mean + sigma * eps, label))
                                            for eps in draws], axis=0)
            kl[rows] = kl_divergence(z_mean, z_log_var)
        return {"reconstruction": reconstruction, "kl": kl, "neg_elbo": reconstruction + kl}

    def importance_weighted_nll(self, x: np.ndarray, y: np.ndarray | None = None, *, n_samples: int = 1000,
                                seed: int = 0, batch_size: int = 100, samples_per_call: int = 100) -> np.ndarray:
        """−log p(x) in nats from the importance-weighted (IWAE) bound with K = `n_samples` draws
        z_k ~ q(z|x): −log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x); x (n, *input_shape) → (n,) float64.

        An upper bound on −log p(x) in expectation, never above the −ELBO from the same draws, and
        tighter as K grows. Conditional models give −log p(x|y). Seeded, so repeatable for the same
        batch sizes. Memory: one decoder call holds batch_size × samples_per_call rows.
        """
        from scipy.special import logsumexp

        if not self.variational:
            raise ConfigError("A plain autoencoder has no q(z|x) to sample, so it has no likelihood bound.")
        if n_samples < 1 or batch_size < 1 or samples_per_call < 1:
            raise ConfigError("Importance samples, batch size and samples per call must be at least 1.")
        rng = np.random.default_rng(seed)
        x = self._inputs(x)
        labels = self._labels(y, len(x))
        latent = self.vae_config.latent_dim
        result = np.zeros(len(x))
        for start in range(0, len(x), batch_size):
            rows = slice(start, start + batch_size)
            batch, label = x[rows], None if labels is None else labels[rows]
            z_mean, z_log_var = self._posterior(batch, label)
            sigma = np.exp(0.5 * z_log_var)
            log_w = []
            for done in range(0, n_samples, samples_per_call):
                draws = rng.standard_normal((min(samples_per_call, n_samples - done), len(batch), latent), np.float32)
                z = z_mean[None] + sigma[None] * draws  # (s, b, latent), sample-major like the rows below
                s = len(draws)
                tiled = np.broadcast_to(batch[None], (s, *batch.shape)).reshape(s * len(batch), -1)
                tiled_label = None if label is None else np.tile(label, s)
                log_likelihood = -summed(self._feature_nll(tiled, z.reshape(-1, latent), tiled_label))
                # log p(z) − log q(z|x) = ½ Σ (ε² − z² + log σ²); the ½ log 2π terms cancel.
                log_prior_ratio = 0.5 * np.sum(np.square(draws, dtype=np.float64) - np.square(z, dtype=np.float64)
                                               + z_log_var[None], axis=2)
                log_w.append(log_likelihood.reshape(s, -1) + log_prior_ratio)
            result[rows] = math.log(n_samples) - logsumexp(np.concatenate(log_w), axis=0)
        return result
