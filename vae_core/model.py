"""The VAE: encoder q(z|x), reparameterised sampling, decoder p(x|z), negative-ELBO training.

Imports Keras (and TensorFlow): import this module lazily.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from vae_core.config import VAEConfig

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def reconstruction_nll(x, decoder_output, likelihood: str):
    """−log p(x|z) in nats, summed over features: x, decoder_output (batch, ...) → (batch,).

    Bernoulli: `decoder_output` are logits and the loss is binary cross-entropy.
    Gaussian: `decoder_output` is the mean, unit variance: ½(x − x̂)² + ½ log 2π per feature.
    """
    x = ops.reshape(x, (ops.shape(x)[0], -1))
    out = ops.reshape(decoder_output, (ops.shape(decoder_output)[0], -1))
    if likelihood == "bernoulli":
        per_feature = ops.binary_crossentropy(x, out, from_logits=True)
    else:
        per_feature = 0.5 * ops.square(x - out) + HALF_LOG_2PI
    return ops.sum(per_feature, axis=1)


def kl_divergence(z_mean, z_log_var):
    """KL(N(μ, σ²) ‖ N(0, I)) = −½ Σ(1 + log σ² − μ² − σ²): (batch, latent) → (batch,)."""
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)


@keras.saving.register_keras_serializable(package="vae_core")
class Sampling(layers.Layer):
    """Reparameterisation: z = μ + exp(½ log σ²)·ε, ε ~ N(0, I), so gradients flow to μ and σ."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


def build_encoder(config: VAEConfig) -> keras.Model:
    """x (batch, *input_shape) → [z_mean, z_log_var, z], each (batch, latent_dim)."""
    inputs = keras.Input(shape=config.input_shape, name="x")
    if config.architecture == "conv":
        h = inputs
        for filters in config.conv_filters:
            h = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(h)
        h = layers.Flatten()(h)
        h = layers.Dense(config.conv_dense_units, activation="relu")(h)
    else:
        h = layers.Flatten()(inputs)
        for units in config.hidden_units:
            h = layers.Dense(units, activation="relu")(h)
    z_mean = layers.Dense(config.latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(config.latent_dim, name="z_log_var")(h)
    z = Sampling(name="z")([z_mean, z_log_var])
    return keras.Model(inputs, [z_mean, z_log_var, z], name="encoder")


def build_decoder(config: VAEConfig) -> keras.Model:
    """z (batch, latent_dim) → logits (Bernoulli) or mean (Gaussian), (batch, *input_shape)."""
    latent = keras.Input(shape=(config.latent_dim,), name="z")
    if config.architecture == "conv":
        side = config.input_shape[0] // 2 ** len(config.conv_filters)
        h = layers.Dense(side * side * config.conv_filters[-1], activation="relu")(latent)
        h = layers.Reshape((side, side, config.conv_filters[-1]))(h)
        for filters in reversed(config.conv_filters):
            h = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu")(h)
        out = layers.Conv2DTranspose(config.input_shape[-1], 3, padding="same", name="x_params")(h)
    else:
        h = latent
        for units in reversed(config.hidden_units):
            h = layers.Dense(units, activation="relu")(h)
        out = layers.Dense(int(np.prod(config.input_shape)), name="x_params")(h)
        out = layers.Reshape(config.input_shape)(out)
    return keras.Model(latent, out, name="decoder")


@keras.saving.register_keras_serializable(package="vae_core")
class VAE(keras.Model):
    """Encoder + decoder trained on the negative ELBO; losses are nats per example."""

    def __init__(self, vae_config: VAEConfig | dict, **kwargs):
        super().__init__(**kwargs)
        if isinstance(vae_config, dict):
            vae_config = VAEConfig.from_dict(vae_config)
        self.vae_config = vae_config
        self.encoder = build_encoder(vae_config)
        self.decoder = build_decoder(vae_config)
        # The KL weight β_t: a variable so a warm-up callback can ramp it without retracing.
        self.kl_weight = keras.Variable(float(vae_config.beta), trainable=False, name="kl_weight")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.neg_elbo_tracker = keras.metrics.Mean(name="neg_elbo")
        self._compiled_functions: dict[str, object] = {}
        self.built = True  # encoder and decoder are built functional models

    def inference_copy(self) -> VAE:
        """A fresh, uncompiled VAE with these weights: saves without optimizer state (≈⅓ the size)."""
        copy = VAE(self.vae_config, name=self.name)
        copy.set_weights(self.get_weights())
        return copy

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker, self.neg_elbo_tracker]

    def call(self, x, training: bool = False):
        """Reconstruction mean from μ: (batch, *input_shape) → (batch, *input_shape)."""
        z_mean, _, _ = self.encoder(x, training=training)
        return self.output_mean(self.decoder(z_mean, training=training))

    def output_mean(self, decoder_output):
        """Decoder parameters → expected x (sigmoid of logits for Bernoulli)."""
        return ops.sigmoid(decoder_output) if self.vae_config.likelihood == "bernoulli" else decoder_output

    def _loss_terms(self, x, training: bool):
        z_mean, z_log_var, z = self.encoder(x, training=training)
        reconstruction = ops.mean(reconstruction_nll(x, self.decoder(z, training=training),
                                                     self.vae_config.likelihood))
        kl = ops.mean(kl_divergence(z_mean, z_log_var))
        return reconstruction, kl

    def _update_metrics(self, loss, reconstruction, kl) -> dict:
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        self.neg_elbo_tracker.update_state(reconstruction + kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            reconstruction, kl = self._loss_terms(x, training=True)
            loss = reconstruction + self.kl_weight * kl
            # Under tf.distribute each replica's gradient is summed: scale the per-replica mean.
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
        gradients = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        return self._update_metrics(loss, reconstruction, kl)

    def test_step(self, data):
        x = data[0] if isinstance(data, tuple) else data
        reconstruction, kl = self._loss_terms(x, training=False)
        return self._update_metrics(reconstruction + self.kl_weight * kl, reconstruction, kl)

    def get_config(self) -> dict:
        return {"name": self.name, "vae_config": self.vae_config.to_dict()}

    @classmethod
    def from_config(cls, config: dict) -> VAE:
        config = dict(config)
        return cls(VAEConfig.from_dict(config.pop("vae_config")), **config)

    # Fast inference: compiled once per model, fixed signatures so batch size never retraces.
    def _compiled(self, key: str, fn, rank: int):
        if key not in self._compiled_functions:
            spec = tf.TensorSpec([None] * rank, tf.float32)
            self._compiled_functions[key] = tf.function(fn, input_signature=[spec], reduce_retracing=True)
        return self._compiled_functions[key]

    def encode(self, x: np.ndarray, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """x (n, *input_shape) → (μ, log σ²), each (n, latent_dim) float32."""
        fn = self._compiled("encode", lambda t: self.encoder(t, training=False)[:2],
                            1 + len(self.vae_config.input_shape))
        parts = [fn(tf.constant(chunk, tf.float32)) for chunk in _chunks(x, batch_size)]
        return (np.concatenate([p[0].numpy() for p in parts]),
                np.concatenate([p[1].numpy() for p in parts]))

    def decode(self, z: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """z (n, latent_dim) → expected x (n, *input_shape) float32 (pixel probabilities for Bernoulli)."""
        fn = self._compiled("decode", lambda t: self.output_mean(self.decoder(t, training=False)), 2)
        z = np.asarray(z, dtype=np.float32).reshape(-1, self.vae_config.latent_dim)
        return np.concatenate([fn(tf.constant(chunk)).numpy() for chunk in _chunks(z, batch_size)])

    def per_example_losses(self, x: np.ndarray, *, n_samples: int = 1, seed: int = 0,
                           batch_size: int = 2048) -> dict[str, np.ndarray]:
        """Per-example −ELBO terms in nats: {"reconstruction", "kl", "neg_elbo"}, each (n,).

        The reconstruction term E_q[−log p(x|z)] is a Monte-Carlo mean over `n_samples` draws
        of z ~ q(z|x) with a fixed seed (repeatable); the KL term is the closed form.
        """
        likelihood = self.vae_config.likelihood
        generator = tf.random.Generator.from_seed(seed)

        def terms(batch, epsilons):
            z_mean, z_log_var, _ = self.encoder(batch, training=False)
            reconstruction = tf.zeros(tf.shape(batch)[:1])
            for eps in tf.unstack(epsilons):
                z = z_mean + tf.exp(0.5 * z_log_var) * eps
                reconstruction += reconstruction_nll(batch, self.decoder(z, training=False), likelihood)
            return reconstruction / n_samples, kl_divergence(z_mean, z_log_var)

        fn = tf.function(terms, reduce_retracing=True)
        rec_parts, kl_parts = [], []
        for chunk in _chunks(x, batch_size):
            eps = generator.normal((n_samples, len(chunk), self.vae_config.latent_dim))
            reconstruction, kl = fn(tf.constant(chunk, tf.float32), eps)
            rec_parts.append(reconstruction.numpy())
            kl_parts.append(kl.numpy())
        reconstruction, kl = np.concatenate(rec_parts), np.concatenate(kl_parts)
        return {"reconstruction": reconstruction, "kl": kl, "neg_elbo": reconstruction + kl}


def _chunks(array: np.ndarray, size: int):
    array = np.asarray(array, dtype=np.float32)
    for start in range(0, max(len(array), 1), size):
        yield array[start:start + size]
