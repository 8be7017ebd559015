"""The NumPy serving path (vae_core.dense) gives TensorFlow's numbers: every shipped model, every
likelihood and decoder variance, conditional models, the AE and the linear skip, within 1e-5; and
nothing that serves a dense model imports TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT
from vae_core import registry
from vae_core.config import VAEConfig
from vae_core.dense import DenseVAE
from vae_core.errors import RegistryError

SHIPPED = ["fraud-subset", "mnist-dense-2d", "mnist-dense-20d", "mnist-dense-2d-ae"]
RTOL, ATOL = 1e-5, 1e-5


def _close(served, reference, what: str) -> None:
    served, reference = np.asarray(served, np.float64), np.asarray(reference, np.float64)
    assert served.shape == reference.shape, what
    finite = np.isfinite(reference)
    assert np.array_equal(finite, np.isfinite(served)), what
    if finite.any():
        np.testing.assert_allclose(served[finite], reference[finite], rtol=RTOL, atol=ATOL, err_msg=what)
    assert np.array_equal(served[~finite], reference[~finite]), what  # the AE's log σ² = −inf


def _inputs(config: VAEConfig, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if config.likelihood == "bernoulli":
        return (rng.random((n, *config.input_shape)) > 0.7).astype(np.float32)
    return rng.standard_normal((n, *config.input_shape)).astype(np.float32)


def _compare(served, keras_vae, n: int = 300) -> None:
    """Every inference method of the NumPy model against the Keras model on the same inputs."""
    config = keras_vae.vae_config
    x = _inputs(config, n)
    y = np.arange(n) % config.num_classes if config.conditional else None
    z = np.random.default_rng(1).standard_normal((n, config.latent_dim)).astype(np.float32)
    for served_part, keras_part, what in zip(served.encode(x, y), keras_vae.encode(x, y), ("μ", "log σ²")):
        _close(served_part, keras_part, what)
    _close(served.decode(z, y), keras_vae.decode(z, y), "decode")
    _close(served.decode(z[:3], None if y is None else y[:3]), keras_vae.decode(z[:3], None if y is None else y[:3]),
           "decode, a few points")
    _close(served.decoder_nll(x, z, y), keras_vae.decoder_nll(x, z, y), "−log p(x|z)")
    _close(served.decoder_feature_nll(x, z, y), keras_vae.decoder_feature_nll(x, z, y), "per-feature −log p(x|z)")
    _close(served.decoder_log_var(z, y), keras_vae.decoder_log_var(z, y), "decoder log σ²")
    for key, value in keras_vae.per_example_losses(x, y, n_samples=3, seed=7).items():
        _close(served.per_example_losses(x, y, n_samples=3, seed=7)[key], value, key)
    if config.variational:
        _close(served.importance_weighted_nll(x[:40], None if y is None else y[:40], n_samples=30, seed=3,
                                              batch_size=16, samples_per_call=8),
               keras_vae.importance_weighted_nll(x[:40], None if y is None else y[:40], n_samples=30, seed=3,
                                                 batch_size=16, samples_per_call=8), "IWAE −log p(x)")


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_serves_tensorflows_numbers(name):
    loaded = registry.load_model(name)
    assert isinstance(loaded.vae, DenseVAE)
    _compare(loaded.vae, registry.load_keras_file(loaded.path / registry.MODEL_FILE, name))


VARIANTS = {
    "bernoulli, silu, conditional": dict(input_shape=(28, 28, 1), hidden_units=(24, 12), latent_dim=3,
                                         activation="silu", num_classes=10, likelihood="bernoulli"),
    "gaussian, per-feature variance": dict(input_shape=(9,), hidden_units=(16, 8), latent_dim=2,
                                           decoder_variance="per_feature"),
    "gaussian, heteroscedastic, linear skip": dict(input_shape=(7,), hidden_units=(12,), latent_dim=2,
                                                   decoder_variance="heteroscedastic", linear_skip=True,
                                                   decoder_hidden_units=(10, 6)),
    "autoencoder": dict(input_shape=(11,), hidden_units=(8,), latent_dim=2, model_type="ae"),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_saved_and_read_back_gives_tensorflows_numbers(variant, tmp_path):
    from vae_core.model import VAE

    settings = {"likelihood": "gaussian", **VARIANTS[variant]}
    config = VAEConfig(**settings)
    keras_vae = VAE(config)
    rng = np.random.default_rng(5)
    keras_vae.set_weights([rng.normal(0, 1.5 / np.sqrt(w.shape[0]) if w.ndim == 2 else 0.3, w.shape).astype(np.float32)
                           for w in keras_vae.get_weights()])  # a trained model's scale: no overflowing layers
    path = tmp_path / "model.keras"
    keras_vae.save(path)
    _compare(DenseVAE.load(path, config), keras_vae)
    _compare(DenseVAE.from_keras(keras_vae), keras_vae)


def test_weights_that_do_not_fit_the_settings_are_named(tmp_path):
    from vae_core.model import VAE

    keras_vae = VAE(VAEConfig(input_shape=(9,), hidden_units=(16,), latent_dim=2, likelihood="gaussian"))
    path = tmp_path / "model.keras"
    keras_vae.save(path)
    with pytest.raises(Exception, match=r"encoder's weights have shapes"):
        DenseVAE.load(path, VAEConfig(input_shape=(9,), hidden_units=(32,), latent_dim=2, likelihood="gaussian"))
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(RegistryError, match="could not be loaded"):
        registry.load_dense_file(damaged, VAEConfig(input_shape=(9,), hidden_units=(16,), latent_dim=2,
                                                    likelihood="gaussian"), "damaged")


SERVING_CODE = """
import sys
from vae_core import registry
from vae_core.cli import main
from vae_core.tables.fraud import FraudModel
import dashboard.loaders, dashboard.figures, dashboard.presentation, dashboard.state
for name in {names!r}:
    registry.load_model(name)
FraudModel.from_loaded(registry.load_model("fraud-subset"))
assert main(["list"]) == 0
assert main(["evaluate", "--name", "fraud-subset", "--json"]) == 0
leaked = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
assert not leaked, f"imported {{leaked}}"
"""


def test_serving_dense_models_never_imports_tensorflow():
    result = subprocess.run([sys.executable, "-c", SERVING_CODE.format(names=SHIPPED)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"roc_auc"' in result.stdout
