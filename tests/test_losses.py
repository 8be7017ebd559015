"""The VAE's math against hand computations in NumPy."""

import numpy as np
import pytest

from vae_core.config import VAEConfig


def np_sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def test_bernoulli_reconstruction_is_summed_binary_cross_entropy():
    from vae_core.model import reconstruction_nll

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3, 4, 4, 1)).astype(np.float32)
    logits = rng.normal(size=(3, 4, 4, 1)).astype(np.float32)
    p = np_sigmoid(logits.astype(np.float64))
    expected = -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(3, -1).sum(axis=1)
    got = np.asarray(reconstruction_nll(x, logits, "bernoulli"))
    assert got.shape == (3,)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_gaussian_reconstruction_is_unit_variance_negative_log_likelihood():
    from vae_core.model import reconstruction_nll

    x = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]], np.float32)
    mean = np.array([[0.5, 1.0, 0.0], [1.0, 1.0, 1.0]], np.float32)
    expected = 0.5 * ((x - mean) ** 2).sum(axis=1) + 3 * 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(np.asarray(reconstruction_nll(x, mean, "gaussian")), expected, rtol=1e-6)
    # the hand value for row 0: ½(0.25 + 0 + 4) + 3·0.918938…
    assert float(np.asarray(reconstruction_nll(x, mean, "gaussian"))[0]) == pytest.approx(2.125 + 2.7568156, abs=1e-5)


def test_kl_matches_closed_form_and_is_zero_at_the_prior():
    from vae_core.model import kl_divergence

    mu = np.array([[0.0, 0.0], [1.0, -2.0]], np.float32)
    log_var = np.array([[0.0, 0.0], [np.log(4.0), 0.0]], np.float32)
    expected = -0.5 * (1 + log_var - mu**2 - np.exp(log_var)).sum(axis=1)
    got = np.asarray(kl_divergence(mu, log_var))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got[0] == 0.0
    # row 1 by hand: −½[(1 + ln 4 − 1 − 4) + (1 + 0 − 4 − 1)] = ½(8 − ln 4)
    assert got[1] == pytest.approx(0.5 * (8 - np.log(4)), rel=1e-6)


def test_sampling_is_reparameterised_with_the_right_moments_and_gradients():
    import tensorflow as tf

    from vae_core.model import Sampling

    mu = tf.Variable(np.full((20000, 2), [1.0, -3.0], np.float32))
    log_var = tf.Variable(np.full((20000, 2), [0.0, np.log(0.25)], np.float32))
    layer = Sampling(seed=3)
    with tf.GradientTape() as tape:
        z = layer([mu, log_var])
        objective = tf.reduce_sum(z)
    grad_mu, grad_log_var = tape.gradient(objective, [mu, log_var])
    z = z.numpy()
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -3.0], atol=0.03)
    np.testing.assert_allclose(z.std(axis=0), [1.0, 0.5], rtol=0.03)
    np.testing.assert_allclose(grad_mu.numpy(), 1.0)  # dz/dμ = 1
    assert np.abs(grad_log_var.numpy()).sum() > 0  # dz/dlogσ² = ½σε ≠ 0


def test_train_step_reports_the_loss_terms_it_optimises(tiny_images):
    import keras

    from vae_core.model import VAE, kl_divergence, reconstruction_nll

    x = tiny_images[0][:64]
    vae = VAE(VAEConfig(hidden_units=(16,), beta=0.5))
    vae.compile(optimizer=keras.optimizers.SGD(0.0))  # lr 0: weights fixed, losses comparable
    logs = vae.test_on_batch(x, return_dict=True)
    z_mean, z_log_var, _ = vae.encoder(x)
    kl = float(np.mean(kl_divergence(z_mean, z_log_var)))
    assert logs["kl"] == pytest.approx(kl, rel=1e-5)
    assert logs["loss"] == pytest.approx(logs["reconstruction"] + 0.5 * logs["kl"], rel=1e-5)
    assert logs["neg_elbo"] == pytest.approx(logs["reconstruction"] + logs["kl"], rel=1e-5)
    # reconstruction is stochastic (z sampled) but must be near the μ-decoded value
    at_mean = float(np.mean(reconstruction_nll(x, vae.decoder(z_mean), "bernoulli")))
    assert logs["reconstruction"] == pytest.approx(at_mean, rel=0.1)
