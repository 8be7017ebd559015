"""The dashboard through Streamlit's AppTest, starting from app.py like a browser would.

Models are tiny but real (trained once per session in app_fixtures); data is small and offline.
"""

from __future__ import annotations

import json

import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from fault_kit import explorer_stop, follow, links
from vae_core.config import fraud_model_defaults
from app_fixtures import (CONDITIONAL_MODEL, FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env,  # noqa: F401
                          models_copy, trained_models_dir)

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGES = ("train", "models", "latent", "decoder", "threshold")


def open_app(active: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    if active:
        at.query_params["model"] = active  # as a link naming the model would
    return at.run()


def go(at: AppTest, page: str) -> AppTest:
    return at.switch_page(f"dashboard/pages/{page}.py").run()


def assert_clean(at: AppTest) -> None:
    """No uncaught exception and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_home_paints_without_tensorflow(app_env, tmp_path):
    """Home must not pay TensorFlow's import: run it in a fresh interpreter and look at sys.modules."""
    app_env(tmp_path)
    code = (f"import sys; from streamlit.testing.v1 import AppTest; "
            f"at = AppTest.from_file({str(APP)!r}, default_timeout=60).run(); "
            f"assert not at.exception, at.exception; "
            f"print('TF' if 'tensorflow' in sys.modules else 'NO_TF', 'KERAS' if 'keras' in sys.modules else '')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=APP.parent, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "NO_TF" in out.stdout


@pytest.mark.parametrize("page", PAGES)
def test_pages_with_empty_registry_say_what_to_do(app_env, tmp_path, page):
    app_env(tmp_path / "no-models")
    at = go(open_app(), page)
    assert_clean(at)
    if page in ("latent", "decoder", "threshold", "models"):
        assert any("Train" in i.value for i in at.info), [i.value for i in at.info]


def test_home_lists_models_and_opens_the_explorer(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_app()
    assert_clean(at)
    assert any(MNIST_MODEL in m.value for m in at.markdown)
    home_links = [link for link in links(at, "Latent space") if link.proto.query_string == f"model={MNIST_MODEL}"]
    assert len(home_links) == 1
    at = follow(at, "Latent space", index=links(at, "Latent space").index(home_links[0]))
    assert_clean(at)
    assert at.title[0].value == "Latent space"
    assert at.selectbox(key="_pick_mnist").value == MNIST_MODEL
    assert at.session_state["active_models"]["mnist"] == MNIST_MODEL


TITLES = {"train": "Train a model", "models": "Models", "latent": "Latent space", "decoder": "Decoder",
          "threshold": "Fraud threshold"}


@pytest.mark.parametrize("model", [MNIST_MODEL, CONDITIONAL_MODEL, FRAUD_MODEL])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_on_the_model_a_link_names(app_env, trained_models_dir, model, page):
    """Each page with each kind of model: its title, the model in its picker, and where the model's
    data came from. A fraud model named on an MNIST-only page is refused with a notice."""
    app_env(trained_models_dir)
    at = go(open_app(active=model), page)
    assert_clean(at)
    assert at.title[0].value == TITLES[page]
    kind = "fraud" if model == FRAUD_MODEL else "mnist"
    if page in ("latent", "decoder") or (page == "threshold" and kind == "fraud"):
        assert at.selectbox(key=f"_pick_{kind}").value == model
        captions = " ".join(c.value for c in at.caption)
        assert "Trained on: MNIST IDX files in …/" in captions or "Trained on: file: …/" in captions
    elif page == "threshold":  # a link naming an MNIST model on the fraud page
        assert at.selectbox(key="_pick_fraud").value == FRAUD_MODEL
        assert any(model in w.value for w in at.warning)


def test_decoder_slider_changes_the_decoded_image(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = go(open_app(active=MNIST_MODEL), "decoder")
    before = at.image[0].value
    at.slider(key=f"dec_z_{MNIST_MODEL}_0").set_value(2.0).run()
    assert_clean(at)
    assert at.session_state["decoder_z"]["z"][0] == pytest.approx(2.0)
    assert at.image[0].value != before


def test_conditional_model_decodes_the_chosen_class(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = go(open_app(active=CONDITIONAL_MODEL), "decoder")
    before = at.image[0].value
    at.selectbox(key=f"dec_class_{CONDITIONAL_MODEL}").select(7).run()
    assert_clean(at)
    assert at.image[0].value != before


@pytest.mark.parametrize("method, says", [("dims", "Every point's μ on z0 and z2."),
                                          ("pca", "PCA of every point's μ"),
                                          ("tsne", "Every point's μ on t-SNE 1 and t-SNE 2.")])
def test_latent_projections_for_a_3d_latent(app_env, trained_models_dir, method, says):
    app_env(trained_models_dir)
    at = go(open_app(active=FRAUD_MODEL), "latent")
    at.radio(key="latent_projection").set_value(method).run()
    if method == "dims":
        at.selectbox(key="latent_dim_y").select(2).run()
    assert_clean(at)
    assert any(c.value.startswith(says) for c in at.caption), [c.value for c in at.caption]
    assert any("frauds" in c.value for c in at.caption)  # the scored rows are described


def test_replaced_model_is_reloaded(app_env, models_copy):
    import shutil

    app_env(models_copy)
    at = go(open_app(active=MNIST_MODEL), "decoder")
    before = at.image[0].value
    shutil.rmtree(models_copy / MNIST_MODEL)
    shutil.copytree(models_copy / CONDITIONAL_MODEL, models_copy / MNIST_MODEL)  # same name, other weights
    at.run()
    assert_clean(at)
    assert at.image[0].value != before


def test_latent_point_goes_to_the_decoder(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = go(open_app(active=MNIST_MODEL), "latent")
    at.number_input(key="latent_row").set_value(7).run()
    assert at.session_state["selected_point"] == {"model": MNIST_MODEL, "row": 7}
    shown = next(c.value for c in at.caption if c.value.startswith("μ = ["))
    mu = [float(v) for v in shown.removeprefix("μ = [").removesuffix("]").split(", ")]
    at = follow(at, "Open in Decoder")
    assert_clean(at)
    assert at.title[0].value == "Decoder"
    z = at.session_state["decoder_z"]
    assert z["model"] == MNIST_MODEL and z["z"] == pytest.approx(mu, abs=0.006)
    assert at.slider(key=f"dec_z_{MNIST_MODEL}_0").value == pytest.approx(z["z"][0])


def test_threshold_move_changes_the_counts(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = go(open_app(active=FRAUD_MODEL), "threshold")
    assert any("14.8%" in c.value and "0.172%" in c.value for c in at.caption)  # prevalence note
    alerts = metric(at, "Alerts")
    at.number_input(key="thr_exact").set_value(explorer_stop(at, 0.25)).run()  # as a release there would
    assert_clean(at)
    assert metric(at, "Alerts") != alerts
    at.number_input(key="thr_exact").set_value(1e9).run()  # above every score: nothing flagged
    assert metric(at, "Alerts") == "0"
    assert metric(at, "Recall") == "0.000"


def test_threshold_strategy_sets_the_threshold(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = go(open_app(active=FRAUD_MODEL), "threshold")
    at.selectbox(key="thr_strategy").select("alert_budget").run()
    at.number_input(key="thr_p_budget").set_value(50.0).run()
    at.button(key="thr_apply").click().run()
    assert_clean(at)
    state = at.session_state["fraud_threshold"]
    assert state["strategy"] == "alert_budget"
    expected = float(metric(at, "Expected alerts").replace(",", ""))
    assert 0 < expected <= 5000  # 50 per 1,000 transactions at the deployment prevalence, shown per 100,000
    at.radio(key="thr_decide_at").set_value("sampled").run()
    at.button(key="thr_apply").click().run()
    alerts = int(metric(at, "Alerts").replace(",", ""))
    assert 0 < alerts <= 0.05 * 360  # as sampled: 50 per 1,000 of the 360 held-out rows


def test_bad_model_zip_upload_shows_an_error(app_env, models_copy):
    app_env(models_copy)
    at = go(open_app(), "models")
    at.file_uploader(key="models_upload").upload("model.zip", b"this is not a zip", "application/zip").run()
    at.button(key="models_import").click().run()
    assert not at.exception
    assert any("not a zip" in e.value for e in at.error), [e.value for e in at.error]


def test_bad_csv_upload_for_training_shows_an_error(app_env, tmp_path):
    app_env(tmp_path)
    at = go(open_app(), "train")
    at.segmented_control(key="train_dataset").set_value("fraud").run()
    at.radio(key="train_fraud_source").set_value("upload").run()
    at.file_uploader(key="train_fraud_upload").upload("tx.csv", b"a,b\n1,2\n", "text/csv").run()
    assert not at.exception
    assert any("Class" in e.value for e in at.error), [e.value for e in at.error]


def test_transactions_of_another_schema_are_refused(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = go(open_app(active=FRAUD_MODEL), "threshold")
    at.radio(key="fraud_view_data").set_value("upload").run()
    assert any("Upload a CSV" in i.value for i in at.info)
    at.file_uploader(key="fraud_view_upload").upload("other.csv", b"x,y,Class\n1,2,0\n3,4,1\n", "text/csv").run()
    assert not at.exception
    assert any("feature column" in e.value for e in at.error), [e.value for e in at.error]


def test_model_zip_round_trip_and_delete_with_confirmation(app_env, models_copy):
    from vae_core.archive import export_zip

    app_env(models_copy)
    at = go(open_app(active=MNIST_MODEL), "models")
    at.file_uploader(key="models_upload").upload("m.zip", export_zip(MNIST_MODEL, models_copy), "application/zip").run()
    at.text_input(key="models_import_name").input("copied-digits").run()
    at.button(key="models_import").click().run()
    assert_clean(at)
    assert (models_copy / "copied-digits" / "model.keras").is_file()
    assert at.selectbox(key="models_inspect").value == "copied-digits"  # the import is shown in detail
    assert any("Imported **copied-digits**" in s.value for s in at.success)
    assert at.session_state["active_models"]["mnist"] == MNIST_MODEL  # importing does not switch models
    at.button(key="models_make_active").click().run()
    assert at.session_state["active_models"]["mnist"] == "copied-digits"
    assert at.query_params.get("mnist") == "copied-digits"

    at.button(key="models_delete").click().run()
    assert any("Delete **copied-digits** for good?" in w.value for w in at.warning)
    at.button(key="models_delete_no").click().run()  # "Keep it"
    assert not any("for good?" in w.value for w in at.warning) and (models_copy / "copied-digits").exists()
    at.button(key="models_delete").click().run()
    assert (models_copy / "copied-digits").exists()  # the first click only asks
    at.button(key="models_delete_yes").click().run()
    assert_clean(at)
    assert not (models_copy / "copied-digits").exists()


def _wait_for_job(at: AppTest, timeout: float = 150.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshot = at.session_state["train_job"].snapshot()
        if snapshot.finished:
            return at.run()
        time.sleep(0.5)
        at.run()
    raise AssertionError("training did not finish in time")


def _fill_training_form(at: AppTest, name: str, epochs: int) -> None:
    at.radio(key="train_mnist_source").set_value("bundled").run()
    at.text_input(key="train_hidden_mnist").input("32").run()
    at.number_input(key="train_epochs_mnist").set_value(epochs).run()
    at.text_input(key="train_name").input(name).run()


def test_train_page_trains_saves_and_reports(app_env, tmp_path):
    folder = app_env(tmp_path / "models")
    at = go(open_app(), "train")
    _fill_training_form(at, "fresh-digits", epochs=1)
    at.button(key="train_start").click().run()
    assert_clean(at)
    at = _wait_for_job(at)
    assert_clean(at)
    assert any("Saved" in s.value for s in at.success), [s.value for s in at.success]
    assert (folder / "fresh-digits" / "model.keras").is_file()
    snapshot = at.session_state["train_job"].snapshot()
    assert snapshot.samples is not None and snapshot.samples.shape == (112, 112)
    assert "bundled" in snapshot.data_source
    at = follow(at, "Explore this model")
    assert at.title[0].value == "Latent space"
    assert at.selectbox(key="_pick_mnist").value == "fresh-digits"


def test_train_page_trains_a_fraud_model(app_env, tmp_path):
    folder = app_env(tmp_path / "models")
    at = go(open_app(), "train")
    at.segmented_control(key="train_dataset").set_value("fraud").run()
    at.text_input(key="train_hidden_fraud").input("16").run()
    at.number_input(key="train_epochs_fraud").set_value(2).run()
    at.text_input(key="train_name").input("fresh-fraud").run()
    at.number_input(key="train_fraud_prevalence").set_value(1.0).run()
    at.button(key="train_start").click().run()
    at = _wait_for_job(at)
    assert_clean(at)
    info = json.loads((folder / "fresh-fraud" / "fraud.json").read_text())
    assert info["deploy_prevalence"] == {"value": 0.01, "source": "given"}
    config = json.loads((folder / "fresh-fraud" / "config.json").read_text())["vae_config"]
    assert config["latent_dim"] == fraud_model_defaults(config["input_shape"][0])["latent_dim"]  # left to the shape
    assert info["threshold"]["prevalence"] == 0.01
    assert any("AUROC" in s.value and "prevalence" in s.value for s in at.success), [s.value for s in at.success]
    at = follow(at, "Explore this model")
    assert at.title[0].value == "Fraud threshold"
    assert at.selectbox(key="_pick_fraud").value == "fresh-fraud"


def test_train_page_cancel_saves_nothing(app_env, tmp_path):
    folder = app_env(tmp_path / "models")
    at = go(open_app(), "train")
    _fill_training_form(at, "cancelled-digits", epochs=200)
    at.button(key="train_start").click().run()
    deadline = time.monotonic() + 120
    while at.session_state["train_job"].snapshot().fraction == 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    at.run()
    at.button(key="train_cancel").click().run()
    at = _wait_for_job(at)
    assert not at.exception
    assert any("cancelled" in w.value for w in at.warning)
    assert not (folder / "cancelled-digits").exists()


def test_train_page_rejects_a_taken_name(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = go(open_app(), "train")
    at.text_input(key="train_name").input(MNIST_MODEL).run()
    assert any("already exists" in e.value for e in at.error)
    assert at.button(key="train_start").disabled


def test_no_legacy_pages_folder():
    """A `pages/` folder beside app.py puts Streamlit in its legacy multipage mode, where a deep link
    (/latent, or a shared URL) runs that page file without app.py's router. Pages live in dashboard/pages/."""
    legacy = APP.parent / "pages"
    assert not legacy.exists(), (f"move {sorted(p.name for p in legacy.glob('*.py'))} into dashboard/pages/ and "
                                 "register them in app.py's st.navigation")
