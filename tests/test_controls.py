"""Every control on the Train, Decoder, Fraud threshold, AE vs VAE and ELBO pages changes what a person
sees (a value, an image, a count, a saved file), through AppTest on app.py with tiny real models."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app_fixtures import (CONDITIONAL_MODEL, FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env,  # noqa: F401
                          models_copy, trained_models_dir)
from fault_kit import explorer, metric, open_link, shown_errors, values





def number(at: AppTest, label: str) -> float:
    return float(metric(at, label).replace("€", "").replace(",", ""))


def image_captions(at: AppTest) -> list[str]:
    return [caption for image in at.image for caption in image.captions]


def image_of(at: AppTest, prefix: str) -> str:
    """The media URL (a hash of the pixels) of the image whose caption starts with `prefix`."""
    return next(image.value[0] for image in at.image if image.captions and image.captions[0].startswith(prefix))


def figure(at: AppTest, title: str) -> dict:
    """The Plotly figure whose title contains `title`, as its JSON spec."""
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if title in str(spec["layout"].get("title", {}).get("text", "")):
            return spec
    raise AssertionError(f"no chart titled {title!r}")


# --- Train ----------------------------------------------------------------------------------------

def test_every_training_setting_reaches_the_saved_model(app_env, tmp_path):
    folder = app_env(tmp_path / "models")
    at = open_link("train")
    at.radio(key="train_mnist_source").set_value("bundled").run()
    settings = {"train_latent_mnist": 3, "train_beta_mnist": 0.5, "train_epochs_mnist": 2, "train_batch_mnist": 256,
                "train_lr_mnist": 0.002, "train_warmup_mnist": 1, "train_patience_mnist": 0, "train_seed_mnist": 7}
    for key, value in settings.items():
        at.number_input(key=key).set_value(value).run()
    at.text_input(key="train_hidden_mnist").input("24,12").run()
    at.selectbox(key="train_likelihood_mnist").select("gaussian").run()
    at.text_input(key="train_name").input("every-setting").run()
    at.button(key="train_start").click().run()
    assert not shown_errors(at)
    job = at.session_state["train_job"]
    assert job.join(timeout=240)
    at.run()
    config = json.loads((folder / "every-setting" / "config.json").read_text())["vae_config"]
    metadata = json.loads((folder / "every-setting" / "metadata.json").read_text())
    assert (config["latent_dim"], config["hidden_units"], config["likelihood"], config["beta"],
            config["kl_warmup_epochs"]) == (3, [24, 12], "gaussian", 0.5, 1)
    train = metadata["train_config"]
    assert (train["epochs"], train["batch_size"], train["learning_rate"], train["early_stopping_patience"],
            train["seed"]) == (2, 256, 0.002, 0, 7)
    assert metadata["epochs_run"] == 2 and "bundled" in metadata["data_source"]
    assert any("Saved **every-setting**" in s.value and "test −ELBO" in s.value for s in at.success)


def test_the_train_form_explains_bad_settings_before_anything_starts(app_env, tmp_path):
    app_env(tmp_path / "models")
    at = open_link("train")
    at.text_input(key="train_hidden_mnist").input("512,abc").run()
    at.text_input(key="train_name").input("never").run()
    assert at.button(key="train_start").disabled
    assert any("Hidden layer sizes must be whole numbers" in e for e in shown_errors(at))
    assert "train_job" not in at.session_state
    at.selectbox(key="train_arch_mnist").select("conv").run()
    assert at.text_input(key="train_hidden_mnist").disabled  # conv models have no dense hidden layers
    at.selectbox(key="train_arch_mnist").select("dense").run()
    at.radio(key="train_mnist_source").set_value("path").run()
    at.text_input(key="train_mnist_path").input(str(tmp_path / "nowhere")).run()
    at.text_input(key="train_hidden_mnist").input("32").run()
    at.button(key="train_start").click().run()
    deadline = time.monotonic() + 120
    while not at.session_state["train_job"].snapshot().finished:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    at.run()
    assert any("does not exist" in e for e in shown_errors(at))
    assert not (tmp_path / "models" / "never").exists()


def test_fraud_defaults_on_the_train_page_are_the_engines(app_env, tmp_path):
    """One copy of the defaults: the form opens on the engine's fraud settings."""
    from vae_core.config import MODEL_DEFAULTS, TRAIN_DEFAULTS

    app_env(tmp_path / "models")
    at = open_link("train")
    at.segmented_control(key="train_dataset").set_value("fraud").run()
    model, train = MODEL_DEFAULTS["fraud"], TRAIN_DEFAULTS["fraud"]
    assert at.number_input(key="train_latent_fraud").value is None  # by the table's shape (fraud_model_defaults)
    assert at.text_input(key="train_hidden_fraud").value == ",".join(map(str, model["hidden_units"]))
    assert at.number_input(key="train_epochs_fraud").value == train.epochs
    assert at.number_input(key="train_patience_fraud").value == train.early_stopping_patience
    assert at.number_input(key="train_batch_fraud").value == train.batch_size


# --- Decoder --------------------------------------------------------------------------------------

def test_decoder_buttons_grid_interpolation_and_prior_controls(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder")
    origin = image_of(at, "decoded p(x | z)")
    at.button(key="dec_draw").click().run()
    z = at.session_state["decoder_z"]["z"]
    assert z != [0.0, 0.0] and at.query_params["z"] == ",".join(f"{v:.3f}" for v in z)
    assert image_of(at, "decoded p(x | z)") != origin
    assert [at.slider(key=f"dec_z_{MNIST_MODEL}_{i}").value for i in range(2)] == pytest.approx(z)
    at.button(key="dec_reset").click().run()
    assert image_of(at, "decoded p(x | z)") == origin

    at.slider(key="dec_grid_n").set_value(5).run()
    assert "5×5 grid over z0 (→) and z1 (↑)" in image_captions(at)
    grid = image_of(at, "5×5 grid")
    at.slider(key="dec_grid_extent").set_value(1.0).run()
    assert image_of(at, "5×5 grid") != grid
    linear = image_of(at, "5×5 grid")
    at.radio(key="dec_grid_spacing").set_value("quantile").run()
    assert image_of(at, "5×5 grid") != linear

    at.slider(key="dec_interp_steps").set_value(4).run()
    assert "μ of row 0 → μ of row 1 in 4 steps" in image_captions(at)

    at.slider(key="dec_prior_side").set_value(3).run()
    assert "9 draws z ~ N(0, I)" in image_captions(at)
    first = image_of(at, "9 draws")
    at.number_input(key="dec_prior_seed").set_value(5).run()
    assert image_of(at, "9 draws") != first


def test_conditional_decoder_draws_the_chosen_class_and_every_digit(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder", model=CONDITIONAL_MODEL)
    assert "the same z (style) as each of the ten digits" in image_captions(at)
    three = image_of(at, "decoded p(x | z)")
    at.selectbox(key=f"dec_class_{CONDITIONAL_MODEL}").select(7).run()
    assert image_of(at, "decoded p(x | z)") != three


def test_a_fraud_model_on_the_decoder_decodes_transactions(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder", model=FRAUD_MODEL)
    bars = figure(at, "Decoded transaction")
    assert len(bars["data"][0]["x"]) == 29  # one bar per feature
    amount = next(c.value for c in at.caption if c.value.startswith("Decoded amount: €"))
    at.slider(key=f"dec_z_{FRAUD_MODEL}_0").set_value(3.0).run()
    assert next(c.value for c in at.caption if c.value.startswith("Decoded amount: €")) != amount
    assert len(at.slider) >= 3  # one slider per latent dim of the 3-D fraud model


# --- Fraud threshold ------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy, key, value, check", [
    ("alert_budget", "thr_p_budget", 50.0,
     lambda at, n: 0 < float(metric(at, "Expected alerts").replace(",", "")) <= 5000),  # per 100,000 at deployment
    ("fpr_cap", "thr_p_fpr", 0.02, lambda at, n: float(metric(at, "False-positive rate")) <= 0.02),
    ("precision_at_recall", "thr_p_recall", 0.6, lambda at, n: float(metric(at, "Recall")) >= 0.6),
    ("percentile", "thr_p_contamination", 0.05, lambda at, n: float(metric(at, "False-positive rate")) <= 0.06),
])
def test_each_strategy_meets_its_own_target(app_env, trained_models_dir, strategy, key, value, check):
    app_env(trained_models_dir)
    at = open_link("threshold")
    n = int(next(m.help for m in at.metric if m.label == "Alerts").split()[1].replace(",", ""))
    at.selectbox(key="thr_strategy").select(strategy).run()
    widget = at.slider(key=key) if key == "thr_p_recall" else at.number_input(key=key)
    widget.set_value(value).run()
    at.button(key="thr_apply").click().run()
    assert not shown_errors(at)
    assert at.session_state["fraud_threshold"]["strategy"] == strategy
    assert check(at, n), {m.label: m.value for m in at.metric}
    assert at.query_params["strategy"] == strategy


def test_minimum_cost_is_what_the_money_panel_says(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold")
    minimum = next(m.value for m in at.markdown if m.value.startswith("Expected per 1,000 transactions at 0.172%"))
    best = float(minimum.split("minimum **€")[1].split("**")[0].replace(",", ""))
    at.button(key="thr_use_best").click().run()
    assert number(at, "Expected total cost") == pytest.approx(100 * best, abs=1.0)  # shown per 100,000
    at.selectbox(key="thr_strategy").select("min_cost").run()
    at.button(key="thr_apply").click().run()
    assert number(at, "Expected total cost") == pytest.approx(100 * best, abs=1.0)
    at.radio(key="thr_decide_at").set_value("sampled").run()
    minimum = next(m.value for m in at.markdown if m.value.startswith("On these "))
    best = float(minimum.split("minimum **€")[1].split("**")[0].replace(",", ""))
    at.button(key="thr_use_best").click().run()
    assert number(at, "Total cost") == pytest.approx(best, abs=0.5)  # the metric shows whole euros
    at.button(key="thr_apply").click().run()
    assert number(at, "Total cost") == pytest.approx(best, abs=0.5)  # the metric shows whole euros


def test_costs_change_the_total(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold")
    alerts = int(metric(at, "Alerts").replace(",", ""))
    cost = number(at, "Total cost")
    at.number_input(key="thr_fee").set_value(15.0).run()
    assert number(at, "Total cost") == pytest.approx(cost + 10.0 * alerts, abs=0.5)  # €10 more per alert
    at.radio(key="thr_cost_mode").set_value("fixed").run()
    at.number_input(key="thr_fixed_cost").set_value(0.0).run()
    assert number(at, "Total cost") == pytest.approx(15.0 * alerts, abs=0.5)  # missed frauds now cost nothing


def test_scale_toggles_and_the_flagged_row_inspector(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold")
    assert (explorer(at)[0]["log_x"], explorer(at)[0]["log_y"]) == (True, False)
    at.toggle(key="thr_log_x").set_value(False).run()
    assert explorer(at)[0]["log_x"] is False
    at.toggle(key="thr_log_y").set_value(True).run()
    assert explorer(at)[0]["log_y"] is True
    options = at.selectbox(key="thr_inspect").options  # "row R · score S · fraud", highest score first
    flagged = next(d.value for d in at.dataframe if "label" in d.value.columns)
    assert len(options) == min(200, len(flagged))
    bars = values(figure(at, "Per-feature reconstruction error")["data"][0]["y"])
    score = float(options[0].split("score ")[1].split(" ")[0])
    assert bars.sum() == pytest.approx(score, rel=1e-2)  # the bars add up to the row's score
    at.selectbox(key="thr_inspect").select_index(1).run()
    second = values(figure(at, "Per-feature reconstruction error")["data"][0]["y"])
    assert not np.array_equal(second, bars) and second.sum() == pytest.approx(float(options[1].split("score ")[1].split(" ")[0]), rel=1e-2)


# --- AE vs VAE and ELBO anatomy -----------------------------------------------------------------------

def test_compare_controls_change_what_is_measured(app_env, models_copy):
    from vae_core import registry
    from vae_core.images.compare import matched_config
    from vae_core.model import VAE

    source = registry.load_model(MNIST_MODEL, models_copy)
    twin = VAE(matched_config(source.vae.vae_config, "ae"))
    registry.save_model(twin, "tiny-digits-ae", kind="mnist", metadata={"dataset": "mnist"}, directory=models_copy)
    copy = registry.load_keras_file(source.path / registry.MODEL_FILE, MNIST_MODEL)  # the trainable Keras model
    registry.save_model(copy, "tiny-digits-copy", kind="mnist", metadata={"dataset": "mnist"},
                        directory=models_copy)
    app_env(models_copy)
    at = open_link("compare")
    assert (at.selectbox(key="compare_ae").value, at.selectbox(key="compare_vae").value) == ("tiny-digits-ae", MNIST_MODEL)
    at.toggle(key="compare_judge").set_value(False).run()
    columns = list(at.dataframe[0].value.columns)
    assert "prior samples: digit score (1–10)" not in columns
    at.slider(key="compare_points").set_value(500).run()
    scatter = figure(at, f"VAE: {MNIST_MODEL}")
    assert sum(len(values(trace["x"])) for trace in scatter["data"]) == 200  # every test digit here (200 < 500)
    assert any(c.value.startswith("Codes of 200 test images drawn at random (seed 0).") for c in at.caption)
    prior = [image.value[0] for image in at.image]
    at.number_input(key="compare_seed").set_value(3).run()
    assert [image.value[0] for image in at.image] != prior
    assert any(c.value.startswith("Codes of 200 test images drawn at random (seed 3). The β table") for c in at.caption)
    assert CONDITIONAL_MODEL not in " ".join(at.selectbox(key="compare_vae").options)  # not comparable
    at.selectbox(key="compare_vae").select("tiny-digits-copy").run()
    assert at.dataframe[0].value["model"].tolist() == ["tiny-digits-ae", "tiny-digits-copy"]
    assert at.query_params["vae"] == "tiny-digits-copy"


def test_elbo_controls(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("elbo")
    row = at.number_input(key="elbo_row").value
    at.button(key="elbo_random").click().run()
    assert at.number_input(key="elbo_row").value != row and at.query_params["image"] == str(at.number_input(key="elbo_row").value)
    at.slider(key="elbo_draws").set_value(3).run()
    draws = next(c.value for c in at.caption if c.value.startswith("−log p(x|z) per draw:"))
    assert len(draws.split(": ")[1].split(", ")) == 3
    at.number_input(key="elbo_seed").set_value(9).run()
    assert next(c.value for c in at.caption if c.value.startswith("−log p(x|z) per draw:")) != draws
    at.multiselect(key="elbo_beta_models").set_value([MNIST_MODEL, CONDITIONAL_MODEL]).run()
    # the models' table (a quick β sweep's table may follow it when another test ran one in this process)
    table = next(frame.value for frame in at.dataframe if "model" in frame.value and "KL (nats)" in frame.value)
    assert sorted(table["model"]) == sorted([MNIST_MODEL, CONDITIONAL_MODEL])
    assert np.isfinite(table["KL (nats)"]).all()
    assert any(c.value.startswith("Measured here on the first 200 test images, one draw of z each.") for c in at.caption)


def test_elbo_page_shows_the_importance_weighted_likelihood(app_env, trained_models_dir):
    from dashboard import loaders

    app_env(trained_models_dir)
    at = open_link("elbo")
    row = at.number_input(key="elbo_row").value
    x = loaders.mnist_test().x_test[row:row + 1]
    vae = loaders.get_model(MNIST_MODEL).vae
    expected = vae.importance_weighted_nll(x, n_samples=1000, seed=0)[0]
    assert metric(at, "−log p(x) (IWAE)") == f"{expected:.1f}"
    many_draws = vae.per_example_losses(x, n_samples=256)["neg_elbo"][0]
    assert float(metric(at, "−log p(x) (IWAE)")) <= many_draws  # a tighter bound than the −ELBO


def test_models_page_puts_a_fraud_model_beside_its_baselines(app_env, trained_models_dir):
    from vae_core import registry

    app_env(trained_models_dir)
    at = open_link("models")
    at.selectbox(key="models_inspect").set_value(FRAUD_MODEL).run()
    table = next(d.value for d in at.dataframe if "scorer" in d.value.columns)
    assert table["scorer"].tolist() == ["VAE (this model)", "IsolationForest", "PCA(10)"]
    metrics = registry.load_model(FRAUD_MODEL, trained_models_dir).metadata["metrics"]
    shown = table.set_index("scorer")
    assert shown.loc["VAE (this model)", "AUROC"] == pytest.approx(metrics["roc_auc"])
    assert shown.loc["PCA(10)", "AP"] == pytest.approx(metrics["baselines"]["PCA(10)"]["average_precision"])
    assert shown.loc["IsolationForest", "recall at 1% FPR"] == pytest.approx(
        metrics["baselines"]["IsolationForest"]["recall_at_1pct_fpr"])
