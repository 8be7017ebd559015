"""One state model: each kind of model has its own active choice, and the URL is the one shareable copy
of a page's view (only what differs from the defaults), restored from any link."""


import pytest
from streamlit.testing.v1 import AppTest

from app_fixtures import CONDITIONAL_MODEL, FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env, trained_models_dir  # noqa: F401
from fault_kit import explorer_stop, follow, links, metric, open_link





def sidebar_link(at: AppTest, title: str) -> str:
    """The query string of the sidebar's link to a page (the last link with that title)."""
    return links(at, title)[-1].proto.query_string


def test_a_decoder_link_restores_model_and_z(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder", model=CONDITIONAL_MODEL, z="1.5,-0.75")
    assert not at.exception
    assert at.selectbox(key="_pick_mnist").value == CONDITIONAL_MODEL
    assert at.slider(key=f"dec_z_{CONDITIONAL_MODEL}_0").value == pytest.approx(1.5)
    assert at.slider(key=f"dec_z_{CONDITIONAL_MODEL}_1").value == pytest.approx(-0.75)


def test_moving_a_slider_updates_the_link_and_defaults_stay_out_of_it(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder")
    assert at.selectbox(key="_pick_mnist").value == MNIST_MODEL  # the registry's default MNIST model
    assert at.query_params == {}  # the default view is the bare address
    at.slider(key=f"dec_z_{MNIST_MODEL}_1").set_value(2.0).run()
    assert at.query_params == {"z": "0.000,2.000"}
    at.button(key="dec_reset").click().run()
    assert at.query_params == {}


def test_a_threshold_link_restores_threshold_strategy_and_costs(app_env, trained_models_dir):
    """A shared threshold link reopens with the same Total cost: the review fee and the cost of a
    missed fraud travel with it."""
    app_env(trained_models_dir)
    at = open_link("threshold")
    at = at.number_input(key="thr_exact").set_value(explorer_stop(at, 0.5)).run()
    at.number_input(key="thr_fee").set_value(12.5).run()
    at.radio(key="thr_cost_mode").set_value("fixed").run()
    at.number_input(key="thr_fixed_cost").set_value(250.0).run()
    shown = {label: metric(at, label) for label in ("Alerts", "Precision", "Recall", "Total cost")}
    shared = dict(at.query_params)
    assert shared["fee"] == "12.5" and shared["miss"] == "250" and shared["strategy"] == "manual"
    again = open_link("threshold", **shared)
    assert {label: metric(again, label) for label in shown} == shown
    assert again.number_input(key="thr_fee").value == 12.5 and again.radio(key="thr_cost_mode").value == "fixed"
    assert dict(again.query_params) == shared


def test_a_strategy_link_and_a_threshold_above_every_score(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold", model=FRAUD_MODEL, threshold="1e9", strategy="alert_budget")
    assert not at.exception
    assert metric(at, "Alerts") == "0" and metric(at, "Precision") == "—, no alerts"
    assert float(at.query_params["threshold"]) == 1e9 and at.query_params["strategy"] == "alert_budget"


def test_a_latent_link_restores_the_selected_point(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("latent", model=MNIST_MODEL, point="7")
    assert not at.exception
    from vae_core import sources

    digit = int(sources.mnist_test().y_test[7])
    assert at.number_input(key="latent_row").value == 7
    assert f"test #7 · digit {digit}" in [caption for image in at.image for caption in image.captions]
    assert at.query_params == {"model": MNIST_MODEL, "point": "7"}  # the link as opened


def test_malformed_links_open_the_default_view(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder", z="1,abc", point="x", threshold="nan")
    assert not at.exception and not at.error
    assert at.slider(key=f"dec_z_{MNIST_MODEL}_0").value == 0.0
    at = open_link("threshold", threshold="nan", fee="-3", miss="lots", strategy="<script>")
    assert not at.exception and not at.error
    assert at.number_input(key="thr_fee").value == 5.0 and at.radio(key="thr_cost_mode").value == "amount"


def test_a_link_to_a_missing_model_says_so_and_opens_the_default(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder", model="no-such-model", z="1,1")
    assert not at.exception
    assert any("no-such-model" in w.value and MNIST_MODEL in w.value for w in at.warning)
    assert at.selectbox(key="_pick_mnist").value == MNIST_MODEL
    fraud_on_digits_page = open_link("elbo", model=FRAUD_MODEL)
    assert any(FRAUD_MODEL in w.value for w in fraud_on_digits_page.warning)
    assert fraud_on_digits_page.selectbox(key="_pick_mnist").value == MNIST_MODEL


def test_each_kind_keeps_its_own_model_across_pages(app_env, trained_models_dir):
    """Latent (a chosen MNIST model) → Fraud threshold → Latent: still that MNIST model, and the
    threshold page's fraud model never changes the MNIST pages' choice."""
    app_env(trained_models_dir)
    at = open_link("latent")
    at.selectbox(key="_pick_mnist").set_value(CONDITIONAL_MODEL).run()
    assert at.query_params == {"model": CONDITIONAL_MODEL}
    at = follow(at, "Fraud threshold")
    assert at.title[0].value == "Fraud threshold" and at.selectbox(key="_pick_fraud").value == FRAUD_MODEL
    at = follow(at, "Latent space")
    assert at.title[0].value == "Latent space" and at.selectbox(key="_pick_mnist").value == CONDITIONAL_MODEL
    at = follow(at, "Decoder")
    assert at.selectbox(key="_pick_mnist").value == CONDITIONAL_MODEL
    at = follow(at, "ELBO anatomy")
    assert at.selectbox(key="_pick_mnist").value == CONDITIONAL_MODEL


def test_the_explorer_shows_fraud_models_only_when_asked(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("latent", model=FRAUD_MODEL)
    assert at.selectbox(key="_pick_fraud").value == FRAUD_MODEL
    assert at.segmented_control(key="_explorer_kind").value == "fraud"
    assert sidebar_link(at, "Latent space") == f"model={FRAUD_MODEL}"
    at.segmented_control(key="_explorer_kind").set_value("mnist").run()
    assert at.selectbox(key="_pick_mnist").value == MNIST_MODEL and at.query_params == {}
    at = follow(at, "Fraud threshold")
    assert at.selectbox(key="_pick_fraud").value == FRAUD_MODEL


def test_sidebar_links_carry_each_pages_current_view(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder", z="0.5,0.25")
    at = follow(at, "Latent space")
    at.number_input(key="latent_row").set_value(12).run()
    assert sidebar_link(at, "Decoder") == "z=0.500%2C0.250"
    assert sidebar_link(at, "Latent space") == "point=12"
    at = follow(at, "Decoder")
    assert at.slider(key=f"dec_z_{MNIST_MODEL}_0").value == pytest.approx(0.5)


def test_a_strategy_threshold_travels_in_the_link_exactly(app_env, trained_models_dir):
    """A strategy's threshold is one of the scores: the link carries it to the last digit, so the row
    scoring exactly that is flagged in the reopened view too."""
    app_env(trained_models_dir)
    at = open_link("threshold")
    at.selectbox(key="thr_strategy").select("alert_budget").run()
    at.button(key="thr_apply").click().run()
    in_force = at.session_state["fraud_threshold"]["value"]
    shared = dict(at.query_params)
    assert float(shared["threshold"]) == in_force
    again = open_link("threshold", **shared)
    assert metric(again, "Alerts") == metric(at, "Alerts") and metric(again, "Recall") == metric(at, "Recall")
