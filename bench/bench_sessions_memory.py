"""What each open browser session costs the server, to size the setting max_sessions
(vae_core.settings). Writes bench/results/sessions_memory.json.

    .venv/bin/python bench/bench_sessions_memory.py            # ~5 min on 2 CPU cores

A real `streamlit run app.py` with the demo models on the real data. Sessions are opened and kept
open, each as a person who looks hardest at memory would: the Fraud threshold page with an uploaded
CSV of `--upload-rows` rows (the upload and its scores stay in the session), then the Latent space
page. The server's RSS is read 3 s after each group of sessions has settled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit

from bench_load import FRAUD_MODEL, MNIST_MODEL, data_dir
from testkit import load
from testkit.browser import app_server
from testkit.stream import StreamSession

REPO_ROOT = Path(__file__).resolve().parents[1]


async def person(url: str, upload: bytes) -> StreamSession:
    session = await StreamSession(url, timeout=300).open("threshold", f"model={FRAUD_MODEL}")
    await session.set("fraud_view_data", "An uploaded CSV")
    await session.upload("fraud_view_upload", "batch.csv", upload)
    await session.goto("latent", f"model={MNIST_MODEL}")
    return session


async def measure(url: str, pid: int, steps: list[int], upload: bytes) -> list[dict]:
    sessions: list[StreamSession] = []
    rows = []
    for target in steps:
        while len(sessions) < target:
            sessions.append(await person(url, upload))
        await asyncio.sleep(3.0)
        rows.append({"sessions": len(sessions), "server_rss_mb": round(load.rss_mb(pid), 1)})
        print(rows[-1], flush=True)
    await asyncio.gather(*(s.close() for s in sessions))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="1,5,10,20", help="sessions open at each reading")
    parser.add_argument("--upload-rows", type=int, default=2000)
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "sessions_memory.json"))
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    data = data_dir()
    upload = pd.read_csv(data / "creditcard" / "creditcard_subset.csv").sample(
        args.upload_rows, random_state=0).to_csv(index=False).encode()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        models = Path(scratch) / "models"
        for name in (MNIST_MODEL, FRAUD_MODEL):
            shutil.copytree(REPO_ROOT / "models" / name, models / name)
        with app_server(models, data_dir=data, log_dir=Path(scratch), timeout=300,
                        extra_env={"VAE_MAX_SESSIONS": "0", "VAE_MODE": "viewer"}) as server:
            time.sleep(5.0)
            idle = round(load.rss_mb(server.process.pid), 1)
            rows = asyncio.run(measure(server.url, server.process.pid, steps, upload))
    counts = np.array([r["sessions"] for r in rows], float)
    rss = np.array([r["server_rss_mb"] for r in rows])
    slope = float(np.polyfit(counts, rss, 1)[0]) if len(rows) > 1 else float("nan")
    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "streamlit": streamlit.__version__, "load_average_1m": os.getloadavg()[0]},
        "setup": {"models": [MNIST_MODEL, FRAUD_MODEL], "upload_rows": args.upload_rows,
                  "session": "Fraud threshold page with an uploaded CSV, then the Latent space page; kept open",
                  "server": "viewer mode (no warm training process), max_sessions off"},
        "server_rss_idle_mb": idle, "readings": rows,
        "mb_per_session": round(slope, 1),
        "at_default_max_sessions_mb": round(float(rss[0] + slope * (20 - counts[0])), 0),
        "seconds": round(time.perf_counter() - started, 1),
    }
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("server_rss_idle_mb", "mb_per_session", "at_default_max_sessions_mb")}))


if __name__ == "__main__":
    main()
