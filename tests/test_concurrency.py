"""Many sessions at once: AppTest sessions on threads, as a server runs them, share one cached model.

Ten sessions move decoder sliders and fraud thresholds at the same time (from a cold cache, so the
first loads race too) while an eleventh trains a model: no session sees an error, every result is
identical to what a single session gets, and the training saves its model. A training whose owner
is gone (its browser session, or the whole server process) stops and saves nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from unittest.mock import MagicMock

import pytest

from app_fixtures import FRAUD_MODEL, MNIST_MODEL, app_data_dir, app_env, trained_models_dir  # noqa: F401
from fault_kit import REPO_ROOT, open_app, shown_errors, snapshot
from vae_core import jobs, registry

N_SESSIONS = 10
Z_MOVES = [(-2.0, 1.0), (1.5, -0.5), (0.0, 2.5), (-1.0, -1.5), (2.0, 0.5)]
THRESHOLD_STOPS = (0.1, 0.35, 0.6, 0.85)
APPTEST_SESSION_ID = "test session id"  # AppTest's script runner gives every session this id


@pytest.fixture()
def shared_runtime(monkeypatch):
    """Let AppTest sessions run on several threads at once, sharing one runtime as a server's do.

    Each AppTest run installs its own mock Runtime singleton and patches `config.get_option`, and
    undoes both when it ends, which would pull them from under a run overlapping on another thread.
    Here one mock runtime (one media store and cache storage, like a server's) and the config patch
    are installed once, for the whole test; the sessions themselves are ordinary AppTests.
    """
    from streamlit import config
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
    from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.testing.v1 import app_test, util

    shared = MagicMock(spec=Runtime)
    shared.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    shared.dataframe_source_mgr = DataframeSourceManager()
    shared.cache_storage_manager = MemoryCacheStorageManager()
    components = BidiComponentManager()
    components.discover_and_register_components(start_file_watching=False)
    shared.bidi_component_registry = components
    gone: set[str] = set()
    shared.is_active_session.side_effect = lambda session_id: session_id not in gone

    monkeypatch.setattr(Runtime, "_instance", shared)
    monkeypatch.setattr(app_test, "Runtime", type("PerRunRuntime", (), {"_instance": None}))
    monkeypatch.setattr(app_test, "patch_config_options", lambda overrides: nullcontext())
    monkeypatch.setattr(config, "get_option", util.build_mock_config_get_option({"global.appTest": True}))
    return gone


def _slider_stops(at) -> list[float]:
    options = [float(o) for o in at.select_slider(key="thr_slider").options]
    return [options[int(f * (len(options) - 1))] for f in THRESHOLD_STOPS]


def _explore(index: int, stops: list[float] | None = None) -> dict:
    """One person's session: decoder sliders on the digits model, then thresholds on the fraud model.

    Returns {("z", move): every image on the page, ("t", stop): every metric}, in a rotated order per
    session so that sessions ask for different things at the same moment.
    """
    seen, errors = {}, []
    at = open_app(active=MNIST_MODEL, page="decoder")
    errors += shown_errors(at)
    for move in Z_MOVES[index % len(Z_MOVES):] + Z_MOVES[:index % len(Z_MOVES)]:
        at.slider(key=f"dec_z_{MNIST_MODEL}_0").set_value(move[0])
        at.slider(key=f"dec_z_{MNIST_MODEL}_1").set_value(move[1]).run()
        errors += shown_errors(at)
        seen[("z", move)] = tuple(image.value for image in at.image)
    at.query_params["model"] = FRAUD_MODEL  # as the sidebar's link to the page carries it
    at.switch_page("dashboard/pages/threshold.py").run()
    errors += shown_errors(at)
    stops = stops or _slider_stops(at)
    for stop in stops[index % len(stops):] + stops[:index % len(stops)]:
        at.select_slider(key="thr_slider").set_value(stop).run()
        errors += shown_errors(at)
        seen[("t", stop)] = tuple((m.label, m.value) for m in at.metric)
    assert not errors, errors
    return seen


def _train_meanwhile(name: str, epochs: int = 2) -> str:
    """A session that trains a model on the Train page and watches it to the end; the status line."""
    at = open_app(page="train")
    at.radio(key="train_mnist_source").set_value("bundled").run()
    at.text_input(key="train_hidden_mnist").input("32").run()
    at.number_input(key="train_epochs_mnist").set_value(epochs).run()
    at.text_input(key="train_name").input(name).run()
    at.button(key="train_start").click().run()
    assert not shown_errors(at)
    deadline = time.monotonic() + 240
    while not at.session_state["train_job"].snapshot().finished:
        assert time.monotonic() < deadline, "training did not finish"
        time.sleep(0.5)
        at.run()
    at.run()
    assert not shown_errors(at)
    return " ".join(s.value for s in at.success)


@pytest.fixture()
def overlap(monkeypatch) -> dict:
    """Counts script runs in flight at once (proof that the sessions really overlapped)."""
    from streamlit.testing.v1 import AppTest

    counts, lock, run = {"now": 0, "max": 0, "runs": 0}, threading.Lock(), AppTest._run

    def counted(self, *args, **kwargs):
        with lock:
            counts["now"] += 1
            counts["runs"] += 1
            counts["max"] = max(counts["max"], counts["now"])
        try:
            return run(self, *args, **kwargs)
        finally:
            with lock:
                counts["now"] -= 1

    monkeypatch.setattr(AppTest, "_run", counted)
    return counts


def test_ten_sessions_at_once_match_a_single_session_while_another_trains(app_env, trained_models_dir, tmp_path,
                                                                            shared_runtime, overlap):
    import shutil

    import streamlit as st

    models = app_env(tmp_path / "models")
    shutil.copytree(trained_models_dir, models)
    intact = snapshot(models)
    single = _explore(0)  # the reference: one session alone
    stops = [stop for kind, stop in single if kind == "t"]
    st.cache_resource.clear()  # cold caches: the sessions below race for the first loads too
    st.cache_data.clear()

    results, failures = {}, {}

    def session(index: int) -> None:
        try:
            results[index] = _explore(index, stops)
        except BaseException as exc:  # noqa: BLE001 - reported below, per session
            failures[index] = repr(exc)

    trained: dict[str, str] = {}
    trainer = threading.Thread(target=lambda: trained.update(status=_train_meanwhile("trained-meanwhile")))
    trainer.start()
    threads = [threading.Thread(target=session, args=(i,)) for i in range(N_SESSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    trainer.join(timeout=600)

    assert not failures, failures
    assert len(results) == N_SESSIONS and overlap["max"] >= N_SESSIONS // 2, overlap
    assert len({repr(v) for v in single.values()}) == len(single)  # every move changed what the page shows
    for index, seen in results.items():
        assert seen == single, f"session {index} saw different results"
    assert "Saved" in trained.get("status", ""), trained
    assert registry.inspect_model(models / "trained-meanwhile").valid
    assert {k: v for k, v in snapshot(models).items() if not k.startswith("trained-meanwhile")} == intact


# --- abandoned training -------------------------------------------------------------------------------

def _gone(pid: int, timeout: float) -> bool:
    """True once process `pid` has exited (a zombie counts: it runs no more code)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.2)
    return False


def test_training_stops_and_saves_nothing_when_its_session_is_gone(app_env, tmp_path, shared_runtime, monkeypatch):
    monkeypatch.setattr(jobs, "ABANDON_AFTER_SECONDS", 1.0)
    models = app_env(tmp_path / "models")
    at = open_app(page="train")
    at.radio(key="train_mnist_source").set_value("bundled").run()
    at.text_input(key="train_hidden_mnist").input("32").run()
    at.number_input(key="train_epochs_mnist").set_value(200).run()
    at.text_input(key="train_name").input("abandoned").run()
    at.button(key="train_start").click().run()
    job = at.session_state["train_job"]
    deadline = time.monotonic() + 180
    while job.snapshot().epoch < 1:  # really training
        assert time.monotonic() < deadline and not job.snapshot().finished, job.snapshot()
        time.sleep(0.3)
    shared_runtime.add(APPTEST_SESSION_ID)  # the browser tab is closed: the server forgets the session
    assert job.join(timeout=120), "the abandoned training did not stop"
    assert job.snapshot().status == "cancelled"
    assert _gone(job.pid, 30)
    assert not (models / "abandoned").exists() and registry.list_models(models) == []


_SERVER_STAND_IN = """
import sys, time
from vae_core import jobs
from vae_core.config import TrainConfig, VAEConfig

job = jobs.start(jobs.TrainingSpec.training("mnist", "orphaned", VAEConfig(hidden_units=(32,)),
                                            TrainConfig(epochs=200), {"choice": "bundled"}, sys.argv[1]))
while job.snapshot().epoch < 1:
    assert not job.snapshot().finished, job.snapshot()
    time.sleep(0.2)
print(job.pid, flush=True)
time.sleep(600)
"""


def test_training_stops_and_saves_nothing_when_the_server_dies(tmp_path):
    """SIGKILL the process that started a training (as a crash or an OOM kill would): its child
    notices at once, stops after the current batch and saves nothing."""
    models = tmp_path / "models"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "VAE_OFFLINE": "1"}
    server = subprocess.Popen([sys.executable, "-c", _SERVER_STAND_IN, str(models)], cwd=REPO_ROOT, env=env,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = server.stdout.readline()
        assert line.strip().isdigit(), "the stand-in server did not start training"
        trainer = int(line)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    assert _gone(trainer, 60), "the orphaned training process kept running"
    assert not models.exists() or [p.name for p in models.iterdir() if not p.name.startswith(".")] == []
