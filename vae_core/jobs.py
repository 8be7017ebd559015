"""Training in a child process, so a page can show live progress and offer Cancel.

Why a process rather than a thread: Streamlit calls `keras.backend.clear_session()` after every
rerun once Keras is imported, which resets Keras's global state under any thread that is building
or saving a model, and a progress page reruns several times a second. A spawned process has its
own Keras; it also keeps TensorFlow out of the web server's memory and off its GIL.

A caller describes the work as a `TrainingSpec` (plain, picklable data), starts it with `start`,
keeps the `TrainingJob` and polls `snapshot()`; a small monitor thread moves the child's messages
into the snapshot. Every training of the dashboard goes through here: the Train page, the AE twin
of the comparison, the β sweep.

Warm workers: importing TensorFlow takes ~5 s here, so after `warm_up()` (the dashboard calls it
when its server starts) one worker process waits with TensorFlow imported, its one-time costs paid
by a tiny fit, and the default training data loaded; `start` hands the spec to it and a new one is
started when the job ends (each job gets a fresh process: Keras's global state and the job's memory
go with it). Training data read from disk once is kept in shared memory (`_SharedData`) while the
server runs, so a later job, in a later worker, maps it instead of reading the files again; the
files' sizes and times are part of its name, so changed files are read afresh.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing as mp
import multiprocessing.util as mp_util
import os
import queue as queue_module
import sys
import threading
import time
import traceback
import weakref
from multiprocessing import shared_memory
from pathlib import Path
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal

import numpy as np

from vae_core import settings
from vae_core.config import DATASETS, TrainConfig, VAEConfig
from vae_core.errors import ConfigError, VAEError

Status = Literal["queued", "starting", "running", "done", "cancelled", "failed"]
Task = Literal["train", "beta_sweep"]
# A job whose owner (a browser session) has been disconnected this long is cancelled. Short: a
# closed tab must save nothing; a network blip of a few seconds is forgiven. Saving also asks
# whether the owner is there at that moment (see `_watch`).
ABANDON_AFTER_SECONDS = 5.0
SAMPLE_SIDE = 4  # the per-epoch sample grid is SAMPLE_SIDE × SAMPLE_SIDE decoded prior draws
# After the fit, the ETA adds the evaluation (judged from the validation passes) and saving the
# model: about 1 s for the default MNIST model here (0.9-1.7 s measured with the machine loaded).
SAVE_SECONDS = 1.0
WAITING = "waiting for a training process (it loads TensorFlow)"
STARTING = "starting on a warm training process"


@dataclass(frozen=True)
class TrainingSpec:
    """What a child process is asked to do.

    task "train": fit and save as `name`; "beta_sweep": fit one unsaved small VAE per β in `betas`
    and measure each (the result is a list of `anatomy.BetaRow`). `vae_config` / `train_config` are
    the configs' to_dict(); `data` the source options: for MNIST `sources.mnist(**data)`'s
    arguments, for fraud `sources.training_transactions(data)`'s options.
    """

    task: Task
    dataset: str
    vae_config: dict[str, Any]
    train_config: dict[str, Any]
    data: dict[str, Any]
    name: str | None = None
    models_dir: str | None = None
    betas: tuple[float, ...] = ()

    @classmethod
    def training(cls, dataset: str, name: str, vae_config: VAEConfig, train_config: TrainConfig,
                 data: dict[str, Any], models_dir: str | None = None) -> TrainingSpec:
        """Train exact configs and save the model as `name`."""
        return cls("train", dataset, vae_config.to_dict(), train_config.to_dict(), dict(data), name, models_dir)


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's state for one page render.

    `epoch_losses` / `epoch_val_losses` hold one dict per finished epoch (keys loss, reconstruction,
    kl, neg_elbo); `samples` is the latest (28k, 28k) grid of decoded prior draws (MNIST), or None;
    `result` what a task other than "train" produced (the β sweep's rows). `eta_seconds` counts down
    between progress messages; it covers the rest of the fit, validation, evaluation and saving.
    """

    name: str | None
    dataset: str
    task: Task = "train"
    status: Status = "starting"
    fraction: float = 0.0
    epoch: int = 0
    epochs: int = 0
    elapsed_seconds: float = 0.0
    eta_seconds: float = math.nan
    current: dict[str, float] = field(default_factory=dict)
    epoch_losses: tuple[dict[str, float], ...] = ()
    epoch_val_losses: tuple[dict[str, float], ...] = ()
    samples: np.ndarray | None = None
    samples_epoch: int = 0
    data_source: str | None = None
    synthetic: bool = False
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    saved_to: str | None = None
    result: Any = None
    cancel_requested: bool = False
    owner_left: bool = False
    phase: str = WAITING  # what the job is doing before its first batch, for people
    eta_basis: str = ""  # what `eta_seconds` rests on
    warm_start: bool = False  # whether the job went to a worker that had finished warming up
    queue_position: int = 0  # while queued: 1 for the next to start
    queue_eta_seconds: float = math.nan  # while queued: the estimated wait until it starts

    @property
    def finished(self) -> bool:
        return self.status in ("done", "cancelled", "failed")


class _Progress:
    """A job's state, folded from its messages under a lock; shared by the job and its monitor thread."""

    def __init__(self, spec: TrainingSpec) -> None:
        self.lock = threading.Lock()
        self.started = time.perf_counter()
        self.eta_stamp = self.started  # when eta_seconds was measured
        self.state = JobSnapshot(spec.name, spec.dataset, spec.task)

    def update(self, **changes: Any) -> None:
        with self.lock:
            self.state = replace(self.state, **changes)

    def apply(self, message: dict[str, Any]) -> bool:
        """Fold one child message into the state; True when it was the last one."""
        kind = message["type"]
        if kind == "phase":
            self.update(phase=message["phase"])
        elif kind == "source":
            self.update(data_source=message["source"], synthetic=message["synthetic"])
        elif kind == "progress":
            changes: dict[str, Any] = {"status": "running", "fraction": message["fraction"],
                                       "epoch": message["epoch"], "epochs": message["epochs"],
                                       "eta_seconds": message["eta_seconds"], "eta_basis": message["eta_basis"],
                                       "current": message["losses"]}
            if message["kind"] == "start":
                changes["phase"] = "compiling the training step"
            self.eta_stamp = time.perf_counter()
            if message["kind"] == "epoch":
                with self.lock:
                    state = self.state
                changes["epoch_losses"] = (*state.epoch_losses, message["losses"])
                changes["epoch_val_losses"] = (*state.epoch_val_losses, message["val_losses"])
                if message.get("samples") is not None:
                    changes["samples"], changes["samples_epoch"] = message["samples"], message["epoch"]
            self.update(**changes)
        else:
            elapsed = time.perf_counter() - self.started
            if kind == "done":
                self.update(status="done", fraction=1.0, metrics=message.get("metrics", {}),
                            saved_to=message.get("saved_to"), result=message.get("result"), elapsed_seconds=elapsed)
            elif kind == "cancelled":
                self.update(status="cancelled", elapsed_seconds=elapsed)
            else:
                self.update(status="failed", error=message["error"], elapsed_seconds=elapsed)
            return True
        return False


def _owner_present(owner_alive: Callable[[], bool] | None) -> bool:
    try:
        return owner_alive is None or bool(owner_alive())
    except Exception:  # noqa: BLE001 - a failing check must not stop training
        return True


def _watch(worker: _Worker, progress: _Progress, owner_alive: Callable[[], bool] | None,
           requested: threading.Event, on_finished: Callable[[], None], last_seen: float | None = None) -> None:
    """Monitor thread: move the worker's messages into `progress` until its last one (or its death).

    Cancels the run once its owner has been gone for ABANDON_AFTER_SECONDS, and answers the child's
    "may I save?" with whether the owner is there right now, so a closed tab never gets a model.
    `requested` is the job's own cancel request, passed on to the worker. `on_finished` runs at the
    end (a new warm worker is started then), once the process has gone: the next job in the queue
    never runs beside it. `last_seen`: when the owner was last there (e.g. while the job was queued).
    """
    process, messages, cancel = worker.process, worker.messages, worker.cancel
    last_seen = time.monotonic() if last_seen is None else last_seen
    while True:
        if requested.is_set() and not cancel.is_set():
            cancel.set()
        if _owner_present(owner_alive):
            last_seen = time.monotonic()
        elif time.monotonic() - last_seen > ABANDON_AFTER_SECONDS and not cancel.is_set():
            progress.update(owner_left=True)
            cancel.set()
        try:
            message = messages.get(timeout=0.5)
        except queue_module.Empty:
            if not process.is_alive():
                progress.update(status="failed", elapsed_seconds=time.perf_counter() - progress.started,
                                error=f"The training process stopped unexpectedly (exit code {process.exitcode}); "
                                      "it may have run out of memory. Try a smaller batch size or model.")
                break
            continue
        if message["type"] == "may_save":
            if not _owner_present(owner_alive):
                progress.update(owner_left=True)
                cancel.set()
            if requested.is_set():  # a Cancel clicked since the last pass of this loop
                cancel.set()
            worker.verdict.put(not cancel.is_set())
        elif progress.apply(message):
            break
    process.join(timeout=10)
    if process.is_alive():  # stuck after its last message: it must not hold the slot's core any longer
        process.kill()
        process.join()
    on_finished()


class TrainingJob:
    """One `TrainingSpec` running in its own process, after waiting its turn in the training queue
    (see `_Slots`). Use `start` rather than building one.

    An abandoned job saves nothing: it is cancelled (or leaves the queue) when `owner_alive()` (e.g.
    "is the browser session that started me still connected?") has been False for
    ABANDON_AFTER_SECONDS or is False when the model is about to be saved, or when no one holds the
    job any more (the monitor thread holds only the job's parts, never the job); and the child
    cancels itself if this process dies.
    """

    def __init__(self, spec: TrainingSpec, *, owner_alive: Callable[[], bool] | None = None) -> None:
        self.spec = spec
        self.name, self.dataset = spec.name, spec.dataset
        self._progress = _Progress(spec)
        self._cancel = threading.Event()  # asked for here; the monitor passes it on to the worker
        self._worker: list[_Worker] = []  # the worker, once the job has left the queue
        self._monitor = threading.Thread(target=_run_job, name=f"watch-{spec.name or spec.task}", daemon=True,
                                         args=(spec, self._worker, self._progress, self._cancel, owner_alive))
        # Dropped by its owner while queued or running: leave the queue, or stop after the current
        # batch; save nothing. (At exit, daemon children are terminated anyway.)
        weakref.finalize(self, self._cancel.set).atexit = False

    @property
    def pid(self) -> int | None:
        """The training process's id (None while the job waits in the queue)."""
        return self._worker[0].process.pid if self._worker else None

    def cancel(self) -> None:
        """Leave the queue, or ask training to stop after the current batch; nothing is saved."""
        self._cancel.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the job has finished (its final message read); True when it has."""
        self._monitor.join(timeout)
        return not self._monitor.is_alive()

    def snapshot(self) -> JobSnapshot:
        with self._progress.lock:
            state, stamp = self._progress.state, self._progress.eta_stamp
        now = time.perf_counter()
        if state.finished:
            return replace(state, cancel_requested=self._cancel.is_set())
        eta = state.eta_seconds if math.isnan(state.eta_seconds) else max(0.0, state.eta_seconds - (now - stamp))
        return replace(state, elapsed_seconds=now - self._progress.started, cancel_requested=self._cancel.is_set(),
                       eta_seconds=eta)


def _run_job(spec: TrainingSpec, worker_box: list[_Worker], progress: _Progress, cancel: threading.Event,
             owner_alive: Callable[[], bool] | None) -> None:
    """Monitor thread: wait for a slot in the queue unless the job has its worker already, then run
    the job on a worker and follow it."""
    last_seen = None
    if not worker_box:
        last_seen = _SLOTS.wait(progress, cancel, owner_alive)
        if last_seen is None:
            progress.update(status="cancelled", elapsed_seconds=time.perf_counter() - progress.started)
            return
        progress.started = time.perf_counter()  # elapsed time counts from here
    started = progress.started
    try:
        if not worker_box:
            _give_worker(spec, worker_box, progress)
        _watch(worker_box[0], progress, owner_alive, cancel, _POOL.finished, last_seen)
    except Exception as exc:  # noqa: BLE001 - the page shows it; the slot is given back below
        progress.update(status="failed", error=f"The training process could not be started: {exc}",
                        elapsed_seconds=time.perf_counter() - started)
    finally:
        _SLOTS.release(progress, time.perf_counter() - started)


def _give_worker(spec: TrainingSpec, worker_box: list[_Worker], progress: _Progress) -> None:
    """Hand the job to the warm worker, or a new one, and say which it was."""
    worker = _POOL.take(spec)
    progress.update(status="starting", queue_position=0, queue_eta_seconds=math.nan,
                    warm_start=worker.ready.is_set(), phase=STARTING if worker.ready.is_set() else WAITING)
    worker_box.append(worker)
    worker.give(spec, _POOL.shared_name(spec))


class _Slots:
    """The training queue: at most `settings.max_trainings` jobs run at once; the others wait, first
    come first served, each told its position and the time until it starts.

    The wait is estimated from the running jobs' own time left and, for the jobs ahead that have
    not started, the median length of this process's last finished trainings (unknown until one
    has finished, or while a running job has not measured its pace yet).
    """

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.waiting: list[_Progress] = []
        self.running: list[_Progress] = []
        self.durations: list[float] = []  # seconds of the last finished trainings

    def enter(self, progress: _Progress) -> bool:
        """Take a slot now if one is free and no one waits for it (True); else join the end of the
        queue, as "queued" at once (False: the job's monitor then `wait`s its turn)."""
        with self.condition:
            if not self.waiting and len(self.running) < self._limit():
                self.running.append(progress)
                return True
            self.waiting.append(progress)
            self._publish()
            return False

    def wait(self, progress: _Progress, cancel: threading.Event,
             owner_alive: Callable[[], bool] | None) -> float | None:
        """Block until `progress`'s job, queued by `enter`, may run: then when its owner was last seen
        (time.monotonic()); None when it was cancelled or its owner left."""
        last_seen = time.monotonic()
        with self.condition:
            try:
                while True:
                    if _owner_present(owner_alive):
                        last_seen = time.monotonic()
                    elif time.monotonic() - last_seen > ABANDON_AFTER_SECONDS:
                        progress.update(owner_left=True)
                        return None
                    if cancel.is_set():
                        return None
                    if self.waiting[0] is progress and len(self.running) < self._limit():
                        self.running.append(progress)
                        return last_seen
                    self._publish()
                    self.condition.wait(0.5)
            finally:
                self.waiting.remove(progress)
                self._publish()
                self.condition.notify_all()

    def release(self, progress: _Progress, seconds: float) -> None:
        """`progress`'s job has ended after `seconds` on a worker: its slot goes to the next in line."""
        with self.condition:
            if progress in self.running:
                self.running.remove(progress)
            if progress.state.status == "done":
                self.durations = [*self.durations[-9:], seconds]
            self._publish()
            self.condition.notify_all()

    def _limit(self) -> int:
        try:
            return settings.current().max_trainings
        except ConfigError:
            return 1  # a setting broken while the server runs: the safest queue

    def _publish(self) -> None:
        """Each waiting job's position and estimated wait (called with the condition held)."""
        now = time.perf_counter()
        typical = float(np.median(self.durations)) if self.durations else math.nan
        free_at = []
        for running in self.running:
            with running.lock:
                eta, stamp = running.state.eta_seconds, running.eta_stamp
            free_at.append(typical if math.isnan(eta) else max(0.0, eta - (now - stamp)))
        free_at += [0.0] * max(0, self._limit() - len(free_at))
        for position, waiting in enumerate(self.waiting, start=1):
            soonest = min(free_at)
            waiting.update(status="queued", queue_position=position, queue_eta_seconds=soonest,
                           phase=f"waiting in the training queue: number {position}")
            free_at[free_at.index(soonest)] = soonest + typical


_SLOTS = _Slots()


def start(spec: TrainingSpec, *, owner_alive: Callable[[], bool] | None = None) -> TrainingJob:
    """Check the spec now (bad settings or a taken name raise here, before any process starts), then
    queue it; it runs in a child process once a slot is free (see `_Slots`): the warm worker when one
    is waiting (see `warm_up`), else a new one. `owner_alive`: see TrainingJob."""
    from vae_core import registry

    settings.require_writable("train models")
    if spec.dataset not in DATASETS:
        raise ConfigError(f"Unknown dataset {spec.dataset!r}; choose one of {', '.join(DATASETS)}.")
    VAEConfig.from_dict(spec.vae_config), TrainConfig.from_dict(spec.train_config)
    if spec.task == "train":
        registry.check_new_name(spec.name or "", spec.models_dir)
    elif spec.task == "beta_sweep":
        if not spec.betas:
            raise ConfigError("Give at least one β.")
    else:
        raise ConfigError(f"Unknown task {spec.task!r}.")
    job = TrainingJob(spec, owner_alive=owner_alive)
    if _SLOTS.enter(job._progress):  # a free slot: the process starts now, as the caller waits; else queued
        try:
            _give_worker(spec, job._worker, job._progress)
        except BaseException:
            _SLOTS.release(job._progress, 0.0)
            raise
    job._monitor.start()
    return job


# --- warm workers -------------------------------------------------------------------------------

class _Worker:
    """A spawned process that imports TensorFlow, pays its one-time costs, preloads `preload`'s data
    and then runs the one job it is given (see `_worker_main`)."""

    def __init__(self, preload: tuple[str, str, dict[str, Any]] | None = None) -> None:
        context = mp.get_context("spawn")  # fork is unsafe in a threaded server holding TensorFlow
        self.inbox, self.messages, self.verdict = context.Queue(), context.Queue(), context.Queue()
        self.cancel, self.ready = context.Event(), context.Event()
        self.process = context.Process(target=_worker_main, name="training-worker", daemon=True,
                                       args=(self.inbox, self.messages, self.cancel, self.verdict, self.ready, preload))
        self.process.start()

    def give(self, spec: TrainingSpec | None, shared: str | None = None) -> None:
        """Hand over the job (the environment goes along: the worker may be older than a change to
        it); None asks an idle worker to exit."""
        self.inbox.put(None if spec is None else (spec, dict(os.environ), shared))

    def close(self) -> None:
        """Once the process has ended: flush and close the queues here. A queue's feeder thread holds
        two of its semaphores until it has sent what was put; one still running when this process
        exits leaves them to the resource tracker, which reports them as leaked on the terminal."""
        for channel in (self.inbox, self.messages, self.verdict):
            channel.close()
            channel.join_thread()


class _Pool:
    """The warm worker waiting for the next job, and the training data kept in shared memory.

    Off until `enable`: a CLI run or a test starts a fresh process per job and leaves nothing behind.
    A new warm worker is started on a background thread once `when()` returns, and only while none
    of the pool's jobs runs (on two cores it would slow the training down; the job's end starts it).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.enabled = False
        self.when: Callable[[], None] = lambda: None
        self.idle: _Worker | None = None
        self.starting = False  # a thread is waiting to start the next warm worker
        self.running = 0  # jobs taken and not finished
        self.shared: dict[str, str] = {}  # dataset → the shared-memory name of its latest data
        self.names: set[str] = set()  # every name handed out (a worker may create a block late)
        self.preload: TrainingSpec = TrainingSpec("train", "mnist", {}, {}, {"choice": "auto"})

    def enable(self, when: Callable[[], None] | None) -> None:
        with self.lock:
            first = not self.enabled
            self.enabled, self.when = True, when or (lambda: None)
        if first:
            # At exit, before multiprocessing unlinks the workers' semaphores (priority 0) and closes
            # their queues (10), whatever the order of atexit handlers: a worker started after that
            # cleanup would leak its semaphores.
            mp_util.Finalize(None, self.shutdown, exitpriority=20)
        self.replenish()

    def replenish(self) -> None:
        """Start a warm worker, after `when()`, unless one waits or is about to (or a job runs)."""
        with self.lock:
            if not self.enabled or self.starting or self.running or (self.idle and self.idle.process.is_alive()):
                return
            self.starting = True
        threading.Thread(target=self._start_worker, name="warm-worker-start", daemon=True).start()

    def _start_worker(self) -> None:
        try:
            self.when()
            with self.lock:
                if (self.enabled and not mp_util.is_exiting() and not self.running
                        and not (self.idle and self.idle.process.is_alive())):
                    name = self.shared_name(self.preload)
                    if name is not None:
                        self.names.add(name)
                    self.idle = _Worker(None if name is None else (name, self.preload.dataset, self.preload.data))
        finally:
            with self.lock:
                self.starting = False

    def take(self, spec: TrainingSpec) -> _Worker:
        """The waiting worker (even one still warming up: never slower than a new one), or a new one."""
        with self.lock:
            worker, self.idle = self.idle, None
            if self.enabled:
                self.running += 1
                if spec.data.get("choice") != "upload":
                    self.preload = spec  # the next worker preloads what was trained on last
            name = self.shared_name(spec)
            if name is not None and self.shared.get(spec.dataset) not in (None, name):
                _SharedData.remove(self.shared[spec.dataset])  # that data changed: its old copy goes
            if name is not None:
                self.shared[spec.dataset] = name
                self.names.add(name)
        return worker if worker is not None and worker.process.is_alive() else _Worker()

    def finished(self) -> None:
        """A job taken while the pool was on has ended: warm the next worker."""
        with self.lock:
            self.running = max(0, self.running - 1)
        self.replenish()

    def shared_name(self, spec: TrainingSpec) -> str | None:
        """The shared-memory name of `spec`'s data as its files are now (None when the pool is off,
        or for an upload, which is in memory already)."""
        if not self.enabled or spec.data.get("choice") == "upload":
            return None
        from vae_core import sources

        files = [(str(path), *_stat(path)) for path in _candidate_files(spec.dataset, spec.data)]
        key = json.dumps([spec.dataset, spec.data, sources.offline(), str(sources.data_dir()), files],
                         sort_keys=True, default=str)
        return f"vae-{os.getpid()}-{hashlib.sha1(key.encode()).hexdigest()[:16]}"

    def ready_pid(self) -> int | None:
        with self.lock:
            worker = self.idle
        return worker.process.pid if worker and worker.ready.is_set() and worker.process.is_alive() else None

    def shutdown(self) -> None:
        """Stop the idle worker and free the shared data (at the server's exit)."""
        with self.lock:
            worker, self.idle, self.enabled, self.running = self.idle, None, False, 0
            names, self.shared, self.names = self.names, {}, set()
        if worker is not None:
            worker.give(None)  # a ready worker exits by itself; one still warming up is stopped
            worker.process.join(timeout=5 if worker.ready.is_set() else 0)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
            worker.close()
        for name in names:
            _SharedData.remove(name)


_POOL = _Pool()


def warm_up(when: Callable[[], None] | None = None) -> None:
    """Keep a training worker warm from now on (TensorFlow imported, default data loaded), so that
    `start` begins training at once; a new one is started after each job, each once `when()` has
    returned (e.g. "the server is quiet"; it runs on a background thread). Returns at once."""
    _POOL.enable(when)


def warm_worker() -> int | None:
    """The process id of the warm worker waiting for a job once it has warmed up (None otherwise)."""
    return _POOL.ready_pid()


def shutdown() -> None:
    """Stop the warm worker and free the shared training data; `warm_up` starts again."""
    _POOL.shutdown()


def _stat(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return -1, -1
    return stat.st_size, stat.st_mtime_ns


def _candidate_files(dataset: str, options: dict[str, Any]) -> list[Path]:
    """Every file a load of `options` could read (cheap: no file is opened). A superset is fine: it
    only decides when a kept copy of the data is stale."""
    from vae_core import sources
    from vae_core.images.data import MNIST_FILES, keras_cache_path

    choice = options.get("choice", "auto")
    if choice == "path":
        path = Path(str(options.get("path") or "").strip()).expanduser()
        return [path, *(path / name for name in MNIST_FILES.values())] if dataset == "mnist" else [path]
    if dataset == "mnist":
        root = sources.data_dir()
        folders = [] if root is None else [root / "mnist", root]
        return ([folder / name for folder in folders for name in MNIST_FILES.values()]
                + ([] if root is None else [root / "mnist.npz"]) + ([keras_cache_path()] if choice == "auto" else []))
    return sources.creditcard_csvs() if choice == "auto" else []


class _SharedData:
    """A loaded dataset (ImageDataset or TabularDataset) in one POSIX shared-memory block, read back
    without a copy.

    Layout: 8 bytes (length of the index), the index (JSON: the dataset's class, each field as a
    plain value, an array or a frame of column arrays, and each array's dtype, shape, offset and
    length), then the arrays' bytes, each 64-byte aligned. Nothing is unpickled: a reader rebuilds
    numeric arrays and the two known classes only. Readers get read-only arrays over the block; the
    block lives until `remove` (the server's pool removes it when the data changes or the server exits).
    """

    _held: list[shared_memory.SharedMemory] = []  # blocks whose arrays this process uses

    @staticmethod
    def _classes() -> dict[str, type]:
        from vae_core.images.data import ImageDataset
        from vae_core.tables.tabular import TabularDataset

        return {"ImageDataset": ImageDataset, "TabularDataset": TabularDataset}

    @staticmethod
    def _describe(data: Any) -> tuple[dict[str, Any], list[np.ndarray]]:
        """(the JSON index without offsets, the arrays in order) of a dataset."""
        import dataclasses

        import pandas as pd

        arrays: list[np.ndarray] = []

        def array(values) -> int:
            values = np.ascontiguousarray(values)
            if values.dtype.kind not in "biuf":
                raise TypeError(f"only numeric arrays are shared, not {values.dtype}")
            arrays.append(values)
            return len(arrays) - 1

        fields: dict[str, Any] = {}
        for item in dataclasses.fields(data):
            value = getattr(data, item.name)
            if isinstance(value, np.ndarray):
                fields[item.name] = {"array": array(value)}
            elif isinstance(value, pd.DataFrame):
                fields[item.name] = {"frame": [[str(c), array(value[c].to_numpy())] for c in value.columns]}
            elif isinstance(value, tuple):
                fields[item.name] = {"tuple": list(value)}
            else:
                fields[item.name] = {"value": value}
        return {"class": type(data).__name__, "fields": fields}, arrays

    @staticmethod
    def publish(name: str, data: Any) -> None:
        """Copy `data` into a new block `name` (skipped when it exists, memory is short or the data
        is not a dataset this can share)."""
        if type(data).__name__ not in _SharedData._classes():
            return
        try:
            index, arrays = _SharedData._describe(data)
        except TypeError:
            return
        spans, offset = [], 0
        for values in arrays:
            spans.append({"dtype": values.dtype.str, "shape": list(values.shape), "at": offset,
                          "length": values.nbytes})
            offset += -(-values.nbytes // 64) * 64
        header = json.dumps({**index, "arrays": spans}).encode()
        start = -(-(8 + len(header)) // 64) * 64
        size = start + offset
        try:
            free = os.statvfs("/dev/shm")
            if free.f_bavail * free.f_frsize < 2 * size:
                return
        except OSError:
            pass  # no /dev/shm to measure (not Linux): the block is created or fails below
        try:
            block = shared_memory.SharedMemory(name, create=True, size=max(size, 1))
        except (FileExistsError, OSError):
            return
        block.buf[:8] = len(header).to_bytes(8, "little")
        block.buf[8:8 + len(header)] = header
        for values, span in zip(arrays, spans):
            block.buf[start + span["at"]:start + span["at"] + span["length"]] = values.reshape(-1).view(np.uint8)
        _SharedData._held.append(block)

    @staticmethod
    def read(name: str) -> Any | None:
        """The dataset in block `name`, or None when there is none (or it is not one)."""
        import pandas as pd

        try:
            block = shared_memory.SharedMemory(name)
        except (FileNotFoundError, OSError):
            return None
        _SharedData._held.append(block)  # the arrays below point into it: keep it mapped
        view = block.buf.toreadonly()
        length = int.from_bytes(view[:8], "little")
        try:
            index = json.loads(bytes(view[8:8 + length]))
            cls = _SharedData._classes()[index["class"]]
            start = -(-(8 + length) // 64) * 64
            arrays = []
            for span in index["arrays"]:
                dtype = np.dtype(span["dtype"])
                if dtype.kind not in "biuf":
                    return None
                at = start + int(span["at"])
                arrays.append(np.frombuffer(view[at:at + int(span["length"])], dtype).reshape(span["shape"]))
            values: dict[str, Any] = {}
            for field_name, entry in index["fields"].items():
                if "array" in entry:
                    values[field_name] = arrays[entry["array"]]
                elif "frame" in entry:
                    values[field_name] = pd.DataFrame({column: arrays[i] for column, i in entry["frame"]}, copy=False)
                elif "tuple" in entry:
                    values[field_name] = tuple(entry["tuple"])
                else:
                    values[field_name] = entry["value"]
            return cls(**values)
        except (ValueError, KeyError, TypeError, IndexError):
            return None

    @staticmethod
    def remove(name: str) -> None:
        try:
            block = shared_memory.SharedMemory(name)
        except (FileNotFoundError, OSError):
            return
        block.unlink()
        block.close()


# --- the child process --------------------------------------------------------------------------

def _progress_message(event, sample_z: np.ndarray | None, after_fit_rows: int) -> dict[str, Any]:
    """A ProgressEvent as a plain message; on epoch events with `sample_z`, the decoded sample grid.
    The ETA gets the time after the fit: evaluating `after_fit_rows` rows, and saving."""
    from vae_core.latent import decode_images, mosaic

    samples = None
    if event.kind == "epoch" and sample_z is not None and event.model is not None:
        samples = mosaic(decode_images(event.model, sample_z), SAMPLE_SIDE)
    after = event.evaluation_seconds(after_fit_rows) + (SAVE_SECONDS if after_fit_rows else 0.0)
    basis = event.eta_basis + (f"; evaluating and saving ≈ {after:.1f} s" if not math.isnan(event.eta_seconds) else "")
    return {"type": "progress", "kind": event.kind, "fraction": event.fraction, "epoch": event.epoch,
            "epochs": event.epochs, "eta_seconds": event.eta_seconds + after, "eta_basis": basis,
            "losses": dict(event.losses), "val_losses": dict(event.val_losses), "samples": samples}


def _load_data(dataset: str, options: dict[str, Any]):
    from vae_core import sources

    if dataset == "mnist":
        return sources.mnist(**options)
    return sources.training_transactions(options)


def _after_fit_rows(spec: TrainingSpec, data) -> int:
    """Work after the fit in validation rows: the MNIST test set's −ELBO, plus its importance-weighted
    bound for a VAE (TRAINING_IW_SAMPLES draws per image, each about half a validation row: a draw
    runs the decoder, the encoder runs once per image); a fraud model's validation and test splits."""
    if spec.task != "train":
        return 0
    if spec.dataset != "mnist":
        return int(0.45 * len(data))
    from vae_core.images.mnist import TRAINING_IW_SAMPLES

    draws = TRAINING_IW_SAMPLES if VAEConfig.from_dict(spec.vae_config).variational else 0
    return len(data.x_test) * (1 + draws // 2)


def _train(spec: TrainingSpec, data, on_progress, cancel, may_save) -> dict[str, Any] | None:
    """Fit and save; the "done" message's payload, or None when cancelled."""
    vae_config, train_config = VAEConfig.from_dict(spec.vae_config), TrainConfig.from_dict(spec.train_config)
    if spec.dataset == "mnist":
        from vae_core.images.mnist import train_mnist

        outcome = train_mnist(spec.name, vae_config, train_config, data=data, models_dir=spec.models_dir,
                              on_progress=on_progress, cancel=cancel, may_save=may_save)
    else:
        from vae_core.config import fraud_model_defaults
        from vae_core.tables.fraud import model_features, train_fraud

        if spec.data.get("latent_by_shape"):  # the form left the latent size to the table's shape
            n_features = len(model_features(data.feature_names))
            vae_config = replace(vae_config, latent_dim=fraud_model_defaults(n_features)["latent_dim"])
        outcome = train_fraud(spec.name, data, vae_config, train_config, models_dir=spec.models_dir,
                              deploy_prevalence=spec.data.get("deploy_prevalence"), on_progress=on_progress,
                              cancel=cancel, may_save=may_save)
    if outcome.saved_to is None:
        return None
    metrics = {k: v for k, v in outcome.metrics.items() if isinstance(v, (int, float, str))}
    return {"metrics": metrics, "saved_to": str(outcome.saved_to)}


def _beta_sweep(spec: TrainingSpec, data, on_progress, cancel, may_save) -> dict[str, Any] | None:
    from vae_core.images.anatomy import beta_sweep

    rows = beta_sweep(data, spec.betas, config=VAEConfig.from_dict(spec.vae_config),
                      train_config=TrainConfig.from_dict(spec.train_config), on_progress=on_progress,
                      cancel=cancel)
    return None if cancel.is_set() else {"result": rows}


TASKS: dict[str, Callable[..., dict[str, Any] | None]] = {"train": _train, "beta_sweep": _beta_sweep}


def _cancel_when_orphaned(cancel) -> threading.Event:
    """Cancel training (so nothing is saved) if the process that started this one dies: no one could
    see the result, and a model appearing later from a crashed server is a surprise. Returns an
    event set when that happened."""
    orphaned = threading.Event()
    parent = mp.parent_process()

    def watch() -> None:
        parent.join()  # returns once the parent process has exited
        orphaned.set()
        cancel.set()

    if parent is not None:
        threading.Thread(target=watch, name="watch-parent", daemon=True).start()
    return orphaned


def _warm(preload: tuple[str, str, dict[str, Any]] | None) -> dict[str, Any]:
    """Import TensorFlow and the training code, pay the one-time costs of a first fit on a tiny
    model (Keras's state is cleared afterwards, so the job trains exactly as in a fresh process),
    then load `preload` = (shared name, dataset, options). Returns {shared name: data}."""
    from vae_core.tf_import import import_tensorflow

    import_tensorflow()  # the server's terminal stays free of TensorFlow's start-up lines
    import keras

    from vae_core.config import build_configs
    from vae_core.training import fit_vae

    vae_config, train_config = build_configs("mnist", hidden_units="8", epochs=1, batch_size=16)
    fit_vae(np.zeros((32, 28, 28, 1), np.float32), vae_config, train_config,
            x_val=np.zeros((16, 28, 28, 1), np.float32), on_progress=lambda event: None)
    keras.backend.clear_session()
    if preload is None:
        return {}
    name, dataset, options = preload
    try:
        return {name: _shared_data(name, dataset, options)}
    except Exception:  # noqa: BLE001 - a job that needs this data reports the error itself
        return {}


def _shared_data(name: str | None, dataset: str, options: dict[str, Any]):
    """The data from shared block `name` when it exists, else from disk (then shared as `name`)."""
    data = _SharedData.read(name) if name else None
    if data is None:
        data = _load_data(dataset, options)
        if name:
            _SharedData.publish(name, data)
    return data


def _worker_main(inbox, messages, cancel, verdict, ready, preload) -> None:
    """A worker process: warm up, then run the one job the parent sends (None: exit)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    orphaned = _cancel_when_orphaned(cancel)
    try:
        loaded = _warm(preload)
    except Exception:  # noqa: BLE001 - the job meets (and reports) whatever failed here
        loaded = {}
    ready.set()
    while True:
        try:
            job = inbox.get(timeout=1.0)
            break
        except queue_module.Empty:
            if orphaned.is_set():
                return
    if job is not None:
        spec, environ, shared = job
        os.environ.clear()
        os.environ.update(environ)
        _run(spec, shared, loaded, messages, cancel, verdict, orphaned)
        # Its last message is sent: leave now rather than tear TensorFlow down (2.6-3.2 s of a core
        # here), so the next job in the queue starts at once.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _run(spec: TrainingSpec, shared: str | None, loaded: dict[str, Any], messages, cancel, verdict, orphaned) -> None:
    """Run one job in this process, reporting to `messages`."""
    def may_save() -> bool:
        """Ask the parent whether anyone is still there to see the model (see `_watch`)."""
        messages.put({"type": "may_save"})
        while not orphaned.is_set():
            try:
                return bool(verdict.get(timeout=1.0)) and not cancel.is_set()
            except queue_module.Empty:
                continue
        return False

    try:
        messages.put({"type": "phase", "phase": "loading the data"})
        if cancel.is_set():
            messages.put({"type": "cancelled"})
            return
        data = loaded[shared] if shared in loaded else _shared_data(shared, spec.dataset, spec.data)
        messages.put({"type": "source", "source": data.source, "synthetic": bool(getattr(data, "synthetic", False))})
        messages.put({"type": "phase", "phase": "preparing the data and the model"})
        sample_z = None
        if spec.dataset == "mnist" and spec.task == "train":
            from vae_core.latent import sample_prior

            sample_z = sample_prior(int(spec.vae_config["latent_dim"]), SAMPLE_SIDE * SAMPLE_SIDE, seed=0)
        rows = _after_fit_rows(spec, data)
        payload = TASKS[spec.task](spec, data, lambda event: messages.put(_progress_message(event, sample_z, rows)),
                                   cancel, may_save)
        messages.put({"type": "cancelled"} if payload is None else {"type": "done", **payload})
    except Exception as exc:  # every failure reaches the page as one line
        if isinstance(exc, VAEError):
            error = str(exc)
        else:
            traceback.print_exc()
            error = f"Training stopped with an unexpected error: {type(exc).__name__}: {exc}"
        messages.put({"type": "failed", "error": error})
    finally:
        messages.close()
        if orphaned.is_set():
            messages.cancel_join_thread()  # no one reads the queue any more: do not wait to flush it
        else:
            messages.join_thread()  # flush the last message before the process exits
