"""AE vs VAE's first visit, as a new user meets it: a fresh server on the shipped models with an
empty cache folder (VAE_CACHE_DIR), the page opened in new browser contexts once the server's start-up
work is done (the digit classifier is trained then, once the server is quiet) and its warm training
worker has finished importing TensorFlow (before that, the worker takes one of the two cores:
`--no-wait-worker` measures that case); each visit timed from navigation to the page's heading and
to everything drawn (the prior samples judged by the digit classifier included). Beside it, what the
first visit would cost if the page had to train the classifier itself.
Writes bench/results/compare.json.

    VAE_DATA_DIR=../shared/data .venv/bin/python bench/bench_compare.py     # ~2 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO_ROOT = Path(__file__).resolve().parents[1]

from bench_browser import STARTUP_DONE, load_average, open_timed, wait_for_log, wait_worker_idle  # noqa: E402
from testkit.browser import app_server, chromium, skip_reason  # noqa: E402

OUT = REPO_ROOT / "bench" / "results" / "compare.json"
GOAL_S = 10.0


def classifier_training_seconds() -> float:
    """Training the digit classifier on this machine's MNIST with nothing cached."""
    from vae_core import sources
    from vae_core.images import classifier

    data = sources.mnist()
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        classifier.digit_classifier(data, directory=scratch)
        return round(time.perf_counter() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=3)
    parser.add_argument("--no-wait-worker", action="store_true", help="open the page while the warm worker still starts")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if skip_reason():
        raise SystemExit(skip_reason())
    data_dir = os.environ.get("VAE_DATA_DIR")
    visits = []
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        browser = stack.enter_context(chromium())
        cache = Path(scratch) / "cache"
        server = stack.enter_context(app_server(REPO_ROOT / "models", data_dir=Path(data_dir) if data_dir else None,
                                                log_dir=Path(scratch), timeout=300,
                                                extra_env={"VAE_CACHE_DIR": str(cache)}))
        wait_for_log(server, STARTUP_DONE)
        worker_idle_s = None if args.no_wait_worker else round(wait_worker_idle(server.process.pid), 1)
        for _ in range(args.visits):
            visits.append({**open_timed(browser, server.url, "compare", "AE vs VAE"), "load_average": load_average()})
        trained_in_cache = sorted(p.name for p in cache.glob("digit_classifier_*.npz")) if cache.exists() else []
    first_s = round(visits[0]["complete"] / 1000, 2)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "data": data_dir or "bundled digits (no VAE_DATA_DIR)",
        "waited_for_the_warm_worker_s": worker_idle_s, "visits_ms": visits, "first_visit_complete_s": first_s,
        "later_visits_complete_s_median": round(statistics.median(v["complete"] for v in visits[1:]) / 1000, 2)
        if len(visits) > 1 else None,
        "goal_s": GOAL_S, "met": first_s <= GOAL_S, "classifiers_trained_by_the_server": trained_in_cache,
        "classifier_training_s": classifier_training_seconds(),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
