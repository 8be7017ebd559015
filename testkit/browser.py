"""Drive the whole dashboard (`streamlit run app.py`) in a real browser.

Shared by the end-to-end tests (conftest.py, test_browser.py), the screenshots (screenshots.py) and
the browser latency benchmark (bench/bench_browser.py): a server on a free localhost port with its
own models folder, Debian's Chromium through Playwright (never a downloaded browser), and an
`AppPage` whose waits poll Streamlit's own state (the `data-test-script-state` attribute of the
app root) or a condition on the page, never fixed sleeps.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[1]  # the project folder, where app.py is
APP = REPO_ROOT / "app.py"
DESKTOP = {"width": 1440, "height": 900}
TRACEBACK_MARKERS = ("Traceback", 'File "')
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# Generous: two shared CPU cores, and the first page that needs a model imports TensorFlow.
TIMEOUT_MS = 120_000

# The visible text of the page, and of any same-origin iframe (components), without <script>/<style>.
PAGE_TEXT_JS = """() => {
  const texts = [];
  const grab = (doc) => {
    if (!doc || !doc.body) return;
    const clone = doc.body.cloneNode(true);
    clone.querySelectorAll('script, style, noscript').forEach((e) => e.remove());
    texts.push(clone.textContent);
    doc.querySelectorAll('iframe').forEach((f) => { try { grab(f.contentDocument); } catch (e) {} });
  };
  grab(document);
  return texts.join('\\n');
}"""

# Streamlit marks the app root with the script's state; "notRunning" once a rerun has finished.
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && app.getAttribute('data-test-connection-state') === 'CONNECTED'
    && !document.querySelector('[data-stale="true"]');
}"""

# Every Plotly chart laid out, every image loaded, no spinner, and no skeleton (the placeholder
# Streamlit draws while a widget's lazily loaded code arrives).
DRAWN_JS = """() => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]'))
    .every((c) => { const gd = c.querySelector('.js-plotly-plot'); return gd && gd._fullLayout; })
  && Array.from(document.querySelectorAll('[data-testid="stMain"] img, [data-testid="stSidebar"] img'))
    .every((i) => i.complete && i.naturalWidth > 0)
  && !document.querySelector('[data-testid="stSpinner"], [data-testid="stSkeleton"], '
                             + '[data-testid="stSkeletonElement"], [data-testid="stAppSkeleton"]')"""

# The src of the <img> inside the st.image whose caption contains `caption` ('' when absent).
IMAGE_SRC_JS = """(caption) => {
  const box = Array.from(document.querySelectorAll('[data-testid="stImage"]'))
    .find((e) => e.innerText.includes(caption));
  const img = box && box.querySelector('img');
  return img && img.complete && img.naturalWidth > 0 ? img.src : '';
}"""

# Latency probe, armed before a pointer release: resolves to {painted_ms, script_done_ms}, the
# milliseconds from the release (a capturing pointerup listener) to the first animation frame in
# which the change is on screen, and to the end of the rerun (the app root's script state turning
# back to "notRunning", watched by a MutationObserver); null when nothing changed in time.
_PROBE_JS = """(args) => {
  const [kind, arg] = args;
  const check = {
    image: () => { const src = (@IMAGE_SRC_JS)(arg.caption); return !!src && src !== arg.before; },  // new, loaded
  }[kind];
  const app = document.querySelector('[data-testid="stApp"]');
  let released = null, ran = false, done = null;
  const observer = new MutationObserver(() => {
    const state = app.getAttribute('data-test-script-state');
    if (released === null) return;
    if (state === 'running') ran = true;
    else if (state === 'notRunning' && ran && done === null) done = performance.now();
  });
  observer.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  window.addEventListener('pointerup', () => { if (released === null) released = performance.now(); },
                          {capture: true, once: true});
  window.__latencyProbe = new Promise((resolve) => {
    const started = performance.now();
    let painted = null;
    const step = () => {
      const now = performance.now();
      if (released !== null && painted === null && check()) painted = now;
      if ((painted !== null && (done !== null || now - painted > 5000)) || now - started > arg.timeoutMs) {
        observer.disconnect();
        resolve(painted === null ? null : {painted_ms: painted - released, script_done_ms: done && done - released});
        return;
      }
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
}""".replace("@IMAGE_SRC_JS", IMAGE_SRC_JS)


def browser_available() -> str | None:
    """None when Playwright and Chromium are here, else why not."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (.venv/bin/pip install playwright)"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def skip_reason() -> str | None:
    """Why the browser tests cannot run here (None when Playwright and Chromium are available)."""
    return browser_available()


# --- server -------------------------------------------------------------------------------------

@dataclass
class AppServer:
    url: str
    log_path: Path
    process: subprocess.Popen

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def streamlit_command(python: str, app: str, port: int) -> list[str]:
    """`python -m streamlit run app` headless on 127.0.0.1:`port`, no file watcher, no usage stats."""
    return [python, "-m", "streamlit", "run", app, "--server.headless", "true", "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]


def wait_until_up(server: AppServer, timeout: float, what: str) -> None:
    """Until `server` answers /_stcore/health; RuntimeError with the end of its log when its process
    exits or `timeout` seconds pass (`what` names it in the message)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start; its log ends:\n{server.log_text()[-3000:]}")
        time.sleep(0.2)


@contextlib.contextmanager
def app_server(models_dir: Path, *, data_dir: Path | None = None, log_dir: Path | None = None,
               timeout: float = 120.0, app: Path = APP, extra_env: dict[str, str] | None = None) -> Iterator[AppServer]:
    """`streamlit run app.py` (or `app`) on a free localhost port with VAE_MODELS_DIR=models_dir; stopped afterwards.

    `data_dir` becomes VAE_DATA_DIR (None: inherited from this process).
    The server's output goes to `log_dir`/streamlit-PORT.log (default: beside the models folder).
    """
    port = free_port()
    env = {**os.environ, "VAE_MODELS_DIR": str(models_dir), "VAE_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    if data_dir is not None:
        env["VAE_DATA_DIR"] = str(data_dir)
    log_path = Path(log_dir or Path(models_dir).parent) / f"streamlit-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            streamlit_command(sys.executable, str(app), port),
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = AppServer(f"http://127.0.0.1:{port}", log_path, process)
    try:
        wait_until_up(server, timeout, "streamlit")
        yield server
    finally:
        stop_server(process)


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM to a server, SIGKILL if it has not exited in 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def chromium() -> Iterator:
    """Debian's Chromium, headless, with the flags that suit a closed network; yields a Browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


# --- one tab on the app -------------------------------------------------------------------------

class AppPage:
    """A browser tab on the app, with helpers that address widgets by their Streamlit `key`
    (Streamlit gives each keyed element the CSS class `st-key-<key>`)."""

    def __init__(self, page, base_url: str, timeout_ms: int = TIMEOUT_MS):
        self.page = page
        self.base_url = base_url.rstrip("/")
        self.timeout_ms = timeout_ms
        page.set_default_timeout(timeout_ms)

    # navigation and waiting
    def open(self, path: str = "", *, heading: str | None = None) -> AppPage:
        """Load /path in a fresh session and wait for its heading (or for the first run to finish)."""
        self.page.goto(f"{self.base_url}/{path.lstrip('/')}", timeout=self.timeout_ms)
        if heading:
            self.heading(heading).wait_for()
        self.wait_idle()
        return self

    def heading(self, text: str):
        return self.page.locator("[data-testid=stMain] h1").filter(has_text=text)

    def wait_idle(self, timeout_ms: int | None = None, settle_ms: int = 250) -> None:
        """Until the script is not running and nothing on the page is stale, for `settle_ms` in a row."""
        deadline = time.monotonic() + (timeout_ms or self.timeout_ms) / 1000
        while True:
            self.page.wait_for_function(IDLE_JS, timeout=max(1, (deadline - time.monotonic()) * 1000))
            self.page.wait_for_timeout(settle_ms)
            if self.page.evaluate(IDLE_JS):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the app did not become idle")

    def wait_drawn(self, timeout_ms: int | None = None) -> None:
        """Idle, and every chart, image and spinner has finished: the page as a person sees it."""
        self.wait_idle(timeout_ms)
        self.page.wait_for_function(DRAWN_JS, timeout=timeout_ms or self.timeout_ms)
        self.page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def wait_for(self, js: str, arg=None, timeout_ms: int | None = None):
        """Poll a JS predicate until it returns something truthy; returns that value."""
        handle = self.page.wait_for_function(js, arg=arg, timeout=timeout_ms or self.timeout_ms)
        return handle.json_value()

    def nav(self, title: str, heading: str | None = None) -> None:
        """Click the sidebar's link to a page (as a person does) and wait until it is drawn."""
        self.page.locator("[data-testid=stSidebar] [data-testid=stPageLink] a").filter(has_text=title).first.click()
        self.heading(heading or title).wait_for()
        self.wait_drawn()

    def query(self) -> dict[str, str]:
        """The address bar's query parameters."""
        from urllib.parse import parse_qsl, urlparse

        return dict(parse_qsl(urlparse(self.page.url).query))

    def path(self) -> str:
        """The address bar's page path ('' for Home)."""
        from urllib.parse import urlparse

        return urlparse(self.page.url).path.strip("/")

    def picked(self, key: str) -> str:
        """The text a selectbox shows (its current option's label)."""
        return self.key(key).locator("input").first.input_value()

    # reading the page
    def key(self, key: str):
        return self.page.locator(f".st-key-{key}")

    def text(self) -> str:
        return self.page.evaluate(PAGE_TEXT_JS)

    def errors(self) -> list[str]:
        return self.page.locator("[data-testid=stAlertContentError]").all_inner_texts()

    def assert_no_traceback(self) -> None:
        """No stack trace anywhere: neither its text nor Streamlit's exception box."""
        text = self.text()
        found = [marker for marker in TRACEBACK_MARKERS if marker in text]
        assert not found, f"traceback text {found} on {self.page.url}: ...{text[text.find(found[0]) - 300:][:1200]}"
        assert self.page.locator("[data-testid=stException]").count() == 0, "an exception box is on the page"

    def metric(self, label: str) -> str:
        box = self.page.locator("[data-testid=stMetric]").filter(
            has=self.page.locator("[data-testid=stMetricLabel]", has_text=label)).first
        return box.locator("[data-testid=stMetricValue]").inner_text().strip()

    def image_src(self, caption: str) -> str:
        """The src of the loaded <img> of the st.image whose caption contains `caption` ('' if none)."""
        return self.page.evaluate(IMAGE_SRC_JS, caption)

    def wait_new_image(self, caption: str, old_src: str) -> str:
        """Until that image has a src other than `old_src` and has loaded; returns the new src."""
        return self.wait_for(f"([caption, old]) => {{ const src = ({IMAGE_SRC_JS})(caption); return src && src !== old ? src : null; }}",
                             [caption, old_src])

    def image_pixels(self, caption: str):
        """The painted pixels of the st.image whose caption contains `caption`: (h, w) uint8 grey."""
        import numpy as np
        from PIL import Image

        img = self.page.locator("[data-testid=stImage]").filter(has_text=caption).locator("img").first
        return np.asarray(Image.open(io.BytesIO(img.screenshot())).convert("L"))

    # acting on widgets
    def fill(self, key: str, value) -> None:
        """Type into a text or number input and commit it (Enter), then wait for the rerun."""
        box = self.key(key).locator("input").first
        box.fill(str(value))
        box.press("Enter")
        self.wait_idle()

    def choose(self, key: str, option: str | re.Pattern) -> None:
        """Pick `option` (its exact text, or a pattern) in a selectbox, a combobox that opens on click."""
        self.key(key).locator("input").first.click()
        self.page.get_by_role("option", name=option, exact=True).click()
        self.wait_idle()

    def click(self, key: str) -> None:
        self.key(key).locator("button").first.click()

    def slider_point(self, key: str, fraction: float) -> tuple[float, float]:
        """Page coordinates of the spot `fraction` (0..1) along a slider's track."""
        track = self.key(key).locator("[data-testid=stSlider] [data-orientation=horizontal][style*=relative]").first
        box = track.bounding_box()
        return box["x"] + fraction * box["width"], box["y"] + box["height"] / 2

    def slider_value(self, key: str) -> str:
        return self.key(key).locator("[data-testid=stSliderThumbValue]").inner_text().strip()

    def drag_slider(self, key: str, fraction: float) -> None:
        """Press on the slider's thumb, drag it to `fraction` of the track, release (no wait)."""
        thumb = self.key(key).locator("[data-testid=stSliderThumbValue]").locator("xpath=..").bounding_box()
        x0, y0 = thumb["x"] + thumb["width"] / 2, thumb["y"] + thumb["height"] / 2
        x1, y1 = self.slider_point(key, fraction)
        mouse = self.page.mouse
        mouse.move(x0, y0)
        mouse.down()
        mouse.move(x1, y1, steps=4)
        mouse.up()

    def arm_latency_probe(self, kind: str, *, before: str, caption: str = "", timeout_ms: int = 60_000) -> None:
        """Start timing the next release (see _PROBE_JS): kind "image" (the st.image with `caption`
        gets a new src other than `before`) or "confusion" (the counts differ from `before`)."""
        self.page.evaluate(_PROBE_JS, [kind, {"before": before, "caption": caption, "timeoutMs": timeout_ms}])

    def latency(self) -> dict | None:
        """{painted_ms, script_done_ms} of the armed probe (None: no change on screen in time)."""
        return self.page.evaluate("() => window.__latencyProbe")
