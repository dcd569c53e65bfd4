// Live dashboard of the head-end. Plain JS modules, no libraries (the head-end runs without
// internet). State comes from the JSON API once, then from the server-sent event stream
// (/api/stream): `reading` events update the live cells, `fleet` events the transformer and
// building figures, `alarms` (and, where the head-end groups them, `incidents`) the list an
// operator works from. EventSource cannot send an Authorization header, so the stream gets the
// token as ?access_token=; every other call sends it as a Bearer header.
"use strict";

import { lineChart } from "/dashboard/chart.js";
import { formatNumber, formatQuantity, percent } from "/dashboard/format.js";
import { alarmLabel, chooseLanguage, incidentLabel, language, quantityLabel, severityLabel,
  stateLabel, t, useLanguage } from "/dashboard/i18n.js";

const TOKEN_KEY = "headend.token";
const LIVE_QUANTITIES = ["voltage_a", "current_a", "power_active_total"];
const VOLTAGE_SCALE = [180, 250]; // drawn range of the voltage bars, V
const LOAD_SCALE = 1.2; // load bars run to 120 % of rated kVA
const PAGE_SIZE = 50; // meters per page of the meter list
const FROZEN_DAYS = 7;
const HISTORY_QUANTITIES = ["voltage_a", "current_a", "power_active_total", "power_factor_total",
  "frequency", "energy_active_import_total"];

const state = { token: null, meters: new Map(), band: { low: 198, high: 235.4 },
  limits: { heavy: 0.8, overload: 1.0 }, meterPage: null, history: [], stream: null,
  timeFormat: null, timeZone: "UTC", fleet: null, alarms: [], incidents: null, trends: null,
  list: { query: "", status: "", sort: "id", descending: false, page: 0 }, operator: null,
  ungrouped: false };

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
  state.timeZone = timeZone;
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

function siteDay(instant) {
  const p = siteParts(instant);
  return `${p.year}-${p.month}-${p.day}`;
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
  if (options.body) headers["Content-Type"] = "application/json";
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

function refusal(error) {
  return error.status === 403 ? t("needs_operator") : error.status === 404 ? t("unknown_thing")
    : error.status === 409 ? t("conflict") : t("failed");
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

const volts = (v) => formatQuantity("voltage", v);
const kilowatts = (v) => formatQuantity("power_active_total", v);

function voltageText(group) {
  const text = `${volts(group.voltage_min)} / ${volts(group.voltage_avg)}`;
  const out = group.voltage_min !== null && group.voltage_min < state.band.low;
  return el("td", { class: out ? "num out-of-band" : "num", "data-group": group.name, "data-figure": "voltage" }, text);
}

// -- overview -----------------------------------------------------------------------------------

// The load the overload rule judges, and where it comes from: measured (terminal or LV-side
// meter) or the sum of the load meters that answered, scaled up to all of them.
function loadText(tr) {
  const source = tr.load_source === "terminal" ? t("measured")
    : tr.load_source === "meters" ? t("from_meters", { n: tr.meters_answered, of: tr.meters })
      : t("unknown");
  return t("load_of", { kw: formatNumber(tr.load_kw, 2), kva: tr.rated_kva, source });
}

// What the terminal itself reports, its own load rate included: shown apart from the judged
// rate, which may differ (the terminal's power factor is not the rules' assumed one).
function terminalText(terminal) {
  if (!terminal) return "–";
  return `${terminal.device}: ${formatNumber(terminal.power_kw, 2)} kW, ${percent(terminal.load_rate)}`;
}

function renderFleet(fleet) {
  state.fleet = fleet;
  state.band = fleet.voltage_band;
  state.limits = fleet.load_limits;
  $("#site").textContent = fleet.site;
  $("#clock").replaceChildren(timeText(fleet.now));
  $("#transformers tbody").replaceChildren(...fleet.transformers.map((tr) => el("tr", {},
    el("td", {}, tr.name), el("td", { class: "num" }, `${tr.online}/${tr.meters}`), voltageText(tr),
    el("td", {}, voltageBar(tr.voltage_min, tr.voltage_avg)),
    el("td", { class: "num", "data-group": tr.name, "data-figure": "load" }, loadText(tr)),
    el("td", { "data-group": tr.name, "data-figure": "load-rate" }, loadBar(tr.load_rate),
      ` ${percent(tr.load_rate)}`),
    el("td", { class: "num", "data-group": tr.name, "data-figure": "terminal" },
      terminalText(tr.terminal)))));
  $("#buildings tbody").replaceChildren(...fleet.buildings.map((b) => el("tr", {},
    el("td", {}, b.name), el("td", { class: "num" }, `${b.online}/${b.meters}`), voltageText(b),
    el("td", {}, voltageBar(b.voltage_min, b.voltage_avg)),
    el("td", { class: "num" }, `${formatNumber(b.load_kw, 2)} kW`))));
}

function chartFigure(title, name) {
  const chart = svg("svg", { class: "chart", role: "img", "data-chart": name });
  return [el("figure", {}, el("figcaption", {}, title), chart), chart];
}

function renderTrends() {
  const trends = state.trends;
  if (!trends) return;
  const times = trends.buckets.map((b) => Date.parse(b));
  const common = { times, clock: siteClock, empty: t("no_data") };
  const loads = trends.transformers.map((tr) => {
    const [figure, chart] = chartFigure(`${tr.name} (${tr.rated_kva} kVA)`, `load-${tr.name}`);
    lineChart(chart, { ...common, format: (v) => `${Math.round(v * 100)} %`,
      series: [{ values: tr.load_rate, cls: "line load-rate", name: "load_rate" }],
      lines: [{ value: trends.load_limits.heavy, cls: "limit-line heavy", label: "80 %" },
        { value: trends.load_limits.overload, cls: "limit-line", label: "100 %" }] });
    return figure;
  });
  $("#load-charts").replaceChildren(...loads);
  const voltages = trends.buildings.map((b) => {
    const [figure, chart] = chartFigure(b.name, `voltage-${b.name}`);
    lineChart(chart, { ...common, format: volts, band: trends.voltage_band,
      series: [{ values: b.voltage_min, cls: "line voltage-min", name: "voltage_min" },
        { values: b.voltage_avg, cls: "line voltage-avg", name: "voltage_avg" }] });
    return figure;
  });
  $("#voltage-charts").replaceChildren(...voltages);
}

async function loadTrends() {
  state.trends = await api("/api/trends?hours=24&bucket_minutes=15");
  renderTrends();
}

async function loadKpis() {
  const kpi = await api("/api/kpi/collection?by=transformer");
  $("#kpi-collection").textContent = percent(kpi.total.success_rate, 1);
  // Line loss is a figure of a finished local day: yesterday's, site time, by the head-end's
  // clock (not this browser's).
  const now = state.fleet ? Date.parse(state.fleet.now) : Date.now();
  const yesterday = siteDay(now - 86400000);
  $("#kpi-line-loss-day").textContent = ` ${yesterday}`;
  try {
    const loss = await api(`/api/area/line-loss?day=${yesterday}`);
    const rows = loss.line_loss;
    $("#kpi-line-loss").textContent = rows.map((r) =>
      `${r.transformer}: ${r.loss_percent === null ? "–" : formatNumber(r.loss_percent, 2) + " %"}`)
      .join(" · ") || "–";
  } catch (error) {
    $("#kpi-line-loss").textContent = "–";
    $("#kpi-line-loss").title = error.message;
  }
}

async function loadCompleteness() {
  const rows = await api("/api/completeness?group_by=transformer");
  $("#completeness tbody").replaceChildren(...rows.map((r) => el("tr", {},
    el("td", {}, r.group), el("td", { class: "num" }, r.expected),
    el("td", { class: "num" }, r.received), el("td", { class: "num" }, r.backfilled),
    el("td", { class: "num" }, percent(r.success_rate, 1)),
    el("td", {}, Object.entries(r.failures).map(([k, v]) => `${k}: ${v}`).join(", ")))));
}

// -- incidents and alarms -----------------------------------------------------------------------
// Incidents group the alarms that share a cause (GET /api/incidents). A head-end without that
// route answers 404: the page then lists the alarms themselves, and says so.

function renderAlarms(alarms) {
  state.alarms = alarms;
  if (state.incidents === null) $("#alarm-count").textContent = alarms.length;
  $("#alarms tbody").replaceChildren(...alarms.map((a) => el("tr", { "data-alarm": a.id },
    el("td", {}, timeText(a.start)),
    el("td", { class: `severity-${a.severity}` }, severityLabel(a.severity)),
    el("td", {}, `${a.subject_kind} ${a.subject}`),
    el("td", { "data-kind": a.kind }, alarmLabel(a.kind)), el("td", {}, a.message),
    el("td", {}, a.acknowledged_by ? t("by", { user: a.acknowledged_by }) : ackButton(a.id)))));
  renderEvents();
}

function renderIncidents(incidents) {
  state.incidents = incidents;
  $("#incidents").hidden = false;
  $("#alarms").hidden = true;
  state.ungrouped = false;
  $("#incidents-note").textContent = "";
  $("#alarm-count").textContent = incidents.length;
  $("#kpi-incidents").textContent = incidents.filter((i) => i.state === "open").length;
  $("#incidents tbody").replaceChildren(...incidents.map((i) => el("tr",
    { "data-incident": i.id, "data-kind": i.kind },
    el("td", { class: `severity-${i.severity}` }, severityLabel(i.severity)),
    el("td", {}, incidentLabel(i.kind)), el("td", {}, i.subject),
    el("td", {}, timeText(i.opened_at)),
    el("td", { class: "num", title: i.meters.map((m) => m.meter).join(", ") }, i.alarm_count),
    el("td", {}, i.acknowledged ? `${t("by", { user: i.acknowledged.by })} ${i.acknowledged.note}`
      : i.state === "open" ? incidentAckButton(i.id) : stateLabel(i.state)))));
}

async function loadIncidents() {
  try {
    const answer = await api("/api/incidents?state=all&limit=200");
    renderIncidents(answer.incidents.filter((i) => i.state !== "cleared"));
  } catch (error) {
    if (error.status !== 404) throw error;
    state.incidents = null; // no incidents here: the alarms are the list
    state.ungrouped = true;
    $("#incidents-note").textContent = t("alarms_not_grouped");
    $("#kpi-incidents").textContent = state.alarms.length;
  }
}

function ackButton(alarmId) {
  const button = el("button", { type: "button" }, t("acknowledge"));
  button.addEventListener("click", async () => {
    try {
      await api(`/api/alarms/${encodeURIComponent(alarmId)}/ack`, { method: "POST" });
      showError("");
      renderAlarms(await api("/api/alarms"));
    } catch (error) {
      showError(`${t("acknowledge")}: ${refusal(error)}: ${error.message}`);
    }
  });
  return button;
}

// An inline note, not prompt(): a modal dialog would stop the live updates behind it.
function incidentAckButton(incidentId) {
  const note = el("input", { type: "text", maxLength: 200, placeholder: t("ack_note"),
    className: "ack-note" });
  const button = el("button", { type: "button" }, t("acknowledge"));
  button.addEventListener("click", async () => {
    try {
      await api(`/api/incidents/${encodeURIComponent(incidentId)}/ack`,
        { method: "POST", body: JSON.stringify({ note: note.value }) });
      showError("");
      await loadIncidents();
    } catch (error) {
      showError(`${t("acknowledge")}: ${refusal(error)}: ${error.message}`);
    }
  });
  return el("span", { class: "ack" }, note, button);
}

// -- meter list: search, filter, sort, pages (client side: /api/meters lists every meter) -----

function meterKey(meter, key) {
  if (LIVE_QUANTITIES.includes(key)) return meter.latest[key]?.value ?? -Infinity;
  return meter[key] ?? "";
}

function visibleMeters() {
  const { query, status, sort, descending } = state.list;
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const rows = [...state.meters.values()].filter((m) => (!status || m.status === status)
    && words.every((w) => [m.id, m.transformer, m.building, m.channel, m.address, m.household]
      .some((v) => String(v ?? "").toLowerCase().includes(w))));
  rows.sort((a, b) => {
    const [x, y] = [meterKey(a, sort), meterKey(b, sort)];
    const order = typeof x === "number" && typeof y === "number" ? x - y
      : String(x).localeCompare(String(y), undefined, { numeric: true });
    return descending ? -order : order;
  });
  return rows;
}

function renderMeters() {
  const rows = visibleMeters();
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  state.list.page = Math.min(state.list.page, pages - 1);
  const first = state.list.page * PAGE_SIZE;
  $("#meter-page-info").textContent = t("page_of", { page: state.list.page + 1, pages,
    count: rows.length });
  $("#meters tbody").replaceChildren(...rows.slice(first, first + PAGE_SIZE).map((m) => el("tr", {},
    el("td", {}, el("a", { class: "meter-link", href: `#meter=${encodeURIComponent(m.id)}` }, m.id)),
    el("td", {}, m.transformer ?? ""), el("td", {}, m.building ?? ""),
    el("td", { class: m.status === "offline" ? "offline" : "" }, stateLabel(m.status)),
    ...LIVE_QUANTITIES.map((q) => el("td", { class: "num", "data-meter": m.id, "data-quantity": q },
      formatQuantity(q, m.latest[q]?.value))))));
}

// -- topology -------------------------------------------------------------------------------------

async function renderTopology() {
  const meters = [...state.meters.values()];
  const tree = new Map();
  for (const m of meters) {
    const transformer = m.transformer ?? "–";
    if (!tree.has(transformer)) tree.set(transformer, new Map());
    const buildings = tree.get(transformer);
    const building = m.building ?? "–";
    if (!buildings.has(building)) buildings.set(building, []);
    buildings.get(building).push(m);
  }
  $("#topology").replaceChildren(...[...tree].map(([transformer, buildings]) =>
    el("details", { open: true, "data-transformer": transformer },
      el("summary", {}, `${t("transformer")} ${transformer}`),
      el("ul", {}, ...[...buildings].map(([building, list]) => el("li", {},
        `${t("building")} ${building}: `, ...list.map((m) => el("a",
          { class: `meter-link ${m.status === "offline" ? "offline" : ""}`,
            href: `#meter=${encodeURIComponent(m.id)}` }, `${m.id} `))))))));
  const channels = new Map();
  for (const m of meters) {
    const key = m.channel ?? m.terminal ?? "–";
    const c = channels.get(key) ?? { total: 0, online: 0 };
    c.total += 1; c.online += m.status === "offline" ? 0 : 1;
    channels.set(key, c);
  }
  $("#channels tbody").replaceChildren(...[...channels].map(([name, c]) => el("tr", {},
    el("td", {}, name), el("td", { class: "num" }, `${c.online}/${c.total}`),
    el("td", { class: c.online ? "" : "offline" }, c.online ? t("up") : t("down")))));
  $("#unread").replaceChildren(...meters.filter((m) => m.status === "offline").map((m) =>
    el("li", {}, el("a", { class: "meter-link", href: `#meter=${encodeURIComponent(m.id)}` }, m.id),
      ` ${m.last_reason ?? ""}`)));
  const terminals = await api("/api/terminals");
  $("#terminals tbody").replaceChildren(...terminals.map((x) => el("tr", {},
    el("td", {}, x.name ?? x.address), el("td", {}, x.transformer ?? "–"),
    el("td", { class: x.status === "online" ? "" : "offline" }, stateLabel(x.status)),
    el("td", { class: "num" }, x.meters), el("td", {}, x.last_pull ? timeText(x.last_pull) : "–"))));
}

// -- meter page ---------------------------------------------------------------------------------

async function openMeter(meterId) {
  state.meterPage = meterId;
  $("#meter-title").textContent = meterId;
  const meter = await api(`/api/meters/${encodeURIComponent(meterId)}`);
  const facts = ["status", "last_reason", "channel", "protocol", "address", "transformer",
    "building", "household", "phase"];
  $("#meter-facts").replaceChildren(...facts.flatMap((k) => [el("dt", {}, t(k)),
    el("dd", {}, k === "status" ? stateLabel(meter[k]) : meter[k] ?? "–")]));
  const quantities = meter.latest.map((r) => r.quantity);
  const select = $("#history-quantity");
  const chosen = select.value || "voltage_a";
  select.replaceChildren(...[...new Set([...HISTORY_QUANTITIES.filter((q) => quantities.includes(q)),
    ...quantities])].map((q) => el("option", { value: q }, quantityLabel(q))));
  if (quantities.includes(chosen)) select.value = chosen;
  $("#meter-latest tbody").replaceChildren(...meter.latest.map((r) => el("tr", {},
    el("td", { title: r.quantity }, quantityLabel(r.quantity)),
    el("td", { class: "num", "data-meter": meterId, "data-quantity": r.quantity, "data-page": "meter" },
      formatQuantity(r.quantity, r.value)),
    el("td", {}, r.unit), el("td", {}, timeText(r.timestamp)), el("td", {}, r.quality))));
  renderEvents();
  await Promise.all([loadHistory(), loadFrozen(), loadAudit()]);
}

async function loadHistory() {
  const quantity = $("#history-quantity").value;
  if (!quantity) return;
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
  const quantity = $("#history-quantity").value;
  lineChart($("#history-chart"), { times: state.history.map((p) => p.t),
    series: [{ values: state.history.map((p) => p.v), cls: "line", name: quantity }],
    band: quantity.startsWith("voltage") ? state.band : null,
    format: (v) => formatQuantity(quantity, v), clock: siteClock, empty: t("no_history") });
}

async function loadFrozen() {
  const end = new Date();
  const start = new Date(end.getTime() - FROZEN_DAYS * 86400000);
  const path = `/api/meters/${encodeURIComponent(state.meterPage)}/readings?quantity=`
    + `energy_active_import_total&kind=frozen&start=${start.toISOString()}&end=${end.toISOString()}`;
  try {
    const frozen = await api(path);
    $("#meter-frozen tbody").replaceChildren(...frozen.points.map((p) => el("tr", {},
      el("td", {}, timeText(p.timestamp)),
      el("td", { class: "num" }, `${formatQuantity("energy_active_import_total", p.value)} kWh`),
      el("td", {}, p.quality))));
  } catch (error) {
    $("#meter-frozen tbody").replaceChildren(el("tr", {}, el("td", { colSpan: 3 }, error.message)));
  }
}

function renderEvents() {
  if (!state.meterPage) return;
  const mine = state.alarms.filter((a) => a.subject === state.meterPage);
  $("#meter-events tbody").replaceChildren(...mine.map((a) => el("tr", {},
    el("td", {}, timeText(a.start)), el("td", {}, alarmLabel(a.kind)), el("td", {}, a.message))));
}

// The audit trail needs the operator role; whether it is given also tells the page whether to
// show the control panel (the head-end still checks every order itself).
async function loadAudit() {
  try {
    const entries = await api(`/api/audit?meter=${encodeURIComponent(state.meterPage)}&limit=50`);
    state.operator = true;
    $("#audit-note").textContent = "";
    $("#meter-audit tbody").replaceChildren(...entries.map((e) => el("tr", {},
      el("td", {}, timeText(e.at ?? e.timestamp)), el("td", {}, e.user ?? ""),
      el("td", {}, e.action ?? e.command ?? ""), el("td", {}, e.outcome ?? ""))));
  } catch (error) {
    if (error.status !== 403) throw error;
    state.operator = false;
    $("#audit-note").textContent = t("audit_needs_operator");
    $("#meter-audit tbody").replaceChildren();
  }
  $("#control-panel").hidden = !state.operator;
}

async function control(path, body) {
  const result = $("#control-result");
  result.textContent = t("sending");
  try {
    const answer = await api(path, { method: "POST", body: JSON.stringify(body ?? {}) });
    result.textContent = `${t("done")}: ${JSON.stringify(answer).slice(0, 300)}`;
    await openMeter(state.meterPage);
  } catch (error) {
    result.textContent = `${refusal(error)}: ${error.message}`;
  }
}

function sendRelay() {
  const action = $("#relay-action").value;
  const reason = $("#relay-reason").value.trim();
  if (!reason) { $("#control-result").textContent = t("reason_needed"); return; }
  if (!confirm(t("relay_confirm", { action: t(`relay_${action}`), meter: state.meterPage }))) return;
  control(`/api/meters/${encodeURIComponent(state.meterPage)}/relay`, { action, reason });
}

// -- pages ----------------------------------------------------------------------------------------

const PAGES = ["fleet-page", "topology-page", "meters-page", "meter-page"];

function show(page) {
  for (const id of PAGES) $(`#${id}`).hidden = id !== page;
}

function route() {
  const params = fragmentParams();
  const meterId = params.get("meter");
  const page = params.get("page");
  if (meterId) {
    show("meter-page");
    openMeter(meterId).catch((error) => showError(error.message));
    return;
  }
  state.meterPage = null;
  if (page === "topology") {
    show("topology-page");
    renderTopology().catch((error) => showError(error.message));
  } else if (page === "meters") {
    show("meters-page");
    renderMeters();
  } else {
    show("fleet-page");
  }
}

// -- live updates -------------------------------------------------------------------------------

function applyReading(reading) {
  // A daily freeze carries its register's name but is not the live value (the API's latest
  // keeps the live one too): the table and the live chart show interval reads only.
  if (reading.kind === "frozen") return;
  const meter = state.meters.get(reading.meter);
  if (meter && reading.value !== null) meter.latest[reading.quantity] = reading;
  const text = formatQuantity(reading.quantity, reading.value);
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
  source.onopen = () => { badge.textContent = t("live"); badge.className = "badge on"; badge.dataset.state = "live"; };
  source.onerror = () => { badge.textContent = t("reconnecting"); badge.className = "badge off"; badge.dataset.state = "reconnecting"; };
  source.addEventListener("reading", (event) => applyReading(JSON.parse(event.data)));
  source.addEventListener("fleet", (event) => renderFleet(JSON.parse(event.data)));
  source.addEventListener("alarms", (event) => renderAlarms(JSON.parse(event.data)));
  source.addEventListener("incidents", (event) => {
    const data = JSON.parse(event.data);
    renderIncidents(Array.isArray(data) ? data : data.incidents);
  });
}

// Everything drawn from data again, in the language now chosen (labels are drawn, not stored).
function redraw() {
  $("#language").textContent = language() === "zh-CN" ? "English" : "中文";
  $("#connection").textContent = t($("#connection").dataset.state);
  if (state.ungrouped) $("#incidents-note").textContent = t("alarms_not_grouped");
  if (state.fleet) renderFleet(state.fleet);
  renderAlarms(state.alarms);
  if (state.incidents) renderIncidents(state.incidents);
  renderTrends();
  renderMeters();
  route();
}

async function start() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  try {
    const [health, meters, latest, fleet, alarms] = await Promise.all([api("/health"),
      api("/api/meters"), api("/api/readings/latest"), api("/api/fleet"), api("/api/alarms")]);
    await useLanguage(chooseLanguage(health.language));
    useTimeZone(health.timezone);
    state.meters = new Map(meters.map((m) => [m.id, { ...m, latest: {} }]));
    for (const reading of latest) applyReading(reading);
    renderFleet(fleet);
    renderAlarms(alarms);
    redraw();
    connect();
    const refresh = () => Promise.all([loadCompleteness(), loadKpis(), loadTrends(), loadIncidents()]);
    await refresh();
    setInterval(() => refresh().catch((e) => showError(e.message)), 30000);
  } catch (error) {
    showError(error.message);
  }
}

window.addEventListener("hashchange", route);
$("#history-quantity").addEventListener("change", () => loadHistory());
$("#language").addEventListener("click", async () => {
  await useLanguage(language() === "zh-CN" ? "en" : "zh-CN", true);
  redraw();
});
$("#meter-search").addEventListener("input", (event) => {
  state.list.query = event.target.value; state.list.page = 0; renderMeters();
});
$("#meter-status-filter").addEventListener("change", (event) => {
  state.list.status = event.target.value; state.list.page = 0; renderMeters();
});
$("#meter-prev").addEventListener("click", () => { state.list.page = Math.max(0, state.list.page - 1); renderMeters(); });
$("#meter-next").addEventListener("click", () => { state.list.page += 1; renderMeters(); });
for (const header of document.querySelectorAll("#meters th[data-sort]")) {
  header.addEventListener("click", () => {
    const key = header.dataset.sort;
    state.list.descending = state.list.sort === key ? !state.list.descending : false;
    state.list.sort = key;
    renderMeters();
  });
}
$("#read-now").addEventListener("click", () => control(`/api/meters/${encodeURIComponent(state.meterPage)}/read`));
$("#clock-check").addEventListener("click", () => control(`/api/meters/${encodeURIComponent(state.meterPage)}/clock`));
$("#relay-send").addEventListener("click", sendRelay);
$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token-input").value);
  state.token = $("#token-input").value;
  start();
});
// For tests: an acknowledgement of an alarm the page never listed, and incidents drawn from
// the contract's JSON where the head-end has no incidents route yet.
Object.assign(window, { ackButton, renderIncidents });

state.token = takeToken();
if (state.token) start(); else showLogin();
