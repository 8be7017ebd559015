"""Many people on one real server: the workload the load test (tests/test_concurrency.py) and the
load benchmark (bench/bench_load.py) share.

Each person is a `StreamSession` (dashboard/testing/stream.py) doing mixed work: decoder moves,
clicks on the latent map, threshold releases on the explorer, an upload, and page changes through the sidebar's
links; another person trains a model meanwhile. What each step showed is recorded so a run can be
compared with what one session alone sees, and each step's latency is kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dashboard import presentation
from dashboard.testing.stream import Interaction, StreamSession

UPLOAD_NAME = "transactions.csv"


@dataclass(frozen=True)
class Workload:
    """What every session does, and on which models.

    Steps whose result depends only on the step (a z pair, a clicked row, a released threshold, an
    upload) are recorded, so sessions that take them in different orders must see the same things.
    """

    mnist_model: str
    fraud_model: str
    z_moves: tuple[tuple[float, float], ...] = ((-2.0, 1.0), (1.5, -0.5), (0.0, 2.5))
    rows: tuple[int, ...] = (3, 17)
    threshold_fractions: tuple[float, ...] = (0.1, 0.5, 0.85)
    upload: bytes | None = None  # a labelled transactions CSV to score on the Fraud threshold page

    def steps(self, index: int) -> int:
        """Interactions in one pass of session `index` (opening the first page included)."""
        uploads = 4 if self.upload is not None and index % 2 == 0 else 0
        return 1 + 2 * len(self.z_moves) + 1 + len(self.rows) + 1 + len(self.threshold_fractions) + uploads + 1


@dataclass
class Pass:
    """One session's pass: what it saw per step, and every interaction's cost."""

    seen: dict[tuple, object] = field(default_factory=dict)
    interactions: list[Interaction] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [f"{i.what}: {e}" for i in self.interactions for e in i.errors]


def _rotated(items: tuple, index: int) -> list:
    k = index % max(1, len(items))
    return list(items[k:] + items[:k])


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def threshold_stops(session: StreamSession, fractions: tuple[float, ...]) -> list[float]:
    """The threshold explorer's stops at `fractions` of the way along them."""
    from dashboard.components.threshold_explorer import unpack

    args, blobs = session.component_args("thr_explorer")
    stops = unpack(blobs["data"], args["layout"])["stops"]
    return [float(stops[int(f * (len(stops) - 1))]) for f in fractions]


def explorer_counts(session: StreamSession) -> tuple[int, int | None]:
    """(alerts, missed positives) at the threshold in force, as the explorer is given them."""
    current = session.component_args("thr_explorer")[0]["current"]
    return current["alerts"], current["fn"]


async def explore(session: StreamSession, work: Workload, index: int, stops: list[float] | None = None) -> Pass:
    """One pass of person `index` (steps in an order rotated by `index`) in `session`, opened here
    if it is new; `stops` are the thresholds to release the explorer at (default:
    `work.threshold_fractions` of this session's explorer)."""
    done = Pass()
    log = done.interactions.append
    if session.session_id:
        log(await session.goto("decoder", f"model={work.mnist_model}"))
    else:
        start = time.perf_counter()
        await session.open("decoder", f"model={work.mnist_model}")
        log(Interaction("open decoder", time.perf_counter() - start, 0, session.errors(), start))
    for z0, z1 in _rotated(work.z_moves, index):
        log(await session.set(f"dec_z_{work.mnist_model}_0", z0))
        log(await session.set(f"dec_z_{work.mnist_model}_1", z1))
        done.seen[("z", z0, z1)] = _digest(session.image("decoded p(x | z)"))
    log(await session.follow("Latent space"))
    for row in _rotated(work.rows, index):
        log(await session.send("latent_map", {"event": "click", "index": row}))
        shown = [caption for caption, _ in session.images()]
        done.seen[("row", row)] = (shown[0], _digest(session.image("reconstruction")))
    log(await session.follow("Fraud threshold"))
    stops = stops or threshold_stops(session, work.threshold_fractions)
    for stop in _rotated(tuple(stops), index):
        log(await session.send("thr_explorer", {"threshold": stop}))
        done.seen[("threshold", stop)] = (tuple(sorted(session.metrics().items())), explorer_counts(session))
    if work.upload is not None and index % 2 == 0:  # scored at the model's own threshold
        log(await session.click("thr_reset"))
        log(await session.set("fraud_view_data", presentation.VIEW_SOURCE_LABELS["upload"]))
        log(await session.upload("fraud_view_upload", UPLOAD_NAME, work.upload))
        done.seen[("upload",)] = tuple(sorted(session.metrics().items()))
        log(await session.set("fraud_view_data", presentation.VIEW_SOURCE_LABELS["model"]))
    log(await session.follow("Decoder"))
    return done


async def train_meanwhile(url: str, name: str, epochs: int = 3, hidden: str = "32",
                          together: asyncio.Barrier | None = None) -> tuple[str, list[Interaction]]:
    """A person who trains an MNIST model on the bundled digits and watches it to the end (clicking
    Train when everyone at the `together` barrier is ready); returns the page's final line (its
    success, error or warning) and the interactions."""
    steps = []
    async with StreamSession(url, timeout=300) as session:
        await session.open("train")
        steps.append(await session.set("train_mnist_source", presentation.MNIST_SOURCE_LABELS["bundled"]))
        steps.append(await session.set("train_hidden_mnist", hidden))
        steps.append(await session.set("train_epochs_mnist", epochs))
        steps.append(await session.set("train_name", name))
        if together is not None:
            await together.wait()
        steps.append(await session.click("train_start"))
        await session.wait_until(lambda s: s.alerts("SUCCESS") or s.errors() or s.alerts("WARNING"),
                                 what=f"training {name} to end")
        return " ".join(session.alerts("SUCCESS") or session.errors() or session.alerts("WARNING")), steps


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ProcessLookupError(pid)


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def most_at_once(interactions: list[Interaction]) -> int:
    """The largest number of these interactions that were in flight at the same moment."""
    edges = sorted([(i.started, 1) for i in interactions] + [(i.started + i.seconds, -1) for i in interactions],
                   key=lambda edge: (edge[0], edge[1]))
    now = best = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def exited(pid: int, timeout: float) -> bool:
    """True once process `pid` has exited within `timeout` seconds (a zombie counts: it runs no more code)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.2)
    return False


def cpu_ticks(pid: int) -> int | None:
    """User + system CPU time of process `pid` in clock ticks (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def spawned_children(pid: int) -> list[int]:
    """The multiprocessing "spawn" children of process `pid` (a server's training processes)."""
    found = []
    for child in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            continue
    return found


def idle_worker(server_pid: int, timeout: float = 600, windows: int = 1) -> int:
    """A training process of `server_pid` once it is idle (warm): ≤ 3 CPU ticks in each of
    `windows` 2 s windows in a row (a worker still warming up can stall for a moment on a busy
    machine); AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in spawned_children(server_pid):
            samples = [cpu_ticks(pid)]
            for _ in range(windows):
                time.sleep(2.0)
                samples.append(cpu_ticks(pid))
                if samples[-1] is None or samples[-2] is None or samples[-1] - samples[-2] > 3:
                    break
            else:
                return pid
        time.sleep(0.5)
    raise AssertionError("no idle training worker")


def trainings(pid: int, window: float = 1.0) -> list[int]:
    """The busy training processes of server process `pid`: its multiprocessing "spawn" children
    that used CPU over `window` seconds (a warm worker waiting for the next job uses none)."""
    before = {child: cpu_ticks(child) for child in spawned_children(pid)}
    time.sleep(window)
    busy_ticks = max(2, int(0.05 * window * os.sysconf("SC_CLK_TCK")))  # over 5% of a core
    return [child for child, ticks in before.items()
            if ticks is not None and (now := cpu_ticks(child)) is not None and now - ticks >= busy_ticks]


def percentiles(seconds: list[float]) -> dict[str, float | int]:
    """{"n", "p50_ms", "p90_ms", "max_ms"} of interaction latencies."""
    if not seconds:
        return {"n": 0}
    ms = np.asarray(seconds) * 1000
    return {"n": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p90_ms": round(float(np.percentile(ms, 90)), 1), "max_ms": round(float(ms.max()), 1)}


async def crowd(url: str, work: Workload, sessions: int, stops: list[str] | None, *, seconds: float = 0.0,
                trainer: str | None = None, trainers: int = 1, epochs: int = 3) -> dict:
    """`sessions` people at once, each repeating passes until `seconds` have passed (at least one
    pass), while `trainers` more people train a model named `trainer` (all of them the same name,
    started together). Returns {"passes": [[Pass, …] per session], "failures": {index: repr},
    "trained": [each trainer's final line], "training": [their interactions]}."""
    passes: dict[int, list[Pass]] = {i: [] for i in range(sessions)}
    failures: dict[int, str] = {}
    deadline = time.monotonic() + seconds

    async def person(index: int) -> None:
        try:
            async with StreamSession(url, timeout=300) as session:
                passes[index].append(await explore(session, work, index, stops))
                while time.monotonic() < deadline:
                    passes[index].append(await explore(session, work, index, stops))
        except Exception as exc:  # noqa: BLE001 - reported per session
            failures[index] = repr(exc)

    together = asyncio.Barrier(trainers)

    async def train() -> tuple[str, list[Interaction]]:
        try:
            return await train_meanwhile(url, trainer, epochs, together=together)
        except Exception as exc:  # noqa: BLE001 - reported as the trainer's line
            return f"trainer failed: {exc!r}", []

    results = await asyncio.gather(*(person(i) for i in range(sessions)),
                                   *(train() for _ in range(trainers if trainer else 0)))
    trained = results[sessions:]
    return {"passes": [passes[i] for i in range(sessions)], "failures": failures,
            "trained": [line for line, _ in trained], "training": [steps for _, steps in trained]}


async def churn(url: str, work: Workload, pid: int, interactions: int, concurrency: int,
                sample_every: int = 100, settle: float = 2.0) -> list[tuple[int, float]]:
    """Sessions that open, make one pass and close, up to `concurrency` at a time, until
    `interactions` steps are done; returns [(steps so far, server RSS MiB)] at the first quiet point
    at or after every `sample_every` steps and at the end. A quiet point: no pass starts once the
    passes in flight will reach the mark, and the sample is taken `settle` seconds after the last
    of them ends. So it measures what the server keeps, not what reruns in flight hold for a moment."""
    done, samples, index, in_flight, pending = 0, [], 0, 0, 0
    lock = asyncio.Lock()
    gate = asyncio.Event()
    gate.set()
    next_sample = sample_every

    async def person() -> None:
        nonlocal done, index, in_flight, pending, next_sample
        while True:
            await gate.wait()
            async with lock:
                if done >= interactions:
                    return
                if done + pending >= min(next_sample, interactions):  # the passes in flight reach the mark
                    gate.clear()
                    continue
                me, index, in_flight = index, index + 1, in_flight + 1
                steps = work.steps(me)
                pending += steps
            try:
                async with StreamSession(url, timeout=300) as session:
                    result = await explore(session, work, me)
            finally:
                async with lock:
                    in_flight, pending = in_flight - 1, pending - steps
            if result.errors:
                raise AssertionError(result.errors)
            async with lock:
                done += len(result.interactions)
                if not gate.is_set() and in_flight == 0:
                    await asyncio.sleep(settle)
                    samples.append((done, round(rss_mb(pid), 1)))
                    while next_sample <= done:
                        next_sample += sample_every
                    gate.set()

    await asyncio.gather(*(person() for _ in range(concurrency)))
    return samples
