"""Latent scrub in Chromium: frames per second while dragging, the browser decoder's agreement with
Python, what one render ships to the browser, and Python's own decode latency for comparison.
Writes bench/results/scrub.json.

    .venv/bin/python bench/bench_scrub.py            # ~1–2 min: trains the default dense model (2 epochs) and a conv one
    .venv/bin/python bench/bench_scrub.py --models-dir models --dense mnist-dense-2d mnist-dense-20d   # saved models

Needs Playwright and Debian's Chromium (/usr/bin/chromium), like tests/e2e/test_scrub.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO_ROOT = Path(__file__).resolve().parents[1]

import numpy as np

from testkit.scrub import ScrubSession, browser_available, chromium_page, streamlit_server
from vae_core import registry
from vae_core.config import TrainConfig, VAEConfig


def train_models(root: Path) -> tuple[str, str, str]:
    """The default dense MNIST VAE (512-256, latent 2) and the conv one, briefly trained; returns names and data source."""
    from vae_core import sources
    from vae_core.images.mnist import train_mnist

    data = sources.mnist()  # $VAE_DATA_DIR's MNIST when set, else the best available
    train = TrainConfig(epochs=2, early_stopping_patience=0)
    train_mnist("bench-dense", VAEConfig(), train, data=data, models_dir=str(root))
    train_mnist("bench-conv", VAEConfig(architecture="conv"), TrainConfig(epochs=1, early_stopping_patience=0),
                data=data, models_dir=str(root))
    return "bench-dense", "bench-conv", data.source


def measure(root: Path, name: str, *, agreement_points: int = 200, drag_ms: int = 3000) -> dict:
    from dashboard.components.latent_scrub import by_reference, scrub_args

    vae = registry.load_model(name, root).vae
    start = time.perf_counter()
    args = scrub_args(vae, [0.0] * vae.vae_config.latent_dim)
    build_ms = (time.perf_counter() - start) * 1e3
    inline_bytes = len(json.dumps(args))
    payload_bytes = len(json.dumps({**args, "decoder": by_reference(args["decoder"])}))
    with streamlit_server(root, name) as url, chromium_page() as page:
        session = ScrubSession(page, url)
        sent_before = len(session.sent)
        mouse = session.mouse_drag(steps=40)
        quiet = len(session.sent) == sent_before
        session.release()
        page.get_by_text("script runs: 2").wait_for(timeout=60_000)
        received_before = len(session.received_bytes)
        session.mouse_drag(steps=5)  # a rerun whose arguments changed (z): what every slider move costs
        session.release()
        page.get_by_text("script runs: 3").wait_for(timeout=60_000)
        rerun_bytes = sum(session.received_bytes[received_before:])
        drags = [session.synthetic_drag(drag_ms) for _ in range(3)]
        result = {
            "mode": session.stats()["mode"],
            "args_bytes_per_render": payload_bytes,
            "args_bytes_with_weights_inline": inline_bytes,
            "websocket_bytes_for_a_rerun_with_new_z": rerun_bytes,
            "decoder_weight_fetches": session.stats()["weightFetches"],
            "args_build_ms": round(build_ms, 2),
            "fps_while_dragging": [round(d["fps"], 1) for d in drags],
            "fps_median": round(statistics.median(d["fps"] for d in drags), 1),
            "frame_work_ms_mean": round(statistics.mean(d["mean_frame_work_ms"] for d in drags), 3),
            "mouse_drag_distinct_images": len(set(mouse["hashes"])),
            "mouse_drag_steps": len(mouse["hashes"]),
            "no_messages_to_server_while_dragging": quiet,
        }
        if result["mode"] == "dense":
            z = np.random.default_rng(0).uniform(-4, 4, size=(agreement_points, vae.vae_config.latent_dim))
            python = vae.decode(z.astype(np.float32)).reshape(len(z), -1)
            browser = np.array([session.browser_decode(point) for point in z])
            result["browser_vs_python_max_abs_pixel_diff"] = float(np.abs(browser - python).max())
            result["agreement_points"] = agreement_points
    single = np.zeros((1, vae.vae_config.latent_dim), np.float32)
    vae.decode(single)
    times = []
    for _ in range(200):
        start = time.perf_counter()
        vae.decode(single)
        times.append((time.perf_counter() - start) * 1e3)
    result["python_decode_one_point_ms_median"] = round(statistics.median(times), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", help="registry holding the models to measure (default: train fresh ones)")
    parser.add_argument("--dense", nargs="+", default=[], help="dense MNIST models in --models-dir")
    parser.add_argument("--conv", help="a conv MNIST model in --models-dir")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "scrub.json"))
    args = parser.parse_args()
    missing = browser_available()
    if missing:
        sys.exit(f"cannot run the browser benchmark: {missing}")

    with tempfile.TemporaryDirectory(prefix="scrub-bench-") as tmp:
        if args.models_dir:
            root, source = Path(args.models_dir), "saved models"
            names = [("dense", name) for name in args.dense] + [("conv", args.conv)]
        else:
            root = Path(tmp)
            dense, conv, source = train_models(root)
            names = [("dense", dense), ("conv", conv)]
        results = {}
        for kind, name in names:
            if name:
                key = kind if len(args.dense) < 2 or kind != "dense" else f"dense ({name})"
                results[key] = {"model": name, **measure(root, name)}
                print(key, json.dumps(results[key]), flush=True)
    payload = {
        "browser": "Debian Chromium, headless, --disable-gpu (software rendering)",
        "trained_on": source,
        "notes": "fps: frames the component drew per second during a synthetic pointer drag that moves every "
                 "animation frame (rAF is 60 Hz here, so 60 is the ceiling); frame_work_ms: decoding plus "
                 "drawing per frame; agreement: browser forward pass vs Keras decode on random z in [-4, 4]²; "
                 "args_bytes_per_render: the component's arguments as sent (a dense decoder's weights by "
                 "reference, fetched once per browser), against args_bytes_with_weights_inline.",
        "results": results,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
