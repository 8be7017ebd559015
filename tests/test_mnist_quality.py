"""MNIST quality tools on tiny real models: the importance-weighted likelihood bound, free bits,
the cosine learning-rate schedule, asymmetric decoders and what `evaluate` reports."""

import json

import numpy as np
import pytest
from scipy.special import logsumexp

from conftest import write_mnist_idx
from vae_core.config import TrainConfig, VAEConfig
from vae_core.errors import ConfigError


def numpy_decoder_logits(vae, z: np.ndarray) -> np.ndarray:
    """The dense decoder's logits in float64 NumPy: z (n, latent) → (n, 784)."""
    h = np.asarray(z, np.float64)
    dense = [layer for layer in vae.decoder.layers if type(layer).__name__ == "Dense"]
    for i, layer in enumerate(dense):
        kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
        h = h @ kernel + bias
        if i < len(dense) - 1:
            h = np.maximum(h, 0.0)
    return h


def brute_force_log_px(vae, x: np.ndarray, extent: float = 12.0, points_per_side: int = 241) -> np.ndarray:
    """log p(x) = log ∫ p(x|z) p(z) dz by a Riemann sum over a 2-D grid of z: x (n, 28, 28, 1) → (n,)."""
    axis = np.linspace(-extent, extent, points_per_side)
    zs = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    log_cell = 2 * np.log(axis[1] - axis[0])
    flat = np.asarray(x, np.float64).reshape(len(x), -1)
    terms = []
    for start in range(0, len(zs), 20_000):
        z = zs[start:start + 20_000]
        logits = numpy_decoder_logits(vae, z)
        # log p(x|z) for Bernoulli logits: x·l − log(1 + e^l), summed over pixels: (n, chunk).
        log_likelihood = flat @ logits.T - np.logaddexp(0.0, logits).sum(axis=1)
        log_prior = -0.5 * (z ** 2).sum(axis=1) - np.log(2 * np.pi)
        terms.append(log_likelihood + log_prior)
    return logsumexp(np.concatenate(terms, axis=1), axis=1) + log_cell


def test_iw_bound_matches_brute_force_integration(tiny_vae, tiny_images):
    x = tiny_images[0][:4]
    exact_nll = -brute_force_log_px(tiny_vae, x)
    # A finer and wider grid gives the same integral: the sum has converged.
    np.testing.assert_allclose(-brute_force_log_px(tiny_vae, x, extent=16.0, points_per_side=161), exact_nll,
                               atol=1e-3)
    iw_nll = tiny_vae.importance_weighted_nll(x, n_samples=20_000, batch_size=4, samples_per_call=5000)
    neg_elbo = tiny_vae.per_example_losses(x, n_samples=200)["neg_elbo"]
    np.testing.assert_allclose(iw_nll, exact_nll, atol=0.1)
    assert np.all(neg_elbo > exact_nll + 0.05)  # the ELBO is looser than the bound
    assert np.all(iw_nll < neg_elbo)


def test_iw_bound_tightens_with_more_samples_and_never_exceeds_the_elbo(tiny_vae, tiny_images):
    from vae_core.images.mnist import neg_elbo_metrics

    x = tiny_images[0][:200]
    reported_neg_elbo = neg_elbo_metrics(tiny_vae, x)["test_neg_elbo"]
    by_k = {k: tiny_vae.importance_weighted_nll(x, n_samples=k).mean() for k in (1, 10, 100)}
    assert by_k[100] < by_k[10] < by_k[1]
    assert by_k[100] < reported_neg_elbo


def test_iw_bound_is_seeded(tiny_vae, tiny_images):
    x = tiny_images[0][:10]
    first = tiny_vae.importance_weighted_nll(x, n_samples=50, seed=3)
    np.testing.assert_array_equal(first, tiny_vae.importance_weighted_nll(x, n_samples=50, seed=3))
    assert not np.array_equal(first, tiny_vae.importance_weighted_nll(x, n_samples=50, seed=4))
    assert first.shape == (10,) and first.dtype == np.float64


def test_iw_bound_conditions_on_labels_and_refuses_an_autoencoder(bundled_digits):
    from vae_core.images.mnist import evaluate_mnist
    from vae_core.model import VAE

    x, y = bundled_digits.x_train[:6], bundled_digits.y_train[:6]
    conditional = VAE(VAEConfig(hidden_units=(8,), num_classes=10))
    given_labels = conditional.importance_weighted_nll(x, y, n_samples=20)
    assert given_labels.shape == (6,)
    assert not np.allclose(given_labels, conditional.importance_weighted_nll(x, (y + 1) % 10, n_samples=20))

    ae = VAE(VAEConfig(hidden_units=(8,), model_type="ae"))
    with pytest.raises(ConfigError, match="autoencoder"):
        ae.importance_weighted_nll(x)
    assert "test_iw_nll" not in evaluate_mnist(ae, bundled_digits)  # an AE has no likelihood to bound


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


def test_cosine_schedule_ends_at_zero_learning_rate_and_weight_decay_uses_adamw(tiny_images):
    import keras

    from vae_core.training import fit_vae

    x = tiny_images[0][:256]
    result = fit_vae(x, VAEConfig(hidden_units=(16,)),
                     TrainConfig(epochs=2, batch_size=64, lr_schedule="cosine", weight_decay=0.01))
    assert float(result.model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert isinstance(result.model.optimizer, keras.optimizers.AdamW)
    assert result.cpu_seconds > 0
    with pytest.raises(ConfigError, match="schedule"):
        TrainConfig(lr_schedule="step")
    with pytest.raises(ConfigError, match="Weight decay"):
        TrainConfig(weight_decay=-0.1)


def test_decoder_sizes_of_their_own_export_to_the_browser_and_old_configs_still_load():
    from vae_core.export import dense_forward, export_dense_decoder
    from vae_core.model import VAE

    config = VAEConfig(hidden_units=(32,), decoder_hidden_units=(16, 24), free_bits=0.5, encoder_dropout=0.2)
    assert VAEConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    vae = VAE.from_config(VAE(config).get_config())
    assert [layer.units for layer in vae.decoder.layers if type(layer).__name__ == "Dense"] == [16, 24, 784]
    assert [type(layer).__name__ for layer in vae.encoder.layers].count("Dropout") == 1
    z = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_allclose(dense_forward(export_dense_decoder(vae), z), vae.decode(z), atol=1e-5)

    old = {k: v for k, v in VAEConfig().to_dict().items()
           if k not in ("decoder_hidden_units", "free_bits", "encoder_dropout")}
    assert VAEConfig.from_dict(old) == VAEConfig() and VAEConfig().decoder_units == (256, 512)
    old_train = {k: v for k, v in TrainConfig().to_dict().items() if k not in ("lr_schedule", "weight_decay")}
    assert TrainConfig.from_dict(old_train) == TrainConfig()
    with pytest.raises(ConfigError, match="Free bits"):
        VAEConfig(free_bits=-1.0)
    with pytest.raises(ConfigError, match="Decoder hidden units"):
        VAEConfig(decoder_hidden_units=(0,))
    with pytest.raises(ConfigError, match="dropout"):
        VAEConfig(encoder_dropout=1.0)


def test_silu_layers_train_save_and_decode_the_same_in_the_browser_forward_pass(tiny_images, tmp_path):
    from vae_core import registry
    from vae_core.export import dense_forward, export_dense_decoder
    from vae_core.training import fit_vae

    config = VAEConfig(hidden_units=(32,), decoder_hidden_units=(16, 24), activation="silu")
    vae = fit_vae(tiny_images[0][:256], config, TrainConfig(epochs=1, batch_size=64)).model
    registry.save_model(vae, "silu", kind="mnist", metadata={"dataset": "mnist"}, directory=tmp_path)
    loaded = registry.load_model("silu", tmp_path).vae
    assert loaded.vae_config.activation == "silu"
    hidden = loaded.weights.encoder + loaded.weights.decoder[:-1]  # served in NumPy: vae_core.dense
    assert [activation for _, _, activation in hidden] == ["silu"] * 3
    export = export_dense_decoder(loaded)
    assert [layer["activation"] for layer in export["layers"]] == ["silu", "silu", "linear"]
    z = np.random.default_rng(1).normal(scale=2.0, size=(6, 2)).astype(np.float32)
    np.testing.assert_allclose(dense_forward(export, z), vae.decode(z), atol=1e-5)
    # SiLU is not ReLU: negative pre-activations leak through, so the two forward passes differ.
    relu = {**export, "layers": [{**layer, "activation": "relu" if layer["activation"] == "silu" else "linear"}
                                 for layer in export["layers"]]}
    assert np.abs(dense_forward(relu, z) - dense_forward(export, z)).max() > 1e-3
    assert VAEConfig.from_dict({k: v for k, v in config.to_dict().items() if k != "activation"}).activation == "relu"
    with pytest.raises(ConfigError, match="Activation must be one of"):
        VAEConfig(activation="tanh")


def test_training_stores_the_iw_bound_and_evaluate_reports_it_with_the_protocol(bundled_digits, tmp_path):
    from test_cli import run_cli
    from vae_core.images.mnist import train_mnist

    outcome = train_mnist("iw-model", VAEConfig(hidden_units=(32,)), TrainConfig(epochs=1, batch_size=64),
                          data=bundled_digits, models_dir=tmp_path, iw_samples=20)
    metrics = outcome.metrics
    assert metrics["iw_samples"] == 20 and metrics["test_iw_nll"] < metrics["test_neg_elbo"]
    assert outcome.metadata["training_cpu_seconds"] > 0

    folder = write_mnist_idx(tmp_path / "mnist", bundled_digits, 600, 100)
    evaluated = run_cli("evaluate", "--name", "iw-model", "--data", folder, "--models-dir", tmp_path, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["iw_samples"] == 1000 and result["test_iw_nll"] < result["test_neg_elbo"]
    assert "continuous MNIST" in result["protocol"]["data"] and "k = iw_samples" in result["protocol"]["test_iw_nll"]
    quick = run_cli("evaluate", "--name", "iw-model", "--data", folder, "--models-dir", tmp_path, "--json",
                    "--iw-samples", "0")
    assert "test_iw_nll" not in json.loads(quick.stdout)
