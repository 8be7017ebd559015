"""When the server's start-up work (dashboard.warmup) begins: TensorFlow's import holds the GIL for
seconds, so it waits for a first page to be drawn, for a page that needs the models, or for
FIRST_PAGE_SECONDS with no page at all.

TensorFlow's import, the model registry and the warm training worker are replaced by recorders:
these tests are about order, not loading.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from dashboard import loaders, warmup
from vae_core import jobs, tf_import

SETTLE = 0.5  # seconds: long enough for the background thread to have begun, had it been free to


@pytest.fixture()
def began(monkeypatch) -> Iterator[threading.Event]:
    """A fresh, never-started warm-up whose TensorFlow import only records that it happened."""
    imported = threading.Event()
    monkeypatch.setattr(warmup, "_progress", None)
    monkeypatch.setattr(warmup, "_may_begin", threading.Event())
    monkeypatch.setattr(tf_import, "import_tensorflow", imported.set)
    monkeypatch.setattr(loaders, "model_infos", lambda: [])
    monkeypatch.setattr(jobs, "warm_up", lambda when=None: None)
    yield imported
    for thread in threading.enumerate():  # finished before the recorders are undone
        if thread.name == warmup.THREAD:
            thread.join(10)
            assert not thread.is_alive()


def _wait_done(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not (warmup.progress() and warmup.progress().done):
        assert time.monotonic() < deadline, warmup.progress()
        time.sleep(0.02)


def test_loading_waits_for_the_first_page_to_be_drawn(began, monkeypatch):
    monkeypatch.setattr(warmup, "FIRST_PAGE_SECONDS", 60.0)
    assert warmup.start()
    time.sleep(SETTLE)
    assert not began.is_set()
    assert warmup.progress().phase == "starting" and not warmup.progress().done

    warmup.page_ran()
    assert began.wait(5)
    _wait_done()
    assert warmup.progress().phase == "ready"


def test_a_page_that_needs_the_models_starts_loading_at_once(began, monkeypatch):
    monkeypatch.setattr(warmup, "FIRST_PAGE_SECONDS", 60.0)
    warmup.start()
    time.sleep(SETTLE)
    assert not began.is_set()

    waited = threading.Thread(target=warmup.wait_visibly, kwargs={"poll_seconds": 0.02})
    waited.start()
    waited.join(10)
    assert began.is_set() and not waited.is_alive()
    assert warmup.progress().done


def test_with_no_page_loading_begins_after_first_page_seconds(began, monkeypatch):
    monkeypatch.setattr(warmup, "FIRST_PAGE_SECONDS", 1.0)
    started = time.monotonic()
    warmup.start()
    assert began.wait(10)
    assert time.monotonic() - started >= 1.0
    _wait_done()
