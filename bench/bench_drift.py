"""The drift check streams its batch: `vae-explorer drift` on 284,807 and 5 × 284,807 synthetic
transactions (the generator fitted per class to the real ULB subset, vae_core/tables/synthetic.py, at
0.172% frauds: the full real file is not available offline), unlabelled and labelled, in 50,000-row
chunks and with the whole batch as one chunk. Writes bench/results/drift.json.

    .venv/bin/python bench/bench_drift.py          # ~4 min on 2 CPU cores

Each run is a fresh CLI process with the shipped `fraud-subset` model and its shipped held-out rows
as the reference; recorded: wall seconds and the process's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL = "fraud-subset"
CHUNK = 50_000


def run_drift(batch: Path, chunk_size: int, label_column: str) -> dict:
    """One `vae-explorer drift` process: wall seconds, peak RSS in MiB, and what it said."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent at fork, so a child of this
    # process (which holds the generated batch) would report at least its parent's size.
    code = ("import re, sys, runpy; sys.argv = ['vae-explorer'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('vae_core', run_name='__main__')\n"
            "finally:\n    print('PEAK_KIB', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1),"
            " file=sys.stderr)")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "VAE_OFFLINE": "1"}
    env.pop("VAE_DATA_DIR", None)  # the model's shipped held-out rows are the reference
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "drift", "--name", MODEL, "--models-dir",
                           str(REPO_ROOT / "models"), "--input", str(batch), "--chunk-size", str(chunk_size),
                           "--label-column", label_column, "--json"],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    seconds = time.perf_counter() - started
    peak = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_KIB"))
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    report = json.loads(done.stdout)
    return {"chunk_rows": chunk_size, "seconds": round(seconds, 1), "peak_rss_mb": round(peak / 1024, 1),
            "drifted": report["drifted"], "psi": round(report["psi"], 4), "ks": round(report["ks"], 4),
            "rows": report["rows"], "labelled": report["labelled"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=284_807)
    parser.add_argument("--times", type=int, default=5, help="the large batch is this many copies of the first")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "drift.json"))
    args = parser.parse_args()

    from vae_core.tables.tabular import make_synthetic_creditcard

    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        small, large = Path(scratch) / "batch.csv", Path(scratch) / "batch_large.csv"
        make_synthetic_creditcard(n_rows=args.rows, fraud_fraction=0.00172, seed=0).to_frame().to_csv(small, index=False)
        with large.open("wb") as out, small.open("rb") as part:
            header, body = part.readline(), part.read()
            out.write(header)
            for _ in range(args.times):
                out.write(body)
        for batch, rows in ((small, args.rows), (large, args.rows * args.times)):
            size_mb = batch.stat().st_size / 2**20
            for label_column in ("none", "Class"):
                for chunk in (CHUNK, rows):
                    row = {"batch_rows": rows, "csv_mib": round(size_mb, 1), "label_column": label_column,
                           **run_drift(batch, chunk, label_column)}
                    print(json.dumps(row), flush=True)
                    runs.append(row)
    payload = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m": round(os.getloadavg()[0], 2)},
        "setup": {"model": MODEL, "reference": "the model's shipped held-out validation rows",
                  "batch": f"synthetic transactions at 0.172% frauds (vae_core/tables/synthetic.py), {args.rows:,} rows and "
                           f"{args.times} copies of them; label_column 'none' reads them unlabelled",
                  "chunks": f"{CHUNK:,} rows, or the whole batch as one chunk (as reading it whole)"},
        "runs": runs,
    }
    Path(args.output).write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
