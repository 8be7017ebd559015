"""The pretrained demo models in models/: intact, documented, and what a fresh clone opens on."""

import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vae_core import registry

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_MODELS = {"mnist-dense-2d": ("mnist", 2), "mnist-dense-2d-ae": ("mnist", 2), "mnist-dense-20d": ("mnist", 20),
               "fraud-subset": ("fraud", 10)}
# Weights only: the MNIST models' 256-512-1024-784 decoder is 1.46 M of their 1.99 M parameters.
MAX_MODEL_BYTES = {"mnist-dense-2d": 9 * 2**20, "mnist-dense-2d-ae": 9 * 2**20, "mnist-dense-20d": 9 * 2**20}


def test_demo_models_are_intact_small_and_documented():
    infos = {info.name: info for info in registry.list_models(REPO_ROOT / "models")}
    readme = (REPO_ROOT / "models" / "README.md").read_text()
    for name, (kind, latent_dim) in DEMO_MODELS.items():
        info = infos[name]
        assert info.valid, info.error
        assert (info.config["kind"], info.config["vae_config"]["latent_dim"]) == (kind, latent_dim)
        assert (info.path / "model.keras").stat().st_size < MAX_MODEL_BYTES.get(name, 5 * 2**20)
        assert f"--name {name}" in readme  # the command that reproduces it
    for name, goal in (("mnist-dense-2d", 135), ("mnist-dense-20d", 95)):  # issue 15's goals
        metrics = infos[name].metadata["metrics"]
        assert metrics["test_iw_nll"] < metrics["test_neg_elbo"] <= goal and metrics["iw_samples"] >= 50
        assert infos[name].metadata["training_seconds"] <= 600


def test_the_models_table_names_each_demo_models_layers():
    from dashboard.presentation import architecture_text

    infos = {info.name: info for info in registry.list_models(REPO_ROOT / "models")}
    assert architecture_text(infos["mnist-dense-2d"]) == "dense 512-256, decoder 256-512-1024, latent 2, Bernoulli"
    assert architecture_text(infos["mnist-dense-20d"]) == "dense 512-256, decoder 256-512-1024, SiLU, latent 20, Bernoulli"


def test_the_2d_model_ships_with_its_autoencoder_twin_and_a_browser_side_decoder():
    from vae_core.images.compare import pick_pair, shapes_key
    from vae_core.export import export_dense_decoder

    infos = {info.name: info for info in registry.list_models(REPO_ROOT / "models")}
    vae, ae = infos["mnist-dense-2d"], infos["mnist-dense-2d-ae"]
    assert (vae.vae_config.variational, ae.vae_config.variational) == (True, False)
    assert shapes_key(vae.vae_config) == shapes_key(ae.vae_config)
    assert ae.metadata["train_config"] == vae.metadata["train_config"]  # trained alike, on the same data
    assert pick_pair(i for i in infos.values() if i.kind == "mnist") == ("mnist-dense-2d-ae", "mnist-dense-2d")
    layers = export_dense_decoder(registry.load_model("mnist-dense-2d", REPO_ROOT / "models").vae)["layers"]
    assert {layer["activation"] for layer in layers} <= {"relu", "linear"}


def test_fresh_clone_opens_the_latent_explorer_on_the_mnist_demo_model(monkeypatch):
    monkeypatch.delenv("VAE_MODELS_DIR", raising=False)  # the project's own models/ folder
    monkeypatch.setenv("VAE_OFFLINE", "1")
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("dashboard/pages/latent.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert at.selectbox(key="_pick_mnist").value == "mnist-dense-2d"
    assert at.title[0].value == "Latent space"


def test_models_trained_or_imported_later_never_become_the_first_visit(monkeypatch, tmp_path):
    """The registry declares its defaults (models/defaults.json): a model that sorts first, arrived
    later, or is the newest never replaces them for a new visitor."""
    import shutil

    models = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models", models)
    shutil.copytree(models / "mnist-dense-20d", models / "aaa-demo-imported")
    shutil.copytree(models / "fraud-subset", models / "aaa-fraud")
    monkeypatch.setenv("VAE_MODELS_DIR", str(models))
    monkeypatch.setenv("VAE_OFFLINE", "1")
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120).run()
    for page, key, expected in (("decoder", "_pick_mnist", "mnist-dense-2d"), ("threshold", "_pick_fraud", "fraud-subset")):
        at.switch_page(f"dashboard/pages/{page}.py").run()
        assert at.selectbox(key=key).value == expected, page
        assert "aaa-" in " ".join(at.selectbox(key=key).options)  # offered, just not chosen for them
    declared = registry.default_models(registry.list_models(models), models)
    assert declared == {"mnist": "mnist-dense-2d", "fraud": "fraud-subset"}
    (models / "defaults.json").unlink()  # undeclared: the models longest in the registry
    arrived = {"mnist-dense-2d": 1000, "fraud-subset": 1000, "mnist-dense-20d": 2000, "aaa-demo-imported": 3000,
               "aaa-fraud": 3000}
    for name, seconds in arrived.items():
        os.utime(models / name, (seconds, seconds))
    assert registry.default_models(registry.list_models(models), models) == declared


def test_fraud_demo_model_records_its_split_and_threshold():
    fraud = json.loads((REPO_ROOT / "models" / "fraud-subset" / "fraud.json").read_text())
    assert fraud["threshold"]["chosen_on"] == "validation split"
    assert fraud["preprocessor"]["scaling"] == "robust" and "Time" not in fraud["preprocessor"]["feature_names"]
    assert fraud["data"]["synthetic"] is False and fraud["split"]["seed"] == 0
    assert set(fraud["thresholds_by_strategy"]) >= {"max_f1", "percentile", "min_cost"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist-dense-2d", "mnist-dense-20d"])
def test_mnist_demo_model_reproduces_its_test_elbo_on_the_full_mnist_test_set(name):
    from conftest import shared_path
    from vae_core.images.data import read_mnist
    from vae_core.images.mnist import neg_elbo_metrics

    data = read_mnist(shared_path("mnist"))
    loaded = registry.load_model(name, REPO_ROOT / "models")
    recorded = loaded.metadata["metrics"]
    measured = neg_elbo_metrics(loaded.vae, data.x_test, data.y_test)
    assert measured["n_test"] == 10_000
    # One draw of z per image: a fresh draw moves the mean by a few hundredths of a nat.
    assert measured["test_neg_elbo"] == pytest.approx(recorded["test_neg_elbo"], abs=0.1)
    assert measured["test_reconstruction"] == pytest.approx(recorded["test_reconstruction"], abs=0.1)
    assert recorded["test_iw_nll"] < recorded["test_neg_elbo"]


@pytest.mark.slow
def test_fraud_demo_model_reproduces_its_test_metrics():
    from conftest import shared_path
    from vae_core.tables.fraud import FraudModel, evaluate_fraud
    from vae_core.tables.tabular import read_creditcard

    data = read_creditcard(shared_path("creditcard/creditcard_subset.csv"))
    loaded = registry.load_model("fraud-subset", REPO_ROOT / "models")
    result = evaluate_fraud(FraudModel.from_loaded(loaded), data)
    assert result["evaluated_on"].startswith("held-out test split")
    assert result["roc_auc"] == pytest.approx(loaded.metadata["metrics"]["roc_auc"], abs=1e-6)


def test_the_shipped_fraud_threshold_pays_at_the_deployment_prevalence_on_its_own_held_out_rows():
    """Issue 24's goal, on the real rows shipped with the model (no ../shared needed): at 0.172% its
    threshold costs less than flagging nothing and flagging everything on validation and on test, and
    flags at most 2% of the test split's normal rows."""
    from vae_core import sources
    from vae_core.tables import thresholds
    from vae_core.tables.fraud import FULL_PREVALENCE, FraudModel

    folder = REPO_ROOT / "models" / "fraud-subset"
    model = FraudModel.from_loaded(registry.load_model("fraud-subset", REPO_ROOT / "models"))
    assert model.deploy_prevalence == FULL_PREVALENCE and model.info["threshold"]["prevalence"] == FULL_PREVALENCE
    rows = sources.heldout_rows(folder)
    for split in ("validation", "test"):
        chosen = rows.split == split
        scores = model.score(rows.features[chosen])
        labels = rows.labels[chosen].astype(int)
        deployed = thresholds.at_deployment(scores, labels, model.threshold_, rows.amount[chosen],
                                            prevalence=FULL_PREVALENCE)
        assert deployed["cost"] < min(deployed["flag_nothing"], deployed["flag_everything"]), (split, deployed)
        if split == "test":
            assert deployed["fpr"] <= 0.02 and thresholds.roc_auc(scores, labels) >= 0.96
