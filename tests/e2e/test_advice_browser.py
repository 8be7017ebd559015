"""Honest advice in headless Chromium on `streamlit run app.py`: a model whose stored IsolationForest
beat the VAE on validation says so on the Fraud threshold page, and choosing that baseline as the
scorer puts its own validated threshold in force, in the numbers and in the link.

Needs Playwright and Debian's Chromium (/usr/bin/chromium); skipped with the reason otherwise.
"""

from __future__ import annotations

import json

import pytest

from browser_fixtures import browser  # noqa: F401
from testkit.browser import DESKTOP, AppPage, app_server, skip_reason
from test_advice import QUICK, line_table
from vae_core import registry
from vae_core.tables.fraud import FraudModel, score_dataset, train_fraud
from vae_core.tables.tabular import read_labelled_csv
from vae_core.tables.thresholds import ThresholdSweep

missing = skip_reason()
pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")

MODEL = "line"


@pytest.fixture(scope="module")
def line_server(tmp_path_factory):
    """A server whose registry holds 'line', trained on a CSV where isolation finds what
    reconstruction cannot."""
    folder = tmp_path_factory.mktemp("advice-browser")
    line_table().to_frame("outlier").to_csv(folder / "line.csv", index=False)
    models = folder / "models"
    train_fraud(MODEL, read_labelled_csv(folder / "line.csv", label_column="outlier"), train_config=QUICK,
                models_dir=models)
    (models / "defaults.json").write_text(json.dumps({"fraud": MODEL}))
    with app_server(models, log_dir=folder) as running:
        yield running, models, folder / "line.csv"


@pytest.fixture()
def app(line_server, browser):  # noqa: F811
    context = browser.new_context(viewport=DESKTOP)
    try:
        yield AppPage(context.new_page(), line_server[0].url)
    finally:
        context.close()


def test_a_winning_baseline_is_advised_and_can_score_the_rows(app, line_server):
    _, models, csv = line_server
    app.open("threshold", heading="Fraud threshold")
    app.wait_drawn()
    text = app.text()
    assert "IsolationForest beats the VAE on validation" in text
    assert "Choose it under Scorer to use it with the same threshold tools" in text
    vae_f1 = float(app.metric("F1"))

    app.choose("thr_scorer", "IsolationForest (stored baseline)")
    app.wait_drawn()
    assert app.query()["scorer"] == "IsolationForest"
    assert "IsolationForest's own threshold" in app.text()
    model = FraudModel.from_loaded(registry.load_model(MODEL, models))
    scored = score_dataset(model, read_labelled_csv(csv, label_column="outlier"), "IsolationForest")
    point = ThresholdSweep(scored.scores, scored.labels).at(model.scorer_threshold("IsolationForest"))
    assert app.metric("Alerts") == f"{point.alerts:,}"
    assert app.metric("F1") == f"{point.f1:.3f}"
    assert point.f1 > vae_f1  # the better detector, at its own threshold
    app.assert_no_traceback()
