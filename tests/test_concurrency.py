"""Many people at once on a real server: `streamlit run app.py` on a loopback port, spoken to by
protocol-level sessions (testkit/stream.py: the websocket messages a browser tab sends).

Eight sessions make mixed moves at once — decoder sliders, clicks on the latent scatter, threshold
moves, an upload, page changes through the sidebar's links — from cold caches (so the first model
loads race too), while two more train a model under the same name, started at the same moment: no
session sees an error, each sees exactly what one session alone sees, exactly one training saves
the model and the other is told on its page. A training whose owner is gone stops and saves
nothing: the real-server cases are in test_server_faults.py; here, the process that started it
dying.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from app_fixtures import FRAUD_MODEL, MNIST_MODEL, app_data_dir, trained_models_dir  # noqa: F401
from dashboard.components import declared_once
from testkit import load
from testkit.browser import app_server
from testkit.stream import StreamSession
from fault_kit import REPO_ROOT, snapshot
from vae_core import registry

N_SESSIONS = 8


def upload_csv(data_dir: Path, rows: int = 200) -> bytes:
    """`rows` labelled transactions from the test data, as a person would upload them."""
    return pd.read_csv(data_dir / "creditcard" / "creditcard.csv").sample(rows, random_state=1).to_csv(
        index=False).encode()


def server_log_problems(log: str) -> list[str]:
    return [line for line in log.splitlines() if "Traceback" in line or "unexpected error" in line]


def test_eight_sessions_at_once_see_what_one_session_sees_while_two_train_the_same_name(
        trained_models_dir, app_data_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(trained_models_dir, models)
    intact = snapshot(models)
    work = load.Workload(MNIST_MODEL, FRAUD_MODEL, upload=upload_csv(app_data_dir))
    with app_server(models, data_dir=app_data_dir, log_dir=tmp_path) as server:
        crowd = asyncio.run(load.crowd(server.url, work, N_SESSIONS, stops=None, trainer="trained-meanwhile",
                                       trainers=2, epochs=2))
        single = asyncio.run(_alone(server.url, work))
        log = server.log_text()

    assert not crowd["failures"], "\n".join([*map(str, crowd["failures"].values()), log[-3000:]])
    passes = [p for session in crowd["passes"] for p in session]
    assert len(passes) == N_SESSIONS and all(len(p.interactions) == work.steps(i) for i, p in enumerate(passes))
    assert [p.errors for p in passes] == [[]] * N_SESSIONS and not single.errors
    steps = [i for p in passes for i in p.interactions]
    assert load.most_at_once(steps) >= N_SESSIONS // 2, "the sessions did not overlap"
    assert len(set(map(repr, single.seen.values()))) == len(single.seen)  # every step changed what is shown
    for index, seen in enumerate(p.seen for p in passes):
        assert seen == {k: single.seen[k] for k in seen}, f"session {index} saw other results than one alone"
        assert len(seen) == len(single.seen) - (index % 2)  # odd sessions do not upload
    saved = [line for line in crowd["trained"] if "Saved **trained-meanwhile**" in line]
    told = [line for line in crowd["trained"] if "'trained-meanwhile'" in line and "Saved" not in line]
    assert len(saved) == 1 and len(told) == 1, crowd["trained"]
    assert "someone else" in told[0] or "already" in told[0], told
    assert all(len(steps) == 5 for steps in crowd["training"])  # both got as far as clicking Train
    assert registry.inspect_model(models / "trained-meanwhile").valid
    assert {k: v for k, v in snapshot(models).items() if not k.startswith("trained-meanwhile")} == intact
    assert not server_log_problems(log), log[-3000:]


def test_sessions_drawing_components_at_once_declare_each_one_once_and_never_two_together():
    # Streamlit's declare_component looks up its caller with inspect.getmodule, which is not
    # thread-safe: under the crowd above, a page could fail with "module is None".
    declarations: list[str] = []
    inside, most = 0, 0
    count = threading.Lock()

    def declaring(name: str):
        def declare() -> str:
            nonlocal inside, most
            with count:
                inside += 1
                most = max(most, inside)
            time.sleep(0.05)
            declarations.append(name)
            with count:
                inside -= 1
            return f"component {name}"
        return declare

    components = {name: declared_once(declaring(name)) for name in ("map", "explorer")}
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: (name := ("map", "explorer")[i % 2], components[name]()), range(16)))
    assert sorted(declarations) == ["explorer", "map"] and most == 1
    assert all(component == f"component {name}" for name, component in got)


async def _alone(url: str, work: load.Workload) -> load.Pass:
    async with StreamSession(url) as session:
        return await load.explore(session, work, 0)


def test_first_model_loads_succeed_while_other_sessions_rerun(app_data_dir, tmp_path):
    """Eight people open eight fraud models for the first time while four others keep moving a
    decoder slider. (Streamlit's reset of Keras at the end of every rerun used to pull Keras's state
    from under a load in another session: "The name "dense" is used 2 times in the model", in 2 of 2
    runs of this test.)"""
    models = tmp_path / "models"
    for index in range(8):
        shutil.copytree(REPO_ROOT / "models" / "fraud-subset", models / f"fraud-{index}")
    shutil.copytree(REPO_ROOT / "models" / "mnist-dense-2d", models / "digits")
    with app_server(models, data_dir=app_data_dir, log_dir=tmp_path) as server:
        errors, moves = asyncio.run(_loads_among_reruns(server.url, 8))
        log = server.log_text()
    assert errors == [[]] * 8
    assert moves >= 6, "the other sessions did not rerun meanwhile"
    assert not server_log_problems(log), log[-3000:]


async def _loads_among_reruns(url: str, loads: int) -> tuple[list[list[str]], int]:
    """(each loading session's errors, how many slider moves the others made meanwhile)."""
    stop, moves = asyncio.Event(), []

    async def move() -> None:
        async with StreamSession(url) as session:
            await session.open("decoder", "model=digits")
            while not stop.is_set():
                moves.append(await session.set("dec_z_digits_0", round(len(moves) % 40 / 10 - 2, 2)))

    async def first_load(index: int) -> list[str]:
        async with StreamSession(url) as session:
            await session.open("threshold", f"model=fraud-{index}")
            return session.errors()

    async with StreamSession(url) as session:  # TensorFlow and the digits model are loaded before the race
        await session.open("decoder", "model=digits")
    movers = [asyncio.create_task(move()) for _ in range(4)]
    await asyncio.sleep(1)
    try:
        errors = await asyncio.gather(*(first_load(i) for i in range(loads)))
    finally:
        stop.set()
        await asyncio.gather(*movers)
    return list(errors), len(moves)


# --- the process that started a training dies -----------------------------------------------------

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


def test_training_stops_and_saves_nothing_when_the_process_that_started_it_dies(tmp_path):
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
    assert load.exited(trainer, 60), "the orphaned training process kept running"
    assert not models.exists() or [p.name for p in models.iterdir() if not p.name.startswith(".")] == []
