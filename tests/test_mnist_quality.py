"""MNIST quality tools on tiny real models: free bits, the cosine learning-rate schedule and
asymmetric decoders."""

import json

import numpy as np
import pytest

from vae_core.config import TrainConfig, VAEConfig
from vae_core.errors import ConfigError


def test_free_bits_change_the_objective_but_not_the_reported_elbo(tiny_images):
    import keras

    from vae_core.model import VAE, kl_divergence

    x = tiny_images[0][:64]
    vae = VAE(VAEConfig(hidden_units=(16,), latent_dim=3, free_bits=2.0))
    vae.compile(optimizer=keras.optimizers.SGD(0.0))
    logs = vae.test_on_batch(x, return_dict=True)
    z_mean, z_log_var, _ = (np.asarray(t, np.float64) for t in vae.encoder(x))
    per_dim = (-0.5 * (1 + z_log_var - z_mean ** 2 - np.exp(z_log_var))).mean(axis=0)
    assert logs["kl"] == pytest.approx(float(np.mean(kl_divergence(z_mean, z_log_var))), rel=1e-5)
    assert logs["neg_elbo"] == pytest.approx(logs["reconstruction"] + logs["kl"], rel=1e-5)
    assert logs["loss"] == pytest.approx(logs["reconstruction"] + np.maximum(per_dim, 2.0).sum(), rel=1e-5)
    assert per_dim.max() < 2.0  # an untrained encoder sits below the floor, so the penalty differs


def test_cosine_schedule_ends_at_zero_learning_rate(tiny_images):
    from vae_core.training import fit_vae

    x = tiny_images[0][:256]
    result = fit_vae(x, VAEConfig(hidden_units=(16,)), TrainConfig(epochs=2, batch_size=64, lr_schedule="cosine"))
    assert float(result.model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert result.cpu_seconds > 0
    with pytest.raises(ConfigError, match="schedule"):
        TrainConfig(lr_schedule="step")


def test_decoder_sizes_of_their_own_export_to_the_browser_and_old_configs_still_load():
    from vae_core.export import dense_forward, export_dense_decoder
    from vae_core.model import VAE

    config = VAEConfig(hidden_units=(32,), decoder_hidden_units=(16, 24), free_bits=0.5)
    assert VAEConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    vae = VAE.from_config(VAE(config).get_config())
    assert [layer.units for layer in vae.decoder.layers if type(layer).__name__ == "Dense"] == [16, 24, 784]
    z = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_allclose(dense_forward(export_dense_decoder(vae), z), vae.decode(z), atol=1e-5)

    old = {k: v for k, v in VAEConfig().to_dict().items() if k not in ("decoder_hidden_units", "free_bits")}
    assert VAEConfig.from_dict(old).decoder_units == (256, 512)
    old_train = {k: v for k, v in TrainConfig().to_dict().items() if k != "lr_schedule"}
    assert TrainConfig.from_dict(old_train).lr_schedule == "constant"
    with pytest.raises(ConfigError, match="Free bits"):
        VAEConfig(free_bits=-1.0)
    with pytest.raises(ConfigError, match="Decoder hidden units"):
        VAEConfig(decoder_hidden_units=(0,))
