"""Drive the Latent space page's map in a real browser (shared by tests/e2e/test_latent_map_browser.py and
bench/bench_latent_map.py): find the component's frame, wait until every point is drawn, hover, draw a
lasso or a box with the real mouse, and measure frames per second while panning or zooming.

The map exposes `window.__latentMap` (see dashboard/components/latent_map/frontend/map.js).
"""

from __future__ import annotations

import math

FRAME = "iframe[src*='latent_map']"

# Inside the map's frame: one synthetic pointer or wheel event per animation frame for `ms`
# milliseconds — a drag along a circle ("pan") or alternating zoom in and out ("zoom") — then the
# frames the map drew meanwhile: {frames, seconds, fps, mean_draw_ms, points_in_view}.
MOTION_JS = """
async ([kind, ms]) => {
  const map = window.__latentMap, canvas = document.getElementById('map');
  const rect = canvas.getBoundingClientRect();
  const cx = rect.left + rect.width / 2, cy = rect.top + rect.height / 2, r = Math.min(rect.width, rect.height) * 0.25;
  const stats = map.stats, framesBefore = stats.frames, drawBefore = stats.drawMsTotal;
  const pointer = (type, t) => new PointerEvent(type, {pointerId: 9, bubbles: true, button: 0, buttons: type === 'pointerup' ? 0 : 1,
                                                     clientX: cx + r * Math.cos(t), clientY: cy + r * Math.sin(t)});
  if (kind === 'pan') canvas.dispatchEvent(pointer('pointerdown', 0));
  const start = performance.now();
  let step = 0;
  await new Promise((resolve) => {
    const tick = (now) => {
      if (now - start >= ms) { resolve(); return; }
      step += 1;
      if (kind === 'pan') canvas.dispatchEvent(pointer('pointermove', (now - start) / 300));
      else canvas.dispatchEvent(new WheelEvent('wheel', {bubbles: true, cancelable: true, clientX: cx, clientY: cy,
                                                         deltaY: (Math.floor(step / 15) % 2 ? 1 : -1) * 40}));
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  if (kind === 'pan') canvas.dispatchEvent(pointer('pointerup', 0));
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const frames = stats.frames - framesBefore;
  const recent = stats.frameTimes.slice(-frames);
  const span = recent.length > 1 ? recent[recent.length - 1] - recent[0] : 0;
  return {frames, seconds: span / 1000, fps: span ? (recent.length - 1) / (span / 1000) : 0,
          mean_draw_ms: (stats.drawMsTotal - drawBefore) / Math.max(1, frames), points_in_view: map.inView()};
}
"""


def colour_by(app, label: str) -> None:
    """Pick the map's colouring in the sidebar by typing it (the option list of a selectbox at the foot
    of a long sidebar may open out of view) and wait for the rerun."""
    box = app.key("latent_colour").locator("input").first
    box.click()
    box.fill(label)
    app.page.keyboard.press("Enter")
    app.wait_idle()


class MapSession:
    """The map on an open Latent space page (an AppPage, testkit.browser)."""

    def __init__(self, app, timeout_ms: int = 120_000):
        self.app = app
        self.page = app.page
        self.timeout_ms = timeout_ms
        self.page.locator(FRAME).first.wait_for(timeout=timeout_ms)
        self.frame = self._frame()
        self.wait_ready()

    def _frame(self):
        for _ in range(200):
            frame = next((f for f in self.page.frames if "latent_map" in f.url), None)
            if frame is not None:
                return frame
            self.page.wait_for_timeout(100)
        raise TimeoutError("the latent map's frame never appeared")

    def js(self, expression: str, arg=None):
        return self.frame.evaluate(expression, arg)

    def wait_ready(self, timeout_ms: int | None = None) -> None:
        """Until every point is drawn and nothing is pending (a rerun may re-render the frame)."""
        self.frame.wait_for_function("() => window.__latentMap && window.__latentMap.ready()",
                                     timeout=timeout_ms or self.timeout_ms)

    def count(self) -> int:
        return int(self.js("() => window.__latentMap.count()"))

    def selection_count(self) -> int:
        return int(self.js("() => window.__latentMap.selectionCount()"))

    def region(self) -> dict | None:
        return self.js("() => window.__latentMap.region()")

    def legend(self) -> dict:
        return self.js("() => window.__latentMap.legend()")

    def pixel_hash(self) -> int:
        return int(self.js("() => window.__latentMap.pixelHash()"))

    def canvas_box(self) -> dict:
        """The canvas in page coordinates: {x, y, width, height}."""
        return self.frame.locator("#map").bounding_box()

    def point_on_page(self, index: int) -> tuple[float, float] | None:
        """Where point `index` is drawn, in page coordinates (None when off the canvas)."""
        inside = self.js("(i) => window.__latentMap.pixelOf(i)", index)
        if inside is None:
            return None
        frame_box = self.page.locator(FRAME).first.bounding_box()
        return frame_box["x"] + inside["x"], frame_box["y"] + inside["y"]

    def hover(self, index: int) -> str:
        """Move the real mouse onto point `index`; returns the tooltip's text once it shows."""
        x, y = self.point_on_page(index)
        self.page.mouse.move(x - 20, y - 20)
        self.page.mouse.move(x, y, steps=3)
        self.frame.wait_for_function("() => window.__latentMap.tipText() !== ''", timeout=10_000)
        return self.js("() => window.__latentMap.tipText()")

    def tip_ink(self) -> list[int]:
        """Grey-level sums of the tooltip's image and reconstruction (0: nothing painted)."""
        return self.js("() => window.__latentMap.tipInk()")

    def tool(self, name: str) -> None:
        """Pick a tool: 'Pan', 'Box select' or 'Lasso'."""
        self.frame.get_by_role("button", name=name, exact=True).click()

    def drag(self, points: list[tuple[float, float]]) -> None:
        """Press at the first page point, move through the others, release (the real mouse)."""
        mouse = self.page.mouse
        mouse.move(*points[0])
        mouse.down()
        for x, y in points[1:]:
            mouse.move(x, y, steps=2)
        mouse.up()

    def lasso_around(self, centre: tuple[float, float], radius: float, corners: int = 24) -> None:
        """Draw a lasso: a circle of `radius` page pixels around `centre`."""
        self.tool("Lasso")
        cx, cy = centre
        self.drag([(cx + radius * math.cos(2 * math.pi * k / corners), cy + radius * math.sin(2 * math.pi * k / corners))
                   for k in range(corners + 1)])

    def motion(self, kind: str, ms: int = 2000) -> dict:
        """Frames per second while panning ("pan") or zooming ("zoom") for `ms` milliseconds."""
        return self.js(MOTION_JS, [kind, ms])
