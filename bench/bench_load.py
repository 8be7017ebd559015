"""A real server under load: `streamlit run app.py` on a loopback port with the demo models on the
real data, driven by protocol-level sessions (testkit/stream.py: the websocket messages a
browser tab sends, and the image fetches it makes). Writes bench/results/load.json.

    .venv/bin/python bench/bench_load.py                  # ~10 min on 2 CPU cores
    .venv/bin/python bench/bench_load.py --minutes 1 --interactions 300

1. Alone: one session makes the mixed pass of testkit/load.py (decoder moves, clicks on the
   latent map, threshold releases on the explorer, an upload, page changes) a few times: latency per
   kind of step.
2. Under load: `--sessions` sessions repeat that pass for `--minutes` while another session trains
   one model after another. Errors (goal 0), whether every step showed what it shows to a session
   alone, latency per kind of step (p50 / p90), server memory (RSS).
3. Memory: sessions that open, make one pass and close, `--sessions` at a time, until
   `--interactions` steps are done; the server's RSS every 100 steps. Goal: after 1,000 steps at
   most 100 MB above the level after the first 100.

Latency is from sending a step to the end of its rerun plus fetching the images it changed, as the
server and the network deliver it; the browser's drawing is not in it (bench_browser.py measures
that for one tab). Timings on a shared 2-core machine are noisy: the load average is recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("VAE_OFFLINE", "1")
REPO_ROOT = Path(__file__).resolve().parents[1]

import pandas as pd

from testkit import load
from testkit.browser import app_server
from testkit.stream import Interaction, StreamSession

MNIST_MODEL, FRAUD_MODEL = "mnist-dense-2d", "fraud-subset"
KINDS = {"set dec_z": "decoder move", "send latent_map": "latent click", "send thr_explorer": "threshold release",
         "upload": "upload", "follow": "page change", "goto": "page change", "open": "page change"}


def kind(step: Interaction) -> str:
    return next((name for prefix, name in KINDS.items() if step.what.startswith(prefix)), "other")


def by_kind(steps: list[Interaction]) -> dict[str, dict]:
    grouped = defaultdict(list)
    for step in steps:
        grouped[kind(step)].append(step.seconds)
    return {name: load.percentiles(seconds) for name, seconds in sorted(grouped.items())} | {
        "all": load.percentiles([s.seconds for s in steps])}


def data_dir() -> Path:
    for candidate in (os.environ.get("VAE_DATA_DIR"), REPO_ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "creditcard" / "creditcard_subset.csv").is_file():
            return Path(candidate)
    sys.exit("bench_load needs the real data (creditcard/creditcard_subset.csv and mnist/) in $VAE_DATA_DIR "
             "or ../shared/data")


async def trainer_loop(url: str, deadline: float) -> list[str]:
    """One person training model after model until `deadline`; each run's final line."""
    lines, k = [], 0
    while time.monotonic() < deadline:
        k += 1
        line, _ = await load.train_meanwhile(url, f"bench-trained-{k}", epochs=5, hidden="256,128")
        lines.append(line)
    return lines


async def alone(url: str, work: load.Workload, passes: int) -> list[load.Pass]:
    async with StreamSession(url, timeout=300) as session:
        return [await load.explore(session, work, 0) for _ in range(passes)]


async def under_load(url: str, work: load.Workload, sessions: int, seconds: float, pid: int) -> dict:
    deadline = time.monotonic() + seconds
    rss: list[float] = []

    async def watch() -> None:
        while time.monotonic() < deadline:
            rss.append(load.rss_mb(pid))
            await asyncio.sleep(2)

    crowd, trained, _ = await asyncio.gather(load.crowd(url, work, sessions, None, seconds=seconds),
                                             trainer_loop(url, deadline), watch())
    return {**crowd, "trained": trained, "rss": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=4.0, help="how long the sessions work under load")
    parser.add_argument("--interactions", type=int, default=1000, help="steps of the memory run")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "load.json"))
    args = parser.parse_args()

    data = data_dir()
    upload = pd.read_csv(data / "creditcard" / "creditcard_subset.csv").sample(300, random_state=1).to_csv(
        index=False).encode()
    work = load.Workload(MNIST_MODEL, FRAUD_MODEL, upload=upload)
    load_before, started = os.getloadavg(), time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        models = Path(scratch) / "models"
        models.mkdir()
        for name in (MNIST_MODEL, FRAUD_MODEL):
            shutil.copytree(REPO_ROOT / "models" / name, models / name)
        with app_server(models, data_dir=data, log_dir=Path(scratch)) as server:
            pid = server.process.pid
            rss_start = load.rss_mb(pid)
            warm = asyncio.run(alone(server.url, work, 1))[0]  # TensorFlow, the models, the caches
            rss_warm = load.rss_mb(pid)
            quiet = asyncio.run(alone(server.url, work, 3))
            print(f"alone: {by_kind([s for p in quiet for s in p.interactions])['all']}", flush=True)
            busy = asyncio.run(under_load(server.url, work, args.sessions, args.minutes * 60, pid))
            rss_after_load = load.rss_mb(pid)
            print(f"under load: {len(busy['passes'])} sessions, failures {busy['failures']}", flush=True)
            memory = asyncio.run(load.churn(server.url, work, pid, args.interactions, args.sessions))
            print(f"memory: {memory}", flush=True)
            log = server.log_text()

    reference = warm.seen
    loaded_passes = [p for session in busy["passes"] for p in session]
    loaded_steps = [s for p in loaded_passes for s in p.interactions]
    mismatches = sum(1 for p in loaded_passes for k, v in p.seen.items() if reference.get(k) != v)
    errors = [e for p in loaded_passes for e in p.errors] + list(busy["failures"].values())
    errors += [line for line in busy["trained"] if "Saved" not in line]
    baseline_steps, after_100 = next((steps, rss) for steps, rss in memory if steps >= 100)
    after_all = memory[-1][1]
    payload = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]},
        "setup": {"models": [MNIST_MODEL, FRAUD_MODEL], "data": "real: MNIST IDX files and the credit-card subset "
                  "(14.8% fraud; the full data has 0.172%)", "upload_rows": 300,
                  "sessions": args.sessions, "minutes_under_load": args.minutes,
                  "steps_per_pass": {"even sessions (upload)": work.steps(0), "odd sessions": work.steps(1)},
                  "latency": "send → end of the rerun + fetch of the changed images (no browser drawing)"},
        "alone": {"passes": len(quiet), "latency_ms": by_kind([s for p in quiet for s in p.interactions])},
        "under_load": {
            "passes": len(loaded_passes), "steps": len(loaded_steps), "errors": len(errors),
            "error_samples": errors[:5], "steps_unlike_a_session_alone": mismatches,
            "most_steps_in_flight_at_once": load.most_at_once(loaded_steps),
            "trainings_completed": sum("Saved" in line for line in busy["trained"]),
            "latency_ms": by_kind(loaded_steps),
            "server_rss_mb": {"start": round(rss_start, 1), "warm": round(rss_warm, 1),
                              "peak": round(max(busy["rss"], default=0.0), 1), "after": round(rss_after_load, 1)}},
        "memory": {"interactions": args.interactions, "sessions_at_once": args.sessions,
                   "rss_mb_every_100_steps": memory, "rss_after_100_mb": after_100, "baseline_at_steps": baseline_steps,
                   "rss_after_all_mb": after_all,
                   "growth_mb": round(after_all - after_100, 1), "goal_growth_mb": 100,
                   "sampling": "at quiet points: no pass in flight, 2 s after the last one ended",
                   "note": "closed sessions stay in Streamlit's reconnect store for server.disconnectedSessionTTL "
                           "(120 s, at most 128) before they are dropped"},
        "server_log_problems": [line for line in log.splitlines() if "Traceback" in line or "unexpected error" in line],
        "seconds": round(time.perf_counter() - started, 1),
    }
    Path(args.output).write_text(json.dumps(payload, indent=2))
    print(json.dumps({k: payload[k] for k in ("alone", "under_load", "memory")}, indent=2))


if __name__ == "__main__":
    main()
