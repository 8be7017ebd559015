"""What a person waits for, measured inside headless Chromium on `streamlit run app.py`, as a new
user meets it. Writes bench/results/browser.json.

    .venv/bin/python bench/bench_browser.py                  # ~15 min on 2 CPU cores
    .venv/bin/python bench/bench_browser.py --repeats 40 --cold-starts 5

- Home, cold: a fresh server, Home opened the moment the server answers (its start-up loading of
  TensorFlow and the models runs meanwhile); warm: later visits, each a new browser context (a new
  session, nothing cached in the browser). First paint: the page's heading on screen; complete:
  the script done and everything drawn.
- First page that needs a model: Latent space opened in a new context once the server's start-up
  work is done (its log line: models loaded, the default MNIST model's first views computed), per
  cold start; and once opened the moment the server answers, which waits for that work and shows
  what it is doing.
- Train: the default MNIST training as the Train page offers it (full MNIST when ../shared/data
  has it), on a warm server: click → first status change, → first progress event, → first batch
  trained; then the ETA shown every poll against the time that really remained. More clicks, each
  cancelled after its first batch, once the next warm worker is idle.
- Decoder: slider release → the new decoded image painted (≥ 20 releases), and rapid arrow-key
  presses (8 at 10/s): every press must land in the slider, the URL and the image.
The Fraud threshold page's explorer has its own benchmark: bench/bench_threshold.py.

Timing runs in the page where it can: a requestAnimationFrame loop stamps the frame in which a
change is on screen, relative to the navigation or to a capturing click/pointerup listener, so
Playwright's round trips are not counted; the resolution is one frame (~16 ms). Chromium renders in
software (--disable-gpu). The models and transactions are those of bench/bench_dashboard.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("VAE_OFFLINE", "1")
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"

import numpy as np

from testkit import load
from testkit.browser import (CHROMIUM_FLAGS, DESKTOP, DRAWN_JS, IDLE_JS, AppPage, app_server, chromium,
                                       skip_reason)
from bench_dashboard import MNIST_MODEL, prepare, summary

DECODED = "decoded p(x | z)"
WARM_UP = 3
STARTUP_DONE = "default model(s) loaded in"  # the server log's one line once start-up work (models, first views) is done
GOALS_MS = {"home_cold_first_paint": 1500, "first_model_page": 3000, "train_click_to_first_progress_event": 2000,
            "decoder_release_to_image": 150, "eta_error_after_first_epoch": 0.25}

# Stamps, relative to navigation start, the frame in which the page's heading first shows and the
# first frame in which the script is done and everything is drawn; and whether the start-up notice showed.
LOAD_PROBE = """(() => {
  const heading = %s;
  const idle = %s, drawn = %s;
  window.__marks = {};
  const step = () => {
    const now = performance.now(), marks = window.__marks;
    const main = document.querySelector('[data-testid="stMain"]');
    const h1 = main && Array.from(main.querySelectorAll('h1')).find((e) => e.textContent.includes(heading));
    if (h1 && marks.first_paint === undefined) marks.first_paint = now;
    if (main && main.innerText.includes('The server is starting up')) marks.startup_notice = marks.startup_notice ?? now;
    if (h1 && marks.complete === undefined && idle() && drawn()) marks.complete = now;
    if (marks.complete === undefined) requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
})();"""

# The Train page's progress line as it changes: [[ms since the click on Train, text], ...].
TRAIN_PROBE = """() => {
  window.__train = {click: null, texts: []};
  document.addEventListener('click', (e) => {
    if (e.target.closest('.st-key-train_start') && window.__train.click === null) window.__train.click = performance.now();
  }, true);
  const step = () => {
    const t = window.__train, bar = document.querySelector('[data-testid="stProgress"]');
    const text = bar ? bar.innerText.trim() : '';
    const last = t.texts.length ? t.texts[t.texts.length - 1][1] : null;
    if (t.click !== null && text && text !== last) t.texts.push([performance.now() - t.click, text]);
    requestAnimationFrame(step);
  };
  requestAnimationFrame(step);
}"""

LEFT = re.compile(r"about (?:(\d+):)?(\d+):(\d\d) left")


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def open_timed(browser, url: str, path: str, heading: str, timeout_ms: int = 600_000) -> dict:
    """Open `path` in a new browser context (a new session); the page's marks in milliseconds."""
    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(LOAD_PROBE % (json.dumps(heading), IDLE_JS, DRAWN_JS))
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.goto(f"{url}/{path}")
    page.wait_for_function("() => window.__marks && window.__marks.complete !== undefined", timeout=timeout_ms)
    marks = page.evaluate("() => window.__marks")
    context.close()
    return {k: round(v, 1) for k, v in marks.items()}


def wait_for_log(server, text: str, timeout: float = 600) -> float:
    """Seconds until `text` appears in the server's log."""
    start = time.perf_counter()
    while text not in server.log_text():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"the server never logged {text!r}")
        time.sleep(0.2)
    return time.perf_counter() - start


# --- start-up: Home, and the first page that needs a model -----------------------------------------

def cold_start(browser, models: Path, data_dir: Path, log_dir: Path, stack: contextlib.ExitStack, *,
               home: bool) -> tuple[dict, object]:
    """A fresh server (closed with `stack`): Home the moment it answers, then Latent space once its
    start-up loading is done; or, without `home`, Latent space at once. Returns (figures, server)."""
    started = time.perf_counter()
    server = stack.enter_context(app_server(models, data_dir=data_dir, log_dir=log_dir, timeout=300))
    result = {"server_answers_s": round(time.perf_counter() - started, 1), "load_average": load_average()}
    if home:
        result["home"] = open_timed(browser, server.url, "", "VAE Latent Explorer")
    else:
        result["latent_at_once"] = open_timed(browser, server.url, "latent", "Latent space")
    wait_for_log(server, STARTUP_DONE)
    result["startup_done_after_start_s"] = round(time.perf_counter() - started, 1)
    if home:
        result["latent_after_startup"] = open_timed(browser, server.url, "latent", "Latent space")
    return result, server


# --- training ----------------------------------------------------------------------------------------

def wait_worker_idle(server_pid: int, timeout: float = 600) -> float:
    """Seconds until the server's warm training worker is idle (≤ 3 CPU ticks in 2 s): warmed up."""
    start = time.perf_counter()
    load.idle_worker(server_pid, timeout)
    return time.perf_counter() - start


def _seconds(match: re.Match) -> int:
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return 3600 * hours + 60 * minutes + seconds


def train_once(app: AppPage, name: str, *, to_the_end: bool, timeout_s: float = 1800) -> dict:
    """Click Train with the page's defaults; the progress line's changes, timed from the click."""
    app.open("train", heading="Train a model")
    app.page.evaluate(TRAIN_PROBE)
    app.fill("train_name", name)
    app.click("train_start")
    done_words = ("done", "cancelled", "stopped")
    deadline = time.monotonic() + timeout_s
    cancelled = False
    while True:
        texts = app.page.evaluate("() => window.__train.texts")
        if texts and any(f"· {word} ·" in texts[-1][1] for word in done_words):
            break
        if not to_the_end and not cancelled and any(not t[1].startswith("0%") for t in texts):
            app.click("train_cancel")
            cancelled = True
        if time.monotonic() > deadline:
            raise TimeoutError(f"training {name} did not finish: {texts[-3:]}")
        app.page.wait_for_timeout(200)
    texts = app.page.evaluate("() => window.__train.texts")
    first = lambda test: next((round(t, 1) for t, text in texts if test(text)), None)  # noqa: E731
    return {
        "timeline": texts,
        "first_status_change_ms": first(lambda text: "waiting for a training process" not in text),
        "first_progress_event_ms": first(lambda text: "epoch 1/" in text),
        "first_batch_ms": first(lambda text: not text.startswith("0%")),
        "end_ms": texts[-1][0],
    }


def eta_accuracy(timeline: list) -> dict:
    """The ETA shown against the time that really remained (the end: the first "done" line)."""
    end = next(t for t, text in timeline if "· done ·" in text) / 1000
    samples = []
    for t, text in timeline:
        match, epoch = LEFT.search(text), re.search(r"epoch (\d+)/(\d+)", text)
        if match and epoch:
            samples.append((t / 1000, _seconds(match), int(epoch.group(1)), int(epoch.group(2))))
    after_first = [(t, eta, e) for t, eta, e, _ in samples if e >= 2 and end - t > 5]
    errors = [(eta - (end - t)) / (end - t) for t, eta, _ in after_first]
    first_epoch_2 = after_first[0] if after_first else None
    return {
        "run_s": round(end, 1),
        "first_eta_after_epoch_1": None if first_epoch_2 is None else
        {"at_s": round(first_epoch_2[0], 1), "shown_s": first_epoch_2[1], "real_s": round(end - first_epoch_2[0], 1)},
        "relative_error_after_epoch_1": {"median_abs": round(float(np.median(np.abs(errors))), 3) if errors else None,
                                         "max_abs": round(float(np.max(np.abs(errors))), 3) if errors else None,
                                         "n": len(errors)},
        "last_eta": None if not samples else {"shown_s": samples[-1][1], "real_s": round(end - samples[-1][0], 1)},
        "shown_every_10_percent": [{"at_s": round(t, 1), "shown_s": eta, "real_s": round(end - t, 1)}
                                   for i, (t, eta, _, _) in enumerate(samples)
                                   if i in {int(k * len(samples) / 10) for k in range(10)}],
    }


def bench_train(app: AppPage, server, starts: int) -> dict:
    wait_worker_idle(server.process.pid)
    full = train_once(app, "bench-train-full", to_the_end=True)
    eta = eta_accuracy(full["timeline"])
    clicks = [{k: v for k, v in full.items() if k.endswith("_ms") and k != "end_ms"}]
    for i in range(starts - 1):
        wait_worker_idle(server.process.pid)
        run = train_once(app, f"bench-train-{i}", to_the_end=False)
        clicks.append({k: v for k, v in run.items() if k.endswith("_ms") and k != "end_ms"})
    pick = lambda key: [c[key] for c in clicks if c[key] is not None]  # noqa: E731
    return {"click_to_first_status_change": summary(pick("first_status_change_ms")),
            "click_to_first_progress_event": summary(pick("first_progress_event_ms")),
            "click_to_first_batch_trained": summary(pick("first_batch_ms")),
            "clicks": clicks, "eta": eta,
            "full_run_timeline": full["timeline"][:3] + full["timeline"][-3:]}


# --- decoder and threshold ----------------------------------------------------------------------------

def stops(n: int, low: float, high: float) -> list[float]:
    """n slider positions in [low, high], taken alternately from either end so that each differs
    from the one before."""
    points, order = list(np.linspace(low, high, n)), []
    while points:
        order.append(float(points.pop(0)))
        if points:
            order.append(float(points.pop()))
    return order


def pick(app: AppPage, model: str, kind: str = "mnist") -> None:
    box = app.key(f"_pick_{kind}").locator("input")
    if not box.input_value().startswith(f"{model} "):
        box.click()
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


def arrow_keys(app: AppPage, slider: str, presses: int, interval_ms: int, trials: int) -> dict:
    """Focus the slider's thumb and press → `presses` times, `interval_ms` apart, per trial: every
    press must show in the slider, in z in the URL and in the decoded image."""
    results = []
    for trial in range(trials):
        thumb = app.key(slider).locator("input[type=range]").first
        thumb.focus()
        start, before_src = float(app.slider_value(slider)), app.image_src(DECODED)
        key = "ArrowRight" if start < 0 else "ArrowLeft"
        for _ in range(presses):
            app.page.keyboard.press(key)
            app.page.wait_for_timeout(interval_ms)
        app.wait_idle()
        app.wait_drawn()
        value = float(app.slider_value(slider))
        expected = round(start + (0.05 if key == "ArrowRight" else -0.05) * presses, 2)
        url_z = re.search(r"[?&]z=([^&]+)", app.page.url)  # absent at the origin (the default view)
        z0 = float(url_z.group(1).replace("%2C", ",").split(",")[0]) if url_z else 0.0
        results.append({"start": start, "expected": expected, "slider": value, "url_z0": z0,
                        "image_changed": app.image_src(DECODED) != before_src,
                        "lost_presses": round(abs(expected - value) / 0.05)})
    return {"presses": presses, "interval_ms": interval_ms, "trials": results,
            "lost_presses": sum(r["lost_presses"] for r in results),
            "all_in_url_and_image": all(abs(r["url_z0"] - r["slider"]) < 1e-6
                                        and r["image_changed"] for r in results)}


def bench_decoder(app: AppPage, repeats: int) -> dict:
    app.open(f"decoder?model={MNIST_MODEL}", heading="Decoder")
    app.wait_drawn()
    slider = f"dec_z_{MNIST_MODEL}_0"
    positions = stops(repeats + WARM_UP, 0.1, 0.9)
    measure(app, slider, positions[:WARM_UP], "image", lambda: app.image_src(DECODED))
    run = measure(app, slider, positions[WARM_UP:], "image", lambda: app.image_src(DECODED))
    return {"slider_release_to_image_painted": summary(run["painted"]),
            "slider_release_to_rerun_done": summary(run["script_done"]), "distinct_images": run["distinct"],
            "arrow_keys": arrow_keys(app, slider, presses=8, interval_ms=100, trials=3),
            "reruns": "the slider's fragment only (sliders, decoded image, z map image)"}


# --- all of it ------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25, help="timed releases per slider measurement (≥ 20)")
    parser.add_argument("--cold-starts", type=int, default=3, help="fresh servers for Home cold and the first model page")
    parser.add_argument("--train-starts", type=int, default=4, help="Train clicks (the first runs to the end)")
    parser.add_argument("--warm-visits", type=int, default=5, help="Home visits on a warm server")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "browser.json"))
    args = parser.parse_args()
    missing = skip_reason()
    if missing:
        sys.exit(f"cannot run the browser benchmark: {missing}")
    started, load_before = time.perf_counter(), load_average()
    sections: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        models, data_dir = prepare(Path(tmp))
        if SHARED_MNIST.is_dir():  # the Train page's default data as a new user here has it
            (data_dir / "mnist").symlink_to(SHARED_MNIST)
        with chromium() as browser:
            version = browser.version
            with contextlib.ExitStack() as stack:
                at_once, _ = cold_start(browser, models, data_dir, Path(tmp), stack, home=False)
            print(json.dumps(at_once), flush=True)
            starts = []
            for i in range(args.cold_starts):
                stack = contextlib.ExitStack()
                result, server = cold_start(browser, models, data_dir, Path(tmp), stack, home=True)
                print(json.dumps(result), flush=True)
                starts.append(result)
                if i < args.cold_starts - 1:
                    stack.close()
            with stack:  # the last server stays up for the rest
                warm = [open_timed(browser, server.url, "", "VAE Latent Explorer") for _ in range(args.warm_visits)]
                page_context = browser.new_context(viewport=DESKTOP)
                app = AppPage(page_context.new_page(), server.url, timeout_ms=600_000)
                sections["train"] = bench_train(app, server, args.train_starts)
                print(json.dumps({k: v for k, v in sections["train"].items() if k != "clicks"}), flush=True)
                sections["decoder"] = bench_decoder(app, args.repeats)
                print(json.dumps(sections["decoder"]), flush=True)
                page_context.close()
    ms = lambda rows, key: [r[key] for r in rows if key in r]  # noqa: E731
    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m_before_after": [load_before, load_average()],
                    "note": "a shared 2-core machine: other engineers' jobs ran meanwhile (see each load average)"},
        "browser": {"chromium": version, "flags": CHROMIUM_FLAGS, "viewport": DESKTOP},
        "home": {"cold_first_paint": summary(ms([s["home"] for s in starts], "first_paint")),
                 "cold_complete": summary(ms([s["home"] for s in starts], "complete")),
                 "warm_first_paint": summary(ms(warm, "first_paint")),
                 "warm_complete": summary(ms(warm, "complete"))},
        "first_model_page": {
            "latent_after_startup_loading": summary(ms([s["latent_after_startup"] for s in starts], "complete")),
            "startup_loading_done_after_server_start_s": [s["startup_done_after_start_s"] for s in starts],
            "latent_opened_as_the_server_answers": at_once},
        "cold_starts": starts,
        **sections,
        "goals_ms": GOALS_MS,
        "seconds": round(time.perf_counter() - started, 1),
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("cold_starts",)}, indent=2))


if __name__ == "__main__":
    main()
