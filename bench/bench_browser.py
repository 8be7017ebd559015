"""Dashboard latency as a person sees it, measured inside headless Chromium on `streamlit run app.py`:
Decoder slider release → the new decoded image painted, and Fraud threshold slider release → the
confusion counts redrawn. Median of ≥ 20 each. Writes bench/results/browser.json.

    .venv/bin/python bench/bench_browser.py               # ~2-3 min on 2 CPU cores
    .venv/bin/python bench/bench_browser.py --repeats 40

Timing runs in the page: a capturing `pointerup` listener stamps the release, and a
requestAnimationFrame loop stamps the first frame in which the new image is loaded (or the new
counts are in the DOM and nothing is stale), so Playwright's own round trips are not counted; the
resolution is one frame (~16 ms). The models and the 284,807 synthetic transactions (the full ULB
data's size and 0.172% fraud rate) are those of bench/bench_dashboard.py, so the figures compare with
its AppTest reruns. Chromium renders in software (--disable-gpu).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("VAE_OFFLINE", "1")
REPO_ROOT = Path(__file__).resolve().parents[1]

import numpy as np

from dashboard.testing.browser import CHROMIUM_FLAGS, DESKTOP, AppPage, app_server, chromium, skip_reason
from bench_dashboard import FRAUD_MODEL, MNIST_MODEL, prepare, summary

DECODED = "decoded p(x | z)"
WARM_UP = 3


def stops(n: int, low: float, high: float) -> list[float]:
    """n slider positions in [low, high], taken alternately from either end so that each differs
    from the one before."""
    points, order = list(np.linspace(low, high, n)), []
    while points:
        order.append(float(points.pop(0)))
        if points:
            order.append(float(points.pop()))
    return order


def pick(app: AppPage, model: str) -> None:
    if not app.key("_active_model_picker").locator("input").input_value().startswith(f"{model} "):
        app.key("_active_model_picker").locator("input").click()
        app.page.get_by_role("option").filter(has_text=model).first.click()
        app.wait_drawn()


def measure(app: AppPage, slider: str, positions: list[float], kind: str, shown) -> dict:
    """Release the slider at each position; milliseconds from the release to the change on screen,
    and to the end of the rerun."""
    painted, done, seen = [], [], set()
    for fraction in positions:
        app.arm_latency_probe(kind, before=shown(), caption=DECODED)
        app.drag_slider(slider, fraction)
        result = app.latency()
        if result is None:
            raise RuntimeError(f"no change on screen after releasing {slider} at {fraction:.2f}")
        app.wait_idle()
        painted.append(result["painted_ms"])
        if result["script_done_ms"] is not None:
            done.append(result["script_done_ms"])
        seen.add(shown())
    return {"painted": painted, "script_done": done, "distinct": len(seen)}


def bench_decoder(app: AppPage, repeats: int) -> dict:
    app.open("decoder", heading="Decoder")
    pick(app, MNIST_MODEL)
    app.wait_drawn()
    slider = f"dec_z_{MNIST_MODEL}_0"
    positions = stops(repeats + WARM_UP, 0.1, 0.9)
    measure(app, slider, positions[:WARM_UP], "image", lambda: app.image_src(DECODED))
    run = measure(app, slider, positions[WARM_UP:], "image", lambda: app.image_src(DECODED))
    return {"slider_release_to_image_painted": summary(run["painted"]),
            "slider_release_to_rerun_done": summary(run["script_done"]), "distinct_images": run["distinct"],
            "reruns": "the slider's fragment only (sliders, decoded image, z map)"}


def bench_threshold(app: AppPage, repeats: int) -> dict:
    start = time.perf_counter()
    app.open("threshold", heading="Fraud threshold")
    pick(app, FRAUD_MODEL)
    app.wait_for("() => document.querySelectorAll('.st-key-thr_confusion text').length >= 4", timeout_ms=600_000)
    app.wait_drawn(timeout_ms=600_000)
    first_open = (time.perf_counter() - start) * 1000
    banner = app.page.locator("[data-testid=stCaptionContainer]").filter(has_text="rows,").first.inner_text()
    counts = lambda: "|".join(f"{k} {v:,}" for k, v in app.confusion().items())  # noqa: E731
    # Thresholds where the alert count changes from stop to stop (the upper half of the score range).
    positions = stops(repeats + WARM_UP, 0.35, 0.95)
    measure(app, "thr_slider", positions[:WARM_UP], "confusion", counts)
    run = measure(app, "thr_slider", positions[WARM_UP:], "confusion", counts)
    return {"threshold_release_to_counts_updated": summary(run["painted"]),
            "threshold_release_to_rerun_done": summary(run["script_done"]),
            "distinct_confusion_matrices": run["distinct"],
            "first_open_ms": round(first_open), "data": banner.strip(),
            "reruns": "the whole Fraud threshold page (metrics, five charts, flagged table)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25, help="timed releases per measurement (≥ 20)")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "browser.json"))
    args = parser.parse_args()
    missing = skip_reason()
    if missing:
        sys.exit(f"cannot run the browser benchmark: {missing}")
    started = time.perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        models, data_dir = prepare(Path(tmp))
        with app_server(models, data_dir=data_dir, log_dir=Path(tmp)) as server, chromium() as browser:
            context = browser.new_context(viewport=DESKTOP)
            app = AppPage(context.new_page(), server.url, timeout_ms=300_000)
            decoder = bench_decoder(app, args.repeats)
            print(json.dumps(decoder), flush=True)
            threshold = bench_threshold(app, args.repeats)
            print(json.dumps(threshold), flush=True)
            version = browser.version
            context.close()
    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]},
        "browser": {"chromium": version, "flags": CHROMIUM_FLAGS, "viewport": DESKTOP},
        "decoder": decoder,
        "threshold": threshold,
        "goals_ms": {"slider_release_to_image_painted": 300, "anchor_slider_to_image": 150},
        "seconds": round(time.perf_counter() - started, 1),
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
