// Threshold explorer: drag the threshold over the score histogram (or step it with the arrow keys)
// and every number, the confusion matrix and the charts follow in the same animation frame, in the
// browser. The counts at each threshold stop come from Python (vae_core.tables.fraud_analysis.stop_table);
// the metrics are derived here with ThresholdSweep's arithmetic and printed with Python's rounding,
// so the page shows the same digits after the release as during the drag. The chosen threshold goes
// back to Python only on release.
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
  const COLOURS = { TP: "#2ca02c", FP: "#ff7f0e", FN: "#d62728", TN: "#9e9e9e" };
  const BASELINE_COLOURS = ["#54a24b", "#b279a2", "#f58518", "#72b7b2", "#9d755d"];
  const instance = Math.random().toString(36).slice(2, 10); // tells this iframe's releases apart
  const state = {
    args: null, data: null, dataId: null, currentKey: null, k: null, dragging: false, disabled: false,
    pending: false, height: 0, width: 0, keyTimer: null, lastInput: null, charts: null, style: null,
  };
  // Read by the browser test and the benchmark.
  const stats = { renders: 0, frames: 0, sent: 0, lastSent: null, inputs: 0, frameLog: [] };
  window.__thresholdStats = stats;

  // --- numbers as Python prints them ----------------------------------------------------------------
  // toFixed(100) gives the exact decimal expansion of a double below 1e21; rounding it half to even
  // reproduces Python's f"{x:.Nf}" digit for digit (JS's own toFixed rounds exact ties up).
  function fixed(x, digits) {
    if (!isFinite(x)) return String(x);
    const negative = x < 0;
    const exact = Math.abs(x).toFixed(100);
    const dot = exact.indexOf(".");
    const whole = exact.slice(0, dot), fraction = exact.slice(dot + 1);
    let kept = whole + fraction.slice(0, digits);
    const rest = fraction.slice(digits);
    const last = Number(kept[kept.length - 1]);
    const up = rest[0] > "5" || (rest[0] === "5" && (/[1-9]/.test(rest.slice(1)) || last % 2 === 1));
    if (up) {
      const chars = kept.split("");
      let i = chars.length - 1;
      while (i >= 0 && chars[i] === "9") { chars[i] = "0"; i--; }
      if (i < 0) chars.unshift("1"); else chars[i] = String(Number(chars[i]) + 1);
      kept = chars.join("");
    }
    const cut = kept.length - digits;
    const text = digits > 0 ? kept.slice(0, cut) + "." + kept.slice(cut) : kept;
    return (negative ? "-" : "") + text;
  }
  function grouped(text) {
    const dot = text.indexOf(".");
    const whole = dot < 0 ? text : text.slice(0, dot), tail = dot < 0 ? "" : text.slice(dot);
    return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + tail;
  }
  const count = function (n) { return grouped(fixed(n, 0)); };
  const euros = function (x) { return "€" + grouped(fixed(x, 0)); };
  // presentation.money(x, cents=None): whole euros unless the amount has cents (€12.50).
  const money = function (x) { return "€" + grouped(fixed(x, Number.isInteger(x) ? 0 : 2)); };
  // Python's f"{x:.6g}".
  function general(x, digits) {
    if (x === 0) return "0";
    if (!isFinite(x)) return x > 0 ? "inf" : x < 0 ? "-inf" : "nan";
    const parts = x.toExponential(digits - 1).split("e");
    const exponent = Number(parts[1]);
    const strip = function (s) { return s.indexOf(".") < 0 ? s : s.replace(/0+$/, "").replace(/\.$/, ""); };
    if (exponent < -4 || exponent >= digits) {
      return strip(parts[0]) + "e" + (exponent < 0 ? "-" : "+") + String(Math.abs(exponent)).padStart(2, "0");
    }
    return strip(x.toFixed(Math.max(0, digits - 1 - exponent)));
  }
  // Axis labels: 0.01, 250, 1e4, 2.5e-5 (short), or euros as €20k / €1.5M.
  function tick(v, money) {
    if (v === 0) return money ? "€0" : "0";
    const a = Math.abs(v);
    if (money) {
      if (a >= 1e6) return "€" + general(v / 1e6, 3) + "M";
      if (a >= 1e3) return "€" + general(v / 1e3, 3) + "k";
      return "€" + general(v, 3);
    }
    if (a >= 1e4 || a < 1e-3) return v.toExponential(1).replace(".0e", "e").replace("e+", "e");
    return general(v, 4);
  }

  // --- the data ------------------------------------------------------------------------------------
  function unpack(bytes, layout) {
    const buffer = bytes.slice().buffer; // a fresh, aligned copy
    const out = {};
    const types = { f8: Float64Array, f4: Float32Array, i4: Int32Array };
    Object.keys(layout).forEach(function (name) {
      const spec = layout[name];
      out[name] = new types[spec[0]](buffer, spec[1], spec[2]);
    });
    return out;
  }

  // Counts → metrics, as ThresholdSweep.curve/at computes them (same operations, same order).
  function pointFrom(threshold, alerts, fn, missed) {
    const a = state.args, n = a.n, nPos = a.n_pos;
    const p = { threshold: threshold, alerts: alerts };
    if (nPos === null || fn === null) return p;
    const below = n - alerts, tp = nPos - fn, fp = alerts - tp, tn = below - fn;
    p.tp = tp; p.fp = fp; p.fn = fn; p.tn = tn;
    p.precision = alerts > 0 ? tp / alerts : null;
    p.recall = nPos > 0 ? tp / nPos : 0;
    p.f1 = 2 * tp + fp + fn > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0;
    p.fpr = n - nPos > 0 ? fp / (n - nPos) : 0;
    if (missed !== null && missed !== undefined) { p.missed = missed; p.cost = a.review_fee * alerts + missed; }
    return p;
  }
  function stopPoint(k) {
    const d = state.data;
    return pointFrom(d.stops[k], d.alerts[k], d.fn ? d.fn[k] : null, d.missed ? d.missed[k] : null);
  }
  function shownPoint() {
    if (state.k !== null) return stopPoint(state.k);
    const c = state.args.current;
    return pointFrom(c.threshold, c.alerts, c.fn === undefined ? null : c.fn, c.missed === undefined ? null : c.missed);
  }
  // fraud_analysis.at_prevalence, operation for operation.
  function estimate(p) {
    const a = state.args, prevalence = a.target_prevalence;
    if (prevalence === null || p.tp === undefined || a.n_pos <= 0 || a.n - a.n_pos <= 0) return null;
    const per = a.per;
    const fraudWeight = per * prevalence / a.n_pos;
    const normalWeight = per * (1 - prevalence) / (a.n - a.n_pos);
    const caught = fraudWeight * p.tp, raised = normalWeight * p.fp, alerts = caught + raised;
    return { normalWeight: normalWeight / fraudWeight, alerts: alerts, precision: alerts > 0 ? caught / alerts : null,
             cost: p.missed === undefined ? null : a.review_fee * alerts + fraudWeight * p.missed };
  }
  // Bootstrap interval of a metric at stop k, interpolated between the stops the bands were computed at.
  function bandAt(metric, k) {
    const d = state.data, at = d.band_at, low = d["band_" + metric + "_low"], high = d["band_" + metric + "_high"];
    if (!at || !low) return null;
    let j = upperBound(at, k) - 1;
    if (j < 0) j = 0;
    const j2 = Math.min(j + 1, at.length - 1);
    const f = at[j2] === at[j] ? 0 : (k - at[j]) / (at[j2] - at[j]);
    const lo = low[j] + f * (low[j2] - low[j]), hi = high[j] + f * (high[j2] - high[j]);
    return isFinite(lo) && isFinite(hi) ? [lo, hi] : null;
  }
  function upperBound(array, value) { // first index with array[i] > value
    let lo = 0, hi = array.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (array[mid] <= value) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function lowerBound(array, value) { // first index with array[i] >= value
    let lo = 0, hi = array.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (array[mid] < value) lo = mid + 1; else hi = mid; }
    return lo;
  }

  // --- axes and canvases --------------------------------------------------------------------------
  function Axis(kind, d0, d1, r0, r1) {
    this.kind = kind; this.r0 = r0; this.r1 = r1;
    if (kind === "log") { d0 = Math.log10(d0); d1 = Math.log10(d1); }
    if (!(d1 > d0)) d1 = d0 + 1;
    this.d0 = d0; this.d1 = d1;
  }
  Axis.prototype.map = function (v) {
    const u = this.kind === "log" ? Math.log10(Math.max(v, 1e-300)) : v;
    return this.r0 + (u - this.d0) / (this.d1 - this.d0) * (this.r1 - this.r0);
  };
  Axis.prototype.invert = function (px) {
    const u = this.d0 + (px - this.r0) / (this.r1 - this.r0) * (this.d1 - this.d0);
    return this.kind === "log" ? Math.pow(10, u) : u;
  };
  Axis.prototype.ticks = function (wanted) {
    const out = [];
    if (this.kind === "log") {
      const first = Math.ceil(this.d0 - 1e-9), last = Math.floor(this.d1 + 1e-9);
      const step = Math.max(1, Math.ceil((last - first + 1) / wanted));
      for (let e = first; e <= last; e += step) out.push(Math.pow(10, e));
      if (out.length < 2) {
        [2, 5].forEach(function (m) {
          for (let e = Math.floor(this.d0); e <= Math.ceil(this.d1); e++) {
            const v = m * Math.pow(10, e);
            if (Math.log10(v) >= this.d0 && Math.log10(v) <= this.d1) out.push(v);
          }
        }, this);
        out.sort(function (a, b) { return a - b; });
      }
      return out;
    }
    const span = this.d1 - this.d0, raw = span / Math.max(1, wanted);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(function (m) { return m * power; }).find(function (s) { return s >= raw; });
    for (let v = Math.ceil(this.d0 / step) * step; v <= this.d1 + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  };

  function makeChart(canvas, width, height, margin) {
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr); canvas.height = Math.round(height * dpr);
    canvas.style.width = width + "px"; canvas.style.height = height + "px";
    const bg = document.createElement("canvas");
    bg.width = canvas.width; bg.height = canvas.height;
    return { canvas: canvas, ctx: canvas.getContext("2d"), bg: bg, dpr: dpr, width: width, height: height,
             left: margin[0], top: margin[1], right: width - margin[2], bottom: height - margin[3] };
  }
  function context(chart, onBackground) {
    const ctx = onBackground ? chart.bg.getContext("2d") : chart.ctx;
    ctx.setTransform(chart.dpr, 0, 0, chart.dpr, 0, 0);
    return ctx;
  }
  function drawAxes(ctx, chart, x, y, titles, title, moneyY) {
    const s = state.style;
    ctx.fillStyle = s.bg; ctx.fillRect(0, 0, chart.width, chart.height);
    ctx.font = "11px " + s.font; ctx.fillStyle = s.muted; ctx.strokeStyle = s.grid; ctx.lineWidth = 1;
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    x.ticks(Math.max(2, Math.floor((chart.right - chart.left) / 70))).forEach(function (v) {
      const px = Math.round(x.map(v)) + 0.5;
      if (px < chart.left - 1 || px > chart.right + 1) return;
      ctx.beginPath(); ctx.moveTo(px, chart.top); ctx.lineTo(px, chart.bottom); ctx.stroke();
      ctx.fillText(tick(v), px, chart.bottom + 3);
    });
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    y.ticks(Math.max(2, Math.floor((chart.bottom - chart.top) / 40))).forEach(function (v) {
      const py = Math.round(y.map(v)) + 0.5;
      if (py < chart.top - 1 || py > chart.bottom + 1) return;
      ctx.beginPath(); ctx.moveTo(chart.left, py); ctx.lineTo(chart.right, py); ctx.stroke();
      ctx.fillText(tick(v, moneyY), chart.left - 4, py);
    });
    ctx.strokeStyle = s.axis;
    ctx.beginPath(); ctx.moveTo(chart.left + 0.5, chart.top); ctx.lineTo(chart.left + 0.5, chart.bottom + 0.5);
    ctx.lineTo(chart.right, chart.bottom + 0.5); ctx.stroke();
    ctx.fillStyle = s.muted; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
    ctx.fillText(titles[0], (chart.left + chart.right) / 2, chart.height - 1);
    ctx.save(); ctx.translate(11, (chart.top + chart.bottom) / 2); ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle"; ctx.fillText(titles[1], 0, 0); ctx.restore();
    ctx.fillStyle = s.fg; ctx.font = "13px " + s.font; ctx.textAlign = "left"; ctx.textBaseline = "top";
    ctx.fillText(title, chart.left, 3);
  }
  function clip(ctx, chart) {
    ctx.save(); ctx.beginPath(); ctx.rect(chart.left, chart.top, chart.right - chart.left, chart.bottom - chart.top); ctx.clip();
  }
  function polyline(ctx, xs, ys, x, y) {
    ctx.beginPath();
    let started = false;
    for (let i = 0; i < xs.length; i++) {
      if (!isFinite(ys[i]) || !isFinite(xs[i])) { started = false; continue; }
      const px = x.map(xs[i]), py = y.map(ys[i]);
      if (!started) { ctx.moveTo(px, py); started = true; } else ctx.lineTo(px, py);
    }
    ctx.stroke();
  }
  function band(ctx, xs, low, high, x, y, colour) {
    ctx.fillStyle = colour; ctx.beginPath();
    let first = true;
    for (let i = 0; i < xs.length; i++) {
      if (!isFinite(low[i]) || !isFinite(high[i])) continue;
      const px = x.map(xs[i]), py = y.map(high[i]);
      if (first) { ctx.moveTo(px, py); first = false; } else ctx.lineTo(px, py);
    }
    for (let i = xs.length - 1; i >= 0; i--) {
      if (!isFinite(low[i]) || !isFinite(high[i])) continue;
      ctx.lineTo(x.map(xs[i]), y.map(low[i]));
    }
    ctx.closePath(); ctx.fill();
  }
  function dot(ctx, px, py, radius, fill, stroke) {
    ctx.beginPath(); ctx.arc(px, py, radius, 0, 2 * Math.PI); ctx.fillStyle = fill; ctx.fill();
    if (stroke) { ctx.strokeStyle = stroke; ctx.lineWidth = 1.5; ctx.stroke(); }
  }

  // --- the charts ---------------------------------------------------------------------------------
  function scoreAxis(kind, r0, r1) {
    const d = state.data, a = state.args;
    const edges = a.log_x ? d.hist_log_edges : d.hist_edges;
    let low = edges[0], high = Math.max(edges[edges.length - 1], d.stops[d.stops.length - 1]);
    if (kind === "log") low = Math.max(low, 1e-12);
    return new Axis(kind, low, high, r0, r1);
  }

  function buildHistogram(chart) {
    const d = state.data, a = state.args, s = state.style;
    const edges = a.log_x ? d.hist_log_edges : d.hist_edges, counts = a.log_x ? d.hist_log_counts : d.hist_counts;
    const bins = edges.length - 1, classes = a.n_pos === null ? 1 : 2;
    let top = 1, smallest = Infinity;
    for (let i = 0; i < counts.length; i++) { if (counts[i] > 0) { top = Math.max(top, counts[i]); smallest = Math.min(smallest, counts[i]); } }
    chart.x = scoreAxis(a.log_x ? "log" : "lin", chart.left, chart.right);
    chart.y = a.log_y ? new Axis("log", 0.5, top * 1.6, chart.bottom, chart.top) : new Axis("lin", 0, top * 1.05, chart.bottom, chart.top);
    const ctx = context(chart, true);
    drawAxes(ctx, chart, chart.x, chart.y, ["reconstruction error (anomaly score) — drag to set the threshold", "rows"], "Scores by class");
    clip(ctx, chart);
    const colours = [s.normal, s.positive];
    for (let c = 0; c < classes; c++) {
      ctx.beginPath();
      const base = chart.y.map(a.log_y ? 0.5 : 0);
      ctx.moveTo(chart.x.map(edges[0]), base);
      for (let b = 0; b < bins; b++) {
        const v = counts[c * bins + b], py = v > 0 ? chart.y.map(v) : base;
        ctx.lineTo(chart.x.map(edges[b]), py); ctx.lineTo(chart.x.map(edges[b + 1]), py);
      }
      ctx.lineTo(chart.x.map(edges[bins]), base); ctx.closePath();
      ctx.globalAlpha = 0.35; ctx.fillStyle = colours[c]; ctx.fill();
      ctx.globalAlpha = 1; ctx.strokeStyle = colours[c]; ctx.lineWidth = 1.5; ctx.stroke();
    }
    ctx.restore();
    // legend, top right
    ctx.font = "12px " + s.font; ctx.textAlign = "right"; ctx.textBaseline = "top";
    let right = chart.right;
    for (let c = classes - 1; c >= 0; c--) {
      const label = classes === 1 ? "all rows (unlabelled)" : a.names[c];
      ctx.fillStyle = s.fg; ctx.fillText(label, right, 4);
      right -= ctx.measureText(label).width + 6;
      ctx.fillStyle = colours[c]; ctx.globalAlpha = 0.6; ctx.fillRect(right - 12, 6, 12, 10); ctx.globalAlpha = 1;
      right -= 22;
    }
    // stop positions on this axis, for pointer → stop
    chart.stopX = new Float64Array(d.stops.length);
    for (let k = 0; k < d.stops.length; k++) chart.stopX[k] = chart.x.map(d.stops[k]);
  }

  function drawHistogram(chart, p) {
    const ctx = context(chart, false), s = state.style, a = state.args;
    ctx.setTransform(1, 0, 0, 1, 0, 0); ctx.drawImage(chart.bg, 0, 0); ctx.setTransform(chart.dpr, 0, 0, chart.dpr, 0, 0);
    const px = Math.min(chart.right, Math.max(chart.left, chart.x.map(p.threshold)));
    ctx.fillStyle = s.flagged; ctx.fillRect(px, chart.top, chart.right - px, chart.bottom - chart.top);
    if (a.model_threshold !== null && a.model_threshold !== undefined) {
      const mx = chart.x.map(a.model_threshold);
      if (mx >= chart.left && mx <= chart.right) {
        ctx.strokeStyle = s.muted; ctx.setLineDash([2, 3]); ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(mx, chart.top + 30); ctx.lineTo(mx, chart.bottom); ctx.stroke(); ctx.setLineDash([]);
        if (Math.abs(mx - px) > 40) {
          ctx.fillStyle = s.muted; ctx.font = "11px " + s.font; ctx.textAlign = "center"; ctx.textBaseline = "bottom";
          ctx.fillText("model's", mx, chart.top + 28);
        }
      }
    }
    ctx.strokeStyle = s.fg; ctx.lineWidth = 2; ctx.setLineDash([6, 4]);
    ctx.beginPath(); ctx.moveTo(px, chart.top); ctx.lineTo(px, chart.bottom); ctx.stroke(); ctx.setLineDash([]);
    ctx.beginPath(); ctx.moveTo(px - 6, chart.top); ctx.lineTo(px + 6, chart.top); ctx.lineTo(px, chart.top + 8); ctx.closePath();
    ctx.fillStyle = s.fg; ctx.fill();
    ctx.font = "12px " + s.font; ctx.textBaseline = "top";
    const label = "threshold " + general(p.threshold, 6), wide = ctx.measureText(label).width;
    const leftSide = px + 8 + wide > chart.right;
    ctx.textAlign = leftSide ? "right" : "left";
    ctx.fillStyle = s.bg; ctx.fillRect(leftSide ? px - 8 - wide - 2 : px + 6, chart.top + 10, wide + 4, 15);
    ctx.fillStyle = s.fg; ctx.fillText(label, leftSide ? px - 8 : px + 8, chart.top + 11);
  }

  function buildRoc(chart) {
    const d = state.data, a = state.args, s = state.style;
    chart.x = new Axis("lin", -0.01, 1.01, chart.left, chart.right);
    chart.y = new Axis("lin", -0.01, 1.01, chart.bottom, chart.top);
    const ctx = context(chart, true);
    drawAxes(ctx, chart, chart.x, chart.y, ["false-positive rate", "recall"], a.auroc === null ? "ROC" : "ROC (AUROC " + fixed(a.auroc, 3) + ")");
    clip(ctx, chart);
    ctx.strokeStyle = s.grid; ctx.setLineDash([3, 3]); polyline(ctx, [0, 1], [0, 1], chart.x, chart.y); ctx.setLineDash([]);
    if (d.roc_band_fpr) band(ctx, d.roc_band_fpr, d.roc_band_low, d.roc_band_high, chart.x, chart.y, s.band);
    a.baselines.forEach(function (b, i) {
      ctx.strokeStyle = BASELINE_COLOURS[i % BASELINE_COLOURS.length]; ctx.lineWidth = 1.5; ctx.setLineDash([5, 3]);
      polyline(ctx, d["baseline" + i + "_fpr"], d["baseline" + i + "_tpr"], chart.x, chart.y); ctx.setLineDash([]);
    });
    if (d.roc_fpr) { ctx.strokeStyle = s.normal; ctx.lineWidth = 2; polyline(ctx, d.roc_fpr, d.roc_tpr, chart.x, chart.y); }
    ctx.restore();
  }
  function buildPr(chart) {
    const d = state.data, a = state.args, s = state.style;
    chart.x = new Axis("lin", -0.01, 1.01, chart.left, chart.right);
    chart.y = new Axis("lin", -0.01, 1.01, chart.bottom, chart.top);
    const ctx = context(chart, true);
    const here = a.prevalence_here === null ? "" : ", prevalence " + fixed(100 * a.prevalence_here, 2) + "%";
    drawAxes(ctx, chart, chart.x, chart.y, ["recall", "precision"], a.average_precision === null ? "Precision-recall" :
      "PR (AP " + fixed(a.average_precision, 3) + here + ")");
    clip(ctx, chart);
    if (a.prevalence_here !== null) {
      ctx.strokeStyle = s.muted; ctx.setLineDash([3, 3]); polyline(ctx, [0, 1], [a.prevalence_here, a.prevalence_here], chart.x, chart.y);
      ctx.setLineDash([]);
    }
    if (d.pr_band_recall) band(ctx, d.pr_band_recall, d.pr_band_low, d.pr_band_high, chart.x, chart.y, s.band);
    a.baselines.forEach(function (b, i) {
      ctx.strokeStyle = BASELINE_COLOURS[i % BASELINE_COLOURS.length]; ctx.lineWidth = 1.5; ctx.setLineDash([5, 3]);
      polyline(ctx, d["baseline" + i + "_recall"], d["baseline" + i + "_precision"], chart.x, chart.y); ctx.setLineDash([]);
    });
    if (d.pr_recall) { ctx.strokeStyle = s.normal; ctx.lineWidth = 2; polyline(ctx, d.pr_recall, d.pr_precision, chart.x, chart.y); }
    ctx.restore();
  }
  function buildCost(chart) {
    const d = state.data, a = state.args, s = state.style;
    const stops = d.stops, cost = new Float64Array(stops.length);
    for (let k = 0; k < stops.length; k++) cost[k] = a.review_fee * d.alerts[k] + d.missed[k];
    chart.cost = cost;
    let top = a.flag_nothing || 0, highest = 0;
    for (let k = 0; k < cost.length; k++) highest = Math.max(highest, cost[k]);
    top = Math.max(top, Math.min(highest, 3 * (a.flag_nothing || highest))) || 1;
    chart.x = scoreAxis(a.log_x ? "log" : "lin", chart.left, chart.right);
    chart.y = new Axis("lin", 0, top * 1.08, chart.bottom, chart.top);
    const ctx = context(chart, true);
    drawAxes(ctx, chart, chart.x, chart.y, ["threshold", "total cost"], "Cost at each threshold", true);
    clip(ctx, chart);
    if (d.band_at && d.band_cost_low) {
      const xs = Array.prototype.map.call(d.band_at, function (k) { return stops[k]; });
      band(ctx, xs, d.band_cost_low, d.band_cost_high, chart.x, chart.y, s.band);
    }
    if (a.flag_nothing !== null && a.flag_nothing !== undefined) {
      ctx.strokeStyle = s.positive; ctx.setLineDash([3, 3]); ctx.lineWidth = 1;
      polyline(ctx, [chart.x.invert(chart.left), chart.x.invert(chart.right)], [a.flag_nothing, a.flag_nothing], chart.x, chart.y);
      ctx.setLineDash([]);
      ctx.fillStyle = s.positive; ctx.font = "11px " + s.font; ctx.textAlign = "left"; ctx.textBaseline = "bottom";
      ctx.fillText("flag nothing " + euros(a.flag_nothing), chart.left + 4, chart.y.map(a.flag_nothing) - 2);
    }
    ctx.strokeStyle = s.normal; ctx.lineWidth = 2; polyline(ctx, stops, cost, chart.x, chart.y);
    if (a.best) {
      const bx = chart.x.map(a.best[0]), by = chart.y.map(a.best[1]);
      ctx.fillStyle = COLOURS.TP; ctx.font = "16px " + s.font; ctx.textAlign = "center"; ctx.textBaseline = "middle";
      ctx.fillText("★", bx, by);
    }
    ctx.restore();
  }
  function drawPoint(chart, px, py) {
    const ctx = context(chart, false);
    ctx.setTransform(1, 0, 0, 1, 0, 0); ctx.drawImage(chart.bg, 0, 0); ctx.setTransform(chart.dpr, 0, 0, chart.dpr, 0, 0);
    if (px === null) return;
    dot(ctx, Math.min(chart.right, Math.max(chart.left, px)), Math.min(chart.bottom, Math.max(chart.top, py)), 6,
        state.style.positive, state.style.bg);
  }

  // --- the readout ----------------------------------------------------------------------------------
  const METRICS = [
    { key: "alerts", label: "Alerts", labelled: false },
    { key: "precision", label: "Precision", labelled: true },
    { key: "recall", label: "Recall", labelled: true },
    { key: "f1", label: "F1", labelled: true },
    { key: "fpr", label: "False-positive rate", labelled: true },
    { key: "cost", label: "Total cost", labelled: true },
  ];
  function formatMetric(key, value) {
    if (key === "alerts") return count(value);
    if (key === "cost") return euros(value);
    if (key === "precision" && value === null) return state.args.no_alerts;
    return fixed(value, key === "fpr" ? 4 : 3);
  }
  function buildReadout() {
    const box = $("readout");
    box.innerHTML = "";
    const cells = [{ key: "threshold", label: "Threshold" }].concat(METRICS);
    cells.forEach(function (m) {
      const cell = document.createElement("div");
      cell.className = "cell"; cell.dataset.metric = m.key;
      cell.innerHTML = '<div class="label"></div><div class="value"></div><div class="ci"></div>';
      cell.querySelector(".label").textContent = m.label;
      box.appendChild(cell);
    });
  }
  function buildConfusion() {
    const a = state.args, table = $("confusion");
    table.innerHTML = "";
    if (a.n_pos === null) { table.style.display = "none"; return; }
    table.style.display = "";
    const head = table.insertRow();
    ["", "flagged", "not flagged"].forEach(function (t) { const th = document.createElement("th"); th.textContent = t; head.appendChild(th); });
    [[a.names[1], "TP", "FN"], [a.names[0], "FP", "TN"]].forEach(function (r) {
      const row = table.insertRow();
      const th = document.createElement("th"); th.className = "side"; th.textContent = r[0]; row.appendChild(th);
      [r[1], r[2]].forEach(function (name) { const td = row.insertCell(); td.dataset.cell = name; });
    });
  }
  function showReadout(p, moving) {
    const a = state.args, box = $("readout");
    const cells = box.children;
    const intervals = moving ? null : (a.current.intervals || null);
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[i], key = cell.dataset.metric;
      const value = cell.querySelector(".value"), ci = cell.querySelector(".ci");
      let text = "", interval = null, approx = false;
      if (key === "threshold") text = general(p.threshold, 6);
      else if (key === "alerts") text = formatMetric(key, p.alerts);
      else if (p[key] !== undefined) text = formatMetric(key, p[key]);
      cell.style.display = text === "" ? "none" : "";
      if (key !== "threshold" && text !== "") {
        if (intervals && intervals[key]) interval = intervals[key];
        else if (moving && state.k !== null) { interval = bandAt(key, state.k); approx = interval !== null; }
      }
      if (value.textContent !== text) value.textContent = text;
      const ciText = interval ? formatMetric(key, interval[0]) + "–" + formatMetric(key, interval[1]) : "";
      if (ci.textContent !== ciText) ci.textContent = ciText;
      ci.classList.toggle("approx", approx);
      ci.title = approx ? "95% bootstrap band at nearby thresholds; recomputed at this threshold on release" :
        (interval ? "95% bootstrap interval" : "");
    }
    const table = $("confusion");
    if (p.tp !== undefined) {
      const values = { TP: p.tp, FP: p.fp, FN: p.fn, TN: p.tn };
      const peak = Math.log1p(Math.max(p.tp, p.fp, p.fn, p.tn, 1));
      table.querySelectorAll("td").forEach(function (td) {
        const v = values[td.dataset.cell], text = td.dataset.cell + " " + count(v);
        if (td.textContent !== text) td.textContent = text;
        const strength = Math.log1p(v) / peak;
        td.style.background = "rgba(76,120,168," + (0.08 + 0.55 * strength).toFixed(3) + ")";
        td.style.color = strength > 0.75 ? "#fff" : state.style.fg;
      });
    }
    const e = estimate(p), box2 = $("estimate");
    let html = "";
    if (e) {
      const share = fixed(100 * a.target_prevalence, 3).replace(/0+$/, "").replace(/\.$/, "");
      html = "At <b>" + share + "%</b> prevalence (an estimate: each normal row reweighted ×" + general(e.normalWeight, 3) +
        "), per " + count(a.per) + " transactions: <b data-estimate=\"alerts\">" + count(e.alerts) + "</b> alerts, precision <b data-estimate=\"precision\">" +
        (e.precision === null ? a.no_alerts : fixed(e.precision, 3)) + "</b>" +
        (e.cost === null ? "" : ", cost <b data-estimate=\"cost\">" + euros(e.cost) + "</b>") + ".";
    }
    if (box2.dataset.html !== html) { box2.innerHTML = html; box2.dataset.html = html; }
    const status = $("state");
    const here = a.prevalence_here === null ? "" : " Plain numbers are at this data's prevalence, " + fixed(100 * a.prevalence_here, 3) + "%.";
    const statusText = moving ? "Moving: release to apply (the table, export and link follow on release)." :
      "Drag on the histogram (or focus it and use ← →) to move the threshold." + here;
    if (status.textContent !== statusText) status.textContent = statusText;
    status.classList.toggle("moving", moving);
  }

  // --- a frame ----------------------------------------------------------------------------------------
  function drawFrame() {
    state.pending = false;
    if (!state.data || !state.charts) return;
    const started = performance.now();
    const moving = state.k !== null;
    const p = shownPoint();
    showReadout(p, moving);
    const textDone = performance.now();
    const c = state.charts;
    drawHistogram(c.hist, p);
    if (c.roc) drawPoint(c.roc, p.fpr === undefined ? null : c.roc.x.map(p.fpr), c.roc.y.map(p.recall));
    if (c.pr) drawPoint(c.pr, p.recall === undefined ? null : c.pr.x.map(p.recall), c.pr.y.map(p.precision === null ? 1 : p.precision));
    if (c.cost) drawPoint(c.cost, p.cost === undefined ? null : c.cost.x.map(p.threshold), c.cost.y.map(p.cost));
    const drawn = performance.now();
    stats.frames++;
    if (state.lastInput !== null) {
      const entry = { input: state.lastInput, started: started, text: textDone, drawn: drawn, presented: null,
                      alerts: p.alerts, threshold: p.threshold };
      state.lastInput = null;
      if (stats.frameLog.length < 10000) stats.frameLog.push(entry);
      // The next frame starts after this one was painted.
      window.requestAnimationFrame(function () { entry.presented = performance.now(); });
    }
    $("hist").setAttribute("aria-valuetext", general(p.threshold, 6) + ", " + count(p.alerts) + " alerts");
  }
  function schedule() {
    if (state.pending) return;
    state.pending = true;
    window.requestAnimationFrame(drawFrame);
  }

  // --- input ------------------------------------------------------------------------------------------
  function nearestStop(clientX) {
    const chart = state.charts.hist, rect = chart.canvas.getBoundingClientRect();
    const px = Math.min(chart.right, Math.max(chart.left, clientX - rect.left));
    const xs = chart.stopX;
    const i = lowerBound(xs, px);
    if (i <= 0) return 0;
    if (i >= xs.length) return xs.length - 1;
    return px - xs[i - 1] <= xs[i] - px ? i - 1 : i;
  }
  function moveTo(event) {
    state.k = nearestStop(event.clientX);
    state.lastInput = event.timeStamp;
    stats.inputs++;
    schedule();
  }
  function report() {
    if (state.disabled || state.k === null) return;
    stats.sent++;
    const threshold = state.data.stops[state.k];
    stats.lastSent = threshold;
    Streamlit.setValue({ threshold: threshold, seq: stats.sent, instance: instance });
  }
  const hist = $("hist");
  hist.addEventListener("pointerdown", function (event) {
    if (state.disabled || !state.data || event.button !== 0) return;
    try { hist.setPointerCapture(event.pointerId); } catch (err) { /* synthetic pointers */ }
    state.dragging = true;
    moveTo(event);
    event.preventDefault();
  });
  hist.addEventListener("pointermove", function (event) { if (state.dragging) moveTo(event); });
  function release(event) {
    if (!state.dragging) return;
    state.dragging = false;
    moveTo(event);
    report();
  }
  hist.addEventListener("pointerup", release);
  hist.addEventListener("pointercancel", release);
  hist.addEventListener("keydown", function (event) {
    if (state.disabled || !state.data) return;
    const last = state.data.stops.length - 1;
    const from = state.k !== null ? state.k : Math.min(last, lowerBound(state.data.stops, state.args.current.threshold));
    const steps = { ArrowLeft: -1, ArrowRight: 1, ArrowDown: -1, ArrowUp: 1, PageDown: -100, PageUp: 100 };
    let to = null;
    if (event.key in steps) to = from + steps[event.key] * (event.shiftKey ? 10 : 1);
    else if (event.key === "Home") to = 0;
    else if (event.key === "End") to = last;
    if (to === null) return;
    state.k = Math.min(last, Math.max(0, to));
    state.lastInput = event.timeStamp;
    stats.inputs++;
    schedule();
    clearTimeout(state.keyTimer);
    state.keyTimer = setTimeout(report, 400); // one rerun per pause, not one per key
    event.preventDefault();
  });

  // --- Streamlit → component ------------------------------------------------------------------------
  function readStyle(theme) {
    const root = document.documentElement.style;
    if (theme) {
      if (theme.primaryColor) root.setProperty("--accent", theme.primaryColor);
      if (theme.backgroundColor) root.setProperty("--bg", theme.backgroundColor);
      if (theme.textColor) root.setProperty("--fg", theme.textColor);
    }
    const css = getComputedStyle(document.documentElement);
    const get = function (name, fallback) { return (css.getPropertyValue(name) || fallback).trim() || fallback; };
    const dark = theme && theme.base === "dark";
    return { fg: get("--fg", "#31333f"), bg: get("--bg", "#ffffff"), muted: get("--muted", "#808495"),
             normal: get("--normal", "#4c78a8"), positive: get("--positive", "#e45756"),
             grid: dark ? "rgba(255,255,255,0.12)" : "rgba(49,51,63,0.10)", axis: dark ? "rgba(255,255,255,0.4)" : "rgba(49,51,63,0.4)",
             band: "rgba(76,120,168,0.22)", flagged: dark ? "rgba(228,87,86,0.10)" : "rgba(228,87,86,0.06)",
             font: '"Source Sans Pro", system-ui, sans-serif' };
  }
  function layoutCharts() {
    const a = state.args, d = state.data;
    const width = Math.max(480, document.getElementById("root").clientWidth - 4);
    state.width = width;
    const labelled = a.n_pos !== null;
    const histWidth = labelled ? width - 12 - 340 : width;
    const charts = { hist: makeChart($("hist"), histWidth, 270, [58, 30, 12, 34]) };
    buildHistogram(charts.hist);
    const third = Math.floor((width - 24) / 3);
    $("roc").style.display = d.roc_fpr ? "" : "none";
    $("pr").style.display = d.roc_fpr ? "" : "none";
    $("cost").style.display = d.missed && labelled ? "" : "none";
    if (d.roc_fpr) {
      charts.roc = makeChart($("roc"), third, 250, [46, 26, 10, 32]); buildRoc(charts.roc);
      charts.pr = makeChart($("pr"), third, 250, [46, 26, 10, 32]); buildPr(charts.pr);
    }
    if (d.missed && labelled) { charts.cost = makeChart($("cost"), third, 250, [62, 26, 10, 32]); buildCost(charts.cost); }
    state.charts = charts;
    let legend = "";
    if (a.bands.length) {
      legend += "Ranges under the numbers and shaded bands: " + Math.round(100 * a.level) + "% bootstrap intervals (" +
        count(a.resamples) + " resamples of these rows; the model is not refitted).";
    }
    if (a.baselines.length) {
      legend += " Dashed, fitted on the same training normals: " + a.baselines.map(function (b, i) {
        return '<span class="key" style="border-color:' + BASELINE_COLOURS[i % BASELINE_COLOURS.length] + '"></span>' +
          escapeHtml(b.name);
      }).join(", ") + ".";
    }
    if (d.missed && labelled && a.cost_note) legend += " Cost: " + money(a.review_fee) + " per alert, a missed " + escapeHtml(a.names[1]) + " costs " + escapeHtml(a.cost_note) + ".";
    $("legend").innerHTML = legend;
  }
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; });
  }

  function onRender(args, disabled, theme) {
    state.disabled = disabled;
    const previous = state.args;
    state.args = args;
    state.style = readStyle(theme);
    let rebuild = !previous || previous.log_x !== args.log_x || previous.log_y !== args.log_y ||
      JSON.stringify(previous.baselines) !== JSON.stringify(args.baselines) || previous.flag_nothing !== args.flag_nothing ||
      JSON.stringify(previous.best) !== JSON.stringify(args.best) || previous.model_threshold !== args.model_threshold;
    if (args.data_id !== state.dataId) {
      state.data = unpack(args.data, args.layout);
      state.dataId = args.data_id;
      rebuild = true;
    }
    const currentKey = JSON.stringify([args.current.threshold, args.current.alerts, args.current.fn, args.current.missed]);
    if (currentKey !== state.currentKey && !state.dragging) {
      state.currentKey = currentKey;
      state.k = null; // Python's threshold wins whenever it changes
    } else if (!state.dragging && state.k !== null && state.data.stops[state.k] === args.current.threshold) {
      state.k = null; // the release came back: show the server's numbers (the same ones) with their intervals
    }
    if (rebuild || !state.charts) {
      buildReadout();
      buildConfusion();
      layoutCharts();
    }
    hist.setAttribute("aria-valuemin", general(state.data.stops[0], 6));
    hist.setAttribute("aria-valuemax", general(state.data.stops[state.data.stops.length - 1], 6));
    schedule();
    fitHeight();
  }

  function fitHeight() {
    const height = Math.ceil(document.documentElement.getBoundingClientRect().height) + 4;
    if (height !== state.height) { state.height = height; Streamlit.setHeight(height); }
  }
  function showError(err) {
    const box = $("error");
    box.style.display = "block";
    box.textContent = "The threshold explorer could not draw: " + (err && err.message ? err.message : err);
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
  if (window.ResizeObserver) {
    new ResizeObserver(function () {
      const width = document.getElementById("root").clientWidth - 4;
      if (state.args && state.data && Math.abs(Math.max(480, width) - state.width) > 1) { layoutCharts(); schedule(); }
      fitHeight();
    }).observe(document.body);
  }

  // For the browser test: the numbers shown, as text, keyed like the readout and the confusion matrix.
  window.__thresholdShown = function () {
    const out = {};
    document.querySelectorAll("#readout .cell").forEach(function (cell) {
      if (cell.style.display !== "none") out[cell.dataset.metric] = cell.querySelector(".value").textContent;
    });
    document.querySelectorAll("#confusion td").forEach(function (td) { out[td.dataset.cell] = td.textContent; });
    document.querySelectorAll("#estimate [data-estimate]").forEach(function (b) { out["estimate_" + b.dataset.estimate] = b.textContent; });
    return out;
  };
  window.__thresholdFormat = { fixed: fixed, general: general };
  // The histogram's plotting area, in CSS pixels from the canvas's top-left corner.
  window.__thresholdPlot = function () {
    const c = state.charts && state.charts.hist;
    return c ? { left: c.left, right: c.right, top: c.top, bottom: c.bottom } : null;
  };

  Streamlit.ready();
})();
