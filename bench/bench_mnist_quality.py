"""What was tried for MNIST quality: settings → test −ELBO, training seconds (wall and CPU), epochs.
Writes bench/results/mnist_quality.json (kept runs are merged, so settings can be run one at a time).

    .venv/bin/python bench/bench_mnist_quality.py --list               # the settings
    .venv/bin/python bench/bench_mnist_quality.py --only d2-cosine-e40  # one setting (≈ minutes)
    .venv/bin/python bench/bench_mnist_quality.py --default-cli         # the default command, timed
    .venv/bin/python bench/bench_mnist_quality.py --shipped             # models/mnist-*: −ELBO, IW NLL, latency

Each setting trains in a fresh process (TensorFlow start-up excluded from the training figures,
included in `process_wall_seconds`), on the CLI's split (55k train / 5k validation, seed 0), and is
scored on the 10k test images: continuous MNIST in [0, 1], summed Bernoulli cross-entropy,
single-sample ELBO (seed 0). Wall seconds depend on what else the machine runs, so every run
records its processor seconds and the load average too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO_ROOT = Path(__file__).resolve().parents[1]

OUT = REPO_ROOT / "bench" / "results" / "mnist_quality.json"
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "mnist"
SHIPPED = ("mnist-dense-2d", "mnist-dense-2d-ae", "mnist-dense-20d")


def setting(latent: int = 2, hidden: tuple[int, ...] = (512, 256), decoder: tuple[int, ...] = (),
            epochs: int = 10, batch: int = 128, lr: float = 1e-3, schedule: str = "constant",
            warmup: int = 0, free_bits: float = 0.0, dropout: float = 0.0, weight_decay: float = 0.0,
            patience: int = 0, model_type: str = "vae", activation: str = "relu") -> dict:
    """One row of the table as VAEConfig / TrainConfig keyword arguments."""
    return {"vae": {"latent_dim": latent, "hidden_units": hidden, "decoder_hidden_units": decoder,
                    "kl_warmup_epochs": warmup, "free_bits": free_bits, "encoder_dropout": dropout,
                    "model_type": model_type, "activation": activation},
            "train": {"epochs": epochs, "batch_size": batch, "learning_rate": lr, "lr_schedule": schedule,
                      "weight_decay": weight_decay, "early_stopping_patience": patience}}


SETTINGS: dict[str, dict] = {
    # Latent 2: the old default and faster candidates for the default command.
    "d2-old-default": setting(patience=5),
    "d2-b256-lr2e-3-cosine-e8": setting(batch=256, lr=2e-3, schedule="cosine", epochs=8),
    "d2-b256-lr3e-3-cosine-e8": setting(batch=256, lr=3e-3, schedule="cosine", epochs=8),
    "d2-b128-lr2e-3-cosine-e6": setting(lr=2e-3, schedule="cosine", epochs=6),
    "d2-b256-lr3e-3-cosine-e10": setting(batch=256, lr=3e-3, schedule="cosine", epochs=10),
    "d2-b256-lr4e-3-cosine-e8": setting(batch=256, lr=4e-3, schedule="cosine", epochs=8),
    "d2-b512-lr4e-3-cosine-e12": setting(batch=512, lr=4e-3, schedule="cosine", epochs=12),
    "d2-b512-lr6e-3-cosine-e12": setting(batch=512, lr=6e-3, schedule="cosine", epochs=12),
    "d2-b512-lr6e-3-cosine-e8": setting(batch=512, lr=6e-3, schedule="cosine", epochs=8),
    "d2-b256-lr4e-3-cosine-e6": setting(batch=256, lr=4e-3, schedule="cosine", epochs=6),
    "d2-b256-lr5e-3-cosine-e6": setting(batch=256, lr=5e-3, schedule="cosine", epochs=6),
    "d2-b192-lr4e-3-cosine-e6": setting(batch=192, lr=4e-3, schedule="cosine", epochs=6),
    # Latent 2: longer runs for the shipped model.
    "d2-e40": setting(epochs=40),
    "d2-cosine-e40": setting(schedule="cosine", epochs=40),
    "d2-b256-lr2e-3-cosine-e100": setting(batch=256, lr=2e-3, schedule="cosine", epochs=100),
    "d2-b256-lr2e-3-cosine-e40": setting(batch=256, lr=2e-3, schedule="cosine", epochs=40),
    "d2-b256-lr2e-3-cosine-e40-encdrop0.3": setting(batch=256, lr=2e-3, schedule="cosine", epochs=40, dropout=0.3),
    "d2-b256-lr2e-3-cosine-e40-wd0.05": setting(batch=256, lr=2e-3, schedule="cosine", epochs=40, weight_decay=0.05),
    "d2-h512-256-128-b256-lr2e-3-cosine-e60": setting(hidden=(512, 256, 128), batch=256, lr=2e-3, schedule="cosine",
                                                      epochs=60),
    "d2-h512-256-128-64-b256-lr2e-3-cosine-e60": setting(hidden=(512, 256, 128, 64), batch=256, lr=2e-3,
                                                         schedule="cosine", epochs=60),
    "d2-h512-256-128-b256-lr2e-3-cosine-e100": setting(hidden=(512, 256, 128), batch=256, lr=2e-3, schedule="cosine",
                                                       epochs=100),
    "d2-dec256-512-1024-b256-lr3e-3-cosine-e40": setting(decoder=(256, 512, 1024), batch=256, lr=3e-3,
                                                         schedule="cosine", epochs=40),
    "d2-dec256-512-1024-b256-lr3e-3-cosine-e40-encdrop0.2": setting(decoder=(256, 512, 1024), batch=256, lr=3e-3,
                                                                    schedule="cosine", epochs=40, dropout=0.2),
    # Latent 16.
    "d16-e30": setting(latent=16, epochs=30),
    "d16-b256-lr2e-3-cosine-e60": setting(latent=16, batch=256, lr=2e-3, schedule="cosine", epochs=60),
    "d16-b256-lr2e-3-cosine-e60-warmup10": setting(latent=16, batch=256, lr=2e-3, schedule="cosine", epochs=60,
                                                   warmup=10),
    "d16-h512-256-128-b256-lr2e-3-cosine-e60": setting(latent=16, hidden=(512, 256, 128), batch=256, lr=2e-3,
                                                       schedule="cosine", epochs=60),
    "d16-h512-256-128-b256-lr2e-3-cosine-e60-warmup10": setting(latent=16, hidden=(512, 256, 128), batch=256,
                                                                lr=2e-3, schedule="cosine", epochs=60, warmup=10),
    "d16-h512-256-128-b256-lr2e-3-cosine-e60-freebits0.5": setting(latent=16, hidden=(512, 256, 128), batch=256,
                                                                   lr=2e-3, schedule="cosine", epochs=60, free_bits=0.5),
    "d16-enc512-256-128-dec256-512-b256-lr2e-3-cosine-e60": setting(latent=16, hidden=(512, 256, 128),
                                                                    decoder=(256, 512), batch=256, lr=2e-3,
                                                                    schedule="cosine", epochs=60),
    "d20-b256-lr2e-3-cosine-e100": setting(latent=20, batch=256, lr=2e-3, schedule="cosine", epochs=100),
    "d20-dec256-512-1024-b256-lr2e-3-cosine-e40-warmup10": setting(latent=20, decoder=(256, 512, 1024), batch=256,
                                                                   lr=2e-3, schedule="cosine", epochs=40, warmup=10),
    "d20-dec256-512-1024-b128-lr1e-3-cosine-e30-warmup10": setting(latent=20, decoder=(256, 512, 1024), batch=128,
                                                                   lr=1e-3, schedule="cosine", epochs=30, warmup=10),
    "d20-dec256-512-1024-b256-lr2e-3-cosine-e80-warmup10": setting(latent=20, decoder=(256, 512, 1024), batch=256,
                                                                   lr=2e-3, schedule="cosine", epochs=80, warmup=10),
    "d20-dec256-512-1024-b512-lr3e-3-cosine-e90-warmup10": setting(latent=20, decoder=(256, 512, 1024), batch=512,
                                                                   lr=3e-3, schedule="cosine", epochs=90, warmup=10),
    "d20-dec256-512-1024-b256-lr2e-3-cosine-e65-warmup10-wd0.02": setting(
        latent=20, decoder=(256, 512, 1024), batch=256, lr=2e-3, schedule="cosine", epochs=65, warmup=10,
        weight_decay=0.02),
    "d20-dec256-512-1024-b256-lr2e-3-cosine-e65-warmup10-wd0.05": setting(
        latent=20, decoder=(256, 512, 1024), batch=256, lr=2e-3, schedule="cosine", epochs=65, warmup=10,
        weight_decay=0.05),
    "d20-dec256-512-1024-b256-lr2e-3-cosine-e65-warmup10-wd0.1": setting(
        latent=20, decoder=(256, 512, 1024), batch=256, lr=2e-3, schedule="cosine", epochs=65, warmup=10,
        weight_decay=0.1),
    "d20-dec256-512-1024-b256-lr2e-3-cosine-e70-warmup10-wd0.05": setting(
        latent=20, decoder=(256, 512, 1024), batch=256, lr=2e-3, schedule="cosine", epochs=70, warmup=10,
        weight_decay=0.05),
    # SiLU against ReLU hidden layers (two runs at once, one thread each).
    "d20-dec256-512-1024-b256-lr2e-3-cosine-e20-warmup10-wd0.05": setting(
        latent=20, decoder=(256, 512, 1024), batch=256, lr=2e-3, schedule="cosine", epochs=20, warmup=10,
        weight_decay=0.05),
    "d20-dec256-512-1024-b256-lr2e-3-cosine-e20-warmup10-wd0.05-silu": setting(
        latent=20, decoder=(256, 512, 1024), batch=256, lr=2e-3, schedule="cosine", epochs=20, warmup=10,
        weight_decay=0.05, activation="silu"),
    "d20-dec256-512-1024-b256-lr2e-3-cosine-e50-warmup10-wd0.05-silu": setting(
        latent=20, decoder=(256, 512, 1024), batch=256, lr=2e-3, schedule="cosine", epochs=50, warmup=10,
        weight_decay=0.05, activation="silu"),
    "d2-b256-lr4e-3-cosine-e40-silu": setting(batch=256, lr=4e-3, schedule="cosine", epochs=40, activation="silu"),
    # Latent 2, the wider decoder, with β warm-up (two runs at once, one thread each).
    "d2-dec256-512-1024-b256-lr3e-3-cosine-e40-wd0.05": setting(decoder=(256, 512, 1024), batch=256, lr=3e-3,
                                                                schedule="cosine", epochs=40, weight_decay=0.05),
    "d2-dec256-512-1024-b256-lr3e-3-cosine-e40-warmup10": setting(decoder=(256, 512, 1024), batch=256, lr=3e-3,
                                                                  schedule="cosine", epochs=40, warmup=10),
    "d2-dec256-512-1024-b256-lr3e-3-cosine-e40-warmup10-silu": setting(
        decoder=(256, 512, 1024), batch=256, lr=3e-3, schedule="cosine", epochs=40, warmup=10, activation="silu"),
    "d2-dec256-512-1024-b256-lr3e-3-cosine-e60-warmup10": setting(decoder=(256, 512, 1024), batch=256, lr=3e-3,
                                                                  schedule="cosine", epochs=60, warmup=10),
    "d2-enc1024-512-dec256-512-1024-b256-lr3e-3-cosine-e40-warmup10": setting(
        hidden=(1024, 512), decoder=(256, 512, 1024), batch=256, lr=3e-3, schedule="cosine", epochs=40, warmup=10),
    "d20-b256-lr2e-3-cosine-e60-warmup10": setting(latent=20, batch=256, lr=2e-3, schedule="cosine", epochs=60,
                                                   warmup=10),
    "d16-b256-lr2e-3-cosine-e60-freebits0.5": setting(latent=16, batch=256, lr=2e-3, schedule="cosine", epochs=60,
                                                      free_bits=0.5),
}


def run_setting(name: str, data_path: str) -> dict:
    """Train one setting in this process and score it (the child side of `measure`)."""
    from vae_core.config import TrainConfig, VAEConfig
    from vae_core.images.data import read_mnist
    from vae_core.images.mnist import train_mnist

    spec = SETTINGS[name]
    outcome = train_mnist(None, VAEConfig(**spec["vae"]), TrainConfig(**spec["train"]), data=read_mnist(data_path),
                          iw_samples=0)
    metrics, metadata = outcome.metrics, outcome.metadata
    return {"epochs": metadata["epochs_run"],
            "training_seconds": metadata["training_seconds"],
            "training_cpu_seconds": metadata["training_cpu_seconds"],
            **{k: round(v, 2) for k, v in metrics.items() if isinstance(v, float)},
            "val_neg_elbo_by_epoch": [round(v, 2) for v in outcome.result.history["val_neg_elbo"]]}


def timed_subprocess(command: list[str]) -> tuple[subprocess.CompletedProcess, dict]:
    """Run command; its wall and processor seconds (user + system, all threads) and the load average."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    return completed, {"process_wall_seconds": round(wall, 1), "process_cpu_seconds": round(cpu, 1),
                       "load_average_1min_before": round(load_before, 2),
                       "load_average_1min_after": round(os.getloadavg()[0], 2)}


def measure(name: str, data_path: str) -> dict:
    completed, timing = timed_subprocess([sys.executable, __file__, "--child", name, "--data", data_path])
    return {"settings": SETTINGS[name], **json.loads(completed.stdout.strip().splitlines()[-1]), **timing,
            "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}


def default_cli(data_path: str, models_dir: str) -> dict:
    """`python -m vae_core train --dataset mnist --latent-dim 2`, timed from process start to exit."""
    completed, timing = timed_subprocess(
        [sys.executable, "-m", "vae_core", "train", "--dataset", "mnist", "--latent-dim", "2", "--data", data_path,
         "--name", "bench-default", "--models-dir", models_dir, "--json"])
    summary = json.loads(completed.stdout)
    return {"command": "python -m vae_core train --dataset mnist --latent-dim 2 --data DATA --name NAME",
            **timing, **{k: summary[k] for k in ("epochs_run", "training_seconds", "training_cpu_seconds",
                                                  "test_neg_elbo", "test_iw_nll", "iw_samples") if k in summary},
            "measured": time.strftime("%Y-%m-%dT%H:%M:%S")}


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (tracing)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def shipped_model(name: str, data) -> dict:
    """A shipped model's test figures (the `evaluate` command's), decode latency and file size."""
    import numpy as np

    from vae_core.images.mnist import evaluate_mnist
    from vae_core.registry import load_model

    loaded = load_model(name, REPO_ROOT / "models")
    z = np.zeros((1, loaded.vae.vae_config.latent_dim), np.float32)
    return {**evaluate_mnist(loaded.vae, data),
            "decode_one_point_ms_median": round(median_ms(lambda: loaded.vae.decode(z), 500), 3),
            "model_keras_bytes": (loaded.path / "model.keras").stat().st_size,
            "training_seconds": loaded.metadata.get("training_seconds"),
            "training_cpu_seconds": loaded.metadata.get("training_cpu_seconds"),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def decode_latency(name: str) -> dict:
    """One decode of a shipped model on the server: the NumPy path every page uses for a few points,
    and for comparison one TensorFlow call (a batch just above the NumPy path's limit)."""
    import numpy as np

    from vae_core.model import NUMPY_DECODE_MAX_POINTS
    from vae_core.registry import load_model

    vae = load_model(name, REPO_ROOT / "models").vae
    one = np.zeros((1, vae.vae_config.latent_dim), np.float32)
    batch = np.zeros((NUMPY_DECODE_MAX_POINTS + 1, vae.vae_config.latent_dim), np.float32)
    return {"decode_one_point_ms_median": round(median_ms(lambda: vae.decode(one), 2000), 3),
            f"decode_{len(batch)}_points_ms_median": round(median_ms(lambda: vae.decode(batch), 500), 3),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--only", nargs="+", choices=sorted(SETTINGS), metavar="SETTING", help="run just these")
    parser.add_argument("--all", action="store_true", help="run every setting (hours on 2 cores)")
    parser.add_argument("--default-cli", action="store_true", help="time the default train command")
    parser.add_argument("--shipped", action="store_true", help="evaluate the shipped MNIST models")
    parser.add_argument("--latency", action="store_true", help="time one decode of each shipped model")
    parser.add_argument("--list", action="store_true", help="print the settings and exit")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.list:
        print("\n".join(SETTINGS))
        return
    if args.child:
        print(json.dumps(run_setting(args.child, args.data)))
        return

    results = json.loads(OUT.read_text()) if OUT.is_file() else {}
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    runs = results.setdefault("runs", {})
    for name in (sorted(SETTINGS) if args.all else args.only or []):
        print(f"{name} …", flush=True)
        runs[name] = measure(name, args.data)
        print(json.dumps(runs[name]), flush=True)
        OUT.write_text(json.dumps(results, indent=2) + "\n")
    if args.default_cli:
        import tempfile

        with tempfile.TemporaryDirectory() as models_dir:
            results["default_cli_run"] = default_cli(args.data, models_dir)
        print(json.dumps(results["default_cli_run"]), flush=True)
    if args.shipped:
        from vae_core.images.data import read_mnist

        data = read_mnist(args.data)
        results["shipped"] = {name: shipped_model(name, data) for name in SHIPPED
                              if (REPO_ROOT / "models" / name).is_dir()}
        print(json.dumps(results["shipped"], indent=1), flush=True)
    if args.latency:
        results["decode_latency"] = {name: decode_latency(name) for name in SHIPPED
                                     if (REPO_ROOT / "models" / name).is_dir()}
        print(json.dumps(results["decode_latency"], indent=1), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
