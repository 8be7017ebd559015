"""Training in a child process, so a page can show live progress and offer Cancel.

Why a process rather than a thread: Streamlit calls `keras.backend.clear_session()` after every
rerun once Keras is imported, which resets Keras's global state under any thread that is building
or saving a model, and a progress page reruns several times a second. A spawned process has its
own Keras; it also keeps TensorFlow out of the web server's memory and off its GIL.

The page starts a `TrainingJob`, keeps it in the user's session, and polls `snapshot()`; a small
monitor thread moves the child's messages into the snapshot. Never imports Streamlit.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue as queue_module
import threading
import time
import traceback
import weakref
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal

import numpy as np

Status = Literal["starting", "running", "done", "cancelled", "failed"]
# A job whose owner (a browser session) has been gone this long is cancelled and saves nothing.
# Streamlit keeps a disconnected session 120 s for a reconnect, so a network blip or a reload is not
# taken for abandonment.
ABANDON_AFTER_SECONDS = 150.0
SAMPLE_SIDE = 4  # the per-epoch sample grid is SAMPLE_SIDE × SAMPLE_SIDE decoded prior draws


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's state for one page render.

    `epoch_losses` / `epoch_val_losses` hold one dict per finished epoch (keys loss, reconstruction,
    kl, neg_elbo); `samples` is the latest (28k, 28k) grid of decoded prior draws (MNIST), or None.
    """

    name: str | None
    dataset: str
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
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        return self.status in ("done", "cancelled", "failed")


class _Progress:
    """A job's state, folded from its messages under a lock; shared by the job and its monitor thread."""

    def __init__(self, name: str | None, dataset: str) -> None:
        self.lock = threading.Lock()
        self.started = time.perf_counter()
        self.state = JobSnapshot(name, dataset)

    def update(self, **changes: Any) -> None:
        with self.lock:
            self.state = replace(self.state, **changes)

    def apply(self, message: dict[str, Any]) -> bool:
        """Fold one child message into the state; True when it was the last one."""
        kind = message["type"]
        if kind == "source":
            self.update(data_source=message["source"], synthetic=message["synthetic"])
        elif kind == "progress":
            changes: dict[str, Any] = {"status": "running", "fraction": message["fraction"],
                                       "epoch": message["epoch"], "epochs": message["epochs"],
                                       "eta_seconds": message["eta_seconds"], "current": message["losses"]}
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
                self.update(status="done", fraction=1.0, metrics=message["metrics"], saved_to=message["saved_to"],
                            elapsed_seconds=elapsed)
            elif kind == "cancelled":
                self.update(status="cancelled", elapsed_seconds=elapsed)
            else:
                self.update(status="failed", error=message["error"], elapsed_seconds=elapsed)
            return True
        return False


def _owner_gone(owner_alive: Callable[[], bool] | None, last_seen: float) -> tuple[bool, float]:
    """(abandoned?, when the owner was last seen alive)."""
    now = time.monotonic()
    try:
        alive = owner_alive is None or owner_alive()
    except Exception:  # noqa: BLE001 - a failing check must not stop training
        alive = True
    return (False, now) if alive else (now - last_seen > ABANDON_AFTER_SECONDS, last_seen)


def _watch(process, messages, progress: _Progress, cancel, owner_alive: Callable[[], bool] | None) -> None:
    """Monitor thread: move the child's messages into `progress` until its last one (or its death);
    cancel the run once its owner has been gone for ABANDON_AFTER_SECONDS."""
    last_seen = time.monotonic()
    while True:
        abandoned, last_seen = _owner_gone(owner_alive, last_seen)
        if abandoned and not cancel.is_set():
            cancel.set()
        try:
            if progress.apply(messages.get(timeout=0.5)):
                break
        except queue_module.Empty:
            if not process.is_alive():
                progress.update(status="failed", elapsed_seconds=time.perf_counter() - progress.started,
                                error=f"The training process stopped unexpectedly (exit code {process.exitcode}); "
                                      "it may have run out of memory. Try a smaller batch size or model.")
                break
    process.join(timeout=10)


class TrainingJob:
    """One training run in a spawned process; `spec` (plain, picklable data) says what to train.

    spec keys: "dataset" ("mnist" | "fraud"), "name", "models_dir", "data" (source options; see
    `_load_training_data`), and either "form" (views.TrainForm fields) or "vae_config" and
    "train_config" (their to_dict()). Use `start_job` / `start_training` rather than building one.

    An abandoned job saves nothing. It is cancelled when `owner_alive()` (e.g. "is the browser
    session that started me still there?") has been False for ABANDON_AFTER_SECONDS, or when no
    one holds the job any more (the monitor thread holds only the job's parts, never the job); and
    the child cancels itself if this process dies.

    Legacy form `TrainingJob(name, dataset, train)`: runs `train(on_progress, cancel, job)` in a
    thread of this process instead. Under Streamlit that is exposed to the Keras session reset
    described above; it remains only for callers not yet moved to `start_training`.
    """

    def __init__(self, spec: dict[str, Any] | str | None, dataset: str | None = None, train=None, *,
                 owner_alive: Callable[[], bool] | None = None) -> None:
        self._train = train
        if train is not None:  # legacy in-process thread
            self.spec, self.name, self.dataset = None, spec, dataset
            self._progress = _Progress(self.name, self.dataset)
            self._cancel = threading.Event()
            self._process = None
            self._monitor = threading.Thread(target=self._run_in_thread, name=f"train-{spec}", daemon=True)
        else:
            self.spec = spec
            self.name, self.dataset = spec["name"], spec["dataset"]
            self._progress = _Progress(self.name, self.dataset)
            context = mp.get_context("spawn")  # fork is unsafe in a threaded server holding TensorFlow
            self._queue = context.Queue()
            self._cancel = context.Event()
            self._process = context.Process(target=_child_main, args=(spec, self._queue, self._cancel),
                                            name=f"train-{self.name}", daemon=True)
            self._monitor = threading.Thread(target=_watch, name=f"watch-{self.name}", daemon=True,
                                             args=(self._process, self._queue, self._progress, self._cancel,
                                                   owner_alive))
        # Dropped by its owner while running: stop after the current batch, save nothing. (At exit,
        # daemon children are terminated anyway.)
        weakref.finalize(self, self._cancel.set).atexit = False

    def start(self) -> TrainingJob:
        if self._process is not None:
            self._process.start()
        self._monitor.start()
        return self

    @property
    def pid(self) -> int | None:
        """The training process's id (None in legacy thread mode or before start)."""
        return None if self._process is None else self._process.pid

    def set_data_source(self, source: str, synthetic: bool = False) -> None:
        """Legacy thread mode: the train function reports where its data came from."""
        self._progress.apply({"type": "source", "source": source, "synthetic": synthetic})

    def _run_in_thread(self) -> None:
        def on_progress(event) -> None:
            self._progress.apply(_progress_message(event, None))

        _run_training(lambda: self._train(on_progress, self._cancel, self), self._progress.apply)

    def cancel(self) -> None:
        """Ask training to stop after the current batch; nothing is saved."""
        self._cancel.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the job has finished (its final message read); True when it has."""
        self._monitor.join(timeout)
        return not self._monitor.is_alive()

    def snapshot(self) -> JobSnapshot:
        with self._progress.lock:
            state = self._progress.state
        elapsed = state.elapsed_seconds if state.finished else time.perf_counter() - self._progress.started
        return replace(state, elapsed_seconds=elapsed, cancel_requested=self._cancel.is_set())


# --- the child process --------------------------------------------------------------------------

def _load_training_data(spec: dict[str, Any]):
    """The dataset the spec names: MNIST (source, path) or transactions (source, path, upload bytes)."""
    options = spec["data"]
    if spec["dataset"] == "mnist":
        from vae_core.views import load_mnist_source

        return load_mnist_source(options.get("source", "auto"), options.get("path"))
    from vae_core.fraud_views import load_training_transactions

    return load_training_transactions(options)


def _progress_message(event, sample_z: np.ndarray | None) -> dict[str, Any]:
    """A ProgressEvent as a plain message; on epoch events with `sample_z`, the decoded sample grid."""
    samples = None
    if event.kind == "epoch" and sample_z is not None:
        if event.model is not None:
            images = np.clip(event.model.decode(sample_z), 0.0, 1.0).reshape(SAMPLE_SIDE, SAMPLE_SIDE, 28, 28)
            samples = images.transpose(0, 2, 1, 3).reshape(SAMPLE_SIDE * 28, SAMPLE_SIDE * 28)
    return {"type": "progress", "kind": event.kind, "fraction": event.fraction, "epoch": event.epoch,
            "epochs": event.epochs, "eta_seconds": event.eta_seconds, "losses": dict(event.losses),
            "val_losses": dict(event.val_losses), "samples": samples}


def _run_training(train, report) -> None:
    """Call train() and report how it ended: done (metrics, saved_to), cancelled, or failed (one line)."""
    from vae_core.errors import VAEError

    try:
        outcome = train()
    except Exception as exc:  # every failure reaches the page as one line
        if isinstance(exc, VAEError):
            error = str(exc)
        else:
            traceback.print_exc()
            error = f"Training stopped with an unexpected error: {type(exc).__name__}: {exc}"
        report({"type": "failed", "error": error})
        return
    if outcome.result.cancelled:
        report({"type": "cancelled"})
    else:
        metrics = {k: v for k, v in outcome.metrics.items() if isinstance(v, (int, float, str))}
        report({"type": "done", "metrics": metrics, "saved_to": None if outcome.saved_to is None else str(outcome.saved_to)})


def _configs(spec: dict[str, Any]):
    from vae_core.config import TrainConfig, VAEConfig
    from vae_core.views import TrainForm

    if "form" in spec:
        return TrainForm(**spec["form"]).configs()
    return VAEConfig.from_dict(spec["vae_config"]), TrainConfig.from_dict(spec["train_config"])


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


def _child_main(spec: dict[str, Any], messages, cancel) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    orphaned = _cancel_when_orphaned(cancel)

    def train():
        data = _load_training_data(spec)
        messages.put({"type": "source", "source": data.source, "synthetic": bool(getattr(data, "synthetic", False))})
        vae_config, train_config = _configs(spec)
        sample_z = None
        if spec["dataset"] == "mnist":
            from vae_core.latent import sample_prior

            sample_z = sample_prior(vae_config.latent_dim, SAMPLE_SIDE * SAMPLE_SIDE, seed=0)

        def on_progress(event) -> None:
            messages.put(_progress_message(event, sample_z))

        if spec["dataset"] == "mnist":
            from vae_core.mnist import train_mnist

            return train_mnist(spec["name"], vae_config, train_config, data=data, models_dir=spec["models_dir"],
                               on_progress=on_progress, cancel=cancel)
        from vae_core.fraud import train_fraud

        return train_fraud(spec["name"], data, vae_config, train_config, models_dir=spec["models_dir"],
                           on_progress=on_progress, cancel=cancel)

    try:
        _run_training(train, messages.put)
    finally:
        messages.close()
        if orphaned.is_set():
            messages.cancel_join_thread()  # no one reads the queue any more: do not wait to flush it
        else:
            messages.join_thread()  # flush the last message before the process exits


def _check_name(name: str, models_dir: str | None) -> None:
    from vae_core.errors import RegistryError
    from vae_core.views import name_problem

    problem = name_problem(name, models_dir)
    if problem:
        raise RegistryError(problem)


def start_job(dataset: str, name: str, form, data: dict[str, Any], models_dir: str | None = None, *,
              owner_alive: Callable[[], bool] | None = None) -> TrainingJob:
    """Check the settings and the name now (bad ones raise here, before any process starts), then
    train in a child process. `form` is a views.TrainForm; `data` the source options;
    `owner_alive` see TrainingJob."""
    from dataclasses import asdict

    form.configs()  # raises ConfigError with the reason
    _check_name(name, models_dir)
    spec = {"dataset": dataset, "name": name, "form": asdict(form), "models_dir": models_dir, "data": dict(data)}
    return TrainingJob(spec, owner_alive=owner_alive).start()


def start_training(dataset: str, name: str, vae_config, train_config, data: dict[str, Any] | None = None,
                   models_dir: str | None = None, *, owner_alive: Callable[[], bool] | None = None) -> TrainingJob:
    """Train exact configs (a VAEConfig and a TrainConfig, e.g. an autoencoder twin) in a child process.

    `data`: source options, e.g. {"source": "auto"} or {"source": "path", "path": ...} for MNIST.
    """
    _check_name(name, models_dir)
    spec = {"dataset": dataset, "name": name, "vae_config": vae_config.to_dict(),
            "train_config": train_config.to_dict(), "models_dir": models_dir, "data": dict(data or {"source": "auto"})}
    return TrainingJob(spec, owner_alive=owner_alive).start()
