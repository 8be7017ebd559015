"""Shareable views: a page's state is mirrored into the URL, and a link reopens the same view."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_fixtures import FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env, trained_models_dir  # noqa: F401

APP = Path(__file__).resolve().parents[1] / "app.py"


def open_link(page: str, **params: str) -> AppTest:
    """Open app.py as a link with these query parameters would, then show `page`."""
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params.update(params)
    at.run()
    return at.switch_page(f"dashboard/pages/{page}.py").run()


def test_a_decoder_link_restores_model_and_z(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder", model=MNIST_MODEL, z="1.5,-0.75")
    assert not at.exception
    assert at.session_state["active_model"] == MNIST_MODEL
    assert at.slider(key=f"dec_z_{MNIST_MODEL}_0").value == pytest.approx(1.5)
    assert at.slider(key=f"dec_z_{MNIST_MODEL}_1").value == pytest.approx(-0.75)


def test_moving_a_slider_updates_the_link(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder", model=MNIST_MODEL)
    at.slider(key=f"dec_z_{MNIST_MODEL}_1").set_value(2.0).run()
    assert at.query_params["model"] == MNIST_MODEL
    assert at.query_params["z"] == "0.000,2.000"


def test_a_threshold_link_restores_threshold_and_strategy(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold", model=FRAUD_MODEL, threshold="1e9", strategy="alert_budget")
    assert not at.exception
    state = at.session_state["fraud_threshold"]
    assert state["value"] == 1e9 and state["strategy"] == "alert_budget"
    assert next(m.value for m in at.metric if m.label == "Alerts") == "0"  # above every score
    assert at.query_params["threshold"] == "1e+09"


def test_a_latent_link_restores_the_selected_point(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("latent", model=MNIST_MODEL, point="7")
    assert not at.exception
    assert at.session_state["selected_point"] == {"model": MNIST_MODEL, "row": 7}
    assert at.query_params["point"] == "7"


def test_malformed_links_open_the_default_view(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder", model=MNIST_MODEL, z="1,abc", point="x", threshold="nan")
    assert not at.exception and not at.error
    assert at.slider(key=f"dec_z_{MNIST_MODEL}_0").value == 0.0
    unknown = open_link("decoder", model="no-such-model")
    assert not unknown.exception and unknown.session_state["active_model"] != "no-such-model"
