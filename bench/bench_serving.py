"""Serving without TensorFlow: the CLI and the dashboard server of several checkouts side by side, in
one run (e.g. the code before and after dense models were served in NumPy). Writes
bench/results/serving.json.

    .venv/bin/python bench/bench_serving.py --checkout before=/tmp/before --checkout after=.   # ~11 min on 2 CPU cores
    .venv/bin/python bench/bench_serving.py --checkout after=. --quick                         # ~3 min

Each checkout runs with its own `.venv/bin/python`, `app.py` and `models/`; the real data is
`$VAE_DATA_DIR` (default ../shared/data). Measured per checkout, repeats interleaved across checkouts:
- `python -m vae_core evaluate --name fraud-subset --json`: wall seconds and peak RSS (/usr/bin/time's
  maximum resident set), median of `--repeats`.
- `python -m vae_core score --name fraud-subset` on a CSV of `--rows` synthetic transactions (284,807,
  0.172% frauds, seed 0): wall seconds, median of `--repeats`, against the "pyarrow floor" (reading
  that CSV with pyarrow.csv, every column as a string, and writing it back) measured in the same run;
  and how many rows the output flags (checkouts that score alike flag the same rows).
- The server's memory with the shipped models: `streamlit run app.py`, 5 s after its log says the
  default models are loaded, and again once its warm training worker (which imports TensorFlow by
  design) is idle: the server process's VmRSS, its descendants' summed VmRSS, and whether any
  TensorFlow library is mapped into the server process.
- Latent space opened the moment a fresh server answers (shipped models, real MNIST) → every point
  of the latent map drawn (testkit/latent_map.py), `--cold-starts` fresh servers; with the
  page's in-page marks of bench_browser.py (the start-up notice, first paint, complete).
- The Fraud threshold page's first open on a fresh server over 284,807 synthetic rows, the models and
  data of bench_dashboard.prepare, timed as bench_threshold.py does, `--threshold-opens` servers; then
  one open on a later server that keeps the last one's cache folder (where a checkout may keep scores
  on disk). The page finds the rows under the name of the fraud model's (deleted) training file: see
  bench_servers.
Plus, once: `python -c "import tensorflow"` (this checkout's venv), median of `--repeats`.

Every server starts with an empty cache folder of its own (VAE_CACHE_DIR) unless said otherwise; the
commands share one of this run. The browser driver is this checkout's (testkit), whatever
checkout serves the page; Chromium renders in software (--disable-gpu). Timings on a shared 2-core
machine are noisy: the load average is recorded before and after, and with each server measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("VAE_OFFLINE", "1")
REPO_ROOT = Path(__file__).resolve().parents[1]

from bench_browser import LOAD_PROBE, STARTUP_DONE, load_average, wait_for_log
from bench_dashboard import FULL_DATA_PREVALENCE, FULL_DATA_ROWS, prepare
from bench_threshold import open_page
from testkit import load
from testkit.browser import (CHROMIUM_FLAGS, DESKTOP, DRAWN_JS, IDLE_JS, AppPage, AppServer, chromium,
                                       free_port, skip_reason, stop_server,
                                       streamlit_command, wait_until_up)
from testkit.latent_map import MapSession

MODEL = "fraud-subset"
T = TypeVar("T")
SETTLE_SECONDS = 5.0  # after the start-up line, before the server's memory is read
TIMEOUT_MS = 900_000
# Reads a CSV with pyarrow (every column a string: no parsing of numbers) and writes it back.
PYARROW_FLOOR = """import csv, sys
import pyarrow as pa, pyarrow.csv as pc
source, target = sys.argv[1:]
with open(source, newline="") as f:
    names = next(csv.reader(f))
table = pc.read_csv(source, convert_options=pc.ConvertOptions(column_types={n: pa.string() for n in names}))
pc.write_csv(table, target)
"""


class CommandFailed(RuntimeError):
    """A benchmarked command exited with an error; the message holds its output's end."""


@dataclass(frozen=True)
class Checkout:
    """A working tree with its own virtual environment, app.py and models/."""

    name: str
    root: Path

    @property
    def python(self) -> str:
        return str(self.root / ".venv" / "bin" / "python")

    def env(self, models: Path, data_dir: Path, cache: Path) -> dict[str, str]:
        """The environment of its commands and servers: its models, the data, a cache folder of this run
        (VAE_CACHE_DIR: kept scores, classifiers), nothing inherited that could point Python elsewhere."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return env | {"VAE_MODELS_DIR": str(models), "VAE_DATA_DIR": str(data_dir), "VAE_CACHE_DIR": str(cache),
                      "VAE_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}

    def revision(self) -> dict:
        """Its commit, and how many files differ from it (uncommitted changes)."""
        git = lambda *a: subprocess.run(["git", "-C", str(self.root), *a], capture_output=True,  # noqa: E731
                                        text=True, check=True).stdout
        changed = [line for line in git("status", "--porcelain", "--untracked-files=no").splitlines() if line]
        return {"root": str(self.root), "commit": git("rev-parse", "HEAD").strip(),
                "files_with_uncommitted_changes": len(changed)}


def figures(values: list[float], digits: int = 2) -> dict:
    """The median and every value."""
    return {"median": round(statistics.median(values), digits), "runs": [round(v, digits) for v in values]}


def attempt(label: str, measure: Callable[[], T]) -> T | dict:
    """measure(), or {"failed": why}: one failing figure does not stop the others."""
    try:
        return measure()
    except Exception as exc:  # noqa: BLE001 - reported in the results, as the run goes on
        print(f"{label} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return {"failed": f"{type(exc).__name__}: {exc}"[:3000]}


# --- commands ------------------------------------------------------------------------------------

def run_timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of a command, under /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        start = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", stats.name, *argv], cwd=cwd, env=env,
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
        peak_kib = int(Path(stats.name).read_text().split()[-1])
    if done.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)} exited with {done.returncode}: {(done.stderr or done.stdout)[-2000:]}")
    return wall, peak_kib / 1024, done.stdout


def tensorflow_import(python: str, repeats: int) -> dict:
    """`python -c "import tensorflow"`: wall seconds and peak RSS, median of `repeats`."""
    runs = [run_timed([python, "-c", "import tensorflow"], REPO_ROOT) for _ in range(repeats)]
    return {"python": python, "wall_s": figures([r[0] for r in runs]),
            "peak_rss_mb": figures([r[1] for r in runs], 0)}


def evaluate(checkout: Checkout, data_dir: Path, cache: Path) -> tuple[float, float, dict]:
    """One `evaluate --json` of the shipped fraud model: (wall s, peak RSS MiB, its headline metrics)."""
    wall, rss, out = run_timed([checkout.python, "-m", "vae_core", "evaluate", "--name", MODEL, "--json"],
                               checkout.root, checkout.env(checkout.root / "models", data_dir, cache))
    report = json.loads(out)
    return wall, rss, {k: report[k] for k in ("roc_auc", "average_precision", "threshold", "alerts", "n")}


def score(checkout: Checkout, data_dir: Path, cache: Path, rows: Path, output: Path) -> tuple[float, float]:
    """One `score` of the CSV by the shipped fraud model: (wall s, peak RSS MiB)."""
    wall, rss, _ = run_timed([checkout.python, "-m", "vae_core", "score", "--name", MODEL, "--input", str(rows),
                              "--output", str(output)], checkout.root,
                             checkout.env(checkout.root / "models", data_dir, cache))
    return wall, rss


def pyarrow_floor(python: str, rows: Path, output: Path) -> tuple[float, float]:
    """Reading and writing the CSV with pyarrow and nothing else: (wall s, peak RSS MiB)."""
    wall, rss, _ = run_timed([python, "-c", PYARROW_FLOOR, str(rows), str(output)], REPO_ROOT)
    return wall, rss


def scored_rows(path: Path) -> dict[str, int]:
    """Rows in a scored CSV, and how many are flagged (the same in every checkout if they agree)."""
    import pyarrow.csv as pc

    flags = pc.read_csv(path, convert_options=pc.ConvertOptions(include_columns=["flag"])).column("flag")
    return {"output_rows": len(flags), "flagged": int(flags.to_numpy().astype(bool).sum())}


def bench_commands(checkouts: list[Checkout], data_dir: Path, tmp: Path, rows: int, repeats: int) -> tuple[dict, dict]:
    """evaluate and score per checkout, and the pyarrow floor: ({name: figures}, the floor's figures)."""
    from vae_core.tables.tabular import make_synthetic_creditcard

    csv_path, output, cache = tmp / "transactions.csv", tmp / "scored.csv", tmp / "cache-commands"
    cache.mkdir()
    make_synthetic_creditcard(n_rows=rows, fraud_fraction=FULL_DATA_PREVALENCE, seed=0).to_frame().to_csv(
        csv_path, index=False)
    floor = [pyarrow_floor(sys.executable, csv_path, output) for _ in range(repeats)]
    floor_s = statistics.median(wall for wall, _ in floor)
    runs = {c.name: {"evaluate": [], "score": []} for c in checkouts}
    outputs = {}
    for _ in range(repeats):
        for c in checkouts:
            runs[c.name]["evaluate"].append(attempt(f"{c.name} evaluate", lambda: evaluate(c, data_dir, cache)))
            runs[c.name]["score"].append(attempt(f"{c.name} score", lambda: score(c, data_dir, cache, csv_path, output)))
            if isinstance(runs[c.name]["score"][-1], tuple):
                outputs.setdefault(c.name, scored_rows(output))
    summary = {}
    for c in checkouts:
        evaluated = command_figures(runs[c.name]["evaluate"])
        metrics = next((r[2] for r in runs[c.name]["evaluate"] if isinstance(r, tuple)), None)
        summary[c.name] = {"evaluate": evaluated | {"metrics": metrics},
                           "score": command_figures(runs[c.name]["score"], floor_s)
                           | outputs.get(c.name, {})}
    floor_figures = {"csv_rows": rows, "csv_mib": round(csv_path.stat().st_size / 2**20, 1),
                     "python": sys.executable, "wall_s": figures([wall for wall, _ in floor]),
                     "peak_rss_mb": figures([rss for _, rss in floor], 0)}
    csv_path.unlink()
    output.unlink(missing_ok=True)
    return summary, floor_figures


def command_figures(runs: list, floor_s: float | None = None) -> dict:
    """Wall seconds and peak RSS of the runs that worked (tuples), the ratio of the median to `floor_s`,
    and the first failure."""
    good = [r for r in runs if isinstance(r, tuple)]
    result = {"wall_s": figures([r[0] for r in good]), "peak_rss_mb": figures([r[1] for r in good], 0)} if good else {}
    if good and floor_s:
        result["ratio_to_pyarrow_floor"] = round(statistics.median(r[0] for r in good) / floor_s, 2)
    failed = [r["failed"] for r in runs if isinstance(r, dict)]
    return result | ({"failed": f"{len(failed)} of {len(runs)} runs: {failed[0]}"} if failed else {})


# --- servers -------------------------------------------------------------------------------------

@contextlib.contextmanager
def checkout_server(checkout: Checkout, models: Path, data_dir: Path, work: Path, cache: Path | None = None,
                    timeout: float = 300) -> Iterator[AppServer]:
    """`streamlit run app.py` of `checkout` (its python, its folder) on a free localhost port, as
    testkit.browser.app_server starts one, yielded once /_stcore/health answers; stopped
    afterwards with everything it started (its own process group). Its log and, unless `cache` names
    one, a new empty cache folder (nothing kept by an earlier server) go in `work`."""
    port = free_port()
    cache = cache or Path(tempfile.mkdtemp(prefix="cache-", dir=work))
    cache.mkdir(exist_ok=True)
    log_path = work / f"streamlit-{checkout.name}-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            streamlit_command(str(checkout.python), "app.py", port),
            cwd=checkout.root, env=checkout.env(models, data_dir, cache), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    server = AppServer(f"http://127.0.0.1:{port}", log_path, process)
    try:
        wait_until_up(server, timeout, f"{checkout.name}'s server")
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server, SIGKILL if it has not exited in 15 s; then SIGKILL to whatever is left
    in its process group (its training workers)."""
    stop_server(process)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, …)."""
    found = []
    for child in load.children(pid):
        found += [child, *descendants(child)]
    return found


def tensorflow_mapped(pid: int) -> bool:
    """Whether any TensorFlow library is mapped into process `pid`."""
    return "tensorflow" in Path(f"/proc/{pid}/maps").read_text()


def memory(pid: int) -> dict:
    """The server's VmRSS, its descendants' (each and summed), and whether TensorFlow is mapped in it."""
    children = []
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            what = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            children.append({"pid": child, "rss_mb": round(load.rss_mb(child), 1), "cmdline": what[:120].strip()})
    return {"server_rss_mb": round(load.rss_mb(pid), 1), "children_rss_mb": round(sum(c["rss_mb"] for c in children), 1),
            "children": children, "tensorflow_mapped_in_server": tensorflow_mapped(pid),
            "load_average": load_average()}


def startup_line(server: AppServer) -> str:
    """The server's log line that says the start-up loading is done."""
    return next(line.strip() for line in server.log_text().splitlines() if STARTUP_DONE in line)


def server_memory(checkout: Checkout, data_dir: Path, work: Path) -> dict:
    """A fresh server on the shipped models: memory SETTLE_SECONDS after its start-up line, and once its
    warm training worker is idle."""
    started = time.perf_counter()
    with checkout_server(checkout, checkout.root / "models", data_dir, work) as server:
        pid = server.process.pid
        wait_for_log(server, STARTUP_DONE)
        done = time.perf_counter() - started
        time.sleep(SETTLE_SECONDS)
        settled = memory(pid)
        load.idle_worker(pid, timeout=300)
        warm = memory(pid)
        line = startup_line(server)
    return {"startup_done_after_start_s": round(done, 1), "startup_line": line,
            f"{SETTLE_SECONDS:.0f}s_after_startup_line": settled,
            "training_worker_warm": warm | {"after_start_s": round(time.perf_counter() - started, 1)}}


def latent_cold_start(browser, checkout: Checkout, data_dir: Path, work: Path) -> dict:
    """A fresh server on the shipped models; Latent space opened the moment it answers; seconds from
    the navigation to every point of the latent map drawn, and the page's marks (ms)."""
    started = time.perf_counter()
    with checkout_server(checkout, checkout.root / "models", data_dir, work) as server:
        answered = time.perf_counter() - started
        load_at_start = load_average()
        context = browser.new_context(viewport=DESKTOP)
        try:
            context.add_init_script(LOAD_PROBE % (json.dumps("Latent space"), IDLE_JS, DRAWN_JS))
            app = AppPage(context.new_page(), server.url, timeout_ms=TIMEOUT_MS)
            opened = time.perf_counter()
            app.page.goto(f"{server.url}/latent")
            points = MapSession(app, timeout_ms=TIMEOUT_MS).count()
            drawn = time.perf_counter() - opened
            app.page.wait_for_function("() => window.__marks && window.__marks.complete !== undefined",
                                       timeout=TIMEOUT_MS)
            marks = app.page.evaluate("() => window.__marks")
        finally:
            context.close()
        wait_for_log(server, STARTUP_DONE)  # then whether the start-up work mapped TensorFlow
        return {"server_answers_s": round(answered, 2), "map_drawn_s": round(drawn, 2), "points": points,
                "page_marks_ms": {k: round(v) for k, v in marks.items()},
                "tensorflow_mapped_in_server": tensorflow_mapped(server.process.pid), "load_average": load_at_start}


def threshold_open(browser, checkout: Checkout, models: Path, data_dir: Path, work: Path, cache: Path) -> dict:
    """A fresh server on the prepared models, with `cache` as its cache folder; the Fraud threshold page
    opened the moment it answers, until its explorer is drawn (bench_threshold.open_page)."""
    started = time.perf_counter()
    with checkout_server(checkout, models, data_dir, work, cache) as server:
        answered = time.perf_counter() - started
        load_at_start = load_average()
        context = browser.new_context(viewport=DESKTOP)
        try:
            app = AppPage(context.new_page(), server.url, timeout_ms=TIMEOUT_MS)
            _, first_open_ms = open_page(app)
            banner = app.page.locator("[data-testid=stCaptionContainer]").filter(has_text="rows,").first.inner_text()
        finally:
            context.close()
        return {"server_answers_s": round(answered, 2), "first_open_s": round(first_open_ms / 1000, 2),
                "rows": int(re.search(r"([\d,]+) rows,", banner).group(1).replace(",", "")), "banner": banner.strip(),
                "tensorflow_mapped_in_server": tensorflow_mapped(server.process.pid), "load_average": load_at_start}


def repeated(runs: list[dict], key: str) -> dict:
    """The median of `key` over the runs that worked, each run, and the failures."""
    good = [r[key] for r in runs if "failed" not in r]
    failed = [r["failed"] for r in runs if "failed" in r]
    return ({"median": round(statistics.median(good), 2)} if good else {}) | {"runs": runs} | (
        {"failed": f"{len(failed)} of {len(runs)}"} if failed else {})


def bench_servers(checkouts: list[Checkout], data_dir: Path, tmp: Path, cold_starts: int, opens: int) -> tuple[dict, str]:
    """Server memory, Latent space cold, Fraud threshold first open, per checkout: ({name: figures},
    Chromium's version)."""
    models, prepared_data = prepare(tmp)
    results = {c.name: {"server_memory": attempt(f"{c.name} server memory", lambda: server_memory(c, data_dir, tmp))}
               for c in checkouts}
    with chromium() as browser:
        latent = {c.name: [] for c in checkouts}
        for _ in range(cold_starts):
            for c in checkouts:
                latent[c.name].append(attempt(f"{c.name} latent", lambda: latent_cold_start(browser, c, data_dir, tmp)))
        threshold = {c.name: [] for c in checkouts}
        for i in range(opens):  # each with an empty cache folder: the first open of these rows ever
            for c in checkouts:
                cache = tmp / f"cache-threshold-{c.name}-{i}"
                threshold[c.name].append(attempt(f"{c.name} threshold", lambda: threshold_open(
                    browser, c, models, prepared_data, tmp, cache)))
        # Then a later server of each checkout, with the cache folder its last first open left behind.
        later = {c.name: attempt(f"{c.name} threshold, later server", lambda: threshold_open(
            browser, c, models, prepared_data, tmp, tmp / f"cache-threshold-{c.name}-{opens - 1}")) for c in checkouts}
        version = browser.version
    for c in checkouts:
        results[c.name]["latent_opened_as_server_answers"] = repeated(latent[c.name], "map_drawn_s")
        results[c.name]["threshold_first_open"] = repeated(threshold[c.name], "first_open_s")
        results[c.name]["threshold_open_on_a_later_server_same_cache"] = later[c.name]
        print(json.dumps({c.name: results[c.name]}), flush=True)
    return results, version


# --- all of it -----------------------------------------------------------------------------------------

def checkout_arg(text: str) -> Checkout:
    name, _, root = text.partition("=")
    path = Path(root).expanduser().resolve()
    if not name or not (path / "app.py").is_file() or not (path / ".venv" / "bin" / "python").exists():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=FOLDER with app.py and .venv/bin/python")
    return Checkout(name, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=checkout_arg, action="append", required=True,
                        help="NAME=FOLDER, once per checkout (its .venv, app.py and models/ are used)")
    parser.add_argument("--quick", action="store_true", help="one of each, a 50,000-row CSV: for development")
    parser.add_argument("--repeats", type=int, help="runs per command figure (default 3; --quick 1)")
    parser.add_argument("--rows", type=int, help=f"rows of the CSV to score (default {FULL_DATA_ROWS:,}; --quick 50,000)")
    parser.add_argument("--cold-starts", type=int, help="fresh servers for Latent space (default 2; --quick 1)")
    parser.add_argument("--threshold-opens", type=int, help="fresh servers for the Fraud threshold page (default 2; --quick 1)")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "serving.json"))
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    rows = args.rows or (50_000 if args.quick else FULL_DATA_ROWS)
    cold_starts = args.cold_starts or (1 if args.quick else 2)
    opens = args.threshold_opens or (1 if args.quick else 2)
    missing = skip_reason()
    if missing:
        sys.exit(f"cannot run the browser figures: {missing}")
    data_dir = Path(os.environ.get("VAE_DATA_DIR", REPO_ROOT.parent / "shared" / "data")).resolve()
    checkouts = args.checkout
    started, load_before = time.perf_counter(), [round(v, 2) for v in os.getloadavg()]
    results = {c.name: c.revision() for c in checkouts}
    tf = tensorflow_import(sys.executable, repeats)
    print(json.dumps({"tensorflow_import": tf}), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        commands, floor = bench_commands(checkouts, data_dir, Path(tmp), rows, repeats)
        print(json.dumps({"commands": commands, "pyarrow_floor": floor}), flush=True)
        servers, version = bench_servers(checkouts, data_dir, Path(tmp), cold_starts, opens)
    for c in checkouts:
        results[c.name] |= commands[c.name] | servers[c.name]
    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1_5_15m_before": load_before,
                    "load_average_1_5_15m_after": [round(v, 2) for v in os.getloadavg()],
                    "note": "a shared 2-core machine: other jobs ran meanwhile (see each load average)"},
        "browser": {"chromium": version, "flags": CHROMIUM_FLAGS, "viewport": DESKTOP,
                    "driver": "this checkout's testkit, for every checkout's server"},
        "data": f"evaluate, server memory and Latent space: the shipped models on the real data in {data_dir} "
                f"(MNIST's 10,000 test digits on the map); score: {rows:,} synthetic transactions "
                f"(make_synthetic_creditcard, 0.172% frauds, seed 0, {floor['csv_mib']} MiB); Fraud threshold: "
                f"bench_dashboard.prepare's models and {FULL_DATA_ROWS:,} synthetic transactions",
        "repeats": {"commands": repeats, "latent_cold_starts": cold_starts, "threshold_opens": opens},
        "tensorflow_import_seconds": tf["wall_s"]["median"],
        "tensorflow_import": tf,
        "pyarrow_floor": floor,
        "checkouts": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
