"""Warm training workers (vae_core.jobs.warm_up): a process with TensorFlow loaded takes the next
job; training data read once is kept in shared memory while it is unchanged; cancel, a closed tab
and the server's death work on warm workers as on fresh ones.

Real processes and tiny real trainings (hidden layer of 32, 600 digits, 2 epochs).
"""

from __future__ import annotations

import gzip
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, write_mnist_idx
from testkit import load
from vae_core import jobs, registry
from vae_core.config import TrainConfig, VAEConfig
from vae_core.images.data import MNIST_FILES

TIMEOUT = 300  # seconds: two shared CPU cores; a worker imports TensorFlow (~5-40 s under load)


@pytest.fixture()
def warm_pool():
    """Warm workers on for one test; afterwards none is left, nor any shared data."""
    jobs.warm_up()
    yield
    jobs.shutdown()
    assert jobs.warm_worker() is None
    assert _shared_blocks(os.getpid()) == []


@pytest.fixture()
def digits(tmp_path, bundled_digits) -> Path:
    """A data folder holding 600 training and 100 test digits as MNIST IDX files in mnist/."""
    write_mnist_idx(tmp_path / "data" / "mnist", bundled_digits, 600, 100)
    return tmp_path / "data"


def _shared_blocks(pid: int) -> list[str]:
    shm = Path("/dev/shm")
    return sorted(p.name for p in shm.glob(f"vae-{pid}-*")) if shm.is_dir() else []


def _ready_worker() -> int:
    """Wait until a warm worker waits for a job; its process id."""
    deadline = time.monotonic() + TIMEOUT
    while (pid := jobs.warm_worker()) is None:
        assert time.monotonic() < deadline, "no warm worker became ready"
        time.sleep(0.2)
    return pid


def _spec(name: str, models: Path, data: dict, epochs: int = 2) -> jobs.TrainingSpec:
    return jobs.TrainingSpec.training("mnist", name, VAEConfig(hidden_units=(32,)),
                                      TrainConfig(epochs=epochs, batch_size=64, early_stopping_patience=0), data,
                                      str(models))


def _finish(job: jobs.TrainingJob) -> jobs.JobSnapshot:
    assert job.join(timeout=TIMEOUT), "the job did not finish"
    return job.snapshot()


def _wait_training(job: jobs.TrainingJob) -> None:
    deadline = time.monotonic() + TIMEOUT
    while job.snapshot().fraction == 0:
        assert time.monotonic() < deadline and not job.snapshot().finished, job.snapshot()
        time.sleep(0.2)


def test_a_warm_worker_takes_the_job_and_trains_exactly_as_a_fresh_process(warm_pool, digits, tmp_path, monkeypatch):
    models = tmp_path / "models"
    worker = _ready_worker()
    # The data folder is set after the worker started: the job still reads the server's environment now.
    monkeypatch.setenv("VAE_DATA_DIR", str(digits))
    warm = _finish(jobs.start(_spec("warm", models, {"choice": "auto"})))
    assert warm.status == "done" and warm.warm_start, warm
    assert str(digits / "mnist") in warm.data_source

    jobs.shutdown()  # no warm worker: a fresh process, as before warm_up existed
    cold_job = jobs.start(_spec("cold", models, {"choice": "auto"}))
    assert cold_job.pid != worker
    cold = _finish(cold_job)
    assert cold.status == "done" and not cold.warm_start, cold
    assert warm.metrics["test_neg_elbo"] == pytest.approx(cold.metrics["test_neg_elbo"], rel=1e-6)
    warm_history = registry.inspect_model(models / "warm").metadata["history"]
    cold_history = registry.inspect_model(models / "cold").metadata["history"]
    assert warm_history.keys() == cold_history.keys()
    for series, values in warm_history.items():  # float32 sums may differ in their last bits between processes
        assert values == pytest.approx(cold_history[series], rel=1e-5), series


def _swap_for_bad_idx(path: Path) -> None:
    """Replace an IDX .gz with a valid gzip of a wrong header, zero-padded to the same size (gzip
    allows that) and given back the same modification time: the file looks unchanged to stat."""
    stat = path.stat()
    bad = gzip.compress(b"\0" * 16)
    path.write_bytes(bad + b"\0" * (stat.st_size - len(bad)))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_training_data_is_read_from_disk_once_and_again_when_its_files_change(warm_pool, digits, tmp_path):
    models, data = tmp_path / "models", {"choice": "path", "path": str(digits / "mnist")}
    _ready_worker()
    kept = set(_shared_blocks(os.getpid()))  # what the worker preloaded (the Train page's default data)
    first = _finish(jobs.start(_spec("first", models, data)))
    assert first.status == "done", first
    assert len(set(_shared_blocks(os.getpid())) - kept) == 1  # this job's data, kept

    images = digits / "mnist" / MNIST_FILES["train_images"]
    _swap_for_bad_idx(images)
    _ready_worker()  # the next job goes to a new worker: it maps the kept copy, the disk holds garbage
    second = _finish(jobs.start(_spec("second", models, data)))
    assert second.status == "done", second
    assert second.data_source == first.data_source
    assert second.metrics["test_neg_elbo"] == pytest.approx(first.metrics["test_neg_elbo"], rel=1e-6)

    os.utime(images)  # now the file has changed: it is read again (and found broken)
    _ready_worker()
    third = _finish(jobs.start(_spec("third", models, data)))
    assert third.status == "failed" and "not an MNIST IDX file" in third.error, third
    assert sorted(p.name for p in models.iterdir()) == ["first", "second"]


def test_cancel_and_a_closed_tab_on_warm_workers_save_nothing_and_a_new_worker_follows(warm_pool, tmp_path,
                                                                                    monkeypatch):
    monkeypatch.setattr(jobs, "ABANDON_AFTER_SECONDS", 1.0)
    models = tmp_path / "models"
    first_worker = _ready_worker()
    cancelled = jobs.start(_spec("cancelled", models, {"choice": "bundled"}, epochs=200))
    assert cancelled.pid == first_worker
    _wait_training(cancelled)
    assert [p.pid for p in multiprocessing.active_children()] == [cancelled.pid]  # no new worker while it trains
    cancelled.cancel()
    assert _finish(cancelled).status == "cancelled"

    second_worker = _ready_worker()
    assert second_worker != first_worker  # each job gets a fresh process
    abandoned = jobs.start(_spec("abandoned", models, {"choice": "bundled"}, epochs=200), owner_alive=lambda: False)
    snap = _finish(abandoned)
    assert snap.status == "cancelled" and snap.owner_left and snap.warm_start, snap
    assert not models.exists() or list(models.iterdir()) == []


def test_a_warm_worker_starts_only_when_the_caller_says_so(tmp_path):
    """`warm_up(when=...)`: the dashboard waits until its server is quiet; nothing starts before."""
    go = threading.Event()
    jobs.warm_up(when=go.wait)
    try:
        time.sleep(1.0)
        assert multiprocessing.active_children() == []
        go.set()
        assert _ready_worker() in [p.pid for p in multiprocessing.active_children()]
    finally:
        jobs.shutdown()
    assert multiprocessing.active_children() == []


def test_shutdown_leaves_no_queue_feeder_thread_to_leak_semaphores_at_exit():
    """A queue's feeder thread alive when the server exits holds two of the queue's semaphores, which
    the resource tracker then reports on the terminal as leaked: shutdown flushes and joins them, even
    for a worker something still refers to."""
    jobs.warm_up()
    try:
        _ready_worker()
        worker = jobs._POOL.idle  # held, as a job or a frame may hold it, so it is not collected
    finally:
        jobs.shutdown()
    feeders = [t for t in threading.enumerate() if t.name == "QueueFeederThread"]
    assert worker is not None and feeders == [], feeders


_SERVER_STAND_IN = """
import sys, time
from vae_core import jobs
from vae_core.config import TrainConfig, VAEConfig

if __name__ == "__main__":
    jobs.warm_up()
    while jobs.warm_worker() is None:
        time.sleep(0.2)
    print(jobs.warm_worker(), flush=True)
    if sys.argv[2] == "train":
        job = jobs.start(jobs.TrainingSpec.training("mnist", "orphaned", VAEConfig(hidden_units=(32,)),
                                                    TrainConfig(epochs=200), {"choice": "bundled"}, sys.argv[1]))
        while job.snapshot().fraction == 0:
            assert not job.snapshot().finished, job.snapshot()
            time.sleep(0.2)
        print("training", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("when", ["idle", "train"])
def test_the_server_dying_stops_its_warm_worker_and_saves_nothing(tmp_path, when):
    """SIGKILL the process that keeps a warm worker (as a crash would), while the worker waits or
    while it trains: the worker exits, nothing is saved, and the shared data goes too."""
    script = tmp_path / "server.py"  # a file: the worker re-imports the starting script, as with app.py
    script.write_text(_SERVER_STAND_IN)
    models = tmp_path / "models"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "VAE_OFFLINE": "1"}
    server = subprocess.Popen([sys.executable, str(script), str(models), when], cwd=REPO_ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = server.stdout.readline()
        assert line.strip().isdigit(), "the stand-in server did not warm a worker"
        worker = int(line)
        if when == "train":
            assert server.stdout.readline().strip() == "training"
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    assert load.exited(worker, 60), "the warm worker kept running"
    assert not models.exists() or [p.name for p in models.iterdir() if not p.name.startswith(".")] == []
    deadline = time.monotonic() + 30  # the resource tracker frees the data once every process is gone
    while _shared_blocks(server.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _shared_blocks(server.pid) == []
