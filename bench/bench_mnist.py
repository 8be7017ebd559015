"""MNIST benchmarks: default CLI run, seconds per epoch vs Keras's canonical VAE, test −ELBO at
latent 2 and 20, and interactive latency. Writes bench/results/mnist.json.

    .venv/bin/python bench/bench_mnist.py                 # ~8 min on 2 CPU cores
    .venv/bin/python bench/bench_mnist.py --long          # adds the documented long runs (~+8 min)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO_ROOT = Path(__file__).resolve().parents[1]

import numpy as np

from vae_core.config import TrainConfig, VAEConfig
from vae_core.images.data import read_mnist

KERAS_EXAMPLE_CONV = VAEConfig(architecture="conv", latent_dim=2, conv_filters=(32, 64), conv_dense_units=16)
LONG_RUNS = {
    # name: (VAEConfig, TrainConfig) — the documented longer recipes (README, models/README.md)
    "dense_latent2_long": (VAEConfig(latent_dim=2), TrainConfig(epochs=40, early_stopping_patience=0)),
    "dense_latent20_long": (VAEConfig(latent_dim=20), TrainConfig(epochs=30, early_stopping_patience=0)),
}


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (tracing)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def default_cli_run(data: str, models_dir: str) -> dict:
    """The acceptance command, timed from process start to exit."""
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "vae_core", "train", "--dataset", "mnist", "--latent-dim", "2", "--data", data,
         "--name", "bench-default", "--models-dir", models_dir, "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    summary = json.loads(completed.stdout)
    return {"command": "python -m vae_core train --dataset mnist --latent-dim 2 --data DATA --name NAME",
            "wall_seconds_including_startup": round(wall, 1), **summary}


def epoch_times_ours(x: np.ndarray, config: VAEConfig, epochs: int) -> list[float]:
    from vae_core.training import fit_vae

    marks = []
    fit_vae(x, config, TrainConfig(epochs=epochs, early_stopping_patience=0),
            on_progress=lambda e: e.kind == "epoch" and marks.append(e.elapsed_seconds))
    return [round(b - a, 2) for a, b in zip([0.0] + marks[:-1], marks)]


def epoch_times_reference(x: np.ndarray, epochs: int) -> list[float]:
    import keras

    import reference_keras_vae

    keras.utils.set_random_seed(0)
    marks = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            marks.append(time.perf_counter())

    start = time.perf_counter()
    reference_keras_vae.build().fit(x, epochs=epochs, batch_size=128, verbose=0, callbacks=[Timer()])
    return [round(b - a, 2) for a, b in zip([start] + marks[:-1], marks)]


def latency(vae) -> dict:
    from vae_core.latent import manifold_grid

    z = np.zeros((1, vae.vae_config.latent_dim), np.float32)
    return {"decode_one_point_ms_median": round(median_ms(lambda: vae.decode(z), 500), 3),
            "grid_30x30_ms_median": round(median_ms(lambda: manifold_grid(vae, n=30), 20), 1)}


def long_run(name: str, data) -> dict:
    from vae_core.images.mnist import train_mnist

    vae_config, train_config = LONG_RUNS[name]
    outcome = train_mnist(None, vae_config, train_config, data=data)
    return {"latent_dim": vae_config.latent_dim, "epochs": outcome.metadata["epochs_run"],
            "training_seconds": outcome.metadata["training_seconds"],
            "test_neg_elbo": round(outcome.metrics["test_neg_elbo"], 2),
            "test_reconstruction": round(outcome.metrics["test_reconstruction"], 2),
            "test_kl": round(outcome.metrics["test_kl"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO_ROOT.parent / "shared" / "data" / "mnist"))
    parser.add_argument("--timing-epochs", type=int, default=3, help="epochs per model for seconds/epoch")
    parser.add_argument("--long", action="store_true", help="also run the documented long recipes")
    parser.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "mnist.json"))
    args = parser.parse_args()

    out = Path(args.out)
    # The long runs keep their last figures unless --long reruns them.
    previous = json.loads(out.read_text()) if out.is_file() else {}
    results: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                     "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if "long_runs" in previous:
        results["long_runs"] = previous["long_runs"]
    with tempfile.TemporaryDirectory() as models_dir:
        print("default CLI run …", flush=True)
        results["default_cli_run"] = default_cli_run(args.data, models_dir)
        print(json.dumps(results["default_cli_run"], indent=1), flush=True)

        data = read_mnist(args.data)
        x = data.x_train  # the full 60k, as the anchors time it
        print("seconds per epoch …", flush=True)
        timing = {
            "reference_keras_example_conv": epoch_times_reference(x, args.timing_epochs),
            "ours_conv_keras_example_architecture": epoch_times_ours(x, KERAS_EXAMPLE_CONV, args.timing_epochs),
            "ours_dense_default": epoch_times_ours(x, VAEConfig(), args.timing_epochs),
        }
        # Steady state: the median epoch after the first (which includes tracing and XLA compile).
        steady = {k: statistics.median(v[1:] or v) for k, v in timing.items()}
        results["seconds_per_epoch_60k"] = {"per_epoch": timing, "steady_state_median": steady,
                                             "ratio_ours_to_reference_same_architecture": round(
                                                 steady["ours_conv_keras_example_architecture"]
                                                 / steady["reference_keras_example_conv"], 3)}
        print(json.dumps(results["seconds_per_epoch_60k"], indent=1), flush=True)

        from vae_core.registry import load_model
        from vae_core.training import fit_vae

        print("latency …", flush=True)
        conv = fit_vae(x[:2048], KERAS_EXAMPLE_CONV, TrainConfig(epochs=1)).model
        results["latency"] = {"dense_default": latency(load_model("bench-default", models_dir).vae),
                              "conv_keras_example": latency(conv)}
        print(json.dumps(results["latency"], indent=1), flush=True)

    if args.long:
        results["long_runs"] = {}
        for name in LONG_RUNS:
            print(f"{name} …", flush=True)
            results["long_runs"][name] = long_run(name, data)
            print(json.dumps(results["long_runs"][name], indent=1), flush=True)

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
