"""Real (tiny) Keras models: shapes, save/load round-trips, progress, cancellation, early stopping."""

import threading

import numpy as np
import pytest

from vae_core.config import TrainConfig, VAEConfig
from vae_core.errors import ConfigError


@pytest.mark.parametrize("architecture", ["dense", "conv"])
def test_encoder_and_decoder_shapes(architecture):
    from vae_core.model import VAE

    vae = VAE(VAEConfig(architecture=architecture, latent_dim=3, hidden_units=(8,), conv_filters=(4, 8),
                        conv_dense_units=8))
    x = np.random.default_rng(0).uniform(size=(5, 28, 28, 1)).astype(np.float32)
    mu, log_var = vae.encode(x)
    assert mu.shape == log_var.shape == (5, 3)
    images = vae.decode(mu)
    assert images.shape == (5, 28, 28, 1)
    assert images.min() >= 0.0 and images.max() <= 1.0  # Bernoulli means are probabilities


def test_tabular_gaussian_vae_decodes_unbounded_means():
    from vae_core.model import VAE

    vae = VAE(VAEConfig(input_shape=(7,), latent_dim=2, hidden_units=(8,), likelihood="gaussian"))
    out = vae.decode(np.full((4, 2), 5.0, np.float32))
    assert out.shape == (4, 7)


@pytest.mark.parametrize("config", [
    VAEConfig(latent_dim=2, hidden_units=(16, 8), activation="silu"),
    VAEConfig(latent_dim=3, hidden_units=(8,), num_classes=10),
    VAEConfig(input_shape=(7,), latent_dim=2, hidden_units=(8,), likelihood="gaussian"),
], ids=["bernoulli-silu", "conditional", "gaussian"])
def test_a_few_points_decode_in_numpy_exactly_as_one_tensorflow_batch(config):
    from vae_core.model import NUMPY_DECODE_MAX_POINTS, VAE

    vae = VAE(config)
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3.0, size=(NUMPY_DECODE_MAX_POINTS + 1, config.latent_dim)).astype(np.float32)
    labels = np.arange(len(z)) % 10 if config.conditional else None
    batched = vae.decode(z, labels)  # one more point than the NumPy path takes: TensorFlow
    few = vae.decode(z[:3], None if labels is None else labels[:3])
    assert few.dtype == np.float32 and few.shape == (3, *config.input_shape)
    np.testing.assert_allclose(few, batched[:3], atol=2e-6)


def test_decoding_after_more_training_uses_the_new_weights(tiny_images):
    from vae_core.training import fit_vae

    x, _ = tiny_images
    model = fit_vae(x[:256], VAEConfig(hidden_units=(16,), latent_dim=2), TrainConfig(epochs=1, batch_size=64)).model
    z = np.array([[0.5, -1.0]], np.float32)
    before = model.decode(z)
    model.fit(x[:256], epochs=1, batch_size=64, verbose=0)
    after = model.decode(z)
    assert np.abs(after - before).max() > 1e-4  # the weights moved
    np.testing.assert_allclose(after, model.decode(np.repeat(z, 40, axis=0))[:1], atol=2e-6)


def test_config_rejects_bad_values_with_clear_errors():
    with pytest.raises(ConfigError, match="Latent dim"):
        VAEConfig(latent_dim=0)
    with pytest.raises(ConfigError, match="Architecture"):
        VAEConfig(architecture="rnn")
    with pytest.raises(ConfigError, match="conv architecture"):
        VAEConfig(architecture="conv", input_shape=(30,))
    with pytest.raises(ConfigError, match="Epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="patience"):
        TrainConfig(early_stopping_patience=-1)
    with pytest.raises(ConfigError, match="Hidden units"):
        VAEConfig(hidden_units=(10**6,))
    assert VAEConfig.from_dict(VAEConfig(latent_dim=5).to_dict()) == VAEConfig(latent_dim=5)
    with pytest.raises(ConfigError, match="Unknown"):
        VAEConfig.from_dict({"latent_dimension": 3})


def test_training_lowers_the_loss_and_reports_progress(tiny_images):
    from vae_core.training import fit_vae

    x, _ = tiny_images
    events = []
    result = fit_vae(x[:448], VAEConfig(hidden_units=(32,)), TrainConfig(epochs=3, batch_size=64),
                     x_val=x[448:], on_progress=events.append)
    epoch_events = [e for e in events if e.kind == "epoch"]
    assert [e.epoch for e in epoch_events] == [1, 2, 3]
    assert epoch_events[-1].fraction == 1.0 and epoch_events[-1].eta_seconds == 0.0
    assert epoch_events[-1].model is result.model  # e.g. to decode samples each epoch
    assert all(e.model is None for e in events if e.kind == "batch")
    assert set(epoch_events[0].val_losses) >= {"loss", "reconstruction", "kl", "neg_elbo"}
    assert result.history["neg_elbo"][-1] < result.history["neg_elbo"][0]
    assert result.epochs_run == 3 and not result.cancelled


def test_same_seed_gives_the_same_model(tiny_images):
    from vae_core.training import fit_vae

    x = tiny_images[0][:128]
    runs = [fit_vae(x, VAEConfig(hidden_units=(16,)), TrainConfig(epochs=1, batch_size=32, seed=7)).model
            for _ in range(2)]
    np.testing.assert_allclose(runs[0].encode(x)[0], runs[1].encode(x)[0], atol=1e-5)


def test_cancel_stops_after_the_current_batch(tiny_images):
    from vae_core.training import fit_vae

    cancel = threading.Event()
    seen = []

    def on_progress(event):
        seen.append(event)
        cancel.set()

    result = fit_vae(tiny_images[0], VAEConfig(hidden_units=(16,)), TrainConfig(epochs=50, batch_size=16),
                     on_progress=on_progress, cancel=cancel)
    assert result.cancelled
    assert result.epochs_run <= 1
    assert not any(e.kind == "epoch" for e in seen)  # stopped inside the first epoch


def test_early_stopping_stops_on_a_flat_validation_loss(tiny_images):
    from vae_core.training import fit_vae

    x = tiny_images[0]
    # learning rate ~0: validation loss cannot improve, so patience 1 stops at epoch 2
    result = fit_vae(x[:256], VAEConfig(hidden_units=(8,)),
                     TrainConfig(epochs=20, batch_size=64, learning_rate=1e-12, early_stopping_patience=1),
                     x_val=x[256:384])
    assert result.stopped_early and result.epochs_run < 20


def test_kl_warmup_ramps_beta(tiny_images):
    from vae_core.training import fit_vae

    weights = []
    result = fit_vae(tiny_images[0][:64], VAEConfig(hidden_units=(8,), beta=2.0, kl_warmup_epochs=4),
                     TrainConfig(epochs=5, batch_size=64),
                     on_progress=lambda e: e.kind == "epoch" and weights.append(round(
                         e.losses["loss"] - e.losses["reconstruction"], 6) / max(e.losses["kl"], 1e-9)))
    np.testing.assert_allclose(weights, [0.5, 1.0, 1.5, 2.0, 2.0], rtol=1e-3)
    assert float(result.model.kl_weight.numpy()) == 2.0


def test_saved_model_loads_back_with_the_same_outputs(tiny_vae, tiny_images, tmp_path):
    from vae_core import registry

    path = registry.save_model(tiny_vae, "roundtrip", kind="mnist", metadata={"dataset": "mnist"},
                               directory=tmp_path)
    loaded = registry.load_model("roundtrip", tmp_path)
    x = tiny_images[0][:50]
    z = np.random.default_rng(0).normal(size=(10, 2)).astype(np.float32)
    np.testing.assert_allclose(loaded.vae.decode(z), tiny_vae.decode(z), rtol=1e-5, atol=1e-6)  # NumPy serving
    for got, expected in zip(loaded.vae.encode(x), tiny_vae.encode(x)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert loaded.vae.vae_config == tiny_vae.vae_config
    assert (path / "model.keras").stat().st_size < 2 * sum(
        w.size * 4 for w in tiny_vae.get_weights())  # no optimizer state saved


def test_per_example_losses_are_repeatable_and_consistent(tiny_vae, tiny_images):
    x = tiny_images[0][:100]
    first = tiny_vae.per_example_losses(x, seed=3)
    again = tiny_vae.per_example_losses(x, seed=3)
    np.testing.assert_array_equal(first["neg_elbo"], again["neg_elbo"])
    np.testing.assert_allclose(first["neg_elbo"], first["reconstruction"] + first["kl"], rtol=1e-6)
    assert first["kl"].min() >= 0 and first["reconstruction"].shape == (100,)
    many = tiny_vae.per_example_losses(x, n_samples=8, seed=3)
    np.testing.assert_array_equal(many["kl"], first["kl"])  # closed form: no sampling noise
