"""AE and conditional VAE (training, shapes, save/load), the browser decoder export, the lessons'
computations (compare, classifier, conditional, anatomy), and the AE vs VAE and ELBO pages through
AppTest. Tiny real models, trained once."""

from __future__ import annotations

import json
import os
import shutil
import zipfile

import numpy as np
import pytest

from conftest import REPO_ROOT, write_mnist_idx
from vae_core.config import TrainConfig, VAEConfig
from vae_core.errors import ConfigError, DataError

TINY = TrainConfig(epochs=3, batch_size=32, seed=1, early_stopping_patience=0)


@pytest.fixture(scope="module")
def pair(bundled_digits):
    """{"ae", "vae"}: the same dense 64-unit latent-2 shapes, data, seed and epochs."""
    from vae_core.images.compare import train_matched_pair

    trained = train_matched_pair(bundled_digits, VAEConfig(hidden_units=(64,)), TINY, n_train=768)
    return {kind: result.model for kind, result in trained.items()} | {
        f"{kind}_history": result.history for kind, result in trained.items()}


@pytest.fixture(scope="module")
def cvae(bundled_digits):
    from vae_core.training import fit_vae

    x, y = bundled_digits.x_train[:768], bundled_digits.y_train[:768]
    return fit_vae(x, VAEConfig(hidden_units=(64,), num_classes=10), TINY, y_train=y).model


# --- configs and models -----------------------------------------------------------------------------

def test_new_config_fields_validate_and_old_configs_load():
    old = VAEConfig().to_dict()
    del old["model_type"], old["num_classes"]
    assert VAEConfig.from_dict(old) == VAEConfig()  # saved before AE/conditioning existed
    config = VAEConfig(model_type="ae", num_classes=10)
    assert VAEConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.conditional and not config.variational
    for bad in ({"model_type": "gan"}, {"num_classes": 1}, {"num_classes": -2}, {"num_classes": True}):
        with pytest.raises(ConfigError):
            VAEConfig(**bad)


def test_autoencoder_is_deterministic_with_reconstruction_only_loss(pair, bundled_digits):
    ae, x = pair["ae"], bundled_digits.x_test[:40]
    assert not any(type(layer).__name__ == "Sampling" for layer in ae.encoder.layers)
    history = pair["ae_history"]
    assert history["kl"] == [0.0] * 3 and history["loss"] == history["reconstruction"]
    assert history["reconstruction"][-1] < history["reconstruction"][0]
    z, log_var = ae.encode(x)
    assert z.shape == (40, 2) and np.all(np.isneginf(log_var))  # a point: σ = 0
    np.testing.assert_array_equal(ae.encode(x)[0], z)
    one, many = ae.per_example_losses(x, n_samples=1), ae.per_example_losses(x, n_samples=4, seed=9)
    np.testing.assert_allclose(one["reconstruction"], many["reconstruction"], rtol=1e-5)
    assert np.all(one["kl"] == 0)
    np.testing.assert_allclose(one["reconstruction"], ae.decoder_nll(x, z), rtol=1e-5)
    assert ae.decode(z).shape == (40, 28, 28, 1)


def test_conditional_vae_reads_its_labels(cvae, bundled_digits):
    x, y = bundled_digits.x_test[:30], bundled_digits.y_test[:30]
    mu, log_var = cvae.encode(x, y)
    assert mu.shape == log_var.shape == (30, 2) and np.isfinite(log_var).all()
    z = np.zeros((10, 2), np.float32)
    digits = cvae.decode(z, np.arange(10))
    assert digits.shape == (10, 28, 28, 1)
    assert np.abs(digits[1] - digits[7]).max() > 0.05  # the label changes the image
    np.testing.assert_array_equal(cvae.decode(z[:3], 4), cvae.decode(z[:3], [4, 4, 4]))
    losses = cvae.per_example_losses(x, y)
    assert np.isfinite(losses["neg_elbo"]).all() and losses["kl"].min() >= 0
    with pytest.raises(ConfigError, match="labels for"):
        cvae.decode(z, [1, 2])
    with pytest.raises(ConfigError, match="from 0 to 9"):
        cvae.decode(z[:1], [10])


def test_conditional_training_needs_labels(bundled_digits):
    from vae_core.training import fit_vae

    with pytest.raises(ConfigError, match="needs training labels"):
        fit_vae(bundled_digits.x_train[:64], VAEConfig(hidden_units=(8,), num_classes=10), TINY)
    with pytest.raises(ConfigError, match="class indices"):
        fit_vae(bundled_digits.x_train[:64], VAEConfig(hidden_units=(8,), num_classes=3), TINY,
                y_train=bundled_digits.y_train[:64])


@pytest.mark.parametrize("which", ["ae", "cvae", "conv-cae"])
def test_save_load_round_trip(which, pair, cvae, bundled_digits, tmp_path):
    from vae_core import registry
    from vae_core.model import VAE

    model = {"ae": pair["ae"], "cvae": cvae}.get(which) or VAE(VAEConfig(
        architecture="conv", conv_filters=(4, 8), conv_dense_units=8, model_type="ae", num_classes=10))
    registry.save_model(model, which, kind="mnist", metadata={"dataset": "mnist"}, directory=tmp_path)
    loaded = registry.load_model(which, tmp_path).vae  # dense: NumPy; conv: Keras safe_mode
    assert loaded.vae_config == model.vae_config
    x, y = bundled_digits.x_test[:20], bundled_digits.y_test[:20]
    labels = y if model.conditional else None
    for got, expected in zip(loaded.encode(x, labels), model.encode(x, labels)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)  # float32 rounding
    z = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    np.testing.assert_allclose(loaded.decode(z, labels), model.decode(z, labels), rtol=1e-5, atol=1e-6)


def test_a_model_saved_before_the_new_fields_still_loads(pair, tmp_path):
    """Strip model_type/num_classes from both config.json and the .keras file's own config."""
    from vae_core import registry

    folder = registry.save_model(pair["vae"], "old", kind="mnist", metadata={}, directory=tmp_path)
    config = json.loads((folder / "config.json").read_text())
    del config["vae_config"]["model_type"], config["vae_config"]["num_classes"]
    (folder / "config.json").write_text(json.dumps(config))
    keras_file = folder / "model.keras"
    with zipfile.ZipFile(keras_file) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    inner = json.loads(members["config.json"])
    del inner["config"]["vae_config"]["model_type"], inner["config"]["vae_config"]["num_classes"]
    members["config.json"] = json.dumps(inner).encode()
    with zipfile.ZipFile(keras_file, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    loaded = registry.load_model("old", tmp_path).vae
    assert loaded.vae_config == pair["vae"].vae_config
    z = np.ones((3, 2), np.float32)
    np.testing.assert_allclose(loaded.decode(z), pair["vae"].decode(z), rtol=1e-5, atol=1e-6)


def test_train_mnist_and_cli_flags_make_a_conditional_autoencoder(bundled_digits, tmp_path):
    from vae_core import registry
    from vae_core.cli import main

    folder = write_mnist_idx(tmp_path / "mnist", bundled_digits, 300, 100)
    code = main(["train", "--dataset", "mnist", "--name", "cae", "--data", str(folder), "--epochs", "1",
                 "--hidden", "16", "--model-type", "ae", "--conditional", "--models-dir", str(tmp_path / "models"),
                 "--json"])
    assert code == 0
    loaded = registry.load_model("cae", tmp_path / "models")
    assert loaded.vae.vae_config.model_type == "ae" and loaded.vae.vae_config.num_classes == 10
    assert loaded.metadata["model_type"] == "ae" and loaded.metadata["conditional"] is True
    assert loaded.metadata["metrics"]["test_kl"] == 0.0


# --- the browser decoder ------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["vae", "ae", "cvae"])
def test_dense_export_runs_like_the_keras_decoder(which, pair, cvae):
    """export → the JavaScript's computation in NumPy (float32 weights, float64 sums) ≈ Keras."""
    from vae_core.export import dense_forward, export_dense_decoder

    model = cvae if which == "cvae" else pair[which]
    export = json.loads(json.dumps(export_dense_decoder(model)))  # JSON-able as is
    z = np.random.default_rng(1).uniform(-4, 4, size=(64, 2)).astype(np.float32)
    labels = np.arange(64) % 10 if model.conditional else None
    worst = np.abs(dense_forward(export, z, labels) - model.decode(z, labels)).max()
    assert worst <= 1e-5
    if model.conditional:  # no label: an all-zero one-hot on both sides
        assert np.abs(dense_forward(export, z, None) - model.decode(z)).max() <= 1e-5
    assert export["id"] == export_dense_decoder(model)["id"]


def test_conv_models_export_a_grid_the_browser_looks_up(bundled_digits):
    from dashboard.components.latent_scrub import scrub_args
    from vae_core.export import browser_decoder, export_decoded_grid, grid_lookup
    from vae_core.model import VAE

    conv = VAE(VAEConfig(architecture="conv", conv_filters=(4, 8), conv_dense_units=8, latent_dim=3, num_classes=10))
    grid = export_decoded_grid(conv, n=5, extent=2.0, dims=(0, 2), base=[0.0, 0.7, 0.0], label=4)
    assert grid["format"] == "grid-v1" and grid["axis"] == [-2.0, -1.0, 0.0, 1.0, 2.0]
    expected = conv.decode(np.array([[1.0, 0.7, -2.0]], np.float32), [4])[0]
    np.testing.assert_allclose(grid_lookup(grid, 0.9, -2.3), expected, atol=0.5 / 255 + 1e-6)
    assert export_decoded_grid(conv, n=5, extent=2.0, dims=(0, 2), base=[3.0, 0.7, -1.0], label=4) is grid  # cached
    assert browser_decoder(conv, dims=(0, 2), label=4, n=5)["format"] == "grid-v1"
    dense = VAE(VAEConfig(hidden_units=(8,)))
    assert browser_decoder(dense)["format"] == "dense-v1"
    args = scrub_args(dense, [9.0, -1.0], extent=4.0)
    assert args["z"] == [4.0, -1.0] and args["label"] is None and json.dumps(args)
    with pytest.raises(ConfigError, match="at least 2"):
        scrub_args(VAE(VAEConfig(hidden_units=(8,), latent_dim=1)))
    with pytest.raises(ConfigError, match="not images"):
        scrub_args(VAE(VAEConfig(input_shape=(6,), hidden_units=(8,))))


def test_dense_weights_are_published_once_and_referenced_by_url(pair, tmp_path, monkeypatch):
    from dashboard.components import latent_scrub
    from dashboard.components.latent_scrub import by_reference, publish_weights, scrub_args
    from vae_core.export import export_dense_decoder

    export = export_dense_decoder(pair["vae"])
    name = publish_weights(export, tmp_path)
    assert name == f"{export['id']}.json" and json.loads((tmp_path / name).read_text()) == export
    written = (tmp_path / name).stat().st_ino
    assert publish_weights(export, tmp_path) == name and (tmp_path / name).stat().st_ino == written  # not rewritten
    assert not list(tmp_path.glob("*.partial"))
    from concurrent.futures import ThreadPoolExecutor

    fresh = {**export, "id": "shared"}  # Streamlit sessions are threads of one process
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(lambda _: publish_weights(fresh, tmp_path), range(8))) == {"shared.json"}
    assert json.loads((tmp_path / "shared.json").read_text()) == fresh and not list(tmp_path.glob("*.partial"))
    for i in range(latent_scrub.KEEP_WEIGHT_FILES + 3):  # older files give way to the most recently used
        publish_weights({**export, "id": f"other{i}"}, tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == latent_scrub.KEEP_WEIGHT_FILES

    monkeypatch.setattr(latent_scrub, "WEIGHTS_DIR", tmp_path / "served")
    args = scrub_args(pair["vae"], [0.5, -0.5])
    referenced = by_reference(args["decoder"])
    assert "layers" not in referenced and referenced["url"].endswith(f"/{export['id']}.json")
    assert len(json.dumps({**args, "decoder": referenced})) < 2_000 < len(json.dumps(args))
    assert json.loads((tmp_path / "served" / name).read_text())["layers"] == export["layers"]
    grid = {"format": "grid-v1", "id": "g", "images": "..."}
    assert by_reference(grid) is grid


# --- the lessons ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def classifier(bundled_digits, tmp_path_factory):
    from vae_core.images.classifier import digit_classifier

    return digit_classifier(bundled_digits, directory=tmp_path_factory.mktemp("cache"), epochs=10)


def test_digit_classifier_is_cached_on_disk(classifier, bundled_digits, tmp_path):
    from vae_core.images.classifier import digit_classifier

    assert classifier.test_accuracy > 0.8
    first = digit_classifier(bundled_digits, directory=tmp_path, n_train=500, epochs=3)
    assert len(list(tmp_path.glob("digit_classifier_*.npz"))) == 1
    again = digit_classifier(bundled_digits, directory=tmp_path, n_train=500, epochs=3)
    np.testing.assert_array_equal(first.weights[0], again.weights[0])
    probs = first.predict_proba(bundled_digits.x_test[:7])
    assert probs.shape == (7, 10) and np.allclose(probs.sum(axis=1), 1.0)


def test_the_digit_score_tells_varied_clear_digits_from_one_digit_and_from_noise(classifier, bundled_digits):
    """The judge the AE vs VAE page uses: real, varied digits score high; one digit repeated scores
    about 1 (no variety); noise is judged unsure."""
    from vae_core.images.classifier import sample_quality

    real = sample_quality(classifier, bundled_digits.x_test[:500])
    sevens = sample_quality(classifier, bundled_digits.x_test[bundled_digits.y_test == 7][:50])
    noise = sample_quality(classifier, np.random.default_rng(0).uniform(0, 1, (200, 28, 28)).astype(np.float32))
    assert real["digit_score"] > 6.0 and real["class_entropy_bits"] > 3.0
    assert sevens["digit_score"] < 1.6 and sevens["class_share"][7] > 0.8
    assert noise["mean_max_prob"] < real["mean_max_prob"] - 0.1
    intended = sample_quality(classifier, bundled_digits.x_test[:300], bundled_digits.y_test[:300])
    assert intended["label_agreement"] == pytest.approx(classifier.test_accuracy, abs=0.1)


def test_compare_measures_both_models_on_the_same_points(pair, bundled_digits, classifier):
    import dataclasses

    from vae_core.images.compare import compare_models, latent_spread, pick_pair, reconstruction_errors, shapes_key

    result = compare_models({"a": pair["ae"], "v": pair["vae"]}, bundled_digits, n_points=300, n_prior=16,
                            n_error_rows=400, classifier=classifier)
    ae, vae = result.models
    assert (ae.kind, vae.kind) == ("AE", "VAE")
    assert ae.codes.shape == vae.codes.shape == (300, 2) and result.labels.shape == (300,)
    np.testing.assert_array_equal(result.labels, bundled_digits.y_test[result.rows])  # the same rows for both
    np.testing.assert_allclose(vae.codes, pair["vae"].encode(bundled_digits.x_test[result.rows])[0], rtol=1e-6)
    assert ae.prior_images.shape == (16, 28, 28)
    np.testing.assert_allclose(ae.prior_images, np.clip(pair["ae"].decode(result.prior_z), 0, 1).reshape(16, 28, 28),
                               atol=1e-6)
    assert ae.test_kl == 0.0 and vae.test_kl > 0.0
    x = bundled_digits.x_test[:50]
    errors = reconstruction_errors(pair["vae"], x)
    mu = pair["vae"].encode(x)[0]
    assert errors["nll"] == pytest.approx(float(pair["vae"].decoder_nll(x, mu).mean()), rel=1e-5)
    spread = latent_spread(np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 0.5]]))
    assert spread["inside_prior"] == pytest.approx(2 / 3) and spread["mean_norm"] == pytest.approx(3.5 / 3)
    assert pick_pair([]) == (None, None)
    base = VAEConfig(hidden_units=(8,))
    assert shapes_key(base) == shapes_key(dataclasses.replace(base, model_type="ae", beta=2.0, kl_warmup_epochs=3))
    assert shapes_key(base) == shapes_key(dataclasses.replace(base, decoder_hidden_units=(8,)))  # the mirror, spelt out
    assert shapes_key(base) != shapes_key(dataclasses.replace(base, decoder_hidden_units=(16, 8)))
    assert shapes_key(base) != shapes_key(dataclasses.replace(base, activation="silu"))


def test_page_commentary_follows_the_measured_values(pair, bundled_digits, classifier):
    """Defect 10: the AE vs VAE captions say what the numbers beside them say, whichever way they go."""
    import dataclasses

    from dashboard.presentation import compare_commentary
    from vae_core.images.compare import compare_models

    result = compare_models({"a": pair["ae"], "v": pair["vae"]}, bundled_digits, n_points=200, n_prior=16,
                            n_error_rows=200, classifier=classifier)
    ae, vae = result.models

    def with_values(inside_ae, inside_vae, score_ae, score_vae, nll_ae, nll_vae):
        def changed(summary, inside, score, nll):
            return dataclasses.replace(summary, spread={**summary.spread, "inside_prior": inside},
                                       quality={**summary.quality, "digit_score": score},
                                       reconstruction={**summary.reconstruction, "nll": nll})
        return compare_commentary(dataclasses.replace(result, models=[changed(ae, inside_ae, score_ae, nll_ae),
                                                                        changed(vae, inside_vae, score_vae, nll_vae)]))

    textbook = with_values(0.0, 0.95, 1.8, 6.0, 120.0, 140.0)
    assert "0% of its codes inside" in textbook["codes"] and "pulls its codes towards the prior" in textbook["codes"]
    assert "VAE's draws score 6.0 against the autoencoder's 1.8" in textbook["samples"]
    assert "autoencoder reconstructs better, by 20.0" in textbook["reconstruction"]
    reversed_ = with_values(0.9, 0.4, 7.0, 1.0, 150.0, 130.0)
    assert "autoencoder's codes happen to sit at least as close" in reversed_["codes"]
    assert "autoencoder's draws score 7.0, at least as well as the VAE's 1.0" in reversed_["samples"]
    assert "VAE reconstructs better, by 20.0" in reversed_["reconstruction"]
    assert "theory says" not in reversed_["codes"]


def test_elbo_anatomy_takes_one_image_apart(pair, cvae, bundled_digits):
    from dashboard.presentation import anatomy_table
    from vae_core.images.anatomy import elbo_anatomy, loss_terms_per_epoch

    x, label = bundled_digits.x_test[5], int(bundled_digits.y_test[5])
    anatomy = elbo_anatomy(pair["vae"], x, n_samples=6, seed=2)
    closed_form = pair["vae"].per_example_losses(x[None])["kl"][0]
    assert anatomy.kl == pytest.approx(float(closed_form), rel=1e-4)
    assert anatomy.kl_per_dim.shape == anatomy.mu.shape == anatomy.sigma.shape == (2,)
    assert anatomy.samples.shape == (6, 28, 28) and anatomy.z_samples.shape == (6, 2)
    assert anatomy.reconstruction == pytest.approx(float(anatomy.sample_nll.mean()))
    assert [row["KL (nats)"] for row in anatomy_table(anatomy)] == [round(float(k), 3) for k in anatomy.kl_per_dim]
    flat = elbo_anatomy(pair["ae"], x, n_samples=3)
    assert flat.kl == 0.0 and np.all(flat.sigma == 0) and np.ptp(flat.z_samples, axis=0).max() == 0
    assert elbo_anatomy(cvae, x, label).label == label
    with pytest.raises(DataError, match="label"):
        elbo_anatomy(cvae, x)
    curves = loss_terms_per_epoch({"history": pair["vae_history"]})
    assert curves["kl"] == pair["vae_history"]["kl"] and len(curves["kl"]) == 3
    assert loss_terms_per_epoch({}) == {}


def test_conditional_grids_and_beta_rows(pair, cvae, bundled_digits):
    from vae_core.images.anatomy import beta_row
    from vae_core.images.conditional import digit_row, style_grid, style_of

    strip = digit_row(cvae, [0.5, -0.5])
    assert strip.shape == (28, 280)
    seven = np.clip(cvae.decode(np.array([[0.5, -0.5]], np.float32), [7]), 0, 1).reshape(28, 28)
    np.testing.assert_allclose(strip[:, 7 * 28:8 * 28], seven, atol=1e-6)  # column k is the digit k
    assert style_grid(cvae, n_styles=3).shape == (84, 280)
    mu = cvae.encode(bundled_digits.x_test[:1], bundled_digits.y_test[:1])[0][0]
    np.testing.assert_allclose(style_of(cvae, bundled_digits.x_test[0], int(bundled_digits.y_test[0])), mu, rtol=1e-6)
    with pytest.raises(ConfigError, match="not conditional"):
        digit_row(pair["vae"], [0, 0])
    x = bundled_digits.x_test[:200]
    row = beta_row("v", pair["vae"], x, bundled_digits.y_test[:200])
    assert row.beta == 1.0 and row.mu.shape == (200, 2)
    assert row.kl == pytest.approx(float(pair["vae"].per_example_losses(x)["kl"].mean()), rel=1e-5)
    with pytest.raises(ConfigError, match="autoencoder"):
        beta_row("a", pair["ae"], bundled_digits.x_test[:10])


# --- the pages, through AppTest ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def page_env(tmp_path_factory, bundled_digits, pair, cvae):
    """A registry with an AE/VAE twin pair and a conditional VAE, small IDX data, a private cache."""
    from vae_core import registry

    root = tmp_path_factory.mktemp("lesson_pages")
    write_mnist_idx(root / "data" / "mnist", bundled_digits, 400, 300)
    models = root / "models"
    for name, model, history in (("twin-ae", pair["ae"], pair["ae_history"]), ("twin-vae", pair["vae"], pair["vae_history"]),
                                 ("digits-cvae", cvae, {})):
        registry.save_model(model, name, kind="mnist", directory=models, metadata={
            "dataset": "mnist", "data_source": "test digits", "history": history, "epochs_run": 2,
            "train_config": TINY.to_dict()})
    return {"VAE_MODELS_DIR": str(models), "VAE_DATA_DIR": str(root / "data"), "VAE_CACHE_DIR": str(root / "cache"),
            "VAE_OFFLINE": "1"}


@pytest.fixture
def env(page_env, monkeypatch):
    for key, value in page_env.items():
        monkeypatch.setenv(key, value)
    return page_env


def run_page(page: str, active: str | None = None):
    """The page as a link opens it: through app.py, with the model in the URL."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    if active:
        at.query_params["model"] = active
    return at.run().switch_page(f"dashboard/pages/{page}.py").run()


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_compare_page_shows_both_models_side_by_side(env):
    at = run_page("compare")
    assert_clean(at)
    assert at.selectbox(key="compare_ae").value == "twin-ae" and at.selectbox(key="compare_vae").value == "twin-vae"
    assert [s.value for s in at.subheader] == ["Where the test digits land", "The same 36 draws z ~ N(0, I), decoded by each",
                                               "Numbers"]
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 2
    captions = " ".join(c.value for c in at.caption)
    for lesson in ("Deterministic vs probabilistic encoder", "Generation vs compression",
                   "Reconstruction + KL vs reconstruction only"):
        assert lesson in captions
    at.toggle(key="compare_judge").set_value(False).run()
    assert_clean(at)


def test_compare_page_offers_to_train_a_missing_twin(env, tmp_path, monkeypatch):
    from vae_core import registry

    only_vae = tmp_path / "models"
    source = registry.load_model("twin-vae", env["VAE_MODELS_DIR"])
    only_vae.mkdir()
    shutil.copytree(source.path, only_vae / "lonely-vae")
    monkeypatch.setenv("VAE_MODELS_DIR", str(only_vae))
    at = run_page("compare")
    assert_clean(at)
    assert at.text_input(key="compare_twin_name_lonely-vae").value == "lonely-vae-ae"
    assert any("autoencoder twin" in b.label for b in at.button)


def test_twin_training_saves_an_autoencoder_with_the_same_shapes_and_data(env, tmp_path):
    """The twin trains in a child process, on the data its partner recorded, named after that partner."""
    from vae_core import jobs, registry
    from vae_core.images.compare import matched_config, twin_name, twin_settings

    info = next(i for i in registry.list_models(env["VAE_MODELS_DIR"]) if i.name == "twin-vae")
    partner_data = {"choice": "path", "path": str(tmp_path / "partner-data" / "mnist")}
    from vae_core.images.data import load_bundled_digits

    write_mnist_idx(tmp_path / "partner-data" / "mnist", load_bundled_digits(), 300, 100)
    info.metadata["data_options"] = partner_data
    vae_config, train_config, data = twin_settings(info, "ae")
    assert data == partner_data and vae_config == matched_config(info.vae_config, "ae")
    name = twin_name(info.name, "ae")
    job = jobs.start(jobs.TrainingSpec.training("mnist", name, vae_config, train_config, data, str(tmp_path)))
    assert job.pid != os.getpid()
    assert job.join(timeout=180)
    snap = job.snapshot()
    assert snap.status == "done", snap.error
    twin = registry.load_model("twin-vae-ae", tmp_path)
    assert twin.vae.vae_config == matched_config(info.vae_config, "ae")
    assert twin.metadata["epochs_run"] == TINY.epochs
    assert twin.metadata["data_options"] == partner_data and twin.metadata["n_train"] + twin.metadata["n_validation"] == 300
    with pytest.raises(Exception, match="already exists"):
        jobs.start(jobs.TrainingSpec.training("mnist", name, vae_config, train_config, data, str(tmp_path)))


def test_a_partner_trained_on_data_that_is_gone_falls_back_to_the_best_available(env):
    from vae_core import registry
    from vae_core.images.compare import twin_settings

    info = next(i for i in registry.list_models(env["VAE_MODELS_DIR"]) if i.name == "twin-vae")
    info.metadata["data_options"] = {"choice": "path", "path": "/nowhere/mnist"}
    assert twin_settings(info, "ae")[2] == {"choice": "auto"}


@pytest.mark.parametrize("active", ["twin-vae", "twin-ae", "digits-cvae"])
def test_elbo_panel_for_each_kind_of_model(env, active):
    at = run_page("elbo", active)
    assert_clean(at)
    labels = {m.label: m.value for m in at.metric}
    # A VAE also shows its importance-weighted −log p(x); an AE has no likelihood bound.
    assert set(labels) == {"Reconstruction", "KL", "−ELBO"} | ({"−log p(x) (IWAE)"} if active != "twin-ae" else set())
    if active == "twin-ae":
        assert labels["KL"] == "0.00"
        assert any("no KL term" in c.value for c in at.caption)
    before = labels["Reconstruction"]
    at.number_input(key="elbo_row").set_value(17).run()
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Reconstruction"] != before  # another image, other terms


def test_elbo_beta_section_and_quick_sweep(env):
    """The quick sweep trains its three small VAEs in a child process, then shows one row per β."""
    import time

    at = run_page("elbo", "twin-vae")
    assert at.multiselect(key="elbo_beta_models").value == ["twin-vae"]
    shown = at.dataframe[-1].value.to_dict("records")
    assert [row["model"] for row in shown] == ["twin-vae"]
    assert "about a minute" not in at.button(key="elbo_sweep_start").label
    started = time.monotonic()
    at.button(key="elbo_sweep_start").click().run()
    assert_clean(at)
    job = at.session_state["elbo_sweep_job"]
    assert job.pid != os.getpid()
    assert job.join(timeout=300), "the sweep did not finish"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        at.run()
        if "elbo_sweep_job" not in at.session_state:
            break
    at.run()
    assert_clean(at)
    rows = at.dataframe[-1].value.to_dict("records")
    assert [row["β"] for row in rows] == [0.25, 1.0, 4.0]
    assert rows[0]["KL (nats)"] > rows[2]["KL (nats)"]  # a larger β buys a smaller KL
    took = next(c.value for c in at.caption if c.value.startswith("The quick sweep took"))
    minutes, seconds = took.split("took ")[1].split(" ")[0].split(":")
    assert 0 < 60 * int(minutes) + int(seconds) <= time.monotonic() - started + 1
