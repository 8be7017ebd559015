"""A view-only server (VAE_MODE=viewer) the way a visitor meets it, in headless Chromium on
`streamlit run app.py`: the sidebar says "View only" and has no Train link, the Models page has no
delete, rename or import controls, typing /train into the address bar does not open the Train page,
and exploring works as usual (the Fraud threshold explorer draws its numbers).

After each test: no traceback on the page, nothing unexpected in the server's log, and the models
folder byte for byte as it was. Needs Playwright and Debian's Chromium (/usr/bin/chromium); skipped
with the reason otherwise.
"""

from __future__ import annotations

import re

import pytest

from browser_fixtures import FRAUD, app_data_dir, browser, checked_tab, e2e_models  # noqa: F401
from testkit.browser import app_server, skip_reason
from testkit.threshold import Explorer
from dashboard.presentation import VIEW_ONLY_NOTE
from fault_kit import snapshot

missing = skip_reason()
pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")

SIDEBAR_LINKS = "[data-testid=stSidebar] [data-testid=stPageLink]"
VIEWER_LINKS = ["Home", "Models", "Latent space", "Decoder", "Fraud threshold", "AE vs VAE", "ELBO anatomy"]


@pytest.fixture(scope="module")
def viewer_server(e2e_models, app_data_dir, tmp_path_factory):  # noqa: F811
    """The dashboard on the browser tests' registry, started with VAE_MODE=viewer."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    logs = tmp_path_factory.mktemp("viewer_logs")
    with app_server(e2e_models, data_dir=app_data_dir, log_dir=logs, extra_env={"VAE_MODE": "viewer"}) as running:
        yield running


@pytest.fixture()
def app(viewer_server, browser, e2e_models):  # noqa: F811
    """A new tab in a new browser context (a new Streamlit session) at desktop size; afterwards no
    traceback on the page or in the server's log, and the registry unchanged."""
    before = snapshot(e2e_models)
    with checked_tab(browser, viewer_server) as tab:
        yield tab
        assert snapshot(e2e_models) == before, "a view-only server changed the models folder"


def sidebar_links(app) -> list[str]:
    """The sidebar links' labels (a link's text starts with its icon's name, on a line of its own)."""
    return [text.strip().splitlines()[-1].strip() for text in app.page.locator(SIDEBAR_LINKS).all_inner_texts()]


def test_the_sidebar_shows_the_view_only_badge_and_no_train_link(app):
    app.open("", heading="VAE Latent Explorer")
    app.wait_drawn()
    assert sidebar_links(app) == VIEWER_LINKS
    assert app.page.locator(f'{SIDEBAR_LINKS} a[href$="/train"], {SIDEBAR_LINKS} a[href*="/train?"]').count() == 0
    # (Streamlit draws a markdown element with help twice, one copy hidden: count what is seen.)
    badge = app.page.locator("[data-testid=stSidebar] .stMarkdownBadge").filter(has_text="View only", visible=True)
    assert badge.count() == 1
    assert not app.errors()


def test_the_models_page_has_no_delete_rename_or_import_controls(app):
    app.open("models", heading="Models")
    app.wait_drawn()
    main = app.page.locator("[data-testid=stMain]")
    assert app.key("models_download").count() == 1  # the model's own controls are there: downloading is reading
    for key in ("models_delete", "models_rename", "models_upload", "models_import", "models_import_name"):
        assert app.key(key).count() == 0, key
    assert main.get_by_role("button", name=re.compile("Delete|Rename|Import|Browse files")).count() == 0
    assert main.locator("[data-testid=stFileUploader], [data-testid=stTextInput]").count() == 0
    assert main.get_by_text(VIEW_ONLY_NOTE).count() == 1
    assert not app.errors()


def test_typing_train_into_the_address_bar_does_not_open_the_train_page(app):
    app.open("train")
    app.wait_drawn()
    assert app.page.locator("[data-testid=stMain] h1").all_inner_texts() == ["VAE Latent Explorer"]  # the main page
    assert app.page.get_by_role("dialog").filter(has_text="Page not found").count() == 1  # with Streamlit's notice
    assert app.key("train_start").count() == 0 and app.key("train_name").count() == 0
    assert "View only" in app.page.locator("[data-testid=stSidebar]").inner_text()


def test_exploring_still_works_the_threshold_explorer_shows_its_numbers(app):
    app.open("threshold", heading="Fraud threshold")
    if not app.picked("_pick_fraud").startswith(f"{FRAUD} "):
        app.choose("_pick_fraud", re.compile(f"^{re.escape(FRAUD)} "))
    app.wait_drawn()
    shown = Explorer(app).shown()
    assert re.fullmatch(r"[\d,]+", shown["alerts"]) and re.fullmatch(r"TP [\d,]+", shown["TP"]), shown
    assert re.fullmatch(r"[\d,]+", app.metric("Alerts"))
    assert not app.errors()
