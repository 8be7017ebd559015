"""A fresh clone without data, in headless Chromium on `streamlit run app.py`: the Fraud threshold page
opens the shipped fraud-subset model on the real rows it held out (shipped in its folder), scored on
their test split, and shows no synthetic rows.

The server runs without VAE_DATA_DIR on a copy of the model whose recorded training file is a path
that does not exist, as on a clone without ../shared/data (here ../shared/data is beside the repo,
where the model's recorded relative path would find it).

Needs Playwright and Debian's Chromium (/usr/bin/chromium); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from browser_fixtures import browser  # noqa: F401
from testkit.browser import DESKTOP, AppPage, app_server, skip_reason
from vae_core import sources

missing = skip_reason()
pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = "fraud-subset"


@pytest.fixture(scope="module")
def fresh_clone_server(tmp_path_factory):
    """A server with no VAE_DATA_DIR whose registry holds fraud-subset, its training file absent."""
    models = tmp_path_factory.mktemp("fresh-clone") / "models"
    shutil.copytree(REPO_ROOT / "models" / MODEL, models / MODEL)
    fraud_file = models / MODEL / "fraud.json"
    info = json.loads(fraud_file.read_text())
    info["data"]["source"] = "file: /nonexistent-clone/shared/data/creditcard/creditcard_subset.csv"
    fraud_file.write_text(json.dumps(info))
    (models / "defaults.json").write_text(json.dumps({"fraud": MODEL}))
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(sources.DATA_DIR_ENV, raising=False)
        with app_server(models, log_dir=models.parent) as running:
            yield running


@pytest.fixture()
def app(fresh_clone_server, browser):  # noqa: F811
    context = browser.new_context(viewport=DESKTOP)
    try:
        yield AppPage(context.new_page(), fresh_clone_server.url)
    finally:
        context.close()


def test_a_fresh_clone_shows_the_models_real_held_out_rows(app, fresh_clone_server):
    app.open("threshold", heading="Fraud threshold")
    app.wait_drawn()
    assert app.picked("_pick_fraud").startswith(f"{MODEL} ")
    text = app.text()
    assert ("Data: held-out real rows shipped with the model: validation + test splits, ULB data, ODbL · held-out "
            "test split · 1,001 rows, 148 frauds (14.79%)") in text
    assert "Synthetic data" not in text and "generated rows" not in text
    assert app.errors() == []
    assert int(app.metric("Alerts").replace(",", "")) <= 1_001
    app.assert_no_traceback()
    assert "Traceback" not in fresh_clone_server.log_text()
