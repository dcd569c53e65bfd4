// Live dashboard of the head-end. Plain JS modules, no libraries (the head-end runs without
// internet). State comes from the JSON API once, then from the server-sent event stream
// (/api/stream): `reading` events update the live cells, `fleet` events the transformer and
// building figures, `alarms` (and, where the head-end groups them, `incidents`) the list an
// operator works from. EventSource cannot send an Authorization header, so the stream gets the
// token as ?access_token=; every other call sends it as a Bearer header.
"use strict";

import { $, TOKEN_KEY, api, fragmentParams, showError, showLogin, state, useTimeZone } from "/dashboard/core.js";
import { renderMeters, renderTopology } from "/dashboard/fleet_list.js";
import { formatQuantity } from "/dashboard/format.js";
import { chooseLanguage, language, t, useLanguage } from "/dashboard/i18n.js";
import { ackButton, loadIncidents, renderAlarms, renderIncidents } from "/dashboard/incidents.js";
import { control, drawHistory, loadHistory, openMeter, sendRelay } from "/dashboard/meter.js";
import { loadCompleteness, loadKpis, loadTrends, renderFleet, renderTrends } from "/dashboard/overview.js";

// -- token ------------------------------------------------------------------------------------

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
