"""Drive the Fraud threshold page's explorer in a real browser: shared by tests/e2e/test_threshold_browser.py
and bench/bench_threshold.py.

`Explorer` finds the component's iframe on an `AppPage`, drags the threshold with the real mouse
(Playwright's input events, which reach the page as a person's would), reads what the explorer shows,
counts the app's script runs and the websocket messages sent, and reads the explorer's own per-frame
log (input event time → metrics in the DOM → charts drawn → next frame, i.e. painted).
"""

from __future__ import annotations

import time

from testkit.browser import AppPage

# Counts the script runs from now on: each time the app root's script state turns to "running".
RUN_COUNTER_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__scriptRuns = 0;
  if (window.__runObserver) window.__runObserver.disconnect();
  window.__runObserver = new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') === 'running') window.__scriptRuns++;
  });
  window.__runObserver.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


class Explorer:
    """The threshold explorer on an open Fraud threshold page."""

    def __init__(self, app: AppPage, timeout_ms: int = 120_000):
        self.app, self.page = app, app.page
        self.sent: list[float] = []
        self.page.on("websocket", lambda ws: ws.on("framesent", lambda _payload: self.sent.append(time.monotonic())))
        self.page.locator("iframe[src*='threshold_explorer']").first.wait_for(timeout=timeout_ms)
        self.frame = next(f for f in self.page.frames if "threshold_explorer" in f.url)
        self.frame.wait_for_function("() => window.__thresholdStats && window.__thresholdStats.frames > 0",
                                     timeout=timeout_ms)
        self.canvas = self.page.frame_locator("iframe[src*='threshold_explorer']").first.locator("#hist")
        self.canvas.scroll_into_view_if_needed()

    # reading
    def shown(self) -> dict[str, str]:
        """What the explorer shows: {"threshold", "alerts", "precision", …, "TP", "FN", "FP", "TN",
        "estimate_alerts", …} as text."""
        return self.frame.evaluate("() => window.__thresholdShown()")

    def stats(self) -> dict:
        return self.frame.evaluate("() => ({...window.__thresholdStats, frameLog: undefined})")

    def frame_log(self) -> list[dict]:
        return self.frame.evaluate("() => window.__thresholdStats.frameLog")

    def last_sent(self) -> float | None:
        return self.frame.evaluate("() => window.__thresholdStats.lastSent")

    def count_runs(self) -> None:
        self.page.evaluate(RUN_COUNTER_JS)

    def runs(self) -> int:
        return int(self.page.evaluate("() => window.__scriptRuns"))

    def next_frame(self) -> None:
        """Until the explorer has had two animation frames (what was scheduled is drawn and painted)."""
        self.frame.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    # acting
    def point(self, fraction: float) -> tuple[float, float]:
        """Page coordinates `fraction` (0..1) of the way across the histogram's plotting area."""
        box, plot = self.canvas.bounding_box(), self.frame.evaluate("() => window.__thresholdPlot()")
        x = box["x"] + plot["left"] + fraction * (plot["right"] - plot["left"])
        return x, box["y"] + (plot["top"] + plot["bottom"]) / 2

    def press(self, fraction: float) -> None:
        x, y = self.point(fraction)
        self.page.mouse.move(x, y)
        self.page.mouse.down()

    def move(self, fraction: float) -> None:
        x, y = self.point(fraction)
        self.page.mouse.move(x, y)

    def release(self) -> None:
        self.page.mouse.up()

    def drag(self, start: float, end: float, steps: int) -> list[dict[str, str]]:
        """Press at `start`, move to `end` in `steps` moves (held down, not released); what the
        explorer shows after each move, once drawn."""
        self.press(start)
        shown = []
        for i in range(1, steps + 1):
            self.move(start + (end - start) * i / steps)
            self.next_frame()
            shown.append(self.shown())
        return shown
