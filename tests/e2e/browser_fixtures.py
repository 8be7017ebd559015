"""Fixtures for the browser tests: tiny real models (once per session), one `streamlit run app.py`
server and one Chromium (once per module: Playwright's sync API allows one instance at a time, and
test_scrub.py starts its own), and a fresh browser context (a new Streamlit session) per test.

Not a conftest.py: the tests one level up import helpers with `from conftest import ...`, and a
second conftest.py here would take that module name from them. test_browser.py imports these
fixtures by name, as test_app.py does with app_fixtures.

The models folder is private to these tests (the Train scenario adds a model to it); the data
folder is the dashboard tests' small offline one (600 real digits as MNIST IDX files and 1,200
transactions: real rows when ../shared/data is present, else synthetic).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from testkit.browser import DESKTOP, AppPage, app_server, chromium, skip_reason
from app_fixtures import app_data_dir  # noqa: F401 (a fixture, used below)

DIGITS = "e2e-digits"
OTHER_DIGITS = "aaa-digits"
FRAUD = "e2e-fraud"


@pytest.fixture(scope="session")
def e2e_models(tmp_path_factory, app_data_dir, bundled_digits) -> Path:  # noqa: F811
    """A registry holding an MNIST VAE (dense 128, latent 2: trained enough that moving z visibly
    changes the decoded digit), a second MNIST VAE that sorts first, and a fraud VAE (dense 32,
    latent 2), each trained for seconds; defaults.json declares the first and the fraud model."""
    from vae_core import sources
    from vae_core.config import TrainConfig, VAEConfig, build_configs
    from vae_core.tables.fraud import train_fraud
    from vae_core.images.mnist import train_mnist

    root = tmp_path_factory.mktemp("e2e") / "models"
    root.mkdir()
    train_mnist(DIGITS, VAEConfig(latent_dim=2, hidden_units=(128,)), TrainConfig(epochs=4, batch_size=128, seed=0),
                data=bundled_digits, models_dir=str(root))
    # A second MNIST model whose name sorts first: never the default, only chosen deliberately.
    train_mnist(OTHER_DIGITS, VAEConfig(latent_dim=2, hidden_units=(32,)), TrainConfig(epochs=1, batch_size=128, seed=1),
                data=bundled_digits, models_dir=str(root))
    (root / "defaults.json").write_text(json.dumps({"mnist": DIGITS, "fraud": FRAUD}))
    transactions = sources.transactions(app_data_dir / "creditcard" / "creditcard.csv")
    train_fraud(FRAUD, transactions, build_configs("fraud", latent_dim=2, hidden_units=(32,))[0],
                TrainConfig(epochs=3, batch_size=64, seed=0), models_dir=str(root))
    return root


@pytest.fixture(scope="module")
def server(e2e_models, app_data_dir):  # noqa: F811
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with app_server(e2e_models, data_dir=app_data_dir, log_dir=e2e_models.parent) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with chromium() as launched:
        yield launched


@contextmanager
def checked_tab(browser, server, **context_options) -> Iterator[AppPage]:
    """A new tab in a new browser context (so a new Streamlit session) at desktop size on `server`.

    Afterwards, whatever the test did: no traceback text on the page, and nothing unexpected in the
    server's log (the pages log a stack trace there whenever they show "failed unexpectedly").
    """
    log_start = len(server.log_text())
    context = browser.new_context(viewport=DESKTOP, **context_options)
    page = context.new_page()
    try:
        yield AppPage(page, server.url)
        AppPage(page, server.url).assert_no_traceback()
        logged = server.log_text()[log_start:]
        assert "Traceback" not in logged and "unexpected error" not in logged, f"server log:\n{logged[-3000:]}"
    finally:
        context.close()


@pytest.fixture()
def app(server, browser, tmp_path):
    """A checked_tab on the browser tests' server (downloads accepted)."""
    with checked_tab(browser, server, accept_downloads=True) as tab:
        yield tab
