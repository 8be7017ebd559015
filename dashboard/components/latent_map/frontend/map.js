// Latent map: every point, redrawn every animation frame while panning or zooming.
//
// Points are rasterised here in JavaScript into one RGBA buffer (a few pixels per point, drawn in an
// order that keeps rare classes on top) and put on a 2-D canvas; images, contours, the selection and
// the axes are drawn over it. Measured in headless Chromium, whose WebGL is software (SwiftShader):
// WebGL points drew 284,807 points at ~3 frames per second, this rasteriser at ~50 (README,
// "The latent map"). Hover, box and lasso selection run here; Python hears only of a finished
// selection, a clicked point, or a missing piece of data.
"use strict";

(function () {
  // --- Streamlit's component protocol over postMessage (what streamlit-component-lib does) ------
  function send(type, data) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data), "*");
  }
  const Streamlit = {
    ready: function () { send("streamlit:componentReady", { apiVersion: 1 }); },
    setValue: function (value) { send("streamlit:setComponentValue", { value: value, dataType: "json" }); },
    setHeight: function (height) { send("streamlit:setFrameHeight", { height: height }); },
  };

  const $ = function (id) { return document.getElementById(id); };
  const canvas = $("map"), stage = $("stage"), tip = $("tip"), legendBox = $("legend");
  const message = $("message"), statusText = $("status");
  const ctx = canvas.getContext("2d", { alpha: false });

  const IMAGE_LIMIT = 1500;    // images replace dots when at most this many points are in view…
  const IMAGE_MIN_ZOOM = 1.5;  // …and the view is zoomed in at least this much
  const HOVER_PX = 10;         // hover and click reach
  const MOVE_PX = 4;           // a press that moves less than this is a click
  const LASSO_MAX = 120;       // corners a lasso keeps (a link carries them)
  const GRID = 128;            // cells per side of the hover index
  // The canvas's colours in Streamlit's light and dark themes (its background and text come from the
  // theme Streamlit sends with each render; the rest keep 3:1 against that background).
  const THEMES = {
    light: { background: "#ffffff", text: "#31333f", tick: "#6b6f7e", grid: "rgba(0, 0, 0, 0.07)", contour: "20, 40, 90",
             prior: "rgba(0, 0, 0, 0.75)", hover: "#111111", panel: "rgba(255, 255, 255, 0.92)", line: "#e6e7eb" },
    dark: { background: "#0e1117", text: "#fafafa", tick: "#a3a8b8", grid: "rgba(255, 255, 255, 0.09)", contour: "170, 195, 255",
            prior: "rgba(255, 255, 255, 0.8)", hover: "#f5f5f5", panel: "rgba(14, 17, 23, 0.92)", line: "#3d404a" },
  };
  let T = THEMES.light;

  const blobs = {};  // name → {id, bytes (an aligned copy)}
  const S = {
    config: null, n: 0, xy: null, colour: null, labels: null, error: null, kl: null, rows: null, worst: null,
    contours: null, atlas: null, recon: null,
    palette: new Uint32Array(256), faded: new Uint32Array(256), css: [], legendKey: null,
    paletteShown: new Uint32Array(256), fadedShown: new Uint32Array(256),
    order: null, hidden: new Uint8Array(256),
    region: null, regionKey: "null", mask: null, selCount: 0, filter: null, hmask: null,
    grid: null, home: null, view: null, viewId: null,
    width: 0, height: 0, ratio: 1, image: null, pixels: null, stamp: null, stampKey: "",
    mode: "pan", drag: null, hover: -1, seq: 0, scheduled: false,
    visible: new Uint32Array(IMAGE_LIMIT + 1), visibleCount: 0, inView: 0,
    showPrior: false, showDensity: false, showImages: true, lastHeight: 0,
  };
  const instance = Math.random().toString(36).slice(2, 10);
  // Read by the browser tests and the benchmark; costs nothing.
  const stats = { renders: 0, frames: 0, drawMsTotal: 0, lastDrawMs: 0, frameTimes: [], needs: 0, imagesDrawn: 0,
                  firstRenderAt: null, dataReadyAt: null, firstDrawAt: null };

  // --- data -------------------------------------------------------------------------------------
  function aligned(bytes) { const out = new Uint8Array(bytes.length); out.set(bytes); return out; }
  function view(name, Type) {
    const b = blobs[name];
    return b ? new Type(b.bytes.buffer, 0, b.bytes.length / Type.BYTES_PER_ELEMENT) : null;
  }
  function packed(hex, fade) {  // "#rrggbb" → ImageData's little-endian RGBA word, optionally faded into the background
    let r = parseInt(hex.slice(1, 3), 16), g = parseInt(hex.slice(3, 5), 16), b = parseInt(hex.slice(5, 7), 16);
    if (fade) {
      const bg = T.background;
      const into = function (c, at) { const base = parseInt(bg.slice(at, at + 2), 16); return Math.round(c + (base - c) * fade); };
      r = into(r, 1); g = into(g, 3); b = into(b, 5);
    }
    return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  }
  // Streamlit's theme → T, the page's CSS colours, and (when it changed) the palettes faded into it.
  function applyTheme(theme) {
    const base = theme && theme.base === "dark" ? THEMES.dark : THEMES.light;
    const background = theme && /^#[0-9a-f]{6}$/i.test(theme.backgroundColor || "") ? theme.backgroundColor : base.background;
    const next = Object.assign({}, base, { background: background, text: (theme && theme.textColor) || base.text });
    if (JSON.stringify(next) === JSON.stringify(T)) return false;
    T = next;
    const root = document.documentElement.style;
    root.setProperty("--bg", T.background); root.setProperty("--fg", T.text); root.setProperty("--muted", T.tick);
    root.setProperty("--panel", T.panel); root.setProperty("--line", T.line);
    if (theme && theme.primaryColor) root.setProperty("--accent", theme.primaryColor);
    return true;
  }
  function loadImage(name, bytes) {
    S[name] = null;
    createImageBitmap(new Blob([bytes], { type: "image/png" })).then(function (bitmap) {
      if (blobs[name] && blobs[name].bytes === bytes) { S[name] = bitmap; requestDraw(); }
    });
  }

  // Draw order: categories from the most to the least common (rare ones stay visible), continuous
  // values from low to high; a counting sort over the 256 colour codes, O(n).
  function buildOrder() {
    const n = S.n, colour = S.colour, counts = new Uint32Array(256);
    for (let i = 0; i < n; i++) counts[colour[i]]++;
    const codes = Array.from({ length: 256 }, function (_, k) { return k; });
    if (S.config.legend.kind === "categorical") codes.sort(function (a, b) { return counts[b] - counts[a]; });
    const start = new Uint32Array(256);
    let total = 0;
    for (const code of codes) { start[code] = total; total += counts[code]; }
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[start[colour[i]]++] = i;
    S.order = order;
    // The rasteriser walks copies in draw order: sequential reads instead of a gather per point.
    const xy = S.xy, oxy = new Float32Array(2 * n), ocolour = new Uint8Array(n);
    for (let k = 0; k < n; k++) { const i = order[k]; oxy[2 * k] = xy[2 * i]; oxy[2 * k + 1] = xy[2 * i + 1]; ocolour[k] = colour[i]; }
    S.oxy = oxy; S.ocolour = ocolour;
    orderMask();
  }
  // The points drawn in full colour (the rest faded): inside the selection, if any, and matching the
  // page's filter ("filter" blob, 1 = matches), if any; null when neither applies.
  function highlightMask() {
    if (!S.filter) return S.mask;
    if (!S.mask) return S.filter;
    const both = new Uint8Array(S.n);
    for (let i = 0; i < S.n; i++) both[i] = S.mask[i] & S.filter[i];
    return both;
  }
  function orderMask() {
    S.hmask = highlightMask();
    if (!S.hmask || !S.order) { S.omask = null; return; }
    const n = S.n, order = S.order, mask = S.hmask, omask = new Uint8Array(n);
    for (let k = 0; k < n; k++) omask[k] = mask[order[k]];
    S.omask = omask;
  }

  // Hover index: points bucketed into GRID × GRID cells over the first view's bounds (outliers in
  // the edge cells), stored as one index array with per-cell offsets.
  function buildGrid() {
    const n = S.n, xy = S.xy, b = S.config.bounds;
    const x0 = b[0], y0 = b[2], fx = GRID / Math.max(b[1] - b[0], 1e-12), fy = GRID / Math.max(b[3] - b[2], 1e-12);
    const cell = new Uint32Array(n), counts = new Uint32Array(GRID * GRID + 1);
    for (let i = 0; i < n; i++) {
      const gx = Math.min(GRID - 1, Math.max(0, Math.floor((xy[2 * i] - x0) * fx))) || 0;
      const gy = Math.min(GRID - 1, Math.max(0, Math.floor((xy[2 * i + 1] - y0) * fy))) || 0;
      cell[i] = gy * GRID + gx;
      counts[cell[i] + 1]++;
    }
    for (let c = 0; c < GRID * GRID; c++) counts[c + 1] += counts[c];
    const fill = counts.slice(0, GRID * GRID), items = new Uint32Array(n);
    for (let i = 0; i < n; i++) items[fill[cell[i]]++] = i;
    S.grid = { x0: x0, y0: y0, fx: fx, fy: fy, start: counts, items: items };
  }

  // The nearest shown point within `reach` CSS pixels of (px, py) on the canvas; −1 when none.
  function nearest(px, py, reach) {
    if (!S.grid || !S.view) return -1;
    const g = S.grid, v = S.view, xy = S.xy, colour = S.colour;
    const x = (px - S.width / 2) / v.scale + v.cx, y = v.cy - (py - S.height / 2) / v.scale, r = reach / v.scale;
    const cx0 = Math.max(0, Math.floor((x - r - g.x0) * g.fx)), cx1 = Math.min(GRID - 1, Math.floor((x + r - g.x0) * g.fx));
    const cy0 = Math.max(0, Math.floor((y - r - g.y0) * g.fy)), cy1 = Math.min(GRID - 1, Math.floor((y + r - g.y0) * g.fy));
    let best = -1, bestD = reach * reach;
    for (let gy = cy0; gy <= cy1; gy++) {
      for (let gx = cx0; gx <= cx1; gx++) {
        const c = gy * GRID + gx;
        for (let k = g.start[c]; k < g.start[c + 1]; k++) {
          const i = g.items[k];
          if (S.hidden[colour[i]]) continue;
          const dx = (xy[2 * i] - x) * v.scale, dy = (xy[2 * i + 1] - y) * v.scale, d = dx * dx + dy * dy;
          if (d <= bestD) { bestD = d; best = i; }
        }
      }
    }
    return best;
  }

  // --- selection ----------------------------------------------------------------------------------
  function round5(value) { return Number(Number(value).toPrecision(5)); }

  // Inside a box, or inside a lasso by the even-odd rule; the same arithmetic as vae_core/selection.py.
  function computeMask() {
    const n = S.n, xy = S.xy, region = S.region;
    S.mask = null; S.selCount = 0;
    if (!region || !xy) return;
    const mask = new Uint8Array(n), p = region.points;
    let count = 0;
    if (region.kind === "box") {
      const x0 = p[0][0], y0 = p[0][1], x1 = p[1][0], y1 = p[1][1];
      for (let i = 0; i < n; i++) {
        const x = xy[2 * i], y = xy[2 * i + 1];
        if (x >= x0 && x <= x1 && y >= y0 && y <= y1) { mask[i] = 1; count++; }
      }
    } else {
      let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
      for (const q of p) { xmin = Math.min(xmin, q[0]); xmax = Math.max(xmax, q[0]); ymin = Math.min(ymin, q[1]); ymax = Math.max(ymax, q[1]); }
      const m = p.length;
      for (let i = 0; i < n; i++) {
        const x = xy[2 * i], y = xy[2 * i + 1];
        if (!(x >= xmin && x <= xmax && y >= ymin && y <= ymax)) continue;
        let inside = false;
        for (let a = 0, b = m - 1; a < m; b = a++) {
          const xi = p[a][0], yi = p[a][1], xj = p[b][0], yj = p[b][1];
          if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
        }
        if (inside) { mask[i] = 1; count++; }
      }
    }
    S.mask = mask; S.selCount = count;
  }

  function setRegion(region) {
    S.region = region;
    S.regionKey = JSON.stringify(region);
    computeMask();
    orderMask();
    $("clear").disabled = !region;
    updateStatus();
  }

  function emit(event) {
    S.seq += 1;
    Streamlit.setValue(Object.assign({ seq: S.seq, instance: instance }, event));
  }

  // --- view ---------------------------------------------------------------------------------------
  function fitHome() {
    const b = S.config.bounds, w = Math.max(b[1] - b[0], 1e-9), h = Math.max(b[3] - b[2], 1e-9);
    S.home = { cx: (b[0] + b[1]) / 2, cy: (b[2] + b[3]) / 2, scale: Math.min(S.width / w, S.height / h) };
  }
  function toPx(x, y) {
    const v = S.view;
    return [(x - v.cx) * v.scale + S.width / 2, S.height / 2 - (y - v.cy) * v.scale];
  }
  function toData(px, py) {
    const v = S.view;
    return [(px - S.width / 2) / v.scale + v.cx, v.cy - (py - S.height / 2) / v.scale];
  }
  function zoomAt(px, py, factor) {
    const v = S.view, before = toData(px, py);
    v.scale = Math.min(S.home.scale * 20000, Math.max(S.home.scale / 8, v.scale * factor));
    v.cx = before[0] - (px - S.width / 2) / v.scale;
    v.cy = before[1] + (py - S.height / 2) / v.scale;
    requestDraw();
  }

  function resize() {
    const width = Math.max(200, stage.clientWidth - 2), height = (S.config && S.config.height) || 560;
    const ratio = Math.min(window.devicePixelRatio || 1, 2);
    if (width === S.width && height === S.height && ratio === S.ratio && S.image) return;
    const old = S.width ? { w: S.width, h: S.height } : null;
    S.width = width; S.height = height; S.ratio = ratio;
    canvas.width = Math.round(width * ratio); canvas.height = Math.round(height * ratio);
    canvas.style.width = width + "px"; canvas.style.height = height + "px";
    S.image = ctx.createImageData(canvas.width, canvas.height);
    S.pixels = new Uint32Array(S.image.data.buffer);
    if (S.config) {
      fitHome();
      if (!S.view || !old) S.view = Object.assign({}, S.home);
    }
    sizeFrame();
  }

  function sizeFrame() {
    const height = document.body.scrollHeight;
    if (height !== S.lastHeight) { S.lastHeight = height; Streamlit.setHeight(height); }
  }

  // --- drawing ------------------------------------------------------------------------------------
  function requestDraw() {
    if (S.scheduled) return;
    S.scheduled = true;
    requestAnimationFrame(function () { S.scheduled = false; draw(); });
  }

  // Pixel offsets of a dot of radius r device pixels (rows `stride` apart).
  function stampFor(r, stride) {
    const key = r.toFixed(2) + "|" + stride;
    if (key === S.stampKey) return S.stamp;
    const reach = Math.ceil(r), offsets = [];
    for (let dy = -reach; dy <= reach; dy++) for (let dx = -reach; dx <= reach; dx++) {
      if (dx * dx + dy * dy <= r * r + 0.25) offsets.push(dy * stride + dx);
    }
    S.stampKey = key; S.stamp = Int32Array.from(offsets); S.stampReach = reach;
    return S.stamp;
  }

  // Dots grow as fewer points share the view (zooming in, or a small set): about a third of the
  // spacing the points in view would have if spread evenly, from 1.1 to 4.5 pixels.
  function dotRadius() {
    const inView = S.lastInView || S.n;
    return Math.min(4.5, Math.max(1.1, 0.3 * Math.sqrt(S.width * S.height / Math.max(1, inView)))) * S.ratio;
  }

  // One pass over the points in draw order: `pass` 0 draws everything (no selection), 1 the points
  // outside the selection (faded), 2 those inside. Counts the points in view and keeps the first
  // IMAGE_LIMIT + 1 of them (as draw-order positions) for the images.
  function rasterise(pass) {
    const W = canvas.width, H = canvas.height, buf = S.pixels, xy = S.oxy, colour = S.ocolour;
    const palette = pass === 1 ? S.fadedShown : S.paletteShown, mask = S.omask, want = pass === 2 ? 1 : 0;
    const v = S.view, sx = v.scale * S.ratio, ox = W / 2 - v.cx * sx, oy = H / 2 + v.cy * sx;
    const stamp = stampFor(dotRadius(), W), reach = S.stampReach, m = stamp.length, visible = S.visible;
    const xmax = W - reach, ymax = H - reach;
    let count = S.inView;
    for (let k = 0, n = S.n; k < n; k++) {
      const value = palette[colour[k]];
      if (value === 0) continue;  // a hidden class
      if (pass !== 0 && mask[k] !== want) continue;
      const fx = xy[2 * k] * sx + ox, fy = oy - xy[2 * k + 1] * sx;
      if (!(fx >= reach && fx < xmax && fy >= reach && fy < ymax)) continue;
      if (count <= IMAGE_LIMIT) visible[count] = k;
      count++;
      const o = (fy | 0) * W + (fx | 0);
      if (m === 5) { buf[o] = value; buf[o - 1] = value; buf[o + 1] = value; buf[o - W] = value; buf[o + W] = value; }
      else for (let s = 0; s < m; s++) buf[o + stamp[s]] = value;
    }
    S.inView = count;
  }

  // The palettes the rasteriser reads: a hidden class's colour is 0 (never a real colour: alpha 255).
  function shownPalettes() {
    for (let c = 0; c < 256; c++) {
      S.paletteShown[c] = S.hidden[c] ? 0 : S.palette[c];
      S.fadedShown[c] = S.hidden[c] ? 0 : S.faded[c];
    }
  }

  function drawImages() {
    const atlas = S.atlas, layout = S.config.atlas, count = S.inView;
    const side = Math.max(16, Math.min(56, 0.75 * Math.sqrt(S.width * S.height / Math.max(1, count))));
    const tile = layout.tile, columns = layout.columns;
    ctx.imageSmoothingEnabled = false;
    ctx.lineWidth = 2;
    for (let k = 0; k < count; k++) {
      const i = S.order[S.visible[k]];
      const p = toPx(S.xy[2 * i], S.xy[2 * i + 1]);
      ctx.globalAlpha = S.hmask && !S.hmask[i] ? 0.3 : 1;
      ctx.drawImage(atlas, (i % columns) * tile, Math.floor(i / columns) * tile, tile, tile,
                    p[0] - side / 2, p[1] - side / 2, side, side);
      ctx.strokeStyle = S.css[S.colour[i]];
      ctx.strokeRect(p[0] - side / 2, p[1] - side / 2, side, side);
    }
    ctx.globalAlpha = 1;
    stats.imagesDrawn = count;
  }

  function niceStep(span) {
    const raw = span / 8, power = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / power;
    return power * (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10);
  }
  function tickText(value, step) {
    const digits = Math.max(0, -Math.floor(Math.log10(step)));
    return Math.abs(value) < step / 2 ? "0" : value.toFixed(Math.min(digits, 6));
  }

  function drawAxes() {
    const W = S.width, H = S.height, lo = toData(0, H), hi = toData(W, 0);
    const step = niceStep(Math.max(hi[0] - lo[0], hi[1] - lo[1]));
    ctx.lineWidth = 1;
    ctx.strokeStyle = T.grid;
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = T.tick;
    ctx.beginPath();
    const labels = [];
    for (let x = Math.ceil(lo[0] / step) * step; x <= hi[0]; x += step) {
      const px = Math.round(toPx(x, 0)[0]) + 0.5;
      ctx.moveTo(px, 0); ctx.lineTo(px, H);
      labels.push([tickText(x, step), px + 2, H - 4]);
    }
    for (let y = Math.ceil(lo[1] / step) * step; y <= hi[1]; y += step) {
      const py = Math.round(toPx(0, y)[1]) + 0.5;
      ctx.moveTo(0, py); ctx.lineTo(W, py);
      labels.push([tickText(y, step), 3, py - 3]);
    }
    ctx.stroke();
    for (const label of labels) ctx.fillText(label[0], label[1], label[2]);
    const titles = S.config.axis_titles;
    ctx.fillStyle = T.text;
    ctx.textAlign = "center";
    ctx.fillText(titles[0] + " →", W / 2, H - 16);
    ctx.save();
    ctx.translate(14, H / 2);
    ctx.rotate(-Math.PI / 2);
    if (titles[1]) ctx.fillText(titles[1] + " →", 0, 0);
    ctx.restore();
    ctx.textAlign = "start";
  }

  function drawOverlays() {
    const v = S.view;
    if (S.showDensity && S.contours && S.config.density.length) {
      const segments = S.contours;
      S.config.density.forEach(function (run, k) {
        ctx.strokeStyle = "rgba(" + T.contour + ", " + (0.85 - 0.2 * k) + ")";
        ctx.lineWidth = 1.4;
        ctx.beginPath();
        for (let s = run.start; s < run.start + run.count; s++) {
          const a = toPx(segments[4 * s], segments[4 * s + 1]), b = toPx(segments[4 * s + 2], segments[4 * s + 3]);
          ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]);
        }
        ctx.stroke();
      });
    }
    if (S.showPrior && S.config.prior.length) {
      ctx.setLineDash([6, 4]);
      ctx.strokeStyle = T.prior;
      ctx.fillStyle = T.text;
      ctx.lineWidth = 1.2;
      ctx.font = "11px system-ui, sans-serif";
      for (const c of S.config.prior) {
        const p = toPx(c.x, c.y), r = c.r * v.scale;
        ctx.beginPath(); ctx.arc(p[0], p[1], r, 0, 2 * Math.PI); ctx.stroke();
        ctx.fillText(Math.round(c.mass * 100) + "%", p[0] + r * 0.71 + 3, p[1] - r * 0.71 - 3);
      }
      ctx.setLineDash([]);
    }
    const drag = S.drag;
    const region = drag && drag.mode !== "pan" && drag.moved ? dragRegion(drag, false) : S.region;
    if (region) {
      ctx.beginPath();
      if (region.kind === "box") {
        const a = toPx(region.points[0][0], region.points[0][1]), b = toPx(region.points[1][0], region.points[1][1]);
        ctx.rect(a[0], b[1], b[0] - a[0], a[1] - b[1]);
      } else {
        region.points.forEach(function (q, k) { const p = toPx(q[0], q[1]); if (k) ctx.lineTo(p[0], p[1]); else ctx.moveTo(p[0], p[1]); });
        ctx.closePath();
      }
      ctx.fillStyle = "rgba(76, 120, 168, 0.08)";
      ctx.fill();
      ctx.setLineDash([5, 3]);
      ctx.strokeStyle = "#4c78a8";
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.setLineDash([]);
    }
    S.ringed = [];
    for (const index of S.config.neighbours || []) {  // the chosen point's nearest, by μ in every dim
      if (index < 0 || index >= S.n) continue;
      const p = toPx(S.xy[2 * index], S.xy[2 * index + 1]);
      ctx.beginPath(); ctx.arc(p[0], p[1], 5, 0, 2 * Math.PI);
      ctx.strokeStyle = "#d62728"; ctx.lineWidth = 1.25; ctx.stroke();
      S.ringed.push(index);
    }
    for (const [index, style] of [[S.config.selected, "#d62728"], [S.hover, T.hover]]) {
      if (index === null || index === undefined || index < 0 || index >= S.n) continue;
      const p = toPx(S.xy[2 * index], S.xy[2 * index + 1]);
      ctx.beginPath(); ctx.arc(p[0], p[1], 7, 0, 2 * Math.PI);
      ctx.strokeStyle = style; ctx.lineWidth = 2; ctx.stroke();
    }
  }

  function draw() {
    if (!S.xy || !S.colour || !S.order || !S.view) return;
    const started = performance.now();
    S.pixels.fill(packed(T.background));
    S.inView = 0;
    if (S.omask) { rasterise(1); rasterise(2); } else { rasterise(0); }
    S.lastInView = S.inView;
    ctx.putImageData(S.image, 0, 0);
    ctx.save();
    ctx.scale(S.ratio, S.ratio);
    stats.imagesDrawn = 0;
    const zoom = S.view.scale / S.home.scale;
    if (S.showImages && S.atlas && S.config.atlas && S.inView <= IMAGE_LIMIT && zoom >= IMAGE_MIN_ZOOM) drawImages();
    drawAxes();
    drawOverlays();
    ctx.restore();
    const now = performance.now();
    stats.frames++;
    stats.lastDrawMs = now - started;
    stats.drawMsTotal += stats.lastDrawMs;
    stats.frameTimes.push(now);
    if (stats.frameTimes.length > 1200) stats.frameTimes.splice(0, 600);
    if (stats.firstDrawAt === null) stats.firstDrawAt = now;
    message.style.display = "none";
  }

  // --- legend, status, tooltip --------------------------------------------------------------------
  function fmt(value) {
    if (value === null || value === undefined || !isFinite(value)) return "–";
    const a = Math.abs(value);
    return a !== 0 && (a < 0.01 || a >= 1e5) ? value.toExponential(2) : value.toPrecision(3).replace(/\.?0+$/, "");
  }

  function buildLegend() {
    const legend = S.config.legend;
    legendBox.innerHTML = "";
    const title = document.createElement("div");
    title.className = "title";
    title.textContent = legend.title;
    legendBox.appendChild(title);
    if (legend.kind === "categorical") {
      legend.names.forEach(function (name, k) {
        const item = document.createElement("div");
        item.className = "item" + (S.hidden[k] ? " off" : "");
        item.dataset.code = k;
        item.innerHTML = '<span class="swatch"></span><span class="name"></span><span class="count"></span>';
        item.querySelector(".swatch").style.background = legend.palette[k];
        item.querySelector(".name").textContent = name;
        item.querySelector(".count").textContent = (legend.counts[k] || 0).toLocaleString("en-US");
        item.title = "Click to hide or show";
        item.addEventListener("click", function () {
          S.hidden[k] = S.hidden[k] ? 0 : 1;
          item.classList.toggle("off", !!S.hidden[k]);
          shownPalettes();
          requestDraw();
        });
        legendBox.appendChild(item);
      });
    } else {
      const bar = document.createElement("canvas");
      bar.width = 256; bar.height = 1;
      const g = bar.getContext("2d");
      legend.palette.forEach(function (hex, k) { g.fillStyle = hex; g.fillRect(k, 0, 1, 1); });
      legendBox.appendChild(bar);
      const ends = document.createElement("div");
      ends.className = "ends";
      ends.innerHTML = "<span></span><span></span>";
      ends.children[0].textContent = "≤ " + fmt(legend.low);
      ends.children[1].textContent = "≥ " + fmt(legend.high) + (legend.log ? " (log)" : "");
      legendBox.appendChild(ends);
    }
  }

  function updateStatus() {
    let text = S.n.toLocaleString("en-US") + " points";
    if (S.region) text += " · " + S.selCount.toLocaleString("en-US") + " selected";
    statusText.textContent = text;
  }

  function showTip(index, px, py) {
    if (index < 0) { tip.style.display = "none"; return; }
    const c = S.config, html = [];
    const label = S.labels ? S.labels[index] : 255;
    const name = label < c.class_names.length ? c.class_names[label] : "unlabelled";
    if (c.kind === "mnist") {
      if (S.atlas || S.recon) {
        html.push('<div class="images"><figure><canvas id="tip-image" width="28" height="28"></canvas>image</figure>'
                  + '<figure><canvas id="tip-recon" width="28" height="28"></canvas>reconstruction</figure></div>');
      }
      html.push('<div class="head">test #' + index + " · digit " + name + "</div>");
      html.push("<div>−log p(x|μ) " + fmt(S.error[index]) + " nats · KL " + fmt(S.kl[index]) + " nats</div>");
    } else {
      const row = S.rows ? S.rows[index] : index, score = S.error[index];
      const flagged = c.threshold !== null && score >= c.threshold;
      let outcome = flagged ? "flagged" : "not flagged";
      if (label <= 1) outcome += " (" + (flagged ? (label ? "TP" : "FP") : (label ? "FN" : "TN")) + ")";
      html.push('<div class="head">row ' + row + " · " + name + "</div>");
      html.push("<div>score " + fmt(score) + " · " + outcome + " at " + fmt(c.threshold) + "</div>");
      if (S.worst) {
        const parts = [];
        for (let k = 0; k < 3; k++) {
          const feature = c.feature_names[S.worst[6 * index + k]];
          if (feature !== undefined) parts.push(feature + " " + S.worst[6 * index + 3 + k] + "%");
        }
        html.push("<div>largest errors: " + parts.join(", ") + " of the score</div>");
      }
      html.push("<div>KL " + fmt(S.kl[index]) + " nats</div>");
    }
    tip.innerHTML = html.join("");
    const layout = c.atlas;
    for (const [id, sheet] of [["tip-image", S.atlas], ["tip-recon", S.recon]]) {
      const target = document.getElementById(id);
      if (!target || !sheet || !layout) continue;
      const g = target.getContext("2d");
      g.drawImage(sheet, (index % layout.columns) * layout.tile, Math.floor(index / layout.columns) * layout.tile,
                  layout.tile, layout.tile, 0, 0, 28, 28);
    }
    tip.style.display = "block";
    const w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = (px + 14 + w > S.width ? Math.max(0, px - 14 - w) : px + 14) + "px";
    tip.style.top = (py + 14 + h > S.height ? Math.max(0, py - 14 - h) : py + 14) + "px";
  }

  // --- pointer ------------------------------------------------------------------------------------
  function local(event) {
    const r = canvas.getBoundingClientRect();
    return [event.clientX - r.left, event.clientY - r.top];
  }

  function setMode(mode) {
    S.mode = mode;
    for (const m of ["pan", "box", "lasso"]) $("tool-" + m).classList.toggle("on", m === mode);
    canvas.classList.toggle("select", mode !== "pan");
  }

  // The region a drag drew, in map coordinates (rounded when `final`: what Python and a link hold).
  function dragRegion(drag, final) {
    const r = final ? round5 : function (v) { return v; };
    if (drag.mode === "box") {
      const a = toData(Math.min(drag.x0, drag.x), Math.max(drag.y0, drag.y));
      const b = toData(Math.max(drag.x0, drag.x), Math.min(drag.y0, drag.y));
      return { kind: "box", points: [[r(a[0]), r(a[1])], [r(b[0]), r(b[1])]] };
    }
    let path = drag.path;
    if (final && path.length > LASSO_MAX) {
      const step = path.length / LASSO_MAX;
      path = Array.from({ length: LASSO_MAX }, function (_, k) { return path[Math.floor(k * step)]; });
    }
    return { kind: "lasso", points: path.map(function (p) { const d = toData(p[0], p[1]); return [r(d[0]), r(d[1])]; }) };
  }

  function lassoArea(path) {
    let area = 0;
    for (let a = 0, b = path.length - 1; a < path.length; b = a++) area += (path[b][0] + path[a][0]) * (path[b][1] - path[a][1]);
    return Math.abs(area / 2);
  }

  canvas.addEventListener("pointerdown", function (e) {
    if (e.button !== 0 || !S.view) return;
    try { canvas.setPointerCapture(e.pointerId); } catch (error) { /* a synthetic pointer (tests) has none */ }
    const p = local(e);
    S.drag = { mode: S.mode, x0: p[0], y0: p[1], x: p[0], y: p[1], path: [p], moved: false, view: Object.assign({}, S.view) };
    if (S.mode === "pan") canvas.classList.add("dragging");
    showTip(-1);
  });

  canvas.addEventListener("pointermove", function (e) {
    if (!S.view) return;
    const p = local(e), drag = S.drag;
    if (!drag) {
      const index = nearest(p[0], p[1], HOVER_PX);
      if (index !== S.hover) { S.hover = index; requestDraw(); }
      showTip(index, p[0], p[1]);
      return;
    }
    drag.x = p[0]; drag.y = p[1];
    if (Math.hypot(p[0] - drag.x0, p[1] - drag.y0) >= MOVE_PX) drag.moved = true;
    if (drag.mode === "pan") {
      S.view.cx = drag.view.cx - (p[0] - drag.x0) / S.view.scale;
      S.view.cy = drag.view.cy + (p[1] - drag.y0) / S.view.scale;
    } else if (drag.mode === "lasso") {
      const last = drag.path[drag.path.length - 1];
      if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= 3) drag.path.push(p);
    }
    requestDraw();
  });

  function finishDrag(e) {
    const drag = S.drag;
    if (!drag) return;
    S.drag = null;
    canvas.classList.remove("dragging");
    if (canvas.hasPointerCapture(e.pointerId)) canvas.releasePointerCapture(e.pointerId);
    if (e.type === "pointercancel") { requestDraw(); return; }
    if (!drag.moved) {
      const index = nearest(drag.x0, drag.y0, HOVER_PX);
      if (index >= 0) emit({ event: "click", index: index });
    } else if (drag.mode === "box" && Math.abs(drag.x - drag.x0) >= 3 && Math.abs(drag.y - drag.y0) >= 3) {
      const region = dragRegion(drag, true);
      setRegion(region);
      emit({ event: "select", region: region });
    } else if (drag.mode === "lasso" && drag.path.length >= 3 && lassoArea(drag.path) >= 9) {
      const region = dragRegion(drag, true);
      setRegion(region);
      emit({ event: "select", region: region });
    }
    requestDraw();
  }
  canvas.addEventListener("pointerup", finishDrag);
  canvas.addEventListener("pointercancel", finishDrag);
  canvas.addEventListener("pointerleave", function () {
    if (S.drag) return;
    if (S.hover !== -1) { S.hover = -1; requestDraw(); }
    showTip(-1);
  });
  canvas.addEventListener("wheel", function (e) {
    if (!S.view) return;
    e.preventDefault();
    const p = local(e), delta = Math.max(-300, Math.min(300, e.deltaY * (e.deltaMode === 1 ? 40 : 1)));
    zoomAt(p[0], p[1], Math.exp(-delta * 0.002));
    showTip(-1);
  }, { passive: false });

  for (const m of ["pan", "box", "lasso"]) $("tool-" + m).addEventListener("click", function () { setMode(m); });
  $("clear").addEventListener("click", function () { setRegion(null); emit({ event: "select", region: null }); requestDraw(); });
  $("reset").addEventListener("click", function () { if (S.home) { S.view = Object.assign({}, S.home); requestDraw(); } });
  $("show-prior").addEventListener("change", function (e) { S.showPrior = e.target.checked; requestDraw(); });
  $("show-density").addEventListener("change", function (e) { S.showDensity = e.target.checked; requestDraw(); });
  $("show-images").addEventListener("change", function (e) { S.showImages = e.target.checked; requestDraw(); });
  window.addEventListener("resize", function () { if (S.config) { resize(); requestDraw(); } });

  // --- arguments from Python ----------------------------------------------------------------------
  // Ask Python for the blobs this frame lacks; ask again if they have not come after a while (a value
  // sent while the app is still busy with a page run can be dropped).
  function ask(names, attempt) {
    stats.needs++;
    emit({ event: "need", names: names });
    if (attempt < 6) S.askAgain = setTimeout(function () { ask(names, attempt + 1); }, 800 * (attempt + 1));
  }

  function onRender(args, theme) {
    stats.renders++;
    if (applyTheme(theme)) S.legendKey = null;  // the faded colours follow the background
    if (stats.firstRenderAt === null) stats.firstRenderAt = performance.now();
    const ids = args.ids || {}, changed = {}, missing = [];
    for (const name in ids) {
      const incoming = args["blob_" + name];
      if (incoming) {
        if (!blobs[name] || blobs[name].id !== ids[name]) { blobs[name] = { id: ids[name], bytes: aligned(incoming) }; changed[name] = true; }
      } else if (!blobs[name] || blobs[name].id !== ids[name]) {
        missing.push(name);
      }
    }
    for (const name in blobs) if (!(name in ids)) { delete blobs[name]; changed[name] = true; }
    S.config = args;
    clearTimeout(S.askAgain);
    if (missing.length) {  // a fresh frame, or data that never arrived: ask for it
      message.style.display = "flex";
      ask(missing, 0);
      return;
    }
    S.n = args.n;
    if (changed.xy) S.xy = view("xy", Float32Array);
    if (changed.colour) S.colour = view("colour", Uint8Array);
    if (changed.labels) S.labels = view("labels", Uint8Array);
    if (changed.error) S.error = view("error", Float32Array);
    if (changed.kl) S.kl = view("kl", Float32Array);
    if (changed.rows) S.rows = view("rows", Int32Array);
    if (changed.worst) S.worst = view("worst", Uint8Array);
    if (changed.contours) S.contours = view("contours", Float32Array);
    if (changed.filter) S.filter = blobs.filter ? view("filter", Uint8Array) : null;
    if (changed.atlas) { if (blobs.atlas) loadImage("atlas", blobs.atlas.bytes); else S.atlas = null; }
    if (changed.recon) { if (blobs.recon) loadImage("recon", blobs.recon.bytes); else S.recon = null; }
    if (!S.xy || !S.colour) return;

    const legendKey = JSON.stringify(args.legend);
    if (legendKey !== S.legendKey) {
      const legend = args.legend, sameNames = S.legendKey && JSON.stringify(JSON.parse(S.legendKey).names) === JSON.stringify(legend.names);
      if (!sameNames) S.hidden.fill(0);
      S.legendKey = legendKey;
      S.palette.fill(packed("#9e9e9e")); S.faded.fill(packed("#9e9e9e", 0.8));
      S.css = new Array(256).fill("#9e9e9e");
      legend.palette.forEach(function (hex, k) { S.palette[k] = packed(hex); S.faded[k] = packed(hex, 0.8); S.css[k] = hex; });
      shownPalettes();
      buildLegend();
    }
    if (changed.colour || changed.xy || !S.order || S.order.length !== S.n || S.orderKind !== args.legend.kind) {
      buildOrder();
      S.orderKind = args.legend.kind;
    }
    resize();
    if (args.view_id !== S.viewId || !S.view) {
      S.viewId = args.view_id;
      fitHome();
      S.view = Object.assign({}, S.home);
    }
    if (changed.xy) buildGrid();
    const regionKey = JSON.stringify(args.selection || null);
    if (changed.xy || regionKey !== S.regionKey) setRegion(args.selection || null);
    else if (changed.filter) orderMask();
    updateStatus();
    if (stats.dataReadyAt === null) stats.dataReadyAt = performance.now();
    requestDraw();
    sizeFrame();
  }

  // --- the test and benchmark hooks ---------------------------------------------------------------
  window.__latentMap = {
    stats: stats,
    ready: function () { return stats.frames > 0 && !!S.xy && !S.scheduled && !S.drag; },
    count: function () { return S.n; },
    selectionCount: function () { return S.selCount; },
    ringed: function () { return S.ringed || []; },  // the neighbours ringed in the last frame
    // Points drawn in full colour (the selection and the filter agree), or every point when neither applies.
    highlighted: function () { if (!S.hmask) return S.n; let c = 0; for (let i = 0; i < S.n; i++) c += S.hmask[i]; return c; },
    region: function () { return S.region; },
    legend: function () { return S.config && S.config.legend; },
    colours: function () { return { background: T.background, text: T.text, tick: T.tick }; },
    inView: function () { return S.inView; },
    atlasReady: function () { return !!S.atlas && !!S.recon; },
    // Where point i is, in the frame's CSS pixels (null when off the canvas).
    pixelOf: function (i) {
      const p = toPx(S.xy[2 * i], S.xy[2 * i + 1]), r = canvas.getBoundingClientRect();
      return p[0] < 0 || p[1] < 0 || p[0] > S.width || p[1] > S.height ? null : { x: r.left + p[0], y: r.top + p[1] };
    },
    // A shown point at least `gap` CSS pixels from every other, away from the edges (for hover tests).
    isolated: function (gap) {
      for (let i = 0; i < S.n; i++) {
        const p = toPx(S.xy[2 * i], S.xy[2 * i + 1]);
        if (p[0] < 40 || p[1] < 40 || p[0] > S.width - 160 || p[1] > S.height - 120) continue;
        let alone = true;
        for (let j = 0; j < S.n && alone; j++) {
          if (j === i) continue;
          const q = toPx(S.xy[2 * j], S.xy[2 * j + 1]);
          if (Math.hypot(p[0] - q[0], p[1] - q[1]) < gap) alone = false;
        }
        if (alone) return i;
      }
      return -1;
    },
    canvasRect: function () { const r = canvas.getBoundingClientRect(); return { x: r.left, y: r.top, width: r.width, height: r.height }; },
    tipText: function () { return tip.style.display === "block" ? tip.innerText : ""; },
    // Sum of the grey levels painted in the tooltip's image and reconstruction (0: no image there).
    tipInk: function () {
      return ["tip-image", "tip-recon"].map(function (id) {
        const c = document.getElementById(id);
        if (!c) return 0;
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let sum = 0;
        for (let k = 0; k < d.length; k += 4) sum += d[k];
        return sum;
      });
    },
    // A digest of the canvas pixels (tells whether the picture changed).
    pixelHash: function () {
      const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      let h = 2166136261;
      for (let k = 0; k < d.length; k += 16) { h ^= d[k] | (d[k + 1] << 8) | (d[k + 2] << 16); h = Math.imul(h, 16777619); }
      return h >>> 0;
    },
    zoom: function (factor) { zoomAt(S.width / 2, S.height / 2, factor); },
    home: function () { S.view = Object.assign({}, S.home); requestDraw(); },
  };

  window.addEventListener("message", function (event) {
    if (event.data && event.data.type === "streamlit:render") onRender(event.data.args || {}, event.data.theme);
  });
  Streamlit.ready();
})();
