// Live dashboard of the head-end. Plain JS, no libraries (the head-end runs without internet).
// State comes from the JSON API once, then from the server-sent event stream (/api/stream):
// `reading` events update the live cells, `fleet` events the transformer/building figures,
// `alarms` events the open alarm list. EventSource cannot send an Authorization header, so the
// stream gets the token as ?access_token=; every other call sends it as a Bearer header.
"use strict";

const TOKEN_KEY = "headend.token";
const LIVE_QUANTITIES = ["voltage_a", "current_a", "power_active_total"];
const VOLTAGE_SCALE = [180, 250]; // drawn range of the voltage bars, V
const LOAD_SCALE = 1.2; // load bars run to 120 % of rated kVA

const state = { token: null, meters: new Map(), band: { low: 198, high: 235.4 },
  limits: { heavy: 0.8, overload: 1.0 }, meterPage: null, history: [], stream: null,
  timeFormat: null };

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function formatValue(value) {
  if (value === null || value === undefined) return "–";
  return String(Number(value.toFixed(3)));
}

// -- time -----------------------------------------------------------------------------------
// One convention on the whole page: site local time (the fleet's [site] timezone, which
// /health gives) with its UTC offset, e.g. "2026-03-10 12:00:00 +08:00". The API's instants
// are UTC; every shown time keeps its instant in a data-utc attribute.

function useTimeZone(timeZone) {
  const options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "longOffset" };
  try {
    state.timeFormat = new Intl.DateTimeFormat("en-US", { ...options, timeZone });
  } catch (error) { // a zone this browser's ICU lacks: still one convention, and say so
    showError(`site time zone ${timeZone} unknown to this browser: times are shown in UTC`);
    state.timeFormat = new Intl.DateTimeFormat("en-US", { ...options, timeZone: "UTC" });
    timeZone = "UTC";
  }
  const offset = siteParts(Date.now()).offset;
  $("#zone").textContent = `${timeZone} (UTC${offset})`;
}

function siteParts(instant) {
  const parts = Object.fromEntries(state.timeFormat.formatToParts(new Date(instant))
    .map((part) => [part.type, part.value]));
  return { ...parts, offset: parts.timeZoneName.replace("GMT", "") || "+00:00" };
}

function siteDateTime(instant) {
  const p = siteParts(instant);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.offset}`;
}

function siteClock(instant) {
  const p = siteParts(instant);
  return `${p.hour}:${p.minute} ${p.offset}`;
}

function timeText(iso) {
  return el("time", { dateTime: iso, "data-utc": iso }, siteDateTime(iso));
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

// A refused API call, with its HTTP status so callers can tell "no such thing" (404) from
// "not allowed" (401/403) from the head-end or meter failing (5xx).
class ApiError extends Error {
  constructor(path, status, detail) {
    super(`${path}: ${status} ${detail}`);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin();
    throw new ApiError(path, 401, "token refused");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = JSON.stringify((await response.json()).detail); } catch (_) { /* keep */ }
    throw new ApiError(path, response.status, detail);
  }
  return response.json();
}

// -- token ------------------------------------------------------------------------------------

function fragmentParams() {
  return new URLSearchParams(location.hash.replace(/^#/, ""));
}

function takeToken() {
  const params = fragmentParams();
  const fromLink = params.get("token");
  if (fromLink) {
    sessionStorage.setItem(TOKEN_KEY, fromLink);
    params.delete("token");
    history.replaceState(null, "", `${location.pathname}${params.toString() ? "#" + params : ""}`);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function showLogin() {
  if (state.stream) state.stream.close();
  $("#app").hidden = true;
  $("#login").hidden = false;
}

// -- bars -------------------------------------------------------------------------------------

function voltageBar(min, avg) {
  const [lo, hi] = VOLTAGE_SCALE;
  const x = (v) => Math.max(0, Math.min(220, ((v - lo) / (hi - lo)) * 220));
  const bar = svg("svg", { class: "bar", viewBox: "0 0 220 18" });
  bar.append(svg("rect", { class: "band", x: x(state.band.low), y: 2,
    width: x(state.band.high) - x(state.band.low), height: 14 }));
  for (const limit of [state.band.low, state.band.high]) {
    bar.append(svg("line", { class: "limit", x1: x(limit), x2: x(limit), y1: 0, y2: 18 }));
  }
  if (min !== null) bar.append(svg("rect", { class: "marker", x: x(min) - 1.5, y: 3, width: 3, height: 12 }));
  if (avg !== null) bar.append(svg("circle", { class: "marker avg", cx: x(avg), cy: 9, r: 3.5 }));
  return bar;
}

function loadBar(rate) {
  const x = (r) => Math.max(0, Math.min(220, (r / LOAD_SCALE) * 220));
  const bar = svg("svg", { class: "bar", viewBox: "0 0 220 18" });
  if (rate !== null) {
    const kind = rate > state.limits.overload ? "load over" : rate > state.limits.heavy ? "load heavy" : "load";
    bar.append(svg("rect", { class: kind, x: 0, y: 3, width: x(rate), height: 12 }));
  }
  bar.append(svg("line", { class: "limit heavy", x1: x(state.limits.heavy), x2: x(state.limits.heavy), y1: 0, y2: 18 }));
  bar.append(svg("line", { class: "limit", x1: x(state.limits.overload), x2: x(state.limits.overload), y1: 0, y2: 18 }));
  return bar;
}

function voltageText(group) {
  const text = `${formatValue(group.voltage_min)} / ${formatValue(group.voltage_avg)}`;
  const out = group.voltage_min !== null && group.voltage_min < state.band.low;
  return el("td", { class: out ? "num out-of-band" : "num", "data-group": group.name, "data-figure": "voltage" }, text);
}

// -- fleet --------------------------------------------------------------------------------------

function percent(rate) {
  return rate === null ? "–" : `${Math.round(rate * 100)} %`;
}

// The load the overload rule judges, and where it comes from: measured (terminal or LV-side
// meter) or the sum of the load meters that answered, scaled up to all of them.
function loadText(t) {
  const source = t.load_source === "terminal" ? "measured"
    : t.load_source === "meters" ? `meters ${t.meters_answered}/${t.meters}` : "unknown";
  return `${formatValue(t.load_kw)} kW of ${formatValue(t.rated_kva)} kVA (${source})`;
}

// What the terminal itself reports, its own load rate included: shown apart from the judged
// rate, which may differ (the terminal's power factor is not the rules' assumed one).
function terminalText(terminal) {
  if (!terminal) return "–";
  return `${terminal.device}: ${formatValue(terminal.power_kw)} kW, ${percent(terminal.load_rate)}`;
}

function renderFleet(fleet) {
  state.band = fleet.voltage_band;
  state.limits = fleet.load_limits;
  $("#site").textContent = fleet.site;
  $("#clock").replaceChildren(timeText(fleet.now));
  const transformers = $("#transformers tbody");
  transformers.replaceChildren(...fleet.transformers.map((t) => el("tr", {},
    el("td", {}, t.name), el("td", { class: "num" }, `${t.online}/${t.meters}`), voltageText(t),
    el("td", {}, voltageBar(t.voltage_min, t.voltage_avg)),
    el("td", { class: "num", "data-group": t.name, "data-figure": "load" }, loadText(t)),
    el("td", { "data-group": t.name, "data-figure": "load-rate" }, loadBar(t.load_rate),
      ` ${percent(t.load_rate)}`),
    el("td", { class: "num", "data-group": t.name, "data-figure": "terminal" },
      terminalText(t.terminal)))));
  const buildings = $("#buildings tbody");
  buildings.replaceChildren(...fleet.buildings.map((b) => el("tr", {},
    el("td", {}, b.name), el("td", { class: "num" }, `${b.online}/${b.meters}`), voltageText(b),
    el("td", {}, voltageBar(b.voltage_min, b.voltage_avg)),
    el("td", { class: "num" }, `${formatValue(b.load_kw)} kW`))));
}

function renderMeters() {
  const rows = [...state.meters.values()].map((m) => el("tr", {},
    el("td", {}, el("a", { class: "meter-link", href: `#meter=${encodeURIComponent(m.id)}` }, m.id)),
    el("td", {}, m.transformer ?? ""), el("td", {}, m.building ?? ""),
    el("td", { class: m.status === "offline" ? "offline" : "" }, m.status),
    ...LIVE_QUANTITIES.map((q) => el("td", { class: "num", "data-meter": m.id, "data-quantity": q },
      formatValue(m.latest[q]?.value)))));
  $("#meters tbody").replaceChildren(...rows);
}

function renderAlarms(alarms) {
  $("#alarm-count").textContent = alarms.length;
  $("#alarms tbody").replaceChildren(...alarms.map((a) => el("tr", {},
    el("td", {}, timeText(a.start)),
    el("td", { class: `severity-${a.severity}` }, a.severity),
    el("td", {}, `${a.subject_kind} ${a.subject}`), el("td", {}, a.kind), el("td", {}, a.message),
    el("td", {}, a.acknowledged_by ? `by ${a.acknowledged_by}` : ackButton(a.id)))));
}

function ackButton(alarmId) {
  const button = el("button", { type: "button" }, "acknowledge");
  button.addEventListener("click", async () => {
    try {
      await api(`/api/alarms/${encodeURIComponent(alarmId)}/ack`, { method: "POST" });
      showError("");
      renderAlarms(await api("/api/alarms"));
    } catch (error) {
      const why = error.status === 403 ? "needs an operator token"
        : error.status === 404 ? "failed, the head-end does not know this alarm" : "failed";
      showError(`acknowledge ${why}: ${error.message}`);
    }
  });
  return button;
}

async function loadCompleteness() {
  const rows = await api("/api/completeness?group_by=transformer");
  $("#completeness tbody").replaceChildren(...rows.map((r) => el("tr", {},
    el("td", {}, r.group), el("td", { class: "num" }, r.expected),
    el("td", { class: "num" }, r.received), el("td", { class: "num" }, r.backfilled),
    el("td", { class: "num" }, `${(r.success_rate * 100).toFixed(1)} %`),
    el("td", {}, Object.entries(r.failures).map(([k, v]) => `${k}: ${v}`).join(", ")))));
}

// -- meter page ---------------------------------------------------------------------------------

async function openMeter(meterId) {
  state.meterPage = meterId;
  $("#fleet-page").hidden = true;
  $("#meter-page").hidden = false;
  $("#meter-title").textContent = meterId;
  const meter = await api(`/api/meters/${encodeURIComponent(meterId)}`);
  const facts = ["status", "last_reason", "channel", "protocol", "address", "transformer",
    "building", "household", "phase"];
  $("#meter-facts").replaceChildren(...facts.flatMap((k) => [el("dt", {}, k), el("dd", {}, meter[k] ?? "–")]));
  $("#meter-latest tbody").replaceChildren(...meter.latest.map((r) => el("tr", {},
    el("td", {}, r.quantity),
    el("td", { class: "num", "data-meter": meterId, "data-quantity": r.quantity, "data-page": "meter" },
      formatValue(r.value)),
    el("td", {}, r.unit), el("td", {}, timeText(r.timestamp)), el("td", {}, r.quality))));
  await loadHistory();
}

async function loadHistory() {
  const quantity = $("#history-quantity").value;
  const path = `/api/meters/${encodeURIComponent(state.meterPage)}/readings?quantity=${quantity}`;
  try {
    const history = await api(path);
    state.history = history.points.filter((p) => p.value !== null)
      .map((p) => ({ t: Date.parse(p.timestamp), v: p.value }));
  } catch (error) {
    state.history = [];
    showError(error.message);
  }
  drawHistory();
}

function drawHistory() {
  const chart = $("#history-chart");
  chart.replaceChildren();
  const quantity = $("#history-quantity").value;
  const points = state.history;
  const isVoltage = quantity.startsWith("voltage");
  const values = points.map((p) => p.v).concat(isVoltage ? [state.band.low, state.band.high] : []);
  if (!points.length) {
    chart.append(Object.assign(svg("text", { x: 20, y: 110, class: "axis" }), { textContent: "no stored values in the last 24 h" }));
    return;
  }
  const [w, h, pad] = [600, 220, 34];
  const t0 = points[0].t, t1 = Math.max(points[points.length - 1].t, t0 + 1);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const x = (t) => pad + ((t - t0) / (t1 - t0)) * (w - 2 * pad);
  const y = (v) => h - pad + ((lo - v) / (hi - lo)) * (h - 2 * pad);
  if (isVoltage) {
    chart.append(svg("rect", { class: "band", x: pad, y: y(state.band.high), width: w - 2 * pad,
      height: y(state.band.low) - y(state.band.high) }));
    for (const limit of [state.band.low, state.band.high]) {
      chart.append(svg("line", { class: "limit", x1: pad, x2: w - pad, y1: y(limit), y2: y(limit) }));
    }
  }
  chart.append(svg("polyline", { class: "line", points: points.map((p) => `${x(p.t)},${y(p.v)}`).join(" ") }));
  for (const v of [lo, hi]) {
    chart.append(Object.assign(svg("text", { x: 2, y: y(v) + 3, class: "axis" }), { textContent: formatValue(v) }));
  }
  const utc = (t) => new Date(t).toISOString();
  chart.append(Object.assign(svg("text", { x: pad, y: h - 8, class: "axis", "data-utc": utc(t0) }),
    { textContent: siteClock(t0) }));
  chart.append(Object.assign(svg("text", { x: w - pad, y: h - 8, class: "axis", "text-anchor": "end",
    "data-utc": utc(t1) }), { textContent: siteClock(t1) }));
}

function closeMeter() {
  state.meterPage = null;
  $("#meter-page").hidden = true;
  $("#fleet-page").hidden = false;
}

function route() {
  const meterId = fragmentParams().get("meter");
  if (meterId) openMeter(meterId).catch((error) => showError(error.message));
  else closeMeter();
}

// -- live updates -------------------------------------------------------------------------------

function applyReading(reading) {
  // A daily freeze carries its register's name but is not the live value (the API's latest
  // keeps the live one too): the table and the live chart show interval reads only.
  if (reading.kind === "frozen") return;
  const meter = state.meters.get(reading.meter);
  if (meter && reading.value !== null) meter.latest[reading.quantity] = reading;
  const text = formatValue(reading.value);
  for (const cell of document.querySelectorAll(`td[data-meter="${CSS.escape(reading.meter)}"][data-quantity="${CSS.escape(reading.quantity)}"]`)) {
    if (reading.value !== null) cell.textContent = text;
  }
  if (state.meterPage === reading.meter && reading.quantity === $("#history-quantity").value && reading.value !== null) {
    state.history.push({ t: Date.parse(reading.timestamp), v: reading.value });
    drawHistory();
  }
}

function connect() {
  const source = new EventSource(`/api/stream?access_token=${encodeURIComponent(state.token)}`);
  state.stream = source;
  const badge = $("#connection");
  source.onopen = () => { badge.textContent = "live"; badge.className = "badge on"; };
  source.onerror = () => { badge.textContent = "reconnecting"; badge.className = "badge off"; };
  source.addEventListener("reading", (event) => applyReading(JSON.parse(event.data)));
  source.addEventListener("fleet", (event) => renderFleet(JSON.parse(event.data)));
  source.addEventListener("alarms", (event) => renderAlarms(JSON.parse(event.data)));
}

async function start() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  try {
    const [health, meters, latest, fleet, alarms] = await Promise.all([api("/health"),
      api("/api/meters"), api("/api/readings/latest"), api("/api/fleet"), api("/api/alarms")]);
    useTimeZone(health.timezone);
    state.meters = new Map(meters.map((m) => [m.id, { ...m, latest: {} }]));
    for (const reading of latest) applyReading(reading);
    renderFleet(fleet);
    renderMeters();
    renderAlarms(alarms);
    connect();
    route();
    await loadCompleteness();
    setInterval(() => loadCompleteness().catch((e) => showError(e.message)), 30000);
  } catch (error) {
    showError(error.message);
  }
}

window.addEventListener("hashchange", route);
$("#back").addEventListener("click", () => { location.hash = ""; });
$("#history-quantity").addEventListener("change", () => loadHistory());
$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token-input").value);
  state.token = $("#token-input").value;
  start();
});

state.token = takeToken();
if (state.token) start(); else showLogin();
