"""Start-up loading and warm training in a real `streamlit run app.py` and Chromium: a page opened
while the server still loads its models says what it is loading and then opens; once loading is done,
pages that need a model open without that wait, and a training starts on a warm worker (its progress
line never says it is waiting for one). The server process itself never loads TensorFlow: only its
training worker does.

One fresh server for the module (the first test needs it fresh). Needs Playwright and Debian's
Chromium; the warm-worker check reads /proc (Linux).
"""

from __future__ import annotations

import time

import pytest

from testkit.browser import DESKTOP, AppPage, app_server, skip_reason
from testkit import load
from testkit.latent_map import MapSession
from browser_fixtures import DIGITS, FRAUD, app_data_dir, browser, e2e_models  # noqa: F401

missing = skip_reason()
pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")

LOADED = "default model(s) loaded in"  # the server log's line once start-up loading is done
NOTICE = "The server is starting up"
WAITING = "waiting for a training process"


@pytest.fixture(scope="module")
def fresh_server(e2e_models, app_data_dir, tmp_path_factory):  # noqa: F811
    with app_server(e2e_models, data_dir=app_data_dir, log_dir=tmp_path_factory.mktemp("speed")) as running:
        yield running


def _main_text(app: AppPage) -> str:
    return app.page.evaluate("() => (document.querySelector('[data-testid=stMain]') || {}).innerText || ''")


def _wait_log(server, text: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.log_text():
        assert time.monotonic() < deadline, f"the server never logged {text!r}:\n{server.log_text()[-2000:]}"
        time.sleep(0.3)


def test_a_page_opened_the_moment_the_server_answers_opens_and_any_wait_says_what_loads(fresh_server, browser):  # noqa: F811
    """Loading the models takes a fraction of a second (NumPy, no TensorFlow), so the page rarely
    waits at all; when it does, the notice says what is loading."""
    context = browser.new_context(viewport=DESKTOP)
    app = AppPage(context.new_page(), fresh_server.url, timeout_ms=600_000)
    try:
        app.page.goto(f"{fresh_server.url}/latent")
        seen = set()
        deadline = time.monotonic() + 600
        while not app.heading("Latent space").count() or NOTICE in _main_text(app):
            text = _main_text(app)
            if NOTICE in text:
                seen.add(text[text.index(NOTICE):].split("(")[0].strip())
            assert time.monotonic() < deadline, "the page never opened"
            app.page.wait_for_timeout(100)
        app.wait_drawn(timeout_ms=600_000)
        assert all(":" in line and "…" in line for line in seen), seen  # "…starting up: loading the model …"
        assert NOTICE not in _main_text(app)
        assert MapSession(app).count() > 0  # the latent map drew its points
    finally:
        context.close()
    _wait_log(fresh_server, LOADED)
    line = next(line for line in fresh_server.log_text().splitlines() if LOADED in line)
    assert DIGITS in line and FRAUD in line, line


def test_after_start_up_pages_need_no_wait_and_training_starts_on_a_warm_worker(fresh_server, browser):  # noqa: F811
    _wait_log(fresh_server, LOADED)
    assert not _maps_tensorflow(fresh_server.process.pid)  # the models are served in NumPy
    context = browser.new_context(viewport=DESKTOP)
    app = AppPage(context.new_page(), fresh_server.url, timeout_ms=600_000)
    try:
        app.page.goto(f"{fresh_server.url}/latent")
        app.heading("Latent space").wait_for()
        assert NOTICE not in _main_text(app)
        app.wait_drawn()

        load.idle_worker(fresh_server.process.pid, windows=3)
        app.open("train", heading="Train a model")
        app.fill("train_hidden_mnist", "16")
        app.fill("train_epochs_mnist", 2)
        app.fill("train_name", "warm-started")
        app.wait_for("() => !document.querySelector('.st-key-train_start button').disabled")
        app.click("train_start")
        progress, lines = app.page.locator("[data-testid=stProgress]"), []
        deadline = time.monotonic() + 600
        while not app.page.get_by_text("Saved warm-started").count():
            if progress.count():
                lines.append(progress.first.inner_text())
            assert time.monotonic() < deadline, lines[-3:]
            app.page.wait_for_timeout(100)
        assert lines and not any(WAITING in line for line in lines), lines[:5]
        assert any("elapsed" in line for line in lines)
        assert not _maps_tensorflow(fresh_server.process.pid)  # the worker trained; the server never imported it
    finally:
        context.close()


def _maps_tensorflow(pid: int) -> bool:
    """Whether process `pid` has TensorFlow's shared library mapped (it imported TensorFlow)."""
    with open(f"/proc/{pid}/maps") as maps:
        return any("tensorflow" in line for line in maps)
