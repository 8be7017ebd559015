"""Faults against a real server (`streamlit run app.py` on a loopback port, sessions spoken to over
the browser's websocket protocol by testkit/stream.py).

- A tab closed while its training runs saves nothing: closed while TensorFlow is still starting,
  closed mid-training, and closed in the last epoch, so the save is decided a moment later by
  asking whether the tab is there (vae_core/jobs.py cancels after ABANDON_AFTER_SECONDS of absence
  and asks right before saving).
- The server killed with SIGKILL mid-training: the training stops, nothing is half-written, and a
  restarted server lists every model that was there.
(Two sessions saving the same name at once: tests/test_concurrency.py, under load.)
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from pathlib import Path

import pytest

from app_fixtures import app_data_dir, trained_models_dir  # noqa: F401
from dashboard import presentation
from testkit import load
from testkit.browser import app_server
from testkit.stream import StreamSession
from fault_kit import snapshot
from vae_core import jobs, registry

EPOCH = re.compile(r"epoch (\d+)/(\d+)")


def epoch_shown(session: StreamSession) -> tuple[int, int]:
    """(epoch, epochs) in the Train page's progress line ((0, 0) before training reports)."""
    for text in session.texts():
        found = EPOCH.search(text)
        if found:
            return int(found[1]), int(found[2])
    return 0, 0


async def start_training(url: str, name: str, epochs: int, hidden: str = "32") -> StreamSession:
    """A tab on the Train page that has clicked Train (MNIST, bundled digits); left open."""
    session = await StreamSession(url, timeout=300).open("train")
    await session.set("train_mnist_source", presentation.MNIST_SOURCE_LABELS["bundled"])
    await session.set("train_hidden_mnist", hidden)
    await session.set("train_epochs_mnist", epochs)
    await session.set("train_name", name)
    await session.click("train_start")
    assert not session.errors(), session.errors()
    return session


def wait_for_no_training(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while load.trainings(pid):
        assert time.monotonic() < deadline, f"trainings still running: {load.trainings(pid)}"
        time.sleep(0.5)


def server_log_problems(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Traceback" in line or "unexpected error" in line]


@pytest.fixture()
def models(trained_models_dir, tmp_path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(trained_models_dir, target)
    return target


def test_a_tab_closed_while_its_training_runs_saves_nothing(models, app_data_dir, tmp_path):
    before = snapshot(models)
    with app_server(models, data_dir=app_data_dir, log_dir=tmp_path) as server:
        closed = asyncio.run(_close_three_tabs(server.url))
        wait_for_no_training(server.process.pid, 120 + jobs.ABANDON_AFTER_SECONDS)
        time.sleep(1)
        log = server.log_text()
    assert closed["starting"] == (0, 0)  # closed before the first progress report
    assert 1 <= closed["mid"][0] < closed["mid"][1]
    assert closed["last"][0] == closed["last"][1]  # closed in the last epoch: the save came next
    assert snapshot(models) == before  # no model, no half-written folder
    assert not server_log_problems(log), log[-3000:]


async def _close_three_tabs(url: str) -> dict[str, tuple[int, int]]:
    """Three tabs train at once; each is closed at another moment. Returns the (epoch, epochs) each
    showed when it was closed."""
    async def close_when(name: str, epochs: int, hidden: str, ready) -> tuple[int, int]:
        session = await start_training(url, name, epochs, hidden)
        await session.wait_until(ready, what=f"{name} to get to the closing point")
        shown = epoch_shown(session)
        await session.close()
        return shown

    shown = await asyncio.gather(
        close_when("closed-starting", 50, "32", lambda s: True),
        close_when("closed-mid", 200, "32", lambda s: epoch_shown(s)[0] >= 2),
        # Each epoch here takes seconds, so the save is decided within ABANDON_AFTER_SECONDS of
        # the close: by asking whether the tab is there.
        close_when("closed-last", 3, "256,128", lambda s: epoch_shown(s)[0] == 3))
    return dict(zip(("starting", "mid", "last"), shown))


def test_a_server_killed_mid_training_leaves_no_half_model_and_a_restart_lists_every_model(models, app_data_dir,
                                                                                            tmp_path):
    before = snapshot(models)
    intact = sorted(i.name for i in registry.list_models(models) if i.valid)
    with app_server(models, data_dir=app_data_dir, log_dir=tmp_path) as server:
        trainers = asyncio.run(_train_until_mid_run(server.url, server.process.pid))
        server.process.kill()  # SIGKILL: no clean-up code runs in the server
        server.process.wait(timeout=30)
    assert all(load.exited(pid, 60) for pid in trainers), "a training process went on without its server"
    assert snapshot(models) == before
    with app_server(models, data_dir=app_data_dir, log_dir=tmp_path) as server:
        listed = asyncio.run(_models_page(server.url))
    assert listed["errors"] == [] and listed["names"] == intact


async def _train_until_mid_run(url: str, server_pid: int) -> list[int]:
    """Start a long training and wait until its page shows epoch 2; the ids of the server's busy
    training processes (the training's, and a warm worker's if one is starting meanwhile)."""
    session = await start_training(url, "killed-mid-run", 200)
    await session.wait_until(lambda s: epoch_shown(s)[0] >= 2, what="epoch 2")
    trainers = load.trainings(server_pid)
    assert trainers, "no training process found"
    return trainers


async def _models_page(url: str) -> dict:
    async with StreamSession(url) as session:
        await session.open("models")
        return {"errors": session.errors(), "names": sorted(row["name"] for row in session.table("models_table"))}
