"""The latent map in headless Chromium: frames per second while panning and zooming at 10,000 points
(the MNIST test digits) and 284,807 points (synthetic transactions), time from opening the page to the
map drawn, what travels to the browser, and the two alternatives the drawing technology was chosen
against (WebGL points, Plotly's scattergl). Writes bench/results/latent_map.json.

    .venv/bin/python bench/bench_latent_map.py                 # ~10 min on 2 CPU cores
    .venv/bin/python bench/bench_latent_map.py --root /tmp/x   # reuse (or keep) the prepared folder

The 284,807 rows are synthetic transactions in the ULB schema at the full data's 0.172% fraud rate
(bench_dashboard.prepare: the generator fitted per class to the real ULB subset, vae_core/tables/synthetic.py), scored by a small fraud VAE trained on other rows, so every row is on the
map. Needs Playwright and Debian's Chromium (/usr/bin/chromium), like tests/e2e.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO_ROOT = Path(__file__).resolve().parents[1]

from bench_dashboard import FRAUD_MODEL, FULL_DATA_PREVALENCE, FULL_DATA_ROWS, MNIST_MODEL, prepare
from testkit.browser import DESKTOP, AppPage, app_server, chromium, skip_reason
from testkit.latent_map import MapSession, colour_by

SHARED_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist"

# A bare page drawing n random points with WebGL2 gl.POINTS (3 px, blended), the view moving every
# animation frame for `ms`: what a WebGL point renderer gets from this browser.
WEBGL_PAGE = """<!doctype html><canvas id="c" width="1100" height="560"></canvas><script>
window.run = (n, ms) => new Promise((resolve) => {
  const c = document.getElementById('c'), gl = c.getContext('webgl2', {antialias: false});
  if (!gl) { resolve(null); return; }
  const sh = (t, s) => { const x = gl.createShader(t); gl.shaderSource(x, s); gl.compileShader(x); return x; };
  const p = gl.createProgram();
  gl.attachShader(p, sh(gl.VERTEX_SHADER, `#version 300 es
    in vec2 a; uniform vec2 o; void main() { gl_Position = vec4(a * 0.2 + o, 0., 1.); gl_PointSize = 3.; }`));
  gl.attachShader(p, sh(gl.FRAGMENT_SHADER, `#version 300 es
    precision mediump float; out vec4 f; void main() { f = vec4(0.3, 0.47, 0.66, 0.8); }`));
  gl.bindAttribLocation(p, 0, 'a'); gl.linkProgram(p); gl.useProgram(p);
  const xy = new Float32Array(2 * n);
  for (let i = 0; i < 2 * n; i++) xy[i] = (Math.random() + Math.random() + Math.random() - 1.5) * 2;
  gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer()); gl.bufferData(gl.ARRAY_BUFFER, xy, gl.STATIC_DRAW);
  gl.enableVertexAttribArray(0); gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
  gl.enable(gl.BLEND); gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
  const o = gl.getUniformLocation(p, 'o'), times = [], start = performance.now();
  const dbg = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = dbg ? gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  const frame = (now) => {
    gl.clearColor(1, 1, 1, 1); gl.clear(gl.COLOR_BUFFER_BIT);
    gl.uniform2f(o, 0.1 * Math.sin(now / 300), 0.1 * Math.cos(now / 300));
    gl.drawArrays(gl.POINTS, 0, n); times.push(now);
    if (now - start < ms) requestAnimationFrame(frame);
    else resolve({renderer, fps: (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000)});
  };
  requestAnimationFrame(frame);
});
</script>"""

# Plotly's scattergl with n random points, its axis ranges moved every animation frame for `ms`.
PLOTLY_RUN = """([n, ms]) => new Promise((resolve) => {
  const x = new Float32Array(n), y = new Float32Array(n);
  for (let i = 0; i < n; i++) { x[i] = Math.random() * 8 - 4; y[i] = Math.random() * 8 - 4; }
  const div = document.createElement('div'); div.style.width = '1100px'; div.style.height = '560px';
  document.body.appendChild(div);
  Plotly.newPlot(div, [{type: 'scattergl', mode: 'markers', x, y, marker: {size: 3}}],
                 {xaxis: {range: [-4, 4]}, yaxis: {range: [-4, 4]}, margin: {l: 20, r: 20, t: 20, b: 20}}).then(() => {
    const times = [], start = performance.now();
    const frame = (now) => {
      const d = 0.5 * Math.sin((now - start) / 300);
      Plotly.relayout(div, {'xaxis.range': [-4 + d, 4 + d], 'yaxis.range': [-4 - d, 4 - d]});
      times.push(now);
      if (now - start < ms) requestAnimationFrame(frame);
      else resolve((times.length - 1) / ((times[times.length - 1] - times[0]) / 1000));
    };
    requestAnimationFrame(frame);
  });
})"""


def load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def open_and_time(browser, url: str, path: str) -> tuple[dict, AppPage, object, list[int], MapSession]:
    """Open `path` in a new browser context (a new session): ({open_ms to every point drawn, bytes_received},
    the page, its context, the running count of bytes received, the map)."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    received = [0]
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.__setitem__(
        0, received[0] + len(payload))))
    app = AppPage(page, url)
    started = time.perf_counter()
    page.goto(f"{url}/{path}")
    session = MapSession(app, timeout_ms=600_000)
    opened = (time.perf_counter() - started) * 1000
    app.wait_drawn(600_000)
    return {"open_ms": round(opened, 1), "bytes_received": received[0]}, app, context, received, session


def fps(runs: list[dict]) -> list[float]:
    return [round(run["fps"], 1) for run in runs]


def measure_map(browser, url: str, path: str, repeats: int) -> dict:
    """First visit (server caches cold), a second visit, motion, and a colour change."""
    first, _, context, _, _ = open_and_time(browser, url, path)
    context.close()
    again, app, context, received, session = open_and_time(browser, url, path)
    try:
        points = session.count()
        pan = [session.motion("pan", 2000) for _ in range(repeats)]
        session.js("() => window.__latentMap.home()")
        zoom = [session.motion("zoom", 2000) for _ in range(repeats)]
        # A colour change: how long until the new colours are drawn, and what it sends.
        before_bytes, before_hash = received[0], session.pixel_hash()
        started = time.perf_counter()
        colour_by(app, "KL term")
        session.frame.wait_for_function("() => window.__latentMap.legend().kind === 'continuous'", timeout=600_000)
        session.wait_ready()
        recoloured_ms = (time.perf_counter() - started) * 1000
        assert session.pixel_hash() != before_hash
        colour_bytes = received[0] - before_bytes
    finally:
        context.close()
    return {
        "points": points,
        "first_visit": first, "second_visit": again,
        "pan_fps": fps(pan), "pan_fps_median": statistics.median(fps(pan)),
        "pan_draw_ms_mean": round(statistics.mean(r["mean_draw_ms"] for r in pan), 2),
        "zoom_fps": fps(zoom), "zoom_fps_median": statistics.median(fps(zoom)),
        "zoom_draw_ms_mean": round(statistics.mean(r["mean_draw_ms"] for r in zoom), 2),
        "colour_change": {"ms_to_redrawn": round(recoloured_ms, 1), "bytes_received": colour_bytes},
    }


def alternatives(browser) -> dict:
    """The same motion with WebGL points and with Plotly's scattergl, in this browser."""
    import plotly

    page = browser.new_page(viewport=DESKTOP)
    try:
        page.set_content(WEBGL_PAGE)
        webgl = {str(n): page.evaluate("([n, ms]) => window.run(n, ms)", [n, 3000]) for n in (10_000, FULL_DATA_ROWS)}
        plotly_fps = {}
        for n in (10_000, FULL_DATA_ROWS):
            page.set_content("<!doctype html><body></body>")
            page.add_script_tag(path=str(Path(plotly.__file__).parent / "package_data" / "plotly.min.js"))
            plotly_fps[str(n)] = round(page.evaluate(PLOTLY_RUN, [n, 4000]), 2)
    finally:
        page.close()
    return {"webgl_points": {n: {"fps": round(r["fps"], 1), "renderer": r["renderer"]} if r else None
                             for n, r in webgl.items()},
            "plotly_scattergl_relayout_fps": plotly_fps}


def data_folder(root: Path) -> Path:
    """bench_dashboard.prepare's folder (284,807 synthetic transactions) plus the MNIST test digits."""
    if not (root / "models").is_dir():
        prepare(root)
    data = root / "data"
    if SHARED_MNIST.is_dir() and not (data / "mnist").exists():
        shutil.copytree(SHARED_MNIST, data / "mnist")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="motion runs of 2 s each")
    parser.add_argument("--root", help="a folder for the prepared models and data (kept); default: a temporary one")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "latent_map.json"))
    args = parser.parse_args()
    reason = skip_reason()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-latent-map-") as tmp:
        root = Path(args.root) if args.root else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        data = data_folder(root)
        chromium_version = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True,
                                          check=False).stdout.strip()
        result = {
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                        "browser": f"{chromium_version}, headless, --disable-gpu (software rendering)",
                        "load_average_before": load()},
            "notes": ("fps: frames the map drew per second while a synthetic pointer drag (pan) or wheel (zoom) "
                      "moved it every animation frame (60 Hz here, the ceiling); open_ms: from navigation to every "
                      "point drawn; first_visit has cold server caches (encoding, scoring, sprite sheets), "
                      "second_visit a new browser session on warm caches; bytes: websocket payload received. "
                      f"The {FULL_DATA_ROWS:,} transactions are synthetic, at {FULL_DATA_PREVALENCE:.3%} fraud, from the "
                      "generator fitted per class to the real ULB subset (vae_core/tables/synthetic.py)."),
        }
        with app_server(root / "models", data_dir=data, log_dir=root, timeout=300) as server, chromium() as browser:
            result["mnist_10000"] = measure_map(browser, server.url, f"latent?model={MNIST_MODEL}", args.repeats)
            result["fraud_284807_synthetic"] = measure_map(browser, server.url, f"latent?model={FRAUD_MODEL}",
                                                           args.repeats)
            result["alternatives"] = alternatives(browser)
        result["machine"]["load_average_after"] = load()
        result["targets"] = {"fps": 30}
        result["seconds"] = round(time.perf_counter() - started, 1)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
