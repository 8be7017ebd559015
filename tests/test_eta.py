"""The training ETA on synthetic timings: a scripted fit feeds EtaEstimator the times Keras's hooks
would see, and the estimate is compared with the time that really remained in the script."""

from __future__ import annotations

import math

import pytest

from vae_core.training import EtaEstimator, ProgressEvent


def simulate(epochs: int, steps: int, batch: float, *, first_batch: float = 0.0, validation_batches=(),
             first_validation_trace: float = 0.0, callbacks: float = 0.0, slow_batches: dict | None = None):
    """Run a fit's timeline through an estimator: each batch takes `batch` seconds (the run's first
    one `first_batch` more, and batch (epoch, step) `slow_batches[...]` instead), each epoch ends
    with validation batches (seconds each; the first pass's first batch traces for
    `first_validation_trace` more) and `callbacks` seconds of end-of-epoch work.

    Returns (estimator, checkpoints, end time): checkpoints are (time, batches done, epoch ends done,
    estimate) after every batch and every epoch end, estimated as ProgressReporter would then."""
    eta, now, done, checkpoints = EtaEstimator(epochs, steps), 0.0, 0, []
    slow_batches = slow_batches or {}
    for epoch in range(epochs):
        eta.epoch_begin(now)
        for step in range(steps):
            now += slow_batches.get((epoch, step), batch) + (first_batch if done == 0 else 0.0)
            done += 1
            eta.batch_end(now)
            checkpoints.append((now, done, epoch, eta.remaining(done, epoch)))
        if validation_batches:
            eta.validation_begin(now)
            for i, seconds in enumerate(validation_batches):
                now += seconds + (first_validation_trace if epoch == 0 and i == 0 else 0.0)
                eta.validation_batch_end(now)
            eta.validation_end(now)
        eta.epoch_end(now)
        checkpoints.append((now, done, epoch + 1, eta.remaining(done, epoch + 1)))
        now += callbacks
    return eta, checkpoints, now


def test_before_a_batch_is_timed_there_is_no_estimate():
    eta = EtaEstimator(epochs=3, steps_per_epoch=10)
    assert math.isnan(eta.remaining(0, 0))
    eta.epoch_begin(0.0)
    eta.batch_end(4.0)  # the first batch traces and compiles: not a rate
    assert math.isnan(eta.remaining(1, 0))
    assert "no batch timed yet" in eta.basis()
    eta.batch_end(4.1)
    assert eta.remaining(2, 0) == pytest.approx(28 * 0.1)


def test_steady_batches_give_the_exact_time_left():
    _, checkpoints, end = simulate(epochs=5, steps=100, batch=0.02, first_batch=3.0)
    for now, _, _, estimate in checkpoints[1:]:
        assert estimate == pytest.approx(end - now, abs=1e-9)


def test_tracing_time_is_not_spread_over_the_run():
    """The old estimate (elapsed / done × left, from the start) said ~739 s for a ~90 s run: a first
    batch of seconds (tracing) weighed as if every batch took as long."""
    _, checkpoints, end = simulate(epochs=10, steps=430, batch=0.02, first_batch=8.0)
    now, done, _, estimate = checkpoints[10]
    assert estimate == pytest.approx(end - now, rel=1e-6)
    assert now / done * (4300 - done) > 20 * (end - now)  # what elapsed/done would have said


def test_validation_and_end_of_epoch_work_are_counted():
    _, checkpoints, end = simulate(epochs=10, steps=430, batch=0.02, validation_batches=(0.2, 0.2, 0.1),
                                   callbacks=0.05)
    after_first_epoch = next(c for c in checkpoints if c[2] == 1)
    now, _, _, estimate = after_first_epoch
    # the first epoch end's callbacks are not measured yet: within their share of the time left
    assert estimate == pytest.approx(end - now, rel=0.01)
    for now, _, ends, estimate in checkpoints:
        if ends >= 2:  # measured; at an epoch's event its own callbacks (50 ms) are still to come
            assert estimate == pytest.approx(end - now, abs=0.051)


def test_the_first_validation_s_tracing_is_taken_out_of_later_epoch_ends():
    eta, checkpoints, end = simulate(epochs=10, steps=430, batch=0.02, first_batch=5.0,
                                     validation_batches=(0.1, 0.1, 0.05), first_validation_trace=2.0)
    now, _, _, estimate = next(c for c in checkpoints if c[2] == 1)  # just after the first epoch
    assert estimate == pytest.approx(end - now, rel=0.02)
    assert eta.validation_seconds[0] == pytest.approx(2.25) and eta.validation_seconds[1] == pytest.approx(0.25)


def test_estimate_is_within_a_quarter_everywhere_after_the_first_epoch_with_noisy_batches():
    """Batches of 15–25 ms in a repeating pattern, a one-off 2 s pause, and validation: the estimate
    stays within ±25% of the real time left from the first epoch's end until the last seconds."""
    pattern = [0.015, 0.025, 0.02, 0.018, 0.022]
    slow = {(epoch, step): pattern[(epoch * 7 + step) % 5] for epoch in range(10) for step in range(430)}
    slow[(4, 200)] = 2.0
    _, checkpoints, end = simulate(epochs=10, steps=430, batch=0.02, first_batch=6.0, slow_batches=slow,
                                   validation_batches=(0.15, 0.15, 0.08), first_validation_trace=1.5, callbacks=0.05)
    start = next(c for c in checkpoints if c[2] == 1)[0]
    for now, _, _, estimate in checkpoints:
        if now >= start and end - now > 2.0:
            assert abs(estimate - (end - now)) <= 0.25 * (end - now), (now, estimate, end - now)


def test_slow_batches_count_they_recur():
    """The first batch of each epoch refills the shuffle buffer; a busy machine pauses the process
    now and then. Both are part of what the rest of the run will cost."""
    _, checkpoints, end = simulate(epochs=6, steps=200, batch=0.02, first_batch=4.0,
                                   slow_batches={(e, 0): 0.8 for e in range(1, 6)} | {(e, 77): 0.3 for e in range(6)})
    now, _, _, estimate = next(c for c in checkpoints if c[1] == 400 and c[2] == 2)  # after two epochs
    assert estimate == pytest.approx(end - now, rel=1e-6)


def test_the_rate_follows_the_last_epoch_when_the_machine_slows_down():
    eta, checkpoints, end = simulate(epochs=4, steps=100, batch=0.02,
                                     slow_batches={(e, s): 0.04 for e in (2, 3) for s in range(100)})
    now, _, _, estimate = next(c for c in checkpoints if c[1] == 300 and c[2] == 3)
    assert estimate == pytest.approx(end - now, rel=1e-6)  # the last 100 batches took 40 ms each


def test_basis_names_what_was_measured():
    eta, _, _ = simulate(epochs=3, steps=50, batch=0.02, validation_batches=(0.3,), callbacks=0.1)
    assert eta.basis() == "20 ms per batch over the last 50 batches, 0.4 s per epoch end (validation)"


def test_evaluation_after_the_fit_is_judged_from_the_validation_passes():
    """The first validation pass traced its function, as the evaluation will: the evaluation of 10,000
    rows costs that pass (5,000 rows) plus 5,000 rows at the latest pass's speed."""
    event = ProgressEvent("epoch", 3, 10, 430, 430, {}, {}, 30.0, 60.0, validation_rows=5000,
                          first_validation_seconds=2.0, validation_seconds_per_row=0.5 / 5000)
    assert event.evaluation_seconds(10_000) == pytest.approx(2.5)
    assert event.evaluation_seconds(3000) == pytest.approx(2.0)
    no_validation = ProgressEvent("batch", 1, 10, 40, 430, {}, {}, 3.0, 60.0)
    assert no_validation.evaluation_seconds(10_000) == 0.0


def test_after_the_first_epoch_the_per_row_validation_speed_leaves_out_tracing():
    """After one epoch only the first validation pass exists, and it traced its step: spreading that
    over the rows of an evaluation many times larger overstated the time after the fit (the Train page
    said "about 1:17 left" with 0:42 to go)."""
    eta, _, _ = simulate(epochs=5, steps=100, batch=0.02, validation_batches=(0.1, 0.1, 0.05),
                         first_validation_trace=2.0)
    assert eta.validation_seconds_per_row(5000) == pytest.approx(0.25 / 5000)  # the later passes' speed

    after_one, _, _ = simulate(epochs=1, steps=100, batch=0.02, validation_batches=(0.1, 0.1, 0.05),
                               first_validation_trace=2.0)
    assert after_one.validation_tracing_seconds() == pytest.approx(2.0)
    assert after_one.validation_seconds_per_row(5000) == pytest.approx(0.25 / 5000)
    assert math.isnan(EtaEstimator(epochs=1, steps_per_epoch=10).validation_seconds_per_row(5000))  # no pass yet


def test_the_time_after_an_mnist_fit_counts_the_importance_weighted_bound():
    """After an MNIST VAE's fit come its test −ELBO (one pass over the test images) and its
    TRAINING_IW_SAMPLES-draw bound (each draw decodes: about half a validation row); an autoencoder
    has no bound. The ETA on the Train page used to leave the bound out: "0 s left" with ~10 s to go."""
    from types import SimpleNamespace

    import numpy as np

    from vae_core import jobs
    from vae_core.config import TrainConfig, VAEConfig
    from vae_core.images.mnist import TRAINING_IW_SAMPLES

    data = SimpleNamespace(x_test=np.zeros((1000, 28, 28, 1), np.float32))
    spec = lambda model_type: jobs.TrainingSpec.training(  # noqa: E731
        "mnist", "x", VAEConfig(model_type=model_type), TrainConfig(), {"choice": "bundled"}, None)
    assert jobs._after_fit_rows(spec("vae"), data) == 1000 * (1 + TRAINING_IW_SAMPLES // 2)
    assert jobs._after_fit_rows(spec("ae"), data) == 1000
