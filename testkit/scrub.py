"""Drive the latent scrub in a real browser: a `streamlit run` server on a free localhost port,
Debian's Chromium through Playwright (never a downloaded browser), and the measurements the test
and bench/bench_scrub.py share (drag → canvas change, websocket traffic, frames per second, and
the browser decoder's agreement with Python)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from testkit.browser import CHROMIUM, CHROMIUM_FLAGS, app_server, browser_available  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]  # the project folder
APP = Path(__file__).resolve().parent / "scrub_app.py"

# Runs inside the component's iframe: one synthetic pointermove per animation frame along a circle
# for `ms` milliseconds, then release; resolves to the frames the component drew while dragging.
SYNTHETIC_DRAG_JS = """
async (ms) => {
  const plane = document.getElementById('plane');
  const rect = plane.getBoundingClientRect();
  const cx = rect.left + rect.width / 2, cy = rect.top + rect.height / 2, r = rect.width * 0.35;
  const stats = window.__scrubStats;
  stats.dragFrameTimes.length = 0;
  const framesBefore = stats.frames, decodeBefore = stats.decodeMsTotal;
  const event = (type, t) => new PointerEvent(type, {pointerId: 7, bubbles: true, clientX: cx + r * Math.cos(t),
                                                     clientY: cy + r * Math.sin(t), buttons: type === 'pointerup' ? 0 : 1});
  plane.dispatchEvent(event('pointerdown', 0));
  const start = performance.now();
  await new Promise((resolve) => {
    const step = (now) => {
      const t = (now - start) / 400;
      if (now - start >= ms) { resolve(); return; }
      plane.dispatchEvent(event('pointermove', t));
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
  const times = stats.dragFrameTimes.slice();
  const frames = stats.frames - framesBefore;
  const decodeMs = (stats.decodeMsTotal - decodeBefore) / Math.max(1, frames);
  plane.dispatchEvent(event('pointerup', 0));
  const span = times.length > 1 ? times[times.length - 1] - times[0] : 0;
  return {frames: times.length, seconds: span / 1000, fps: span ? (times.length - 1) / (span / 1000) : 0,
          mean_frame_work_ms: decodeMs};
}
"""


@contextlib.contextmanager
def streamlit_server(models_dir: Path, model: str, *, timeout: float = 90.0):
    """`streamlit run tests/e2e/scrub_app.py` on a free port; yields its URL, stops it afterwards."""
    with app_server(Path(models_dir), log_dir=Path(models_dir), timeout=timeout, app=APP,
                    extra_env={"SCRUB_MODEL": model}) as server:
        yield server.url


@contextlib.contextmanager
def chromium_page(width: int = 1200, height: int = 900):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


class ScrubSession:
    """The app open in a page, with the component's frame and a count of websocket messages sent."""

    def __init__(self, page, url: str, timeout_ms: int = 90_000):
        self.page = page
        self.sent: list[float] = []
        self.received_bytes: list[int] = []  # the size of each websocket message from the server
        page.on("websocket", self._watch)
        page.goto(url, timeout=timeout_ms)
        page.get_by_text("script runs: 1").wait_for(timeout=timeout_ms)
        self.locator = page.frame_locator("iframe[src*='latent_scrub']").first
        self.locator.locator("#plane").wait_for(timeout=timeout_ms)
        self.frame = next(f for f in page.frames if "latent_scrub" in f.url)
        self.frame.wait_for_function("() => window.__scrubStats && window.__scrubStats.frames > 0", timeout=timeout_ms)

    def _watch(self, websocket) -> None:
        websocket.on("framesent", lambda _payload: self.sent.append(time.monotonic()))
        websocket.on("framereceived", lambda payload: self.received_bytes.append(len(payload)))

    def stats(self) -> dict:
        return self.frame.evaluate("() => ({...window.__scrubStats, dragFrameTimes: undefined})")

    def image_hash(self) -> int:
        return int(self.frame.evaluate("() => window.__scrubImageHash()"))

    def mouse_drag(self, steps: int = 30) -> dict:
        """A real mouse drag across the plane (held down, not released); the canvas hash after each move."""
        box = self.locator.locator("#plane").bounding_box()
        x0, y0 = box["x"] + 0.15 * box["width"], box["y"] + 0.2 * box["height"]
        self.page.mouse.move(x0, y0)
        self.page.mouse.down()
        hashes, start = [], time.monotonic()
        for i in range(1, steps + 1):
            self.page.mouse.move(x0 + i * 0.7 * box["width"] / steps, y0 + i * 0.6 * box["height"] / steps)
            self.frame.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")  # let it draw
            hashes.append(self.image_hash())
        return {"hashes": hashes, "seconds": time.monotonic() - start}

    def release(self) -> None:
        self.page.mouse.up()

    def synthetic_drag(self, ms: int = 2000) -> dict:
        return self.frame.evaluate(SYNTHETIC_DRAG_JS, ms)

    def browser_decode(self, z, label=None) -> list[float]:
        return self.frame.evaluate("([z, label]) => window.__scrubDecode(z, label)", [list(map(float, z)), label])
