// A line chart in SVG, enough for the overview's curves and the meter page's history: series
// over time with gaps (null), horizontal limit lines (80 %/100 % load) and a shaded band
// (GB/T 12325 voltage). Hand-written rather than a vendored library: the charts are a few
// polylines, and this keeps the page free of third-party code (docs/dashboard.md).
"use strict";

const NS = "http://www.w3.org/2000/svg";
const [W, H, LEFT, RIGHT, TOP, BOTTOM] = [600, 200, 44, 10, 10, 22];

function node(tag, attrs = {}, text = null) {
  const item = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) item.setAttribute(key, value);
  if (text !== null) item.textContent = text;
  return item;
}

/**
 * Draw into ``chart`` (an <svg>): ``times`` (ms), ``series`` [{values, cls, name}], ``lines``
 * [{value, cls, label}], ``band`` {low, high} or null, ``format(v)`` for the value axis and
 * ``clock(ms)`` for the time axis (site local time with its offset).
 */
export function lineChart(chart, { times, series, lines = [], band = null, format, clock, empty }) {
  chart.replaceChildren();
  chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const values = series.flatMap((s) => s.values.filter((v) => v !== null));
  if (!times.length || !values.length) {
    chart.append(node("text", { x: LEFT, y: H / 2, class: "axis" }, empty));
    return;
  }
  const marks = lines.map((l) => l.value).concat(band ? [band.low, band.high] : []);
  let lo = Math.min(...values, ...marks), hi = Math.max(...values, ...marks);
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.05;
  lo -= pad; hi += pad;
  const t0 = times[0], t1 = Math.max(times[times.length - 1], t0 + 1);
  const x = (t) => LEFT + ((t - t0) / (t1 - t0)) * (W - LEFT - RIGHT);
  const y = (v) => TOP + ((hi - v) / (hi - lo)) * (H - TOP - BOTTOM);
  if (band) {
    chart.append(node("rect", { class: "band", x: LEFT, y: y(band.high), width: W - LEFT - RIGHT,
      height: y(band.low) - y(band.high) }));
  }
  for (const line of lines.concat(band ? [{ value: band.low, cls: "limit-line" },
    { value: band.high, cls: "limit-line" }] : [])) {
    chart.append(node("line", { class: line.cls, x1: LEFT, x2: W - RIGHT, y1: y(line.value),
      y2: y(line.value), "data-limit": line.value }));
    if (line.label) {
      chart.append(node("text", { class: "axis", x: W - RIGHT - 2, y: y(line.value) - 2,
        "text-anchor": "end" }, line.label));
    }
  }
  for (const s of series) {
    let run = [];
    const flush = () => {
      if (run.length > 1) chart.append(node("polyline", { class: s.cls, "data-series": s.name,
        points: run.join(" ") }));
      if (run.length === 1) { // a point between gaps: a dot, or it would not be seen
        const [cx, cy] = run[0].split(",");
        chart.append(node("circle", { class: `${s.cls} dot`, "data-series": s.name, cx, cy, r: 2.5 }));
      }
      run = [];
    };
    s.values.forEach((v, i) => { if (v === null) flush(); else run.push(`${x(times[i]).toFixed(1)},${y(v).toFixed(1)}`); });
    flush();
  }
  for (const v of [lo + pad, hi - pad]) {
    chart.append(node("text", { class: "axis", x: 2, y: y(v) + 3 }, format(v)));
  }
  const iso = (t) => new Date(t).toISOString();
  chart.append(node("text", { class: "axis", x: LEFT, y: H - 6, "data-utc": iso(t0) }, clock(t0)));
  chart.append(node("text", { class: "axis", x: W - RIGHT, y: H - 6, "text-anchor": "end",
    "data-utc": iso(t1) }, clock(t1)));
}
