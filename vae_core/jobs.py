"""Training in a child process, so a page can show live progress and offer Cancel.

Why a process rather than a thread: Streamlit calls `keras.backend.clear_session()` after every
rerun once Keras is imported, which resets Keras's global state under any thread that is building
or saving a model, and a progress page reruns several times a second. A spawned process has its
own Keras; it also keeps TensorFlow out of the web server's memory and off its GIL.

A caller describes the work as a `TrainingSpec` (plain, picklable data), starts it with `start`,
keeps the `TrainingJob` and polls `snapshot()`; a small monitor thread moves the child's messages
into the snapshot. Every training of the dashboard goes through here: the Train page, the AE twin
of the comparison, the β sweep.
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

from vae_core.config import DATASETS, TrainConfig, VAEConfig
from vae_core.errors import ConfigError, VAEError

Status = Literal["starting", "running", "done", "cancelled", "failed"]
Task = Literal["train", "beta_sweep"]
# A job whose owner (a browser session) has been disconnected this long is cancelled. Short: a
# closed tab must save nothing; a network blip of a few seconds is forgiven. Saving also asks
# whether the owner is there at that moment (see `_watch`).
ABANDON_AFTER_SECONDS = 5.0
SAMPLE_SIDE = 4  # the per-epoch sample grid is SAMPLE_SIDE × SAMPLE_SIDE decoded prior draws


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
    `result` what a task other than "train" produced (the β sweep's rows).
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

    @property
    def finished(self) -> bool:
        return self.status in ("done", "cancelled", "failed")


class _Progress:
    """A job's state, folded from its messages under a lock; shared by the job and its monitor thread."""

    def __init__(self, spec: TrainingSpec) -> None:
        self.lock = threading.Lock()
        self.started = time.perf_counter()
        self.state = JobSnapshot(spec.name, spec.dataset, spec.task)

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


def _watch(process, messages, progress: _Progress, cancel, save_verdict, owner_alive: Callable[[], bool] | None) -> None:
    """Monitor thread: move the child's messages into `progress` until its last one (or its death).

    Cancels the run once its owner has been gone for ABANDON_AFTER_SECONDS, and answers the child's
    "may I save?" with whether the owner is there right now, so a closed tab never gets a model.
    """
    last_seen = time.monotonic()
    while True:
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
            save_verdict.put(not cancel.is_set())
        elif progress.apply(message):
            break
    process.join(timeout=10)


class TrainingJob:
    """One `TrainingSpec` running in a spawned process. Use `start` rather than building one.

    An abandoned job saves nothing: it is cancelled when `owner_alive()` (e.g. "is the browser
    session that started me still connected?") has been False for ABANDON_AFTER_SECONDS or is
    False when the model is about to be saved, or when no one holds the job any more (the monitor
    thread holds only the job's parts, never the job); and the child cancels itself if this
    process dies.
    """

    def __init__(self, spec: TrainingSpec, *, owner_alive: Callable[[], bool] | None = None) -> None:
        self.spec = spec
        self.name, self.dataset = spec.name, spec.dataset
        self._progress = _Progress(spec)
        context = mp.get_context("spawn")  # fork is unsafe in a threaded server holding TensorFlow
        self._queue = context.Queue()
        self._verdict = context.Queue()
        self._cancel = context.Event()
        self._process = context.Process(target=_child_main, args=(spec, self._queue, self._cancel, self._verdict),
                                        name=f"train-{spec.name or spec.task}", daemon=True)
        self._monitor = threading.Thread(target=_watch, name=f"watch-{spec.name or spec.task}", daemon=True,
                                         args=(self._process, self._queue, self._progress, self._cancel,
                                               self._verdict, owner_alive))
        # Dropped by its owner while running: stop after the current batch, save nothing. (At exit,
        # daemon children are terminated anyway.)
        weakref.finalize(self, self._cancel.set).atexit = False

    def _start(self) -> TrainingJob:
        self._process.start()
        self._monitor.start()
        return self

    @property
    def pid(self) -> int | None:
        """The training process's id (None before start)."""
        return self._process.pid

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


def start(spec: TrainingSpec, *, owner_alive: Callable[[], bool] | None = None) -> TrainingJob:
    """Check the spec now (bad settings or a taken name raise here, before any process starts), then
    run it in a child process. `owner_alive`: see TrainingJob."""
    from vae_core import registry

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
    return TrainingJob(spec, owner_alive=owner_alive)._start()


# --- the child process --------------------------------------------------------------------------

def _progress_message(event, sample_z: np.ndarray | None) -> dict[str, Any]:
    """A ProgressEvent as a plain message; on epoch events with `sample_z`, the decoded sample grid."""
    from vae_core.latent import decode_images, mosaic

    samples = None
    if event.kind == "epoch" and sample_z is not None and event.model is not None:
        samples = mosaic(decode_images(event.model, sample_z), SAMPLE_SIDE)
    return {"type": "progress", "kind": event.kind, "fraction": event.fraction, "epoch": event.epoch,
            "epochs": event.epochs, "eta_seconds": event.eta_seconds, "losses": dict(event.losses),
            "val_losses": dict(event.val_losses), "samples": samples}


def _load_data(spec: TrainingSpec):
    from vae_core import sources

    if spec.dataset == "mnist":
        return sources.mnist(**spec.data)
    return sources.training_transactions(spec.data)


def _train(spec: TrainingSpec, data, on_progress, cancel, may_save) -> dict[str, Any] | None:
    """Fit and save; the "done" message's payload, or None when cancelled."""
    vae_config, train_config = VAEConfig.from_dict(spec.vae_config), TrainConfig.from_dict(spec.train_config)
    if spec.dataset == "mnist":
        from vae_core.mnist import train_mnist

        outcome = train_mnist(spec.name, vae_config, train_config, data=data, models_dir=spec.models_dir,
                              on_progress=on_progress, cancel=cancel, may_save=may_save)
    else:
        from vae_core.fraud import train_fraud

        outcome = train_fraud(spec.name, data, vae_config, train_config, models_dir=spec.models_dir,
                              on_progress=on_progress, cancel=cancel, may_save=may_save)
    if outcome.saved_to is None:
        return None
    metrics = {k: v for k, v in outcome.metrics.items() if isinstance(v, (int, float, str))}
    return {"metrics": metrics, "saved_to": str(outcome.saved_to)}


def _beta_sweep(spec: TrainingSpec, data, on_progress, cancel, may_save) -> dict[str, Any] | None:
    from vae_core.anatomy import beta_sweep

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


def _child_main(spec: TrainingSpec, messages, cancel, verdict) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    orphaned = _cancel_when_orphaned(cancel)

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
        data = _load_data(spec)
        messages.put({"type": "source", "source": data.source, "synthetic": bool(getattr(data, "synthetic", False))})
        sample_z = None
        if spec.dataset == "mnist" and spec.task == "train":
            from vae_core.latent import sample_prior

            sample_z = sample_prior(int(spec.vae_config["latent_dim"]), SAMPLE_SIDE * SAMPLE_SIDE, seed=0)
        payload = TASKS[spec.task](spec, data, lambda event: messages.put(_progress_message(event, sample_z)),
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

