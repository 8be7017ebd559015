"""The server's start-up work (dashboard.warmup): it begins as the server starts, loads each kind's
default model, and a page that needs a model meanwhile waits for it visibly.

The registry and the warm training worker are replaced by recorders: these tests are about order,
not loading (tests/e2e/test_speed.py runs the real thing).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from dashboard import loaders, warmup
from vae_core import jobs, registry


@pytest.fixture()
def loading(monkeypatch) -> Iterator[list[str]]:
    """A fresh, never-started warm-up whose model loads are recorded (each takes 0.3 s)."""
    loaded: list[str] = []

    def load(name: str) -> None:
        time.sleep(0.3)
        loaded.append(name)

    monkeypatch.setattr(warmup, "_progress", None)
    monkeypatch.setattr(loaders, "model_infos", lambda: [])
    monkeypatch.setattr(registry, "default_models", lambda infos, root: {"mnist": None, "fraud": "fraud-demo"})
    monkeypatch.setattr(loaders, "get_model", load)
    monkeypatch.setattr(jobs, "warm_up", lambda when=None: None)
    yield loaded
    for thread in threading.enumerate():  # finished before the recorders are undone
        if thread.name == warmup.THREAD:
            thread.join(10)
            assert not thread.is_alive()


def _wait_done(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not (warmup.progress() and warmup.progress().done):
        assert time.monotonic() < deadline, warmup.progress()
        time.sleep(0.02)


def test_loading_begins_as_the_server_starts_with_no_page_needed(loading):
    started = time.monotonic()
    assert warmup.start()
    assert not warmup.start()  # once per process
    _wait_done()
    assert loading == ["fraud-demo"]
    assert time.monotonic() - started < 5.0
    assert warmup.progress().phase == "ready"


def test_a_page_that_needs_the_models_waits_until_they_are_loaded(loading):
    warmup.start()
    waited = threading.Thread(target=warmup.wait_visibly, kwargs={"poll_seconds": 0.02})
    waited.start()
    waited.join(10)
    assert not waited.is_alive()
    assert loading == ["fraud-demo"] and warmup.progress().done


def test_a_page_before_any_start_up_work_does_not_wait(loading):
    started = time.monotonic()
    warmup.wait_visibly()  # AppTest and bare scripts never start the warm-up
    assert time.monotonic() - started < 0.5 and loading == []


def test_once_quiet_the_digit_classifier_is_prepared_before_the_warm_worker(loading, monkeypatch):
    """AE vs VAE's first visit finds the classifier trained: the start-up work prepares it after the
    models and their first views, when the server is quiet, and only then starts the warm worker."""
    order: list[str] = []
    monkeypatch.setattr(registry, "default_models", lambda infos, root: {"mnist": "digits-demo", "fraud": "fraud-demo"})
    monkeypatch.setattr(warmup, "prepare_first_views", lambda name: order.append(f"first views of {name}"))
    monkeypatch.setattr(warmup, "wait_until_quiet", lambda: order.append("quiet"))
    monkeypatch.setattr(loaders, "digit_classifier", lambda: order.append("classifier"))
    monkeypatch.setattr(jobs, "warm_up", lambda when=None: order.append("warm worker"))
    warmup.start()
    _wait_done()
    deadline = time.monotonic() + 10
    while "warm worker" not in order:
        assert time.monotonic() < deadline, order
        time.sleep(0.02)
    assert loading == ["digits-demo", "fraud-demo"]
    assert order == ["first views of digits-demo", "quiet", "classifier", "warm worker"]
