"""The dashboard the way a person uses it: `streamlit run app.py` in headless Chromium.

Each test opens a fresh session; the `app` fixture then checks that no traceback text is anywhere on
the page and that the server logged no unexpected error. Needs Playwright and Debian's Chromium
(/usr/bin/chromium); skipped with the reason otherwise.
"""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest

from testkit.browser import AppPage, skip_reason
from testkit.threshold import Explorer
from vae_core.images.mnist import TRAINING_IW_SAMPLES
from browser_fixtures import (DIGITS, FRAUD, OTHER_DIGITS, app, app_data_dir, browser, e2e_models,  # noqa: F401
                              server)

missing = skip_reason()
pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")

DECODED = "decoded p(x | z)"  # the caption of the Decoder's image
MNIST_PICKER, FRAUD_PICKER = "_pick_mnist", "_pick_fraud"  # the sidebar's model pickers, one per kind

def open_with_model(app, path: str, heading: str, model: str):
    """Open a page and make `model` its model with the sidebar picker (as a person would)."""
    picker = FRAUD_PICKER if model == FRAUD else MNIST_PICKER
    app.open(path, heading=heading)
    if not app.picked(picker).startswith(f"{model} "):
        app.choose(picker, re.compile(f"^{re.escape(model)} "))
    return app


def open_threshold(app) -> Explorer:
    open_with_model(app, "threshold", "Fraud threshold", FRAUD)
    app.wait_drawn()
    return Explorer(app)


def confusion(explorer: Explorer) -> dict[str, int]:
    """The explorer's confusion counts {"TP": n, "FP": n, "FN": n, "TN": n}."""
    shown = explorer.shown()
    return {cell: int(shown[cell].split()[-1].replace(",", "")) for cell in ("TP", "FP", "FN", "TN")}


def exact_threshold(app) -> float:
    return float(app.key("thr_exact").locator("input").input_value())


def test_home_lists_the_models_and_opens_the_decoder(app):
    app.open("", heading="VAE Latent Explorer")
    text = app.text()
    assert f"{DIGITS} — MNIST VAE, latent 2" in text and f"{FRAUD} — fraud VAE, latent 2" in text
    assert "Bundled digits" in text and "creditcard/creditcard.csv" in text  # which data is here, by short name
    app.page.locator(f'[data-testid=stMain] a[href*="decoder?model={OTHER_DIGITS}"]').click()
    app.heading("Decoder").wait_for()
    app.wait_drawn()
    assert app.path() == "decoder" and app.query() == {"model": OTHER_DIGITS}
    assert app.picked(MNIST_PICKER).startswith(f"{OTHER_DIGITS} ")
    assert app.image_src(DECODED)


def test_every_page_opens_from_the_sidebar(app):
    app.open("", heading="VAE Latent Explorer")
    titles = {"Train": "Train a model", "Models": "Models", "Latent space": "Latent space", "Decoder": "Decoder",
              "Fraud threshold": "Fraud threshold", "AE vs VAE": "AE vs VAE", "ELBO anatomy": "ELBO anatomy",
              "Home": "VAE Latent Explorer"}
    for title, heading in titles.items():
        app.nav(title, heading)
        assert app.page.locator("[data-testid=stMain] h1").count() == 1, title
        assert not app.errors(), (title, app.errors())
        app.assert_no_traceback()


def test_the_sidebar_navigation_is_drawn_before_the_page_computes(app):
    """A page opened from the address bar shows the navigation (its section titles and links) no
    later than its own title, not after its content (the Latent space map) is drawn. Streamlit loads
    the link element's code lazily, so on a tab's first page the links themselves follow their section
    titles by a fraction of a second; they still come before the map."""
    app.page.add_init_script("""
      window.__firstSeen = {};
      const probes = {sections: '[data-testid=stSidebar] [data-testid=stCaptionContainer]',
                      links: '[data-testid=stSidebar] [data-testid=stPageLink] a[href*="decoder"]',
                      title: '[data-testid=stMain] h1', map: "iframe[src*='latent_map']"};
      new MutationObserver(() => {
        for (const [name, selector] of Object.entries(probes)) {
          if (!(name in window.__firstSeen) && document.querySelector(selector)) window.__firstSeen[name] = performance.now();
        }
      }).observe(document, {childList: true, subtree: true});""")
    app.open("latent?colour=error", heading="Latent space")
    app.wait_drawn()
    seen = app.page.evaluate("window.__firstSeen")
    assert {"sections", "links", "title", "map"} <= set(seen), seen
    assert seen["sections"] <= seen["title"], seen
    assert app.page.locator('[data-testid=stSidebar] [data-testid=stPageLink]').count() == 8


def test_a_first_visit_opens_the_declared_defaults_whatever_else_is_there(app):
    """The registry also holds a model whose name sorts first; a new visitor still gets the defaults."""
    app.open("", heading="VAE Latent Explorer")
    text = app.text()
    assert f"{OTHER_DIGITS} — MNIST VAE" in text
    headline = rf"test −ELBO [0-9.]+ nats, −log p\(x\) ≤ [0-9.]+ \(IWAE, {TRAINING_IW_SAMPLES} draws\) · opens first"
    assert re.search(f"{DIGITS} — MNIST VAE, latent 2 · {headline}", text)
    assert not re.search(f"{OTHER_DIGITS} — MNIST VAE, latent 2 · {headline}", text)
    app.nav("Latent space")
    assert app.picked(MNIST_PICKER).startswith(f"{DIGITS} ") and app.query() == {}
    app.nav("Fraud threshold")
    assert app.picked(FRAUD_PICKER).startswith(f"{FRAUD} ")


def test_train_a_tiny_mnist_model_and_explore_it(app):
    app.open("train", heading="Train a model")
    app.fill("train_hidden_mnist", "32")
    app.fill("train_epochs_mnist", 1)
    app.fill("train_name", "e2e-trained")
    app.wait_for("() => !document.querySelector('.st-key-train_start button').disabled")
    app.click("train_start")
    progress = app.page.locator("[data-testid=stProgress]")
    progress.wait_for()  # training runs in a child process; a fragment polls it
    app.page.get_by_text("Saved e2e-trained").wait_for(timeout=240_000)
    assert progress.inner_text().startswith("100%") and "epoch 1/1" in progress.inner_text(), progress.inner_text()
    app.wait_idle()
    app.page.locator("[data-testid=stMain] a", has_text="Explore this model").click()
    app.heading("Latent space").wait_for()
    app.wait_drawn()
    assert app.picked(MNIST_PICKER).startswith("e2e-trained ") and app.query() == {"model": "e2e-trained"}


def test_decoder_slider_changes_the_painted_image(app):
    open_with_model(app, "decoder", "Decoder", DIGITS)
    slider = f"dec_z_{DIGITS}_0"
    before_src, before = app.image_src(DECODED), app.image_pixels(DECODED)
    app.drag_slider(slider, 0.95)  # press on the thumb, drag to z0 ≈ 3.6, release
    app.wait_new_image(DECODED, before_src)
    app.wait_idle()
    assert float(app.slider_value(slider)) > 3.0
    after = app.image_pixels(DECODED)
    assert before.shape == after.shape
    difference = np.abs(before.astype(float) - after.astype(float)).mean()
    assert difference > 2.0, f"the decoded image barely changed (mean |Δ| {difference:.2f} grey levels)"


def test_pick_a_threshold_strategy(app):
    open_threshold(app)
    before = exact_threshold(app)
    app.choose("thr_strategy", "Percentile of normal scores")
    app.key("thr_p_contamination").wait_for()  # the strategy's own parameter appears
    app.click("thr_apply")
    app.page.get_by_text("Percentile of normal scores (contamination 0.01) on the rows shown").wait_for()
    app.wait_drawn()
    assert exact_threshold(app) != pytest.approx(before)
    assert float(app.metric("False-positive rate")) <= 0.02  # it flags about 1% of normal rows


def test_download_the_flagged_rows_and_the_curves_data(app):
    explorer = open_threshold(app)
    threshold, counts = exact_threshold(app), confusion(explorer)
    flagged = int(re.search(r"([\d,]+) flagged", app.text()).group(1).replace(",", ""))
    with app.page.expect_download() as download:
        app.click("thr_export_csv")
    assert download.value.suggested_filename == f"{FRAUD}-flagged.csv"
    with open(download.value.path(), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == flagged == counts["TP"] + counts["FP"] > 0
    assert {"row", "score", "label", "V1", "V14"} <= set(rows[0])
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert min(scores) >= threshold * (1 - 1e-5)  # the input shows 6 significant digits
    assert sum(r["label"] == "fraud" for r in rows) == counts["TP"]
    assert len({r["row"] for r in rows}) == len(rows)

    # The curves' data: at the first of the VAE's thresholds at or above the one in force, the same flags.
    with app.page.expect_download() as download:
        app.click("thr_export_curves")
    assert download.value.suggested_filename == f"{FRAUD}-curves.csv"
    with open(download.value.path(), newline="") as handle:
        curves = list(csv.DictReader(handle))
    assert {"VAE (this model)", "IsolationForest"} <= {r["scorer"] for r in curves}
    vae = [r for r in curves if r["scorer"] == "VAE (this model)"]
    line = min((r for r in vae if float(r["threshold"]) >= threshold * (1 - 1e-6)), key=lambda r: float(r["threshold"]))
    assert (int(line["tp"]), int(line["fp"])) == (counts["TP"], counts["FP"])
    assert float(line["precision_at_deployment"]) < float(line["precision"])  # 0.172% is rarer than these rows


@pytest.mark.parametrize("name, content, expected", [
    ("ragged.csv", b"Time,V1,V2,Class\n0,1.5,2.5,0\n1,2.5,3.5,1,7,8\n",
     "The uploaded file 'ragged.csv' could not be parsed as CSV"),
    ("wrong-columns.csv", b"when,what,Class\n1,2,0\n3,4,1\n", "lacks the model's feature column(s): V1, V2"),
], ids=["ragged-rows", "wrong-columns"])
def test_malformed_upload_shows_a_clear_error(app, name, content, expected):
    open_threshold(app)
    app.key("fraud_view_data").get_by_text("An uploaded CSV").click()
    uploader = app.key("fraud_view_upload").locator("input[type=file]")
    uploader.wait_for(state="attached")
    app.wait_idle()
    uploader.set_input_files(files=[{"name": name, "mimeType": "text/csv", "buffer": content}])
    error = app.page.locator("[data-testid=stAlertContentError]").first
    error.wait_for()
    app.wait_idle()
    message = error.inner_text()
    assert expected in message and "failed unexpectedly" not in message, message


# --- one state model: per-kind models, Back and Forward, share links -----------------------------------

def test_each_page_keeps_its_own_kind_of_model(app):
    """Latent space (another MNIST model) → Fraud threshold → Latent space: still that MNIST model."""
    open_with_model(app, "latent", "Latent space", OTHER_DIGITS)
    assert app.query() == {"model": OTHER_DIGITS}
    app.nav("Fraud threshold")
    assert app.picked(FRAUD_PICKER).startswith(f"{FRAUD} ")
    app.nav("Latent space")
    assert app.picked(MNIST_PICKER).startswith(f"{OTHER_DIGITS} ") and app.query() == {"model": OTHER_DIGITS}
    app.nav("ELBO anatomy")
    assert app.picked(MNIST_PICKER).startswith(f"{OTHER_DIGITS} ")


def test_back_and_forward_move_between_the_views_visited(app):
    """One history entry per navigation or deliberate change, none per rerun; Back restores each view."""
    app.open("latent", heading="Latent space")
    app.fill("latent_row", 12)  # a deliberate change: the selected point
    latent_url = app.page.url
    assert app.query() == {"point": "12"}
    app.nav("Decoder")
    app.fill("dec_interp_a", 7)
    decoder_url = app.page.url
    assert app.query() == {"from": "7", "to": "1"}
    app.nav("Fraud threshold")
    length = app.page.evaluate("history.length")
    app.page.wait_for_timeout(1500)
    app.wait_idle()
    assert app.page.evaluate("history.length") == length  # reruns add nothing
    app.page.go_back()
    app.heading("Decoder").wait_for()
    app.wait_drawn()
    assert app.page.url == decoder_url and app.key("dec_interp_a").locator("input").input_value() == "7"
    app.page.go_back()
    app.heading("Decoder").wait_for()
    app.wait_drawn()  # the view before the change: the default interpolation rows
    assert app.query() == {} and app.key("dec_interp_a").locator("input").input_value() == "0"
    app.page.go_back()
    app.heading("Latent space").wait_for()
    app.wait_drawn()
    assert app.page.url == latent_url and app.key("latent_row").locator("input").input_value() == "12"
    app.page.go_forward()
    app.heading("Decoder").wait_for()
    app.wait_drawn()
    assert app.query() == {}
    assert app.page.evaluate("history.length") == length


def test_a_threshold_link_with_cost_settings_reopens_the_same_total(app, browser):
    open_threshold(app)
    app.choose("thr_strategy", "Alert budget")
    app.click("thr_apply")
    app.page.get_by_text("Alert budget (per thousand 10) on the rows shown").wait_for()
    app.fill("thr_fee", 12.5)
    app.key("thr_cost_mode").get_by_text("a fixed sum").click()
    app.wait_idle()
    app.fill("thr_fixed_cost", 250)
    app.wait_drawn()
    shown = {label: app.metric(label) for label in ("Alerts", "Precision", "Recall", "Total cost")}
    link = app.page.url
    assert {"fee": "12.5", "miss": "250", "strategy": "alert_budget"}.items() <= app.query().items()
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        other = AppPage(context.new_page(), link.split("/threshold")[0])
        other.page.goto(link)
        other.heading("Fraud threshold").wait_for()
        other.wait_drawn()
        assert {label: other.metric(label) for label in shown} == shown
        assert other.key("thr_fee").locator("input").input_value() == "12.50"
    finally:
        context.close()


def test_interpolation_rows_take_typing_and_steppers(app):
    open_with_model(app, "decoder", "Decoder", DIGITS)
    app.fill("dec_interp_a", 5)
    app.key("dec_interp_b").locator("button").last.click()  # the stepper's +
    app.wait_idle()
    app.key("dec_interp_b").locator("button").last.click()
    app.wait_drawn()
    assert app.key("dec_interp_a").locator("input").input_value() == "5"
    assert app.key("dec_interp_b").locator("input").input_value() == "3"
    assert app.image_src("μ of row 5 → μ of row 3 in 10 steps")
    assert app.query() == {"from": "5", "to": "3"}


def press_right(app, slider: str, presses: int, interval_ms: int, shows: str) -> None:
    """ArrowRight `presses` times on a slider's thumb, `interval_ms` apart; then wait until the thumb
    shows `shows` and the reruns the presses caused have settled."""
    app.key(slider).locator("input[type=range]").focus()  # the thumb's keyboard handle
    for _ in range(presses):
        app.page.keyboard.press("ArrowRight")
        app.page.wait_for_timeout(interval_ms)
    app.wait_for(f"() => document.querySelector('.st-key-{slider} [data-testid=stSliderThumbValue]').innerText === '{shows}'")
    app.wait_idle()
    app.page.wait_for_timeout(1000)
    app.wait_idle()


def test_arrow_keys_on_a_decoder_slider_lose_no_step(app):
    """Ten presses at ten per second, faster than a rerun: every one lands."""
    open_with_model(app, "decoder", "Decoder", DIGITS)
    slider = f"dec_z_{DIGITS}_0"
    press_right(app, slider, 10, 100, "0.50")
    assert app.slider_value(slider) == "0.50"
    assert app.query() == {"z": "0.500,0.000"}


def test_a_burst_of_slider_steps_is_one_history_entry_and_one_back_undoes_it(app):
    open_with_model(app, "decoder", "Decoder", DIGITS)
    app.wait_drawn()
    app.fill("dec_interp_a", 4)  # a deliberate change before the burst: Back must stop there
    before = app.query()
    length = app.page.evaluate("history.length")
    slider = f"dec_z_{DIGITS}_0"
    press_right(app, slider, 10, 150, "0.50")
    assert app.query() == {**before, "z": "0.500,0.000"}
    assert app.page.evaluate("history.length") == length + 1
    app.page.go_back()
    app.wait_for(f"() => document.querySelector('.st-key-{slider} [data-testid=stSliderThumbValue]').innerText === '0.00'")
    app.wait_idle()
    assert app.query() == before and app.key("dec_interp_a").locator("input").input_value() == "4"


def test_the_scrub_plane_shows_the_sliders_z_after_keys_origin_and_a_prior_draw(app):
    """The sliders and the scrub plane are two views of one z, whichever of them moved it."""
    open_with_model(app, "decoder", "Decoder", DIGITS)
    scrub_status = app.page.frame_locator("iframe[src*='latent_scrub']").first.locator("#status")
    slider = f"dec_z_{DIGITS}_0"

    def plane_shows(text: str) -> None:
        scrub_status.filter(has_text=text).wait_for(timeout=30_000)
        assert scrub_status.inner_text().startswith(text)

    plane_shows("z = (0.00, 0.00)")
    press_right(app, slider, 4, 0, "0.20")
    plane_shows("z = (0.20, 0.00)")
    app.click("dec_draw")
    app.wait_idle()
    drawn = app.query()["z"].split(",")
    assert drawn != ["0.000", "0.000"]
    plane_shows(f"z = ({float(drawn[0]):.2f}, {float(drawn[1]):.2f})")
    assert app.slider_value(slider) == f"{float(drawn[0]):.2f}"
    app.click("dec_reset")
    app.wait_idle()
    plane_shows("z = (0.00, 0.00)")
    assert app.slider_value(slider) == "0.00" and "z" not in app.query()


def test_the_address_follows_the_fraud_model_chosen_and_a_deleted_one_falls_back(app, e2e_models):  # noqa: F811
    """Choosing another fraud model on Latent space puts it in the address; when another session
    deletes it, the next page says so, shows the default and its address drops the name."""
    import shutil

    copy = e2e_models / "e2e-fraud-copy"
    shutil.copytree(e2e_models / FRAUD, copy)
    try:
        app.open(f"latent?model={FRAUD}", heading="Latent space")
        app.wait_drawn()
        assert app.query().get("model") == FRAUD
        app.choose(FRAUD_PICKER, re.compile("^e2e-fraud-copy "))
        app.wait_drawn()
        assert app.query().get("model") == "e2e-fraud-copy"
        shutil.rmtree(copy)  # another session deletes it
        app.nav("Fraud threshold")
        app.wait_drawn()
        app.page.get_by_text("The model 'e2e-fraud-copy' is no longer in the registry").wait_for()
        assert app.picked(FRAUD_PICKER).startswith(f"{FRAUD} ")
        assert "e2e-fraud-copy" not in app.page.url
        app.nav("Latent space")
        app.wait_drawn()
        assert app.query().get("model") == FRAUD and app.picked(FRAUD_PICKER).startswith(f"{FRAUD} ")
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def test_a_models_table_row_makes_that_model_active(app):
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    app.open("models", heading="Models")
    app.wait_drawn()
    grid = app.key("models_table")
    grid.locator("canvas").first.wait_for()  # the data grid is loaded lazily: a click before it is lost
    linked = "() => new URLSearchParams(location.search).has('mnist')"  # the click's rerun wrote the link

    def click_first_row() -> None:  # on its row marker, the grid's first column; row 0 is the first model by name
        box = grid.bounding_box()
        app.page.mouse.click(box["x"] + 15, box["y"] + 35 + 36 * 0 + 2)

    click_first_row()
    try:
        app.wait_for(linked, timeout_ms=30_000)
    except PlaywrightTimeoutError:  # a grid still settling can drop a click; a second one on the row is harmless
        app.wait_idle()
        click_first_row()
        app.wait_for(linked)
    app.wait_drawn()
    assert app.query() == {"mnist": OTHER_DIGITS}
    app.nav("Decoder")
    assert app.picked(MNIST_PICKER).startswith(f"{OTHER_DIGITS} ")


def test_download_the_threshold_settings_and_a_model_zip(app):
    import json
    import zipfile

    open_threshold(app)
    threshold = exact_threshold(app)
    with app.page.expect_download() as download:
        app.click("thr_export_json")
    settings = json.loads(open(download.value.path()).read())
    assert settings["model"] == FRAUD and settings["threshold"] == pytest.approx(threshold, rel=1e-5)
    assert settings["at_threshold"]["alerts"] == int(app.metric("Alerts").replace(",", ""))
    assert settings["cost_model"] == {"review_fee": 5.0, "fraud_cost": "amount"} and "0.172%" in settings["note"]

    app.open("models", heading="Models")
    with app.page.expect_download() as download:
        app.click("models_download")
    assert download.value.suggested_filename == f"{DIGITS}.zip"
    with zipfile.ZipFile(download.value.path()) as archive:
        assert {f"{DIGITS}/model.keras", f"{DIGITS}/config.json", f"{DIGITS}/metadata.json"} <= set(archive.namelist())
