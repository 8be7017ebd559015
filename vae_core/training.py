"""Fitting a VAE: tf.data input, distribution-strategy scope, progress events, cancellation."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal

import numpy as np

from vae_core.config import TrainConfig, VAEConfig

if TYPE_CHECKING:
    from vae_core.model import VAE


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report. `losses` are running means of the current epoch (nats per example);
    `val_losses` are set on epoch events when validation data was given."""

    kind: Literal["batch", "epoch"]
    epoch: int  # 1-based
    epochs: int
    step: int  # batches done in this epoch
    steps_per_epoch: int
    losses: dict[str, float]
    val_losses: dict[str, float]
    elapsed_seconds: float
    eta_seconds: float
    # The model being trained, on epoch events (e.g. to decode a sample grid); None on batch events.
    model: VAE | None = field(default=None, repr=False, compare=False)

    @property
    def fraction(self) -> float:
        """Share of all planned batches done, in [0, 1]."""
        done = (self.epoch - 1) * self.steps_per_epoch + self.step
        return min(1.0, done / max(1, self.epochs * self.steps_per_epoch))


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class TrainResult:
    """What `fit_vae` produced; `history` maps metric name → per-epoch values."""

    model: VAE
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    # Processor time of the whole process during fit (all threads): comparable across machine loads.
    cpu_seconds: float = 0.0
    epochs_run: int = 0
    cancelled: bool = False
    stopped_early: bool = False


def make_strategy(name: str):
    """The tf.distribute strategy for TrainConfig.strategy."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def make_dataset(x: np.ndarray, batch_size: int, *, shuffle: bool, seed: int, y: np.ndarray | None = None):
    """x (n, ...) float32 [, integer labels y (n,)] → batched, prefetched tf.data.Dataset of x
    or of (x, y) pairs (reshuffled each epoch)."""
    import tensorflow as tf

    x = np.asarray(x, dtype=np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(
        x if y is None else (x, np.asarray(y).reshape(-1).astype(np.int32)))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def make_optimizer(train_config: TrainConfig, steps_per_epoch: int):
    """Adam (AdamW with weight decay) at the configured rate or schedule over all planned steps."""
    import keras

    learning_rate = train_config.learning_rate
    if train_config.lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate,
                                                               decay_steps=train_config.epochs * steps_per_epoch)
    if train_config.weight_decay:
        return keras.optimizers.AdamW(learning_rate, weight_decay=train_config.weight_decay)
    return keras.optimizers.Adam(learning_rate)


def _progress_callback_class():
    import keras

    class ProgressReporter(keras.callbacks.Callback):
        """Turns Keras's hooks into ProgressEvents, ramps the KL weight, and honours cancel."""

        def __init__(self, train_config: TrainConfig, vae_config: VAEConfig, steps_per_epoch: int,
                     on_progress: ProgressCallback | None, cancel: threading.Event | None,
                     min_interval: float = 0.2):
            super().__init__()
            self.train_config, self.vae_config = train_config, vae_config
            self.steps_per_epoch = steps_per_epoch
            self.on_progress, self.cancel = on_progress, cancel
            self.min_interval = min_interval
            self.start = time.perf_counter()
            self.last_report = 0.0
            self.epoch = 0
            self.cancelled = False

        def _event(self, kind, step, logs, val_logs=None, model=None) -> ProgressEvent:
            elapsed = time.perf_counter() - self.start
            epochs = self.train_config.epochs
            done = self.epoch * self.steps_per_epoch + step
            total = epochs * self.steps_per_epoch
            eta = elapsed / done * (total - done) if done else math.nan
            losses = {k: float(v) for k, v in (logs or {}).items() if not k.startswith("val_")}
            return ProgressEvent(kind, self.epoch + 1, epochs, step, self.steps_per_epoch,
                                 losses, val_logs or {}, elapsed, eta, model)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            warmup = self.vae_config.kl_warmup_epochs
            ramp = min(1.0, (epoch + 1) / warmup) if warmup else 1.0
            self.model.kl_weight.assign(self.vae_config.beta * ramp)

        def on_train_batch_end(self, batch, logs=None):
            if self.cancel is not None and self.cancel.is_set():
                self.cancelled = True
                self.model.stop_training = True
            now = time.perf_counter()
            if self.on_progress and now - self.last_report >= self.min_interval:
                self.last_report = now
                self.on_progress(self._event("batch", batch + 1, logs))

        def on_epoch_end(self, epoch, logs=None):
            if self.on_progress and not self.cancelled:
                val = {k[4:]: float(v) for k, v in (logs or {}).items() if k.startswith("val_")}
                self.on_progress(self._event("epoch", self.steps_per_epoch, logs, val, self.model))

    return ProgressReporter


def _check_labels(y: np.ndarray | None, x: np.ndarray | None, num_classes: int, what: str) -> np.ndarray | None:
    """Integer labels (n,) for a conditional model, else None; a clear ConfigError when unusable."""
    from vae_core.errors import ConfigError

    if x is None or not num_classes:
        return None
    if y is None:
        raise ConfigError(f"A conditional model needs {what} labels (one class index per row).")
    labels = np.asarray(y).reshape(-1)
    if len(labels) != len(x):
        raise ConfigError(f"Got {len(labels)} {what} labels for {len(x)} rows.")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ConfigError(f"{what.capitalize()} labels must be class indices from 0 to {num_classes - 1}.")
    return labels.astype(np.int32)


def fit_vae(x_train: np.ndarray, vae_config: VAEConfig, train_config: TrainConfig, *,
            x_val: np.ndarray | None = None, on_progress: ProgressCallback | None = None,
            cancel: threading.Event | None = None, verbose: int = 0,
            y_train: np.ndarray | None = None, y_val: np.ndarray | None = None) -> TrainResult:
    """Train a new VAE on x_train (n, *input_shape) float32; x_val drives early stopping.

    Conditional models (`vae_config.num_classes` > 0) need integer labels `y_train` (n,) and, with
    x_val, `y_val`; unconditional models ignore labels. The model is built under the configured
    tf.distribute strategy's scope, so multi-GPU or multi-worker training is a TrainConfig change.
    Setting `cancel` stops after the current batch (the result has cancelled=True and callers must
    not save it).
    """
    import keras

    from vae_core.model import VAE

    y_train = _check_labels(y_train, x_train, vae_config.num_classes, "training")
    y_val = _check_labels(y_val, x_val, vae_config.num_classes, "validation")
    keras.utils.set_random_seed(train_config.seed)
    strategy = make_strategy(train_config.strategy)
    steps = math.ceil(len(x_train) / train_config.batch_size)
    with strategy.scope():
        model = VAE(vae_config)
        model.compile(optimizer=make_optimizer(train_config, steps))
    train_data = make_dataset(x_train, train_config.batch_size, shuffle=True, seed=train_config.seed, y=y_train)
    val_data = None if x_val is None else make_dataset(x_val, 2048, shuffle=False, seed=0, y=y_val)
    reporter = _progress_callback_class()(train_config, vae_config, steps, on_progress, cancel)
    callbacks = [reporter]
    early_stopping = None
    if val_data is not None and train_config.early_stopping_patience > 0:
        early_stopping = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=train_config.early_stopping_patience,
            restore_best_weights=True, start_from_epoch=vae_config.kl_warmup_epochs)
        callbacks.append(early_stopping)
    start, cpu_start = time.perf_counter(), time.process_time()
    history = model.fit(train_data, validation_data=val_data, epochs=train_config.epochs,
                        callbacks=callbacks, verbose=verbose, shuffle=False)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    epochs_run = len(history.history.get("loss", []))
    return TrainResult(
        model=model,
        history={k: [float(v) for v in values] for k, values in history.history.items()},
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        epochs_run=epochs_run,
        cancelled=reporter.cancelled,
        stopped_early=bool(early_stopping and early_stopping.stopped_epoch > 0),
    )
