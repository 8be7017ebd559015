// Latent scrub: drag over the 2-D latent plane (or along the sliders) and the decoded image is
// redrawn every animation frame, in the browser. Dense decoders run their forward pass here from
// exported weights (vae_core/export.py: float32 weights, float64 arithmetic, ReLU hidden layers,
// sigmoid output); other decoders look up the nearest cell of a precomputed grid. The chosen z
// goes back to Python only on release.
"use strict";

(function () {
  // --- Streamlit's component protocol over postMessage (what streamlit-component-lib does) ------
  // Component → Streamlit: componentReady (once), setComponentValue, setFrameHeight; every message
  // carries isStreamlitMessage: true. Streamlit → component: "streamlit:render" with args.
  function send(type, data) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data), "*");
  }
  const Streamlit = {
    ready: function () { send("streamlit:componentReady", { apiVersion: 1 }); },
    setValue: function (value) { send("streamlit:setComponentValue", { value: value, dataType: "json" }); },
    setHeight: function (height) { send("streamlit:setFrameHeight", { height: height }); },
  };

  const $ = function (id) { return document.getElementById(id); };
  const plane = $("plane"), digit = $("digit");
  const small = document.createElement("canvas"); // the image at its own resolution (28×28)

  const state = {
    decoder: null, decoderId: null, fetched: null, fetchingId: null, pendingRender: null,
    z: new Float64Array(2), label: null,
    dims: [0, 1], extent: 4,
    argsZ: null, argsLabel: undefined, densityId: null, densityCanvas: null,
    dragging: false, disabled: false, pending: false, height: 0, maxSliders: 16,
  };
  // Identifies this iframe's releases: with `seq`, Python can tell a new release from a stale value.
  const instance = Math.random().toString(36).slice(2, 10);
  // Read by the browser test and the benchmark; costs nothing.
  const stats = { renders: 0, frames: 0, sent: 0, weightFetches: 0, lastDecodeMs: 0, decodeMsTotal: 0, dragFrameTimes: [], mode: null };
  window.__scrubStats = stats;

  // --- decoders ---------------------------------------------------------------------------------
  function bytes(text) {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }
  // Little-endian float32, as exported (every browser platform is little-endian).
  function floats(text) {
    const b = bytes(text);
    return new Float32Array(b.buffer, 0, b.length / 4);
  }

  function prepareDense(spec) {
    const layers = spec.layers.map(function (l) {
      return { inputs: l.inputs, units: l.units, activation: l.activation,
               W: floats(l.kernel), b: floats(l.bias), out: new Float64Array(l.units) };
    });
    const size = spec.output_shape.reduce(function (a, b) { return a * b; }, 1);
    return { kind: "dense", latentDim: spec.latent_dim, numClasses: spec.num_classes, layers: layers,
             sigmoid: spec.output === "sigmoid", shape: spec.output_shape,
             input: new Float64Array(spec.latent_dim + spec.num_classes), pixels: new Float64Array(size) };
  }

  // concat(z, one-hot label) → ReLU or SiLU dense layers → linear layer → sigmoid: (h·w) pixel probabilities.
  function forward(dec, z, label) {
    const x = dec.input;
    x.fill(0);
    for (let i = 0; i < dec.latentDim; i++) x[i] = z[i];
    if (dec.numClasses && label !== null && label >= 0 && label < dec.numClasses) x[dec.latentDim + label] = 1;
    let h = x;
    for (let k = 0; k < dec.layers.length; k++) {
      const L = dec.layers[k], out = L.out, W = L.W, n = L.units;
      for (let j = 0; j < n; j++) out[j] = L.b[j];
      for (let i = 0; i < L.inputs; i++) {
        const v = h[i];
        if (v === 0) continue; // zeros (ReLU's many) contribute exactly nothing: skip their row
        const row = i * n;
        for (let j = 0; j < n; j++) out[j] += v * W[row + j];
      }
      if (L.activation === "relu") for (let j = 0; j < n; j++) { if (out[j] < 0) out[j] = 0; }
      else if (L.activation === "silu") for (let j = 0; j < n; j++) out[j] = out[j] / (1 + Math.exp(-out[j]));
      h = out;
    }
    if (!dec.sigmoid) return h;
    const p = dec.pixels;
    for (let j = 0; j < h.length; j++) p[j] = 1 / (1 + Math.exp(-h[j]));
    return p;
  }

  function prepareGrid(spec) {
    const size = spec.output_shape[0] * spec.output_shape[1];
    return { kind: "grid", n: spec.n, extent: spec.extent, dims: spec.dims, latentDim: spec.latent_dim,
             numClasses: spec.num_classes, shape: spec.output_shape, images: bytes(spec.images),
             size: size, pixels: new Float64Array(size) };
  }

  // Nearest cell, clamped to the grid (vae_core.export.grid_lookup is the same rule).
  function lookup(dec, z) {
    const n = dec.n, e = dec.extent;
    const index = function (v) { return Math.min(n - 1, Math.max(0, Math.round((v + e) / (2 * e) * (n - 1)))); };
    const column = index(z[dec.dims[0]]), row = n - 1 - index(z[dec.dims[1]]);
    const start = (row * n + column) * dec.size, p = dec.pixels;
    for (let j = 0; j < dec.size; j++) p[j] = dec.images[start + j] / 255;
    return p;
  }

  function decode(z, label) {
    return state.decoder.kind === "dense" ? forward(state.decoder, z, label) : lookup(state.decoder, z);
  }

  // --- drawing ----------------------------------------------------------------------------------
  function paintDigit(pixels) {
    const h = state.decoder.shape[0], w = state.decoder.shape.length > 1 ? state.decoder.shape[1] : 1;
    if (small.width !== w || small.height !== h) { small.width = w; small.height = h; }
    const ctx = small.getContext("2d");
    const image = ctx.createImageData(w, h);
    for (let j = 0; j < w * h; j++) {
      const g = Math.round(Math.min(1, Math.max(0, pixels[j])) * 255);
      image.data[4 * j] = g; image.data[4 * j + 1] = g; image.data[4 * j + 2] = g; image.data[4 * j + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    const out = digit.getContext("2d");
    out.imageSmoothingEnabled = false;
    out.drawImage(small, 0, 0, digit.width, digit.height);
  }

  function toPlane(v, size, flip) {
    const f = (v + state.extent) / (2 * state.extent);
    return (flip ? 1 - f : f) * size;
  }

  function paintPlane() {
    const ctx = plane.getContext("2d"), W = plane.width, H = plane.height;
    ctx.fillStyle = getComputedStyle(document.documentElement).getPropertyValue("--bg") || "#fff";
    ctx.fillRect(0, 0, W, H);
    if (state.densityCanvas) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(state.densityCanvas, 0, 0, W, H);
    }
    ctx.strokeStyle = "rgba(128,132,149,0.25)";
    ctx.lineWidth = 1;
    for (let v = Math.ceil(-state.extent); v <= state.extent; v++) {
      const x = Math.round(toPlane(v, W, false)) + 0.5, y = Math.round(toPlane(v, H, true)) + 0.5;
      ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, H); ctx.moveTo(0, y); ctx.lineTo(W, y); ctx.stroke();
    }
    ctx.strokeStyle = "rgba(128,132,149,0.7)";
    const x0 = Math.round(toPlane(0, W, false)) + 0.5, y0 = Math.round(toPlane(0, H, true)) + 0.5;
    ctx.beginPath(); ctx.moveTo(x0, 0); ctx.lineTo(x0, H); ctx.moveTo(0, y0); ctx.lineTo(W, y0); ctx.stroke();
    const a = state.dims[0], b = state.dims[1];
    const px = toPlane(state.z[a], W, false), py = toPlane(state.z[b], H, true);
    ctx.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue("--accent") || "#4c78a8";
    ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(px, py, 7, 0, 2 * Math.PI); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(px - 11, py); ctx.lineTo(px + 11, py); ctx.moveTo(px, py - 11); ctx.lineTo(px, py + 11);
    ctx.stroke();
  }

  function drawFrame() {
    state.pending = false;
    if (!state.decoder) return;
    const t0 = performance.now();
    const pixels = decode(state.z, state.label);
    paintDigit(pixels);
    paintPlane();
    const t1 = performance.now();
    stats.frames++;
    stats.lastDecodeMs = t1 - t0;
    stats.decodeMsTotal += t1 - t0;
    if (state.dragging && stats.dragFrameTimes.length < 100000) stats.dragFrameTimes.push(t1);
    updateStatus();
  }

  function scheduleDraw() {
    if (state.pending) return;
    state.pending = true;
    window.requestAnimationFrame(drawFrame);
  }

  function updateStatus() {
    const shown = Array.prototype.slice.call(state.z, 0, 8).map(function (v) { return v.toFixed(2); });
    const more = state.z.length > 8 ? ", …" : "";
    const label = state.decoder && state.decoder.numClasses ? " · digit " + (state.label === null ? "none" : state.label) : "";
    $("status").textContent = "z = (" + shown.join(", ") + more + ")" + label;
  }

  // --- controls ---------------------------------------------------------------------------------
  function clampZ(v) { return Math.min(state.extent, Math.max(-state.extent, v)); }

  function report(source) {
    if (state.disabled) return;
    stats.sent++;
    const z = Array.prototype.map.call(state.z, function (v) { return Math.round(v * 1e4) / 1e4; });
    Streamlit.setValue({ z: z, label: state.label, source: source, seq: stats.sent, instance: instance });
  }

  function moveTo(event) {
    const rect = plane.getBoundingClientRect();
    const fx = (event.clientX - rect.left) / rect.width, fy = (event.clientY - rect.top) / rect.height;
    state.z[state.dims[0]] = clampZ(-state.extent + fx * 2 * state.extent);
    state.z[state.dims[1]] = clampZ(state.extent - fy * 2 * state.extent);
    syncSliders();
    scheduleDraw();
  }

  plane.addEventListener("pointerdown", function (event) {
    if (state.disabled || !state.decoder) return;
    try { plane.setPointerCapture(event.pointerId); } catch (err) { /* synthetic pointers */ }
    state.dragging = true;
    moveTo(event);
    event.preventDefault();
  });
  plane.addEventListener("pointermove", function (event) { if (state.dragging) moveTo(event); });
  function release(event) {
    if (!state.dragging) return;
    state.dragging = false;
    moveTo(event);
    report("plane");
  }
  plane.addEventListener("pointerup", release);
  plane.addEventListener("pointercancel", release);
  plane.tabIndex = 0;
  plane.addEventListener("keydown", function (event) {
    const step = event.shiftKey ? 0.5 : 0.1, a = state.dims[0], b = state.dims[1];
    const moves = { ArrowLeft: [a, -step], ArrowRight: [a, step], ArrowDown: [b, -step], ArrowUp: [b, step] };
    const move = moves[event.key];
    if (!move || state.disabled) return;
    state.z[move[0]] = clampZ(state.z[move[0]] + move[1]);
    syncSliders();
    scheduleDraw();
    report("keyboard");
    event.preventDefault();
  });

  function buildSliders(latentDim) {
    const box = $("sliders");
    box.innerHTML = "";
    const shown = Math.min(latentDim, state.maxSliders);
    for (let i = 0; i < shown; i++) {
      const row = document.createElement("div");
      row.className = "slider";
      row.innerHTML = '<label for="z' + i + '">z' + i + '</label><input type="range" id="z' + i +
        '" step="0.01"><output></output>';
      const input = row.querySelector("input");
      input.addEventListener("input", function () {
        state.z[i] = clampZ(parseFloat(input.value));
        row.querySelector("output").textContent = state.z[i].toFixed(2);
        scheduleDraw();
      });
      input.addEventListener("change", function () { report("slider"); });
      box.appendChild(row);
    }
  }

  function syncSliders() {
    const rows = $("sliders").children;
    for (let i = 0; i < rows.length; i++) {
      const input = rows[i].querySelector("input");
      input.min = -state.extent; input.max = state.extent;
      input.value = state.z[i];
      input.disabled = state.disabled;
      rows[i].querySelector("output").textContent = state.z[i].toFixed(2);
      // A grid only covers its two dims: the others change the image after the round trip.
      const deferred = state.decoder && state.decoder.kind === "grid" && i !== state.dims[0] && i !== state.dims[1];
      rows[i].classList.toggle("deferred", !!deferred);
      rows[i].title = deferred ? "updates on release (precomputed grid)" : "";
    }
  }

  function buildLabels(numClasses) {
    const box = $("labels");
    box.innerHTML = "";
    for (let k = 0; k < numClasses; k++) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = String(k);
      button.addEventListener("click", function () {
        if (state.disabled) return;
        state.label = k;
        syncLabels();
        scheduleDraw();
        report("label");
      });
      box.appendChild(button);
    }
  }

  function syncLabels() {
    const buttons = $("labels").children;
    for (let k = 0; k < buttons.length; k++) {
      buttons[k].classList.toggle("on", state.label === k);
      buttons[k].disabled = state.disabled;
    }
  }

  // Test-set density behind the plane: counts (bins × bins, rows = increasing z[dims[1]]).
  function buildDensity(density) {
    if (!density || !density.counts || !density.counts.length) { state.densityCanvas = null; return; }
    const counts = density.counts, rows = counts.length, cols = counts[0].length;
    let peak = 0;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) peak = Math.max(peak, counts[r][c]);
    const canvas = document.createElement("canvas");
    canvas.width = cols; canvas.height = rows;
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(cols, rows);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const alpha = peak ? Math.sqrt(counts[r][c] / peak) : 0, j = 4 * ((rows - 1 - r) * cols + c);
        image.data[j] = 76; image.data[j + 1] = 120; image.data[j + 2] = 168; image.data[j + 3] = Math.round(alpha * 150);
      }
    }
    ctx.putImageData(image, 0, 0);
    state.densityCanvas = canvas;
  }

  // --- Streamlit → component ------------------------------------------------------------------
  function applyTheme(theme) {
    if (!theme) return;
    const root = document.documentElement.style;
    if (theme.primaryColor) root.setProperty("--accent", theme.primaryColor);
    if (theme.backgroundColor) root.setProperty("--bg", theme.backgroundColor);
    if (theme.textColor) root.setProperty("--fg", theme.textColor);
  }

  // A dense decoder given by `url` (its weights published once by Python) is fetched once per id;
  // the render waits for it, and the latest args are drawn when it arrives.
  function fetchDecoder(spec, pending) {
    state.pendingRender = pending;
    if (state.fetchingId === spec.id) return;
    state.fetchingId = spec.id;
    stats.weightFetches++;
    fetch(spec.url)
      .then(function (response) {
        if (!response.ok) throw new Error("the decoder's weights did not load (HTTP " + response.status + ")");
        return response.json();
      })
      .then(function (full) {
        if (full.id !== spec.id) throw new Error("the decoder's weights do not match the model");
        state.fetched = full;
        if (state.fetchingId === spec.id) state.fetchingId = null;
        const latest = state.pendingRender;
        if (latest && latest[0].decoder && latest[0].decoder.id === full.id) onRender.apply(null, latest);
      })
      .catch(function (err) {
        if (state.fetchingId === spec.id) state.fetchingId = null;
        showError(err);
      });
  }

  function onRender(args, disabled, theme) {
    applyTheme(theme);
    state.disabled = disabled;
    let spec = args.decoder;
    if (!spec) throw new Error("no decoder was given");
    if (spec.id !== state.decoderId && spec.url && !spec.layers) {
      if (!state.fetched || state.fetched.id !== spec.id) { fetchDecoder(spec, [args, disabled, theme]); return; }
      spec = state.fetched;
    }
    if (spec.id !== state.decoderId) {
      const before = state.decoder;
      state.decoder = spec.format === "dense-v1" ? prepareDense(spec) : prepareGrid(spec);
      state.decoderId = spec.id;
      stats.mode = state.decoder.kind;
      if (!before || before.latentDim !== state.decoder.latentDim) {
        state.z = new Float64Array(state.decoder.latentDim);
        state.argsZ = null;
        buildSliders(state.decoder.latentDim);
      }
      if (!before || before.numClasses !== state.decoder.numClasses) {
        buildLabels(state.decoder.numClasses);
        state.argsLabel = undefined;
      }
    }
    state.extent = args.extent || 4;
    state.dims = args.dims || [0, 1];
    const size = args.size || 240;
    for (const canvas of [plane, digit]) {
      if (canvas.width !== size) { canvas.width = size; canvas.height = size; }
    }
    // Python's z wins only when Python changed it (never in the middle of a drag).
    const zKey = JSON.stringify(args.z || null);
    if (zKey !== state.argsZ && !state.dragging) {
      state.argsZ = zKey;
      if (Array.isArray(args.z)) {
        for (let i = 0; i < state.z.length; i++) state.z[i] = clampZ(+args.z[i] || 0);
      }
    }
    const label = args.label === undefined ? null : args.label;
    if (label !== state.argsLabel) {
      state.argsLabel = label;
      state.label = label;
    }
    const densityId = args.density ? args.density.id || JSON.stringify(args.density.counts).length : null;
    if (densityId !== state.densityId) { state.densityId = densityId; buildDensity(args.density); }
    $("plane-caption").textContent = args.plane_caption ||
      ("drag: z" + state.dims[0] + " →, z" + state.dims[1] + " ↑");
    $("digit-caption").textContent = args.image_caption ||
      (state.decoder.kind === "dense" ? "decoded in the browser" : "nearest cell of a precomputed grid");
    $("labels").style.display = state.decoder.numClasses && args.label_picker !== false ? "flex" : "none";
    syncSliders();
    syncLabels();
    scheduleDraw();
    fitHeight();
  }

  function fitHeight() {
    const height = Math.ceil(document.documentElement.getBoundingClientRect().height) + 4;
    if (height !== state.height) { state.height = height; Streamlit.setHeight(height); }
  }

  function showError(err) {
    const box = $("error");
    box.style.display = "block";
    box.textContent = "The latent scrub could not draw: " + (err && err.message ? err.message : err);
    fitHeight();
  }

  window.addEventListener("message", function (event) {
    const data = event.data;
    if (!data || data.type !== "streamlit:render") return;
    stats.renders++;
    try {
      onRender(data.args || {}, !!data.disabled, data.theme);
    } catch (err) {
      showError(err);
    }
  });
  if (window.ResizeObserver) new ResizeObserver(fitHeight).observe(document.body);

  // Checks for the browser test: the decoder's raw output for a z, and a hash of what is shown.
  window.__scrubDecode = function (z, label) {
    return Array.from(decode(Float64Array.from(z), label === undefined ? null : label));
  };
  window.__scrubImageHash = function () {
    const data = digit.getContext("2d").getImageData(0, 0, digit.width, digit.height).data;
    let hash = 2166136261;
    for (let i = 0; i < data.length; i += 4) hash = Math.imul(hash ^ data[i], 16777619) >>> 0;
    return hash;
  };

  Streamlit.ready();
})();
