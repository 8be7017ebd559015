"""Batch scoring throughput: the CLI's scorer in one process against the same scorer on a local Dask
cluster of 1 and 2 worker processes, on 284,807 synthetic transactions (the generator fitted per
class to the real ULB subset, vae_core/tables/synthetic.py, at 0.172% frauds: the real full file is not
available offline). Writes bench/results/dask_scoring.json.

    .venv/bin/python bench/bench_dask.py              # ~5 min on 2 CPU cores; needs pip install -e ".[dask]"
    .venv/bin/python bench/bench_dask.py --rows 50000

Each figure is rows per second from reading the CSV to the complete output file, model loading
included (once per worker process); the best of `--repeats` runs, since other jobs share the machine.
Like the CLI's scorer, which runs in this process after its imports, the workers have imported the
scorer's modules (a cluster's workers outlive one job) before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL = "fraud-subset"


def cli_scorer(rows: Path, output: Path) -> float:
    """Seconds for the CLI's scorer (vae_core.tables.fraud.score_csv) in this process, model load included."""
    from vae_core import registry
    from vae_core.tables.fraud import score_csv

    start = time.perf_counter()
    score_csv(registry.load_model(MODEL, REPO_ROOT / "models"), rows, output, strategy="max_f1")
    return time.perf_counter() - start


def _peak_rss_mb() -> float:
    """This process's peak resident memory in MiB: VmHWM (ru_maxrss would carry over the parent's
    size at fork, i.e. this bench's, generated rows included)."""
    import re

    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+)", status.read()).group(1)) / 1024


def _import_scorer() -> None:
    import pyarrow.csv  # noqa: F401

    import vae_core.tables.fraud  # noqa: F401


def dask_scorer(rows: Path, output: Path, workers: int, blocksize: str) -> tuple[float, int, list[float]]:
    """(seconds, partitions, each worker's peak RSS in MiB) on a fresh local cluster of `workers`
    single-threaded processes."""
    from dask.distributed import Client, LocalCluster

    from vae_core.tables.dask_scoring import score_csv_dask

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.run(_import_scorer)
        start = time.perf_counter()
        summary = score_csv_dask(MODEL, rows, output, models_dir=REPO_ROOT / "models", strategy="max_f1",
                                 blocksize=blocksize, client=client)
        seconds = time.perf_counter() - start
        peaks = sorted(round(mb) for mb in client.run(_peak_rss_mb).values())
        return seconds, int(summary["partitions"]), peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=284_807)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--blocksize", default="8MB", help="bytes of CSV per Dask partition")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "dask_scoring.json"))
    args = parser.parse_args()
    from vae_core.tables.tabular import make_synthetic_creditcard

    started, load_before = time.perf_counter(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        rows = Path(tmp) / "transactions.csv"
        make_synthetic_creditcard(n_rows=args.rows, fraud_fraction=0.00172, seed=0).to_frame().to_csv(rows, index=False)
        results = {"cli_one_process": {"seconds": min(cli_scorer(rows, Path(tmp) / "cli.csv")
                                                      for _ in range(args.repeats))}}
        reference = (Path(tmp) / "cli.csv").read_text().count("\n")
        for workers in (1, 2):
            runs = [dask_scorer(rows, Path(tmp) / f"dask{workers}.csv", workers, args.blocksize)
                    for _ in range(args.repeats)]
            assert (Path(tmp) / f"dask{workers}.csv").read_text().count("\n") == reference
            fastest = min(runs)
            results[f"dask_{workers}_worker{'s' if workers > 1 else ''}"] = {
                "seconds": fastest[0], "partitions": fastest[1], "peak_rss_mb_per_worker": fastest[2]}
        size_mb = rows.stat().st_size / 2**20
    for entry in results.values():
        entry["seconds"] = round(entry["seconds"], 2)
        entry["rows_per_second"] = round(args.rows / entry["seconds"])
    one, two = results["dask_1_worker"]["rows_per_second"], results["dask_2_workers"]["rows_per_second"]
    results["ratios"] = {"2_workers_over_1": round(two / one, 2),
                         "2_workers_over_cli": round(two / results["cli_one_process"]["rows_per_second"], 2)}
    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)]},
        "data": f"{args.rows:,} synthetic transactions at 0.172% frauds ({size_mb:.0f} MiB of CSV) from the generator "
                f"fitted per class to the real ULB subset (vae_core/tables/synthetic.py); model {MODEL}",
        "blocksize": args.blocksize, "repeats": args.repeats, "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
