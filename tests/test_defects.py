"""The defects a pass through every page in a real browser found, one test each (the numbers are those
of the report). Key presses faster than a rerun (7) are tested in the browser: tests/e2e/test_browser.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app_fixtures import FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env, models_copy, trained_models_dir  # noqa: F401
from fault_kit import explorer, metric, open_link, shown_errors

APP = Path(__file__).resolve().parents[1] / "app.py"






def captions(at: AppTest) -> str:
    return " | ".join(c.value for c in at.caption)


def test_1_interpolation_rows_keep_what_was_typed_or_stepped(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder")
    at.number_input(key="dec_interp_a").set_value(5).run()
    assert at.number_input(key="dec_interp_a").value == 5
    at.number_input(key="dec_interp_b").increment().run()  # the stepper's +
    assert at.number_input(key="dec_interp_b").value == 2
    at.number_input(key="dec_interp_a").increment().run()
    assert (at.number_input(key="dec_interp_a").value, at.number_input(key="dec_interp_b").value) == (6, 2)
    strip = [c for image in at.image for c in image.captions if c.startswith("μ of row")]
    assert strip == ["μ of row 6 → μ of row 2 in 10 steps"]
    assert at.query_params == {"from": "6", "to": "2"}


def test_2_the_explorer_shows_the_threshold_in_force(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold")
    at.selectbox(key="thr_strategy").set_value("max_f1").run()
    at.button(key="thr_apply").click().run()
    in_force = at.session_state["fraud_threshold"]["value"]
    current = explorer(at)[0]["current"]
    assert current["threshold"] == in_force  # the value the metrics use, not the nearest rounded stop
    assert f"{current['alerts']:,}" == metric(at, "Alerts")
    assert f"Threshold in force: **{in_force:.6g}**" in captions(at)
    assert at.number_input(key="thr_exact").value == in_force


def test_3_the_models_own_threshold_says_which_strategy_and_split_chose_it(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold")
    at.selectbox(key="thr_strategy").set_value("fpr_cap").run()  # picked, not applied
    at.button(key="thr_reset").click().run()
    import json

    recorded = json.loads((trained_models_dir / FRAUD_MODEL / "fraud.json").read_text())["threshold"]["strategy"]
    assert recorded == "min_cost"  # the rows have amounts, so money decides
    assert "the model's own threshold: Minimum cost on its validation split at training time" in captions(at)
    assert "False-positive-rate cap" not in captions(at)
    assert at.query_params == {}  # the model's own threshold is the default view


@pytest.fixture()
def unlabelled_csv(app_data_dir) -> bytes:  # noqa: F811
    frame = pd.read_csv(app_data_dir / "creditcard" / "creditcard.csv").head(300).drop(columns="Class")
    return frame.to_csv(index=False).encode()


def test_4_unlabelled_uploads_say_costs_need_labels_and_show_one_class(app_env, trained_models_dir, unlabelled_csv):
    app_env(trained_models_dir)
    at = open_link("threshold")
    at.radio(key="fraud_view_data").set_value("upload").run()
    at.file_uploader(key="fraud_view_upload").upload("unlabelled.csv", unlabelled_csv, "text/csv").run()
    assert not shown_errors(at)
    infos = " ".join(i.value for i in at.info)
    assert "no label column" in infos and "no Amount column" not in infos
    args, data = explorer(at)
    assert args["n"] == 300 and args["n_pos"] is None and "fn" not in data  # one class: all rows
    assert data["hist_counts"].sum() == 300
    assert metric(at, "Alerts") and not [m for m in at.metric if m.label in ("Precision", "Recall", "Total cost")]


def test_5_open_in_decoder_widens_the_sliders_to_the_point(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("decoder", z="4.55,-0.3")
    slider = at.slider(key=f"dec_z_{MNIST_MODEL}_0")
    assert slider.value == pytest.approx(4.55) and slider.max >= 4.55
    assert "span ±5" in captions(at)
    assert at.session_state["decoder_z"]["z"] == [4.55, -0.3]


def test_6_precision_with_no_alerts_says_so(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("threshold", threshold="1e9", strategy="manual")
    assert metric(at, "Alerts") == "0" and metric(at, "Precision") == "—, no alerts"
    from vae_core.tables.thresholds import ThresholdSweep

    assert ThresholdSweep(np.array([0.1, 0.2]), np.array([0, 1])).at(1.0).precision is None


def test_8_a_training_whose_owner_leaves_saves_nothing_even_in_its_last_seconds(tmp_path):
    """The owner (a browser tab) is gone before the model would be saved: cancelled, nothing saved,
    however short the training (no grace period can let a closed tab's model through)."""
    from vae_core import jobs, registry
    from vae_core.config import TrainConfig, VAEConfig

    present = threading.Event()
    present.set()
    spec = jobs.TrainingSpec.training("mnist", "left-early", VAEConfig(hidden_units=(16,)),
                                      TrainConfig(epochs=2, batch_size=256), {"choice": "bundled"}, str(tmp_path))
    job = jobs.start(spec, owner_alive=present.is_set)
    deadline = time.monotonic() + 120
    while job.snapshot().status != "running":
        assert time.monotonic() < deadline and not job.snapshot().finished, job.snapshot()
        time.sleep(0.1)
    present.clear()  # the tab is closed a moment before the end
    assert job.join(timeout=120)
    snapshot = job.snapshot()
    assert snapshot.status == "cancelled" and snapshot.owner_left
    assert not (tmp_path / "left-early").exists() and registry.list_models(tmp_path) == []


KDD_EXTRACT = b"".join(b"0,tcp,http,SF,181,5450,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,8,8,0.00,0.00,0.00,0.00,1.00,0.00,"
                       b"0.00,9,9,1.00,0.00,0.11,0.00,0.00,0.00,0.00,0.00,normal.\n" for _ in range(20))


def test_9_a_file_without_a_header_is_named_as_such(app_env, trained_models_dir):
    from vae_core import sources
    from vae_core.errors import DataError

    with pytest.raises(DataError, match="seems to have no header row") as caught:
        sources.read_upload(KDD_EXTRACT, "kddcup.csv")
    assert "duplicated" not in str(caught.value) and "'Class'" in str(caught.value)
    app_env(trained_models_dir)
    at = open_link("threshold")
    at.radio(key="fraud_view_data").set_value("upload").run()
    at.file_uploader(key="fraud_view_upload").upload("kddcup.csv", KDD_EXTRACT, "text/csv").run()
    assert any("seems to have no header row" in e for e in shown_errors(at))


def test_10_compare_captions_quote_the_numbers_beside_them(app_env, tmp_path, bundled_digits):
    """The page-level half (the engine half, both directions of every claim: test_lessons.py)."""
    from vae_core import registry
    from vae_core.images.compare import train_matched_pair
    from vae_core.config import TrainConfig, VAEConfig

    models = app_env(tmp_path / "models")
    trained = train_matched_pair(bundled_digits, VAEConfig(hidden_units=(32,)), TrainConfig(epochs=1, batch_size=64),
                                 n_train=600)
    for kind, result in trained.items():
        registry.save_model(result.model, f"pair-{kind}", kind="mnist", metadata={"dataset": "mnist"}, directory=models)
    at = open_link("compare")
    at.toggle(key="compare_judge").set_value(False).run()
    table = at.dataframe[0].value.set_index("type")
    inside_ae, inside_vae = table.loc["AE", "codes inside N(0, I)'s 95% ball"], table.loc["VAE", "codes inside N(0, I)'s 95% ball"]
    text = captions(at)
    assert f"the autoencoder has {inside_ae} of its codes inside" in text and f"the VAE {inside_vae}" in text
    gap = table.loc["AE", "reconstruction −log p(x|μ) (nats)"] - table.loc["VAE", "reconstruction −log p(x|μ) (nats)"]
    better = "VAE" if gap > 0 else "autoencoder"
    said = text.split(f"Here the {better} reconstructs better, by ")[1]
    assert float(said.split(" ")[0]) == pytest.approx(abs(gap), abs=0.06)


def test_11_models_page_shows_readable_columns_and_makes_a_model_active(app_env, trained_models_dir):
    app_env(trained_models_dir)
    at = open_link("models")
    table = at.dataframe[0].value
    assert list(table.columns) == ["active", "name", "kind", "model", "architecture", "result", "epochs",
                                   "training s", "trained on", "created"]
    row = table.set_index("name").loc[MNIST_MODEL]
    assert row["architecture"] == "dense 32, latent 2, Bernoulli" and row["active"] == "✓"
    assert row["result"].startswith("test −ELBO")
    assert row["trained on"].startswith("MNIST IDX files in …/") and row["trained on"].count("/") == 2  # no full path
    assert not at.get("json")  # no collapsed raw JSON
    at.selectbox(key="models_inspect").set_value(FRAUD_MODEL).run()
    metrics = at.dataframe[1].value.set_index("metric")["value"]
    assert "ROC AUC" in metrics.index and float(metrics["ROC AUC"]) > 0
    at.selectbox(key="models_inspect").set_value("tiny-cdigits").run()
    at.button(key="models_make_active").click().run()
    assert at.dataframe[0].value.set_index("name").loc["tiny-cdigits", "active"] == "✓"
    assert at.dataframe[0].value.set_index("name").loc[MNIST_MODEL, "active"] == ""


def test_12_home_shows_kinds_and_short_names_never_machine_paths(app_env, trained_models_dir, app_data_dir):  # noqa: F811
    app_env(trained_models_dir)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    text = " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])
    assert "Full MNIST (70,000 digits)" in text and "Real credit-card transactions" in text
    assert "creditcard/creditcard.csv" in text  # a short name
    for path in (str(app_data_dir), str(trained_models_dir), str(Path.home())):
        assert path not in text
