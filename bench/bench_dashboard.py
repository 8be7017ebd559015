"""Dashboard latency: AppTest reruns for a threshold change (284,807 scored rows) and a decoder
slider change, median of many; plus the pieces behind them. Writes bench/results/dashboard.json.

    .venv/bin/python bench/bench_dashboard.py              # ~2 min on 2 CPU cores
    .venv/bin/python bench/bench_dashboard.py --repeats 40

An AppTest rerun runs the whole page script (a browser would rerun only the Decoder's fragment),
so the slider figure is an upper bound on what a browser waits for, minus network and drawing.
The 284,807 rows are synthetic transactions in the ULB schema (the generator fitted per class to the real ULB subset, vae_core/tables/synthetic.py) at the full
data's 0.172% fraud rate, scored by a small fraud VAE trained on other rows, so every row is scored.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("VAE_OFFLINE", "1")
REPO_ROOT = Path(__file__).resolve().parents[1]
os.chdir(REPO_ROOT)  # AppTest reads .streamlit/config.toml from the working directory

import numpy as np

FULL_DATA_ROWS = 284_807
FULL_DATA_PREVALENCE = 0.00172
MNIST_MODEL, FRAUD_MODEL = "bench-digits", "bench-fraud"


def timed(function, repeats: int) -> list[float]:
    """Milliseconds per call of function(i), i = 0..repeats-1."""
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        function(i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median_ms": round(statistics.median(ordered), 2), "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
            "min_ms": round(ordered[0], 2), "max_ms": round(ordered[-1], 2), "n": len(ordered)}


def prepare(root: Path) -> tuple[Path, Path]:
    """A registry with an MNIST model and a fraud model, and a data folder holding 284,807 transactions."""
    from vae_core.config import TrainConfig, VAEConfig, build_configs
    from vae_core.images.data import load_bundled_digits
    from vae_core import sources
    from vae_core.tables.fraud import train_fraud
    from vae_core.images.mnist import train_mnist
    from vae_core.tables.tabular import make_synthetic_creditcard

    models, data_dir = root / "models", root / "data"
    (data_dir / "creditcard").mkdir(parents=True)
    # The default MNIST architecture (784-512-256-2): decode cost as in real use; one epoch is enough here.
    train_mnist(MNIST_MODEL, VAEConfig(latent_dim=2), TrainConfig(epochs=1, seed=0),
                data=load_bundled_digits(), models_dir=str(models))
    # Trained on other rows from a file that is then removed. The page looks for a file of that name in
    # VAE_DATA_DIR (vae_core.sources.training_file): a link to the data folder's 284,807 rows, which are
    # not the training rows (another fingerprint), so it scores every one of them.
    train_file = root / "train.csv"
    make_synthetic_creditcard(n_rows=20_000, fraud_fraction=0.01, seed=1).to_frame().to_csv(train_file, index=False)
    train_fraud(FRAUD_MODEL, sources.transactions(train_file), build_configs("fraud", latent_dim=4,
                                                                         hidden_units=(64, 32))[0],
                TrainConfig(epochs=3, batch_size=256, seed=0), models_dir=str(models))
    train_file.unlink()
    big = make_synthetic_creditcard(n_rows=FULL_DATA_ROWS, fraud_fraction=FULL_DATA_PREVALENCE, seed=2)
    big.to_frame().to_csv(data_dir / "creditcard" / "creditcard.csv", index=False)
    (data_dir / "creditcard" / "train.csv").symlink_to("creditcard.csv")
    return models, data_dir


def bench_threshold(repeats: int) -> dict:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=600)
    at.session_state["active_model"] = FRAUD_MODEL
    at.run()
    start = time.perf_counter()
    at.switch_page("dashboard/pages/threshold.py").run()
    first_open = (time.perf_counter() - start) * 1000
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    banner = next(c.value for c in at.caption if c.value.startswith("Data:"))
    rows = int(re.search(r"([\d,]+) rows,", banner).group(1).replace(",", ""))
    assert rows == FULL_DATA_ROWS, rows
    options = [float(o) for o in at.select_slider(key="thr_slider").options]
    # Walk stops across the whole range, so the flagged set (and its table) changes every time.
    stops = [options[int(k)] for k in np.linspace(len(options) * 0.2, len(options) - 1, repeats + 3)]
    alerts = []

    def move(i: int) -> None:
        at.select_slider(key="thr_slider").set_value(stops[i]).run()
        alerts.append(next(m.value for m in at.metric if m.label == "Alerts"))

    timed(move, 3)  # warm-up: first figure builds, caches
    stops = stops[3:]
    times = timed(move, repeats)
    assert not at.exception and len(set(alerts)) > 1
    return {"rows": rows, "first_open_ms": round(first_open, 1), "apptest_rerun": summary(times),
            "alert_counts_seen": len(set(alerts))}


def bench_slider(repeats: int) -> dict:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=300)
    at.session_state["active_model"] = MNIST_MODEL
    at.run()
    at.switch_page("dashboard/pages/decoder.py").run()
    key = f"dec_z_{MNIST_MODEL}_0"
    values = np.round(np.linspace(-3.0, 3.0, repeats + 3), 2)
    images = []

    def move(i: int) -> None:
        at.slider(key=key).set_value(float(values[i])).run()
        images.append(at.image[0].value[0])

    timed(move, 3)
    values = values[3:]
    times = timed(move, repeats)
    assert not at.exception and len(set(images)) > 1
    return {"apptest_rerun": summary(times), "distinct_images": len(set(images)),
            "note": "whole Decoder page (sliders, z map, 15×15 grid, interpolation, prior samples); "
                    "in a browser only the slider fragment reruns"}


def bench_pieces(models: Path) -> dict:
    """The work behind the two reruns, without Streamlit."""
    from vae_core import fraud_views, views
    from vae_core.tables.fraud import FraudModel

    digits = views.load_ready_model(MNIST_MODEL, models)
    decode = summary(timed(lambda i: views.decode_image(digits.vae, [0.01 * i, 0.5]), 200))
    grid = summary(timed(lambda i: views.manifold_mosaic(digits.vae, 30, 3.0, "linear"), 20))
    fraud = views.load_ready_model(FRAUD_MODEL, models)
    model = FraudModel.from_loaded(fraud)
    start = time.perf_counter()
    data = fraud_views.load_view_data(model, "model")
    load_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    scored = fraud_views.score(model, data)
    score_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    page_summary = fraud_views.summarise(scored)
    summary_ms = (time.perf_counter() - start) * 1000
    build = summary(timed(lambda i: fraud_views.build_sweep(scored, 5.0, "amount"), 5))
    sweep = fraud_views.build_sweep(scored, 5.0, "amount")
    grid_t = page_summary.options
    query = summary(timed(lambda i: sweep.at(float(grid_t[i % len(grid_t)])), 2000))
    return {"decode_one_point": decode, "manifold_grid_30x30": grid,
            "fraud_rows": len(scored.scores), "load_csv_ms": round(load_ms, 1), "score_rows_ms": round(score_ms, 1),
            "page_summary_build_ms": round(summary_ms, 1), "sweep_build": build, "sweep_query": query}


def bench_home_cold() -> dict:
    """A fresh interpreter: import Streamlit, run app.py's Home page; and whether TensorFlow got imported."""
    code = ("import sys, time; t = time.perf_counter(); from streamlit.testing.v1 import AppTest; "
            f"at = AppTest.from_file({str(REPO_ROOT / 'app.py')!r}, default_timeout=60).run(); "
            "print(round((time.perf_counter() - t) * 1000), 'tensorflow' in sys.modules)")
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
        ms, tf_loaded = out.stdout.split()[-2:]
        runs.append((float(ms), tf_loaded == "True"))
    return {"fresh_process_ms": summary([r[0] for r in runs]), "tensorflow_imported": any(r[1] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=25, help="timed reruns per measurement (≥ 20)")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "dashboard.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        started = time.perf_counter()
        models, data_dir = prepare(Path(tmp))
        os.environ["VAE_MODELS_DIR"], os.environ["VAE_DATA_DIR"] = str(models), str(data_dir)
        result = {
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
            "data": f"{FULL_DATA_ROWS:,} synthetic transactions ({FULL_DATA_PREVALENCE:.3%} frauds) from the generator "
                    "fitted per class to the real ULB subset (vae_core/tables/synthetic.py)",
            "home_cold": bench_home_cold(),
            "threshold_change": bench_threshold(args.repeats),
            "decoder_slider_change": bench_slider(args.repeats),
            "pieces": bench_pieces(models),
            "targets": {"threshold_rerun_ms": 250, "sweep_query_ms": 1, "sweep_build_ms": 50,
                        "decode_one_point_ms": 1, "slider_to_image_ms": 150, "home_paint_s": 2},
        }
        result["seconds"] = round(time.perf_counter() - started, 1)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
