"""A link's unusable parameters are each named in one notice, and the address drops them."""

from __future__ import annotations

import pytest

from app_fixtures import FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env, models_copy, trained_models_dir  # noqa: F401
from fault_kit import open_link


def notice(at) -> str:
    return next(w.value for w in at.warning if "The link's" in w.value)


def test_a_threshold_link_names_each_unusable_parameter_and_drops_it(app_env, trained_models_dir):  # noqa: F811
    app_env(trained_models_dir)
    at = open_link("threshold", model=FRAUD_MODEL, threshold="abc", fee="-3", strategy="bogus")
    text = notice(at)
    assert "threshold='abc' is not a finite number; the model's own threshold is in force" in text
    assert "strategy='bogus' is not one of" in text and "fee='-3'" in text
    assert not {"threshold", "fee", "strategy"} & set(at.query_params)


@pytest.mark.parametrize(("page", "params", "says"), [
    ("decoder", {"z": "1,abc"}, "z='1,abc' is not a list of numbers (z=0.5,-1.2); z starts at the origin"),
    ("decoder", {"from": "x", "to": "3"}, "from='x' is not a row number (0 or more)"),
    ("elbo", {"image": "-2"}, "image='-2' is not an image number (0 or more); showing image 0"),
    ("latent", {"point": "first"}, "point='first' is not a row number (0 or more); no point is chosen"),
])
def test_an_unreadable_view_parameter_is_named_and_dropped(app_env, trained_models_dir, page, params, says):  # noqa: F811
    app_env(trained_models_dir)
    at = open_link(page, model=MNIST_MODEL, **params)
    assert says in notice(at)
    assert not set(params) & set(at.query_params)
    assert not at.exception


def test_ae_vs_vae_follows_the_active_mnist_model_and_says_when_it_has_no_twin(app_env, models_copy):  # noqa: F811
    from streamlit.testing.v1 import AppTest

    from fault_kit import APP
    from vae_core import registry
    from vae_core.images.compare import matched_config
    from vae_core.config import VAEConfig
    from vae_core.model import VAE

    source = registry.load_model(MNIST_MODEL, models_copy)
    registry.save_model(VAE(matched_config(source.vae.vae_config, "ae")), "tiny-digits-ae", kind="mnist",
                        metadata={"dataset": "mnist"}, directory=models_copy)
    wide = VAEConfig(latent_dim=4, hidden_units=(16,))
    registry.save_model(VAE(wide), "a-wide-vae", kind="mnist", metadata={"dataset": "mnist"}, directory=models_copy)
    app_env(models_copy)
    for active, twin in ((MNIST_MODEL, True), ("a-wide-vae", False)):
        at = AppTest.from_file(str(APP), default_timeout=180)
        at.run()
        at.session_state["active_models"] = {"mnist": active}
        at.switch_page("dashboard/pages/compare.py").run()
        assert at.selectbox(key="compare_vae").value == active
        assert at.selectbox(key="compare_ae").value == "tiny-digits-ae"
        warned = any("differ in more than the encoder's head" in w.value for w in at.warning)
        assert warned is not twin


def test_an_unreadable_model_folder_is_named_in_one_clean_sentence(app_env, models_copy):  # noqa: F811
    (models_copy / MNIST_MODEL / "metadata.json").write_text('{"name": ')
    app_env(models_copy)
    at = open_link("home")
    warning = next(w.value for w in at.warning if w.value.startswith("Unreadable model folders"))
    assert warning == (f"Unreadable model folders: {MNIST_MODEL} (metadata.json is corrupt: Expecting value: line 1 "
                       "column 10 (char 9)). Delete or fix them on the Models page.")


def test_a_model_deleted_by_another_session_is_named_and_the_default_shown(app_env, models_copy):  # noqa: F811
    import shutil

    from vae_core import registry

    shutil.copytree(models_copy / MNIST_MODEL, models_copy / "doomed")
    app_env(models_copy)
    at = open_link("decoder", model="doomed")
    assert at.selectbox(key="_pick_mnist").value == "doomed" and at.query_params["model"] == "doomed"
    shutil.rmtree(models_copy / "doomed")  # another session deletes it
    at.run()
    default = registry.default_models(registry.list_models(models_copy), models_copy)["mnist"]
    assert any("'doomed' is no longer in the registry" in w.value and f"showing {default!r}" in w.value
               for w in at.warning)
    assert at.selectbox(key="_pick_mnist").value == default
    assert "model" not in at.query_params  # the default model needs no parameter
    at.run()
    assert not any("no longer in the registry" in w.value for w in at.warning)  # said once


def test_returning_to_the_default_view_clears_the_address(app_env, trained_models_dir):  # noqa: F811
    app_env(trained_models_dir)
    at = open_link("threshold")
    assert dict(at.query_params) == {}
    at.number_input(key="thr_exact").set_value(0.5).run()
    assert at.query_params["threshold"] == "0.5" and at.query_params["strategy"] == "manual"
    at.button(key="thr_reset").click().run()  # back to the model's own threshold: nothing left to say
    assert dict(at.query_params) == {}


def test_the_decoders_grid_interpolation_and_prior_settings_travel_in_the_link(app_env, trained_models_dir):  # noqa: F811
    from fault_kit import follow
    from test_controls import image_captions

    app_env(trained_models_dir)
    at = open_link("decoder", model=MNIST_MODEL, grid="20", range="3", spacing="quantile", steps="4", side="3", seed="7")
    assert not at.exception
    assert (at.slider(key="dec_grid_n").value, at.slider(key="dec_grid_extent").value) == (20, 3.0)
    assert at.radio(key="dec_grid_spacing").value == "quantile"
    assert (at.slider(key="dec_interp_steps").value, at.slider(key="dec_prior_side").value) == (4, 3)
    assert at.number_input(key="dec_prior_seed").value == 7
    shown = image_captions(at)
    assert "20×20 grid over z0 (→) and z1 (↑)" in shown and "9 draws z ~ N(0, I)" in shown
    assert "μ of row 0 → μ of row 1 in 4 steps" in shown
    at.number_input(key="dec_prior_seed").set_value(5).run()
    assert {"grid": "20", "range": "3", "spacing": "quantile", "steps": "4", "side": "3", "seed": "5"}.items() \
        <= dict(at.query_params).items()
    at.switch_page("dashboard/pages/home.py").run()  # away and back by the sidebar's link: nothing is lost
    at = follow(at, "Decoder")  # the sidebar's link
    assert at.slider(key="dec_grid_n").value == 20 and at.number_input(key="dec_prior_seed").value == 5
    assert at.query_params["seed"] == "5"


@pytest.mark.parametrize(("page", "params", "says"), [
    ("decoder", {"grid": "99"}, "grid='99' is not a whole number from 3 to 30; using 15"),
    ("decoder", {"range": "1.1"}, "range='1.1' is not a number from 0.5 to 4 in steps of 0.25; using 2.5"),
    ("decoder", {"spacing": "log"}, "spacing='log' is not one of linear, quantile; using linear"),
    ("elbo", {"draws": "0"}, "draws='0' is not a whole number from 1 to 16; using 8"),
    ("compare", {"points": "750"}, "points='750' is not a whole number from 500 to 5000 in steps of 500; using 2000"),
])
def test_an_unusable_setting_in_a_link_is_named_and_the_default_used(app_env, trained_models_dir, page, params,  # noqa: F811
                                                                      says):
    app_env(trained_models_dir)
    at = open_link(page, **params)
    assert says in notice(at)
    assert not set(params) & set(at.query_params)
    assert not at.exception
