"""Fitting a VAE: tf.data input, distribution-strategy scope, progress events, cancellation."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal

import numpy as np

from vae_core.config import TrainConfig, VAEConfig

if TYPE_CHECKING:
    from vae_core.model import VAE


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report. `losses` are running means of the current epoch (nats per example);
    `val_losses` are set on epoch events when validation data was given.

    kind "start": the step is about to be traced and compiled (no batch done yet); "batch": batches
    are running; "epoch": an epoch and its validation are done. `eta_seconds` is the fit's remaining
    time as `EtaEstimator` measures it (nan until a batch after the first has been timed), and
    `eta_basis` what it rests on; `evaluation_seconds(rows)` estimates work after the fit from the
    validation passes timed so far.
    """

    kind: Literal["start", "batch", "epoch"]
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
    eta_basis: str = ""
    validation_rows: int = 0
    first_validation_seconds: float = math.nan  # the first validation pass (it traced the step)
    validation_seconds_per_row: float = math.nan  # in the latest validation pass, without tracing

    def evaluation_seconds(self, rows: int) -> float:
        """Seconds to evaluate `rows` rows after the fit, judged from validation: as long as the first
        validation pass (the evaluation traces its function too) plus the latest per-row speed for
        the rows beyond it; 0 when no validation has run."""
        if math.isnan(self.first_validation_seconds):
            return 0.0
        return self.first_validation_seconds + max(0, rows - self.validation_rows) * self.validation_seconds_per_row

    @property
    def fraction(self) -> float:
        """Share of all planned batches done, in [0, 1]."""
        done = (self.epoch - 1) * self.steps_per_epoch + self.step
        return min(1.0, done / max(1, self.epochs * self.steps_per_epoch))


class EtaEstimator:
    """The time left in a fit, from what has been measured in it.

    Remaining = batches left × seconds per batch + epoch ends left × seconds per epoch end.

    Seconds per batch: the mean over the last `window` batches (one epoch's worth by default), leaving
    out only the run's first batch (it traces and compiles the training step). Slow batches count: the
    first of each epoch refills the shuffle buffer, and on a shared machine pauses recur, so leaving
    them out would promise too little. Seconds per epoch end: the measured time from an epoch's last
    batch to the next epoch's first (validation and end-of-epoch callbacks). The first epoch end
    also traces the validation step: until a second one is measured, its first validation batch's
    excess over the slowest later one is taken out.

    It reads no clock: the caller passes times in seconds (ProgressReporter passes
    time.perf_counter()), so it is tested on synthetic timings.
    """

    def __init__(self, epochs: int, steps_per_epoch: int, *, window: int | None = None) -> None:
        self.epochs, self.steps_per_epoch = epochs, max(1, steps_per_epoch)
        self.batch_seconds: deque[float] = deque(maxlen=max(20, window or self.steps_per_epoch))
        self.end_seconds: list[float] = []  # measured epoch ends (last batch → next epoch's start)
        self.validation_seconds: list[float] = []  # whole validation passes
        self._first_validation_batches: list[float] = []  # batch times of the first validation pass
        self._open_end = math.nan  # the current epoch end so far (last batch → its epoch event)
        self._mark: float | None = None  # the end of the last batch or the start of the epoch
        self._last_batch: float | None = None
        self._validation_mark: float | None = None
        self._validation_start: float | None = None
        self._batches = 0

    # --- what happened (times in seconds) --------------------------------------------------------
    def epoch_begin(self, now: float) -> None:
        if self._last_batch is not None:
            self.end_seconds.append(now - self._last_batch)
            self._open_end = math.nan
        self._mark = now

    def batch_end(self, now: float) -> None:
        if self._mark is not None and self._batches > 0:
            self.batch_seconds.append(now - self._mark)
        self._batches += 1
        self._mark = self._last_batch = now

    def validation_begin(self, now: float) -> None:
        self._validation_start = self._validation_mark = now

    def validation_batch_end(self, now: float) -> None:
        if self._validation_mark is not None and not self.validation_seconds:
            self._first_validation_batches.append(now - self._validation_mark)
        self._validation_mark = now

    def validation_end(self, now: float) -> None:
        if self._validation_start is not None:
            self.validation_seconds.append(now - self._validation_start)
        self._validation_start = self._validation_mark = None

    def epoch_end(self, now: float) -> None:
        if self._last_batch is not None:
            self._open_end = now - self._last_batch

    # --- estimates --------------------------------------------------------------------------------
    def seconds_per_batch(self) -> float:
        """Mean seconds per batch after warm-up (nan until one has been timed)."""
        return float(np.mean(self.batch_seconds)) if self.batch_seconds else math.nan

    def seconds_per_epoch_end(self) -> float:
        """Seconds from an epoch's last batch to the next epoch's first (0 until one was measured)."""
        if len(self.end_seconds) > 1:
            return float(np.mean(self.end_seconds[1:]))
        first = self.end_seconds[0] if self.end_seconds else self._open_end
        if math.isnan(first):
            return 0.0
        return max(0.0, first - self.validation_tracing_seconds())

    def validation_tracing_seconds(self) -> float:
        """How much longer the first validation batch took than the slowest later one of its pass
        (tracing the validation step); 0 until two batches of that pass were timed."""
        batches = self._first_validation_batches
        return max(0.0, batches[0] - max(batches[1:])) if len(batches) > 1 else 0.0

    def validation_seconds_per_row(self, rows: int) -> float:
        """Seconds per validation row in the latest pass of `rows` rows, its tracing left out when
        that pass was the first (nan before any pass)."""
        if not self.validation_seconds or rows <= 0:
            return math.nan
        latest = self.validation_seconds[-1]
        if len(self.validation_seconds) == 1:
            latest -= self.validation_tracing_seconds()
        return max(0.0, latest) / rows

    def remaining(self, batches_done: int, epoch_ends_done: int) -> float:
        """Seconds left after `batches_done` batches in all and `epoch_ends_done` finished epoch ends
        (nan while no batch after the first has been timed)."""
        per_batch = self.seconds_per_batch()
        if math.isnan(per_batch):
            return math.nan
        batches_left = max(0, self.epochs * self.steps_per_epoch - batches_done)
        ends_left = max(0, self.epochs - epoch_ends_done)
        return batches_left * per_batch + ends_left * self.seconds_per_epoch_end()

    def basis(self) -> str:
        """What the estimate rests on, for people."""
        per_batch = self.seconds_per_batch()
        if math.isnan(per_batch):
            return "no batch timed yet (the first one compiles the training step)"
        text = f"{per_batch * 1000:.0f} ms per batch over the last {len(self.batch_seconds)} batches"
        if self.end_seconds or not math.isnan(self._open_end):
            text += f", {self.seconds_per_epoch_end():.1f} s per epoch end (validation)"
        return text


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
    """The tf.distribute strategy for TrainConfig.strategy.

    "mirrored": one replica per local GPU, or per logical CPU device when there is no GPU (a plain
    CPU is one device; tests split it in two with tf.config.set_logical_device_configuration).
    "multi_worker": synchronous training over the cluster described by the TF_CONFIG environment
    variable (each worker runs the same command). Either way the global batch is TrainConfig's
    batch_size, split across replicas, so the optimisation matches the default strategy's.
    """
    import tensorflow as tf

    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _batch_axis_for_multi_worker(model) -> None:
    """Under MultiWorkerMirroredStrategy, Keras 3's fit reduces each step's results across workers
    along axis 0, which fails on the scalar metrics train_step returns ("Invalid reduction dimension
    0 for input with 0 dimensions", tensorflow/tensorflow#72388): give them an axis of length one,
    which that reduction averages away."""
    from keras import ops

    for name in ("train_step", "test_step"):
        step = getattr(model, name)
        setattr(model, name, lambda data, step=step: {k: ops.reshape(v, (1,)) for k, v in step(data).items()})


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
        """Turns Keras's hooks into ProgressEvents (timed by an EtaEstimator), ramps the KL weight,
        and honours cancel. `validation_rows`: rows in the validation data (0 when none)."""

        def __init__(self, train_config: TrainConfig, vae_config: VAEConfig, steps_per_epoch: int,
                     on_progress: ProgressCallback | None, cancel: threading.Event | None,
                     min_interval: float = 0.2, validation_rows: int = 0):
            super().__init__()
            self.train_config, self.vae_config = train_config, vae_config
            self.steps_per_epoch = steps_per_epoch
            self.on_progress, self.cancel = on_progress, cancel
            self.min_interval = min_interval
            self.validation_rows = validation_rows
            self.eta = EtaEstimator(train_config.epochs, steps_per_epoch)
            self.start = time.perf_counter()
            self.last_report = 0.0
            self.epoch = 0
            self.cancelled = False

        def _event(self, kind, step, logs, val_logs=None, model=None) -> ProgressEvent:
            elapsed = time.perf_counter() - self.start
            done = self.epoch * self.steps_per_epoch + step
            eta = self.eta.remaining(done, self.epoch + (kind == "epoch"))
            passes, rows = self.eta.validation_seconds, self.validation_rows
            first = passes[0] if passes and rows else math.nan
            per_row = self.eta.validation_seconds_per_row(rows)
            losses = {k: float(v) for k, v in (logs or {}).items() if not k.startswith("val_")}
            return ProgressEvent(kind, self.epoch + 1, self.train_config.epochs, step, self.steps_per_epoch,
                                 losses, val_logs or {}, elapsed, eta, model, self.eta.basis(), rows, first, per_row)

        def on_train_begin(self, logs=None):
            if self.on_progress:
                self.on_progress(self._event("start", 0, {}))

        def on_epoch_begin(self, epoch, logs=None):
            self.eta.epoch_begin(time.perf_counter())
            self.epoch = epoch
            warmup = self.vae_config.kl_warmup_epochs
            ramp = min(1.0, (epoch + 1) / warmup) if warmup else 1.0
            self.model.kl_weight.assign(self.vae_config.beta * ramp)

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self.eta.batch_end(now)
            if self.cancel is not None and self.cancel.is_set():
                self.cancelled = True
                self.model.stop_training = True
            if self.on_progress and now - self.last_report >= self.min_interval:
                self.last_report = now
                self.on_progress(self._event("batch", batch + 1, logs))

        def on_test_begin(self, logs=None):
            self.eta.validation_begin(time.perf_counter())

        def on_test_batch_end(self, batch, logs=None):
            self.eta.validation_batch_end(time.perf_counter())

        def on_test_end(self, logs=None):
            self.eta.validation_end(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            self.eta.epoch_end(time.perf_counter())
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
        # Its slots now rather than inside the first step: a step that creates variables is traced
        # twice, and tracing is most of the wait before the first batch (~3 s instead of ~7 here).
        model.optimizer.build(model.trainable_variables)
    if train_config.strategy == "multi_worker":
        _batch_axis_for_multi_worker(model)
    train_data = make_dataset(x_train, train_config.batch_size, shuffle=True, seed=train_config.seed, y=y_train)
    val_data = None if x_val is None else make_dataset(x_val, 2048, shuffle=False, seed=0, y=y_val)
    reporter = _progress_callback_class()(train_config, vae_config, steps, on_progress, cancel,
                                          validation_rows=0 if x_val is None else len(x_val))
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
