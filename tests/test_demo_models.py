"""The pretrained demo models in models/: intact, documented, and what a fresh clone opens on."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vae_core import registry

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_MODELS = {"mnist-dense-2d": ("mnist", 2), "mnist-dense-2d-ae": ("mnist", 2), "mnist-dense-16d": ("mnist", 16),
               "fraud-subset": ("fraud", 8)}


def test_demo_models_are_intact_small_and_documented():
    infos = {info.name: info for info in registry.list_models(REPO_ROOT / "models")}
    readme = (REPO_ROOT / "models" / "README.md").read_text()
    for name, (kind, latent_dim) in DEMO_MODELS.items():
        info = infos[name]
        assert info.valid, info.error
        assert (info.config["kind"], info.config["vae_config"]["latent_dim"]) == (kind, latent_dim)
        assert (info.path / "model.keras").stat().st_size < 5 * 2**20
        assert f"--name {name}" in readme  # the command that reproduces it
    for name, goal in (("mnist-dense-2d", 135), ("mnist-dense-16d", 95)):
        metrics = infos[name].metadata["metrics"]
        assert metrics["test_neg_elbo"] <= goal, name
        assert metrics["test_iw_nll"] < metrics["test_neg_elbo"] and metrics["iw_samples"] >= 50, name


def test_the_2d_model_has_an_autoencoder_twin_and_a_browser_decoder():
    from vae_core.export import export_dense_decoder
    from vae_core.lessons import model_type, pick_pair, shapes_key

    infos = {info.name: info for info in registry.list_models(REPO_ROOT / "models")}
    vae, ae = infos["mnist-dense-2d"], infos["mnist-dense-2d-ae"]
    assert (model_type(vae.config), model_type(ae.config)) == ("vae", "ae")
    assert shapes_key(vae.config) == shapes_key(ae.config)
    assert pick_pair([i for i in infos.values() if i.config["kind"] == "mnist"]) == ("mnist-dense-2d-ae", "mnist-dense-2d")
    layers = export_dense_decoder(registry.load_model("mnist-dense-2d", REPO_ROOT / "models").vae)["layers"]
    assert {layer["activation"] for layer in layers} <= {"relu", "linear"}


def test_fresh_clone_opens_the_latent_explorer_on_the_mnist_demo_model(monkeypatch):
    monkeypatch.delenv("VAE_MODELS_DIR", raising=False)  # the project's own models/ folder
    monkeypatch.setenv("VAE_OFFLINE", "1")
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("app_pages/latent.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert at.session_state["active_model"] == "mnist-dense-2d"
    assert at.title[0].value == "Latent space"


def test_fraud_demo_model_records_its_split_and_threshold():
    fraud = json.loads((REPO_ROOT / "models" / "fraud-subset" / "fraud.json").read_text())
    assert fraud["threshold"]["chosen_on"] == "validation split"
    assert fraud["preprocessor"]["scaling"] == "robust" and "Time" not in fraud["preprocessor"]["feature_names"]
    assert fraud["data"]["synthetic"] is False and fraud["split"]["seed"] == 0
    assert set(fraud["thresholds_by_strategy"]) >= {"max_f1", "percentile", "min_cost"}


@pytest.mark.slow
def test_fraud_demo_model_reproduces_its_test_metrics():
    from conftest import shared_path
    from vae_core.fraud import FraudModel, evaluate_fraud
    from vae_core.tabular import read_creditcard

    data = read_creditcard(shared_path("creditcard/creditcard_subset.csv"))
    loaded = registry.load_model("fraud-subset", REPO_ROOT / "models")
    result = evaluate_fraud(FraudModel.from_loaded(loaded), data)
    assert result["evaluated_on"].startswith("held-out test split")
    assert result["roc_auc"] == pytest.approx(loaded.metadata["metrics"]["roc_auc"], abs=1e-6)
