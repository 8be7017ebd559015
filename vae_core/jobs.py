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
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

Status = Literal["starting", "running", "done", "cancelled", "failed"]
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


class TrainingJob:
    """One training run in a spawned process; `spec` (plain, picklable data) says what to train.

    spec keys: "dataset" ("mnist" | "fraud"), "name", "models_dir", "data" (source options; see
    `_load_training_data`), and either "form" (views.TrainForm fields) or "vae_config" and
    "train_config" (their to_dict()). Use `start_job` / `start_training` rather than building one.

    Legacy form `TrainingJob(name, dataset, train)`: runs `train(on_progress, cancel, job)` in a
    thread of this process instead. Under Streamlit that is exposed to the Keras session reset
    described above; it remains only for callers not yet moved to `start_training`.
    """

    def __init__(self, spec: dict[str, Any] | str | None, dataset: str | None = None, train=None) -> None:
        self._lock = threading.Lock()
        self._started = time.perf_counter()
        self._train = train
        if train is not None:  # legacy in-process thread
            self.spec, self.name, self.dataset = None, spec, dataset
            self._cancel = threading.Event()
            self._process = None
            self._monitor = threading.Thread(target=self._run_in_thread, name=f"train-{spec}", daemon=True)
        else:
            self.spec = spec
            self.name, self.dataset = spec["name"], spec["dataset"]
            context = mp.get_context("spawn")  # fork is unsafe in a threaded server holding TensorFlow
            self._queue = context.Queue()
            self._cancel = context.Event()
            self._process = context.Process(target=_child_main, args=(spec, self._queue, self._cancel),
                                            name=f"train-{self.name}", daemon=True)
            self._monitor = threading.Thread(target=self._watch, name=f"watch-{self.name}", daemon=True)
        self._state = JobSnapshot(self.name, self.dataset)

    def start(self) -> TrainingJob:
        if self._process is not None:
            self._process.start()
        self._monitor.start()
        return self

    def set_data_source(self, source: str, synthetic: bool = False) -> None:
        """Legacy thread mode: the train function reports where its data came from."""
        self._apply({"type": "source", "source": source, "synthetic": synthetic})

    def _run_in_thread(self) -> None:
        def on_progress(event) -> None:
            self._apply(_progress_message(event, None))

        _run_training(lambda: self._train(on_progress, self._cancel, self), self._apply)

    def cancel(self) -> None:
        """Ask training to stop after the current batch; nothing is saved."""
        self._cancel.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the job has finished (its final message read); True when it has."""
        self._monitor.join(timeout)
        return not self._monitor.is_alive()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            state = self._state
        elapsed = state.elapsed_seconds if state.finished else time.perf_counter() - self._started
        return replace(state, elapsed_seconds=elapsed, cancel_requested=self._cancel.is_set())

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)

    def _apply(self, message: dict[str, Any]) -> bool:
        """Fold one child message into the state; True when it was the last one."""
        kind = message["type"]
        if kind == "source":
            self._update(data_source=message["source"], synthetic=message["synthetic"])
        elif kind == "progress":
            changes: dict[str, Any] = {"status": "running", "fraction": message["fraction"],
                                       "epoch": message["epoch"], "epochs": message["epochs"],
                                       "eta_seconds": message["eta_seconds"], "current": message["losses"]}
            if message["kind"] == "epoch":
                with self._lock:
                    state = self._state
                changes["epoch_losses"] = (*state.epoch_losses, message["losses"])
                changes["epoch_val_losses"] = (*state.epoch_val_losses, message["val_losses"])
                if message.get("samples") is not None:
                    changes["samples"], changes["samples_epoch"] = message["samples"], message["epoch"]
            self._update(**changes)
        else:
            elapsed = time.perf_counter() - self._started
            if kind == "done":
                self._update(status="done", fraction=1.0, metrics=message["metrics"], saved_to=message["saved_to"],
                             elapsed_seconds=elapsed)
            elif kind == "cancelled":
                self._update(status="cancelled", elapsed_seconds=elapsed)
            else:
                self._update(status="failed", error=message["error"], elapsed_seconds=elapsed)
            return True
        return False

    def _watch(self) -> None:
        while True:
            try:
                if self._apply(self._queue.get(timeout=0.5)):
                    break
            except queue_module.Empty:
                if not self._process.is_alive():
                    code = self._process.exitcode
                    self._update(status="failed", elapsed_seconds=time.perf_counter() - self._started,
                                 error=f"The training process stopped unexpectedly (exit code {code}); it may "
                                       "have run out of memory. Try a smaller batch size or model.")
                    break
        self._process.join(timeout=10)


# --- the child process --------------------------------------------------------------------------

def _load_training_data(spec: dict[str, Any]):
    """The dataset the spec names: MNIST (source, path) or transactions (source, path, upload bytes)."""
    options = spec["data"]
    if spec["dataset"] == "mnist":
        from vae_core.views import load_mnist_source

        return load_mnist_source(options.get("source", "auto"), options.get("path"))
    from vae_core.fraud_views import load_training_transactions

    return load_training_transactions(options)


def _model_from_callback_frame():
    """The model being trained, read from the Keras callback that called `on_progress`.

    Temporary: the engine's ProgressEvent does not carry the model yet (requested as
    `event.model` on epoch events); this keeps the per-epoch sample grid working until it does.
    """
    frame = sys._getframe(1)
    for _ in range(8):  # up through on_progress to ProgressReporter.on_epoch_end
        frame = frame.f_back
        if frame is None:
            return None
        reporter = frame.f_locals.get("self")
        if hasattr(reporter, "on_progress") and hasattr(reporter, "model"):
            return reporter.model
    return None


def _progress_message(event, sample_z: np.ndarray | None) -> dict[str, Any]:
    """A ProgressEvent as a plain message; on epoch events with `sample_z`, the decoded sample grid."""
    samples = None
    if event.kind == "epoch" and sample_z is not None:
        model = getattr(event, "model", None) or _model_from_callback_frame()
        if model is not None:
            images = np.clip(model.decode(sample_z), 0.0, 1.0).reshape(SAMPLE_SIDE, SAMPLE_SIDE, 28, 28)
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


def _child_main(spec: dict[str, Any], messages, cancel) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
        messages.join_thread()  # flush the last message before the process exits


def _check_name(name: str, models_dir: str | None) -> None:
    from vae_core.errors import RegistryError
    from vae_core.views import name_problem

    problem = name_problem(name, models_dir)
    if problem:
        raise RegistryError(problem)


def start_job(dataset: str, name: str, form, data: dict[str, Any], models_dir: str | None = None) -> TrainingJob:
    """Check the settings and the name now (bad ones raise here, before any process starts), then
    train in a child process. `form` is a views.TrainForm; `data` the source options."""
    from dataclasses import asdict

    form.configs()  # raises ConfigError with the reason
    _check_name(name, models_dir)
    spec = {"dataset": dataset, "name": name, "form": asdict(form), "models_dir": models_dir, "data": dict(data)}
    return TrainingJob(spec).start()


def start_training(dataset: str, name: str, vae_config, train_config, data: dict[str, Any] | None = None,
                   models_dir: str | None = None) -> TrainingJob:
    """Train exact configs (a VAEConfig and a TrainConfig, e.g. an autoencoder twin) in a child process.

    `data`: source options, e.g. {"source": "auto"} or {"source": "path", "path": ...} for MNIST.
    """
    _check_name(name, models_dir)
    spec = {"dataset": dataset, "name": name, "vae_config": vae_config.to_dict(),
            "train_config": train_config.to_dict(), "models_dir": models_dir, "data": dict(data or {"source": "auto"})}
    return TrainingJob(spec).start()
