"""One server shared by people who train and people who explore: the training queue under load
(bench/results/shared_server.json), and a view-only server under forged writes
(bench/results/forged_requests.json).

    .venv/bin/python bench/bench_shared_server.py                # ~12 min on 2 CPU cores
    .venv/bin/python bench/bench_shared_server.py --part forged  # ~2 min
    .venv/bin/python bench/bench_shared_server.py --part queue --rounds 1 --idle-passes 4

A real `streamlit run app.py` (VAE_MAX_TRAININGS=1) with the demo models on the real data, driven by
protocol-level sessions (testkit/stream.py). Each round is the scenario of
tests/test_shared_server.py (testkit/load.py `queue_crowd`): `--trainers` tabs press Train
within a second (an MNIST VAE on the bundled digits, hidden 32, `--epochs`), the second in line
cancels and the last in line closes its tab, while one more person explores (decoder moves, latent
map clicks, threshold releases, page changes) until every training has ended. Then the same exploring
on the idle server (`--idle-passes` passes, the warm training worker waiting) before the rounds, and
again after them.

Recorded: the explorer's latency idle and under training (p50 / p90, their ratio; goal p90 ratio at
most 2), the most training processes seen at once (sampled every 0.2 s; goal 1), each training's
wait in the queue and run time, the wait the page estimated against the real one, the server's RSS
and each training worker's. Timings on a shared 2-core machine are noisy: the load average is
recorded.

The forged writes (the long form of tests/test_shared_server.py's): the ids of every write control
(the Models page's delete, confirm, rename and import, the Train page's Train, the AE vs VAE twin
training, the ELBO page's β sweep) are recorded on a full-mode server, where the forged delete is
replayed once as the control and does delete. Then `--forged-tabs` tabs send all of them
`--forged-repeats` times over, at once, to a `VAE_MODE=viewer` server. Recorded: what each page
said, the registry's files before and after (SHA-256 of every file), every training process seen
(sampled every 0.2 s), the server log's tracebacks, the forged requests' latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("VAE_OFFLINE", "1")
REPO_ROOT = Path(__file__).resolve().parents[1]

import streamlit

from bench_load import FRAUD_MODEL, MNIST_MODEL, by_kind, data_dir
from testkit import forgery, load
from testkit.browser import app_server
from testkit.stream import StreamSession
from dashboard import presentation
from vae_core import archive, registry

GOAL_P90_RATIO = 2.0
MODELS_PAGE_WRITES = ("delete", "confirm delete", "rename", "import")


async def explore_alone(url: str, work: load.Workload, passes: int) -> list[load.Pass]:
    async with StreamSession(url, timeout=300) as session:
        return [await load.explore(session, work, 0) for _ in range(passes)]


def seconds(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


def trainee_row(trainee: load.Trainee, saved: bool) -> dict:
    """One person who pressed Train: outcome, places in line, wait and run time, the wait estimates."""
    estimates = [{"shown_at_s": round(when - trainee.pressed, 1), "position": position, "estimate_s": eta,
                  "actual_s": seconds(trainee.started - when)}
                 for when, position, eta in trainee.queue if eta is not None]
    first_estimates = [e for i, e in enumerate(estimates) if i == 0 or e["position"] != estimates[i - 1]["position"]]
    return {"name": trainee.name, "outcome": trainee.left or ("saved" if saved else trainee.line),
            "positions_shown": trainee.positions, "wait_s": seconds(trainee.started - trainee.pressed),
            "run_s": seconds(trainee.ended - trainee.started), "final_line": trainee.line[:160],
            "wait_estimates_at_each_place": first_estimates}


def busy_steps(run: dict) -> list:
    """The explorer's steps sent between the first Train press and the last training's end."""
    start, end = run["busy"]
    return [s for p in run["passes"] for s in p.interactions if start <= s.started <= end]


def handovers(trainees: list[load.Trainee]) -> list[float]:
    """Seconds from one training's end to the next one's start, as their pages showed them (both are
    polled twice a second), in the order they ran."""
    ran = sorted((t for t in trainees if not math.isnan(t.started) and not t.left), key=lambda t: t.started)
    return [round(b.started - a.ended, 1) for a, b in zip(ran, ran[1:])]


def round_summary(run: dict, watch: load.ProcessWatch, models: Path) -> dict:
    trainees = run["trainees"]
    start, end = run["busy"]
    steps = busy_steps(run)
    saved = [t for t in trainees if not t.left and t.line.startswith(f"Saved **{t.name}**")
             and registry.inspect_model(models / t.name).valid]
    in_window = [sample for sample in watch.samples if start <= sample[0] <= end]
    workers: dict[int, float] = {}
    for _, _, children in watch.samples:
        for pid, rss in children.items():
            workers[pid] = max(workers.get(pid, 0.0), rss)
    return {
        "busy_seconds": round(end - start, 1), "press_spread_s": round(run["press_spread"], 3),
        "explorer": {"passes": len(run["passes"]), "steps_while_training": len(steps),
                     "errors": [e for p in run["passes"] for e in p.errors][:5], "latency_ms": by_kind(steps)},
        "handover_s": handovers(trainees),
        "training_process_overlaps": watch.overlaps(),
        "trainings_saved": len(saved),
        "left_the_queue_but_saved": sorted(t.name for t in trainees if t.left and (models / t.name).exists()),
        "most_training_processes_at_once": watch.most_at_once,
        "training_processes_seen": len(watch.pids),
        "trainees": [trainee_row(t, t in saved) for t in sorted(trainees, key=lambda t: t.pressed)],
        "server_rss_mb": {"peak_while_training": round(max((s[1] for s in in_window), default=0.0), 1),
                          "after": round(watch.samples[-1][1], 1) if watch.samples else None},
        "training_worker_rss_mb": {"peak_per_process": sorted(round(v, 1) for v in workers.values()),
                                   "peak": round(max(workers.values(), default=0.0), 1)},
    }


def demo_registry(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in (MNIST_MODEL, FRAUD_MODEL):
        shutil.copytree(REPO_ROOT / "models" / name, target / name)
    return target


async def forge_crowd(url: str, requests: list[forgery.Forgery], zip_bytes: bytes, tabs: int,
                      repeats: int) -> list[forgery.Seen]:
    """`tabs` tabs at once, each sending every request `repeats` times over."""
    per_tab = await asyncio.gather(*(forgery.forge_from_tab(url, requests, zip_bytes, repeats) for _ in range(tabs)))
    return [seen for tab in per_tab for seen in tab]


def forged_requests(scratch: Path, tabs: int, repeats: int) -> dict:
    """The long form of the forged-request test (the module docstring): its JSON payload."""
    full_models = demo_registry(scratch / "full" / "models")
    viewer_models = demo_registry(scratch / "viewer" / "models")
    zip_bytes = archive.export_zip(FRAUD_MODEL, REPO_ROOT / "models")
    started = time.perf_counter()
    with app_server(full_models, data_dir=data_dir(), log_dir=scratch / "full") as full:
        recorded = asyncio.run(forgery.record_write_widgets(full.url, zip_bytes, lessons=True))
        control = asyncio.run(forgery.forge_from_tab(full.url, forgery.forgeries(recorded)[:2], zip_bytes=None))
    control_deleted = not (full_models / recorded.shown).exists()
    requests = forgery.forgeries(recorded)
    before = forgery.snapshot(viewer_models)
    with app_server(viewer_models, data_dir=data_dir(), log_dir=scratch / "viewer",
                    extra_env={"VAE_MODE": "viewer"}) as viewer:
        watch = load.ProcessWatch(viewer.process.pid)
        watch.start()
        try:
            seen = asyncio.run(forge_crowd(viewer.url, requests, zip_bytes, tabs, repeats))
            time.sleep(2.0)  # a training process started by a forgery would show within the sampling
        finally:
            watch.stop()
        log = viewer.log_text()
    after = forgery.snapshot(viewer_models)
    per_kind = {}
    for request in requests:
        steps = [step for step in seen if step.what == request.what]
        per_kind[request.what] = {
            "sent": len(steps),
            "view_only_badge_shown": sum(any(presentation.VIEW_ONLY_BADGE in t for t in step.texts) for step in steps),
            "view_only_note_shown": sum(presentation.VIEW_ONLY_NOTE in step.texts for step in steps),
            "page_errors": sorted({e for step in steps for e in step.errors})[:5],
            "latency_ms": load.percentiles([step.seconds for step in steps])}
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    problems = [line for line in log.splitlines() if "Traceback" in line or "unexpected error" in line]
    models_page = [step for step in seen if step.what in MODELS_PAGE_WRITES]
    return {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "streamlit": streamlit.__version__},
        "setup": {"models": [MNIST_MODEL, FRAUD_MODEL], "tabs_at_once": tabs, "repeats_per_tab": repeats,
                  "requests": [request.what for request in requests],
                  "recorded_on": "a full-mode server, as a browser tab reveals the ids (the import's zip uploaded, "
                                 "the delete's confirmation drawn, a model name typed on the Train page)",
                  "sent_to": "a VAE_MODE=viewer server over Streamlit's websocket protocol (testkit/stream.py), "
                             "from fresh tabs that never drew any write control; each tab uploads the zip first"},
        "control_on_a_full_server": {"requests": [step.what for step in control],
                                     "page_errors": [e for step in control for e in step.errors],
                                     "model_deleted": control_deleted},
        "per_request": per_kind,
        "summary": {
            "forged_requests_sent": len(seen),
            "files_in_registry": sum(1 for digest in before.values() if digest is not None),
            "files_changed_added_or_removed": changed,
            "training_processes_seen": len(watch.pids),
            "view_only_badge_on_every_reply": all(any(presentation.VIEW_ONLY_BADGE in t for t in step.texts) for step in seen),
            "models_page_replies_saying_view_only": f"{sum(presentation.VIEW_ONLY_NOTE in s.texts for s in models_page)}"
                                                    f" of {len(models_page)}",
            "page_errors": sum(len(step.errors) for step in seen),
            "server_log_problems": problems[:5],
            "latency_ms": load.percentiles([step.seconds for step in seen]),
            "server_rss_mb_peak": round(max((sample[1] for sample in watch.samples), default=0.0), 1)},
        "seconds": round(time.perf_counter() - started, 1),
    }


def queue_bench(args: argparse.Namespace) -> dict:
    """The training queue under load (the module docstring): its JSON payload."""
    work = load.Workload(MNIST_MODEL, FRAUD_MODEL)
    load_before, started = os.getloadavg(), time.perf_counter()
    rounds, under_training = [], []
    with tempfile.TemporaryDirectory() as scratch:
        models = demo_registry(Path(scratch) / "models")
        with app_server(models, data_dir=data_dir(), log_dir=Path(scratch),
                        extra_env={"VAE_MAX_TRAININGS": "1"}) as server:
            pid = server.process.pid
            rss_start = load.rss_mb(pid)
            asyncio.run(explore_alone(server.url, work, 1))  # TensorFlow, the models, the caches
            load.idle_worker(pid, timeout=600)  # the warm training worker waits: the server is idle
            rss_warm = load.rss_mb(pid)
            idle = asyncio.run(explore_alone(server.url, work, args.idle_passes))
            for index in range(args.rounds):
                names = [f"bench-queued-{index}-{k}" for k in range(args.trainers)]
                watch = load.ProcessWatch(pid)
                watch.start()
                try:
                    run = asyncio.run(load.queue_crowd(server.url, work, names, epochs=args.epochs))
                    load.idle_worker(pid, timeout=300)  # the queue is empty: the next warm worker is ready
                finally:
                    watch.stop()
                rounds.append(round_summary(run, watch, models))
                under_training += busy_steps(run)
                print(f"round {index + 1}: {json.dumps(rounds[-1]['explorer']['latency_ms']['all'])}, "
                      f"at once {watch.most_at_once}", flush=True)
            idle_after = asyncio.run(explore_alone(server.url, work, args.idle_passes))
            rss_end = load.rss_mb(pid)
            log = server.log_text()

    idle_steps = [s for p in idle for s in p.interactions]
    idle_latency = by_kind(idle_steps)
    idle_after_latency = by_kind([s for p in idle_after for s in p.interactions])
    busy = by_kind(under_training)["all"]
    payload = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "streamlit": streamlit.__version__,
                    "load_average_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]},
        "setup": {"models": [MNIST_MODEL, FRAUD_MODEL], "max_trainings": 1, "trainers_per_round": args.trainers,
                  "rounds": args.rounds, "training": f"MNIST VAE, bundled digits (4,000), hidden 32, {args.epochs} "
                  "epoch(s), each under its own name",
                  "per_round": "all press Train within a second; the 2nd in line cancels, the last in line closes "
                               "its tab; one more session explores until every training has ended",
                  "latency": "send → end of the rerun + fetch of the changed images (no browser drawing)",
                  "under_training": "explorer steps sent between the first Train press and the last training's end",
                  "idle": "the same exploring before the rounds (the ratios' base) and after them",
                  "sampling": "the server's training processes and RSS every 0.2 s (/proc)"},
        "idle": {"passes": len(idle), "latency_ms": idle_latency},
        "idle_after_the_rounds": {"passes": len(idle_after), "latency_ms": idle_after_latency,
                                  "note": "the same exploring once the queue has emptied: how much the idle "
                                          "figure drifts on this shared machine"},
        "rounds": rounds,
        "summary": {
            "idle_p50_ms": idle_latency["all"]["p50_ms"], "idle_p90_ms": idle_latency["all"]["p90_ms"],
            "idle_after_p90_ms": idle_after_latency["all"]["p90_ms"],
            "training_p50_ms": busy["p50_ms"], "training_p90_ms": busy["p90_ms"],
            "steps": {"idle": len(idle_steps), "under_training": len(under_training)},
            "p50_ratio": round(busy["p50_ms"] / idle_latency["all"]["p50_ms"], 2),
            "p90_ratio": round(busy["p90_ms"] / idle_latency["all"]["p90_ms"], 2),
            "goal_p90_ratio": GOAL_P90_RATIO,
            "p90_ratio_per_round": [round(r["explorer"]["latency_ms"]["all"]["p90_ms"]
                                          / idle_latency["all"]["p90_ms"], 2) for r in rounds],
            "most_training_processes_at_once": max(r["most_training_processes_at_once"] for r in rounds),
            "wait_s": [t["wait_s"] for r in rounds for t in r["trainees"] if t["outcome"] == "saved"],
            "run_s": [t["run_s"] for r in rounds for t in r["trainees"] if t["outcome"] == "saved"],
            "server_rss_mb": {"start": round(rss_start, 1), "warm": round(rss_warm, 1),
                              "peak_while_training": max(r["server_rss_mb"]["peak_while_training"] for r in rounds),
                              "end": round(rss_end, 1)},
            "training_worker_rss_peak_mb": max(r["training_worker_rss_mb"]["peak"] for r in rounds)},
        "server_log_problems": [line for line in log.splitlines() if "Traceback" in line or "unexpected error" in line],
        "seconds": round(time.perf_counter() - started, 1),
    }
    return payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["both", "queue", "forged"], default="both")
    parser.add_argument("--trainers", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="queue rounds (each: trainers press Train at once)")
    parser.add_argument("--idle-passes", type=int, default=10)
    parser.add_argument("--forged-tabs", type=int, default=4, help="tabs sending forged writes at once")
    parser.add_argument("--forged-repeats", type=int, default=5, help="times each tab sends every forged write")
    parser.add_argument("--results", default=str(REPO_ROOT / "bench" / "results"))
    args = parser.parse_args()

    if args.part in ("both", "forged"):
        with tempfile.TemporaryDirectory() as scratch:
            payload = forged_requests(Path(scratch), args.forged_tabs, args.forged_repeats)
        (Path(args.results) / "forged_requests.json").write_text(json.dumps(payload, indent=2))
        print(json.dumps(payload["summary"], indent=2), flush=True)
    if args.part in ("both", "queue"):
        payload = queue_bench(args)
        (Path(args.results) / "shared_server.json").write_text(json.dumps(payload, indent=2))
        print(json.dumps(payload["summary"], indent=2))


if __name__ == "__main__":
    main()
