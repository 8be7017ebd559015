"""Many people on one real server: the workload the load test (tests/test_concurrency.py) and the
load benchmark (bench/bench_load.py) share.

Each person is a `StreamSession` (testkit/stream.py) doing mixed work: decoder moves,
clicks on the latent map, threshold releases on the explorer, an upload, and page changes through the sidebar's
links; another person trains a model meanwhile. What each step showed is recorded so a run can be
compared with what one session alone sees, and each step's latency is kept. `queue_crowd` is the
shared-server case (tests/test_shared_server.py, bench/bench_shared_server.py): several people press
Train at once and wait their turn in the training queue while one more explores.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dashboard import presentation
from testkit.stream import Interaction, StreamSession

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


# --- the training queue (a shared server) ---------------------------------------------------------------

QUEUED = re.compile(r"Queued: number (\d+) in line")
QUEUE_WAIT = re.compile(r"starts in about (?:(\d+):)?(\d+):(\d+)")
ENDED = re.compile(r" · (?:done|cancelled|stopped) · ")  # in the Train page's progress line of a finished job


@dataclass
class Trainee:
    """One person who pressed Train, and what their page showed over time (times: time.perf_counter())."""

    name: str
    pressed: float = math.nan
    queue: list[tuple[float, int, int | None]] = field(default_factory=list)  # (when, place, wait shown s) on change
    started: float = math.nan  # the page first showed the training under way after its last queued line
    ended: float = math.nan  # the page showed its final line
    line: str = ""  # that line: the success, warning or error
    left: str = ""  # "cancelled" or "closed" when this person left the queue on purpose

    @property
    def queued(self) -> bool:
        return bool(self.queue)

    @property
    def positions(self) -> list[int]:
        """The places in line shown, in order, each once per change."""
        return [p for i, (_, p, _) in enumerate(self.queue) if i == 0 or self.queue[i - 1][1] != p]

    def watch(self, session: StreamSession) -> bool:
        """Record what the Train page in `session` shows now; True once the training has ended."""
        now, progress = time.perf_counter(), [e.proto.text for e in session.shown("progress")]
        final = session.alerts("SUCCESS") or session.alerts("WARNING") or session.errors()
        found = next((m for text in progress if (m := QUEUED.search(text))), None)
        if found is not None:
            wait = QUEUE_WAIT.search(found.string)
            eta = None if wait is None else 3600 * int(wait[1] or 0) + 60 * int(wait[2]) + int(wait[3])
            if not self.queue or self.queue[-1][1:] != (int(found[1]), eta):
                self.queue.append((now, int(found[1]), eta))
            self.started = math.nan  # a line shown before the job reached the queue was not its start
        elif math.isnan(self.started) and any(not ENDED.search(text) for text in progress):
            self.started = now  # (the final line arrives after the progress bar: the bar's text says it ended)
        if final and math.isnan(self.ended):
            self.ended, self.line = now, " ".join(final)
        return not math.isnan(self.ended)


class ProcessWatch(threading.Thread):
    """Samples a server every `every` seconds from a thread of its own: its training processes
    (multiprocessing "spawn" children: the warm worker or a running job) and their RSS and the
    server's. `samples`: [(time.perf_counter(), server RSS MiB, {child pid: RSS MiB})]; `ticks`:
    the children's CPU time (clock ticks) at each sample, {pid: [(time, ticks)]}."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        super().__init__(name="process-watch", daemon=True)
        self.pid, self.every, self.samples = pid, every, []
        self.ticks: dict[int, list[tuple[float, int]]] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            children, now = {}, time.perf_counter()
            for child in spawned_children(self.pid):
                try:
                    children[child] = rss_mb(child)
                except (ProcessLookupError, OSError):
                    continue
                ticks = cpu_ticks(child)
                if ticks is not None:
                    self.ticks.setdefault(child, []).append((now, ticks))
            try:
                self.samples.append((now, rss_mb(self.pid), children))
            except ProcessLookupError:  # the server has stopped
                return
            self._halt.wait(self.every)

    def stop(self) -> ProcessWatch:
        self._halt.set()
        self.join()
        return self

    @property
    def most_at_once(self) -> int:
        """The most training processes seen at one sample."""
        return max((len(children) for _, _, children in self.samples), default=0)

    @property
    def pids(self) -> set[int]:
        return {pid for _, _, children in self.samples for pid in children}

    def overlaps(self) -> list[dict]:
        """Each stretch of samples in a row with more than one training process: when (s after the
        first sample), how long, which processes and the CPU seconds each used meanwhile."""
        stretches: list[tuple[list[int], float, float]] = []  # (pids, first sample, last sample)
        before: list[int] = []
        for when, _, children in self.samples:
            pids = sorted(children)
            if len(pids) > 1 and pids == before:
                stretches[-1] = (pids, stretches[-1][1], when)
            elif len(pids) > 1:
                stretches.append((pids, when, when))
            before = pids
        origin, hertz = (self.samples[0][0] if self.samples else 0.0), os.sysconf("SC_CLK_TCK")
        return [{"pids": pids, "at_s": round(first - origin, 1), "seconds": round(last - first + self.every, 1),
                 "cpu_s": [round(self._cpu(pid, first, last) / hertz, 2) for pid in pids]}
                for pids, first, last in stretches]

    def _cpu(self, pid: int, first: float, last: float) -> int:
        inside = [ticks for when, ticks in self.ticks.get(pid, []) if first <= when <= last]
        return inside[-1] - inside[0] if inside else 0


async def queue_crowd(url: str, work: Workload, names: list[str], *, epochs: int = 1, hidden: str = "32",
                      cancel: bool = True, close: bool = True, timeout: float = 1200) -> dict:
    """`len(names)` people press Train at once (one MNIST training each on the bundled digits, named
    `names`) while one more explores (passes of `explore` until every training has ended). Once all
    but the first are queued, the second in line presses Cancel (`cancel`) and the last in line
    closes the tab (`close`); every training must end within `timeout` seconds. Returns
    {"trainees": [Trainee], "passes": [Pass], "busy": (first press, last end), "press_spread":
    seconds between the first and the last press}."""
    trainees = [Trainee(name) for name in names]
    sessions = await asyncio.gather(*(_train_form(url, name, epochs, hidden) for name in names))
    stop, passes = asyncio.Event(), []

    async def exploring() -> None:
        async with StreamSession(url, timeout=300) as session:
            while not stop.is_set():
                passes.append(await explore(session, work, 0))

    explorer = asyncio.create_task(exploring())
    together = asyncio.Barrier(len(names))

    async def press(trainee: Trainee, session: StreamSession) -> None:
        await together.wait()
        trainee.pressed = time.perf_counter()
        await session.click("train_start")

    try:
        await asyncio.sleep(1.0)  # the explorer is under way before anyone presses
        await asyncio.gather(*(press(t, s) for t, s in zip(trainees, sessions)))
        everyone_but_one = lambda: sum(t.queued for t in trainees) >= len(trainees) - 1  # noqa: E731
        await asyncio.gather(*(s.wait_until(lambda s, t=t: t.watch(s) or everyone_but_one(), what="the queue")
                               for t, s in zip(trainees, sessions)))
        line = sorted((t for t in trainees if t.queued), key=lambda t: t.queue[-1][1])
        if cancel and len(line) >= 2:
            line[1].left = "cancelled"
            await sessions[trainees.index(line[1])].click("train_cancel")
        if close and len(line) >= 3:
            line[-1].left = "closed"
            await sessions[trainees.index(line[-1])].close()
        await asyncio.gather(*(s.wait_until(t.watch, timeout, what=f"{t.name} to end")
                               for t, s in zip(trainees, sessions) if t.left != "closed"))
    finally:
        stop.set()
        await asyncio.gather(explorer, *(s.close() for s in sessions), return_exceptions=True)
    ends = [t.ended for t in trainees if not math.isnan(t.ended)]
    presses = [t.pressed for t in trainees]
    return {"trainees": trainees, "passes": passes, "busy": (min(presses), max(ends)),
            "press_spread": max(presses) - min(presses)}


async def _train_form(url: str, name: str, epochs: int, hidden: str) -> StreamSession:
    """A tab on the Train page with the form filled in (bundled digits), Train not pressed yet."""
    session = await StreamSession(url, timeout=300).open("train")
    await session.set("train_mnist_source", presentation.MNIST_SOURCE_LABELS["bundled"])
    await session.set("train_hidden_mnist", hidden)
    await session.set("train_epochs_mnist", epochs)
    await session.set("train_name", name)
    return session
