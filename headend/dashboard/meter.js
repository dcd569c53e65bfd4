// One meter's page: facts, latest values, a 24 h chart, frozen history, events, and for an
// operator the audit trail and the controls (read now, clock, relay with reason and confirm).
"use strict";

import { lineChart } from "/dashboard/chart.js";
import { $, api, el, refusal, showError, siteClock, siteDateTime, state, timeText } from "/dashboard/core.js";
import { formatQuantity } from "/dashboard/format.js";
import { alarmLabel, quantityLabel, stateLabel, t } from "/dashboard/i18n.js";
export const FROZEN_DAYS = 7;
export const HISTORY_QUANTITIES = ["voltage_a", "current_a", "power_active_total", "power_factor_total",
  "frequency", "energy_active_import_total"];

// -- meter page ---------------------------------------------------------------------------------

export async function openMeter(meterId) {
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

export async function loadHistory() {
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

export function drawHistory() {
  const quantity = $("#history-quantity").value;
  lineChart($("#history-chart"), { times: state.history.map((p) => p.t),
    series: [{ values: state.history.map((p) => p.v), cls: "line", name: quantity }],
    band: quantity.startsWith("voltage") ? state.band : null,
    format: (v) => formatQuantity(quantity, v), clock: siteClock, empty: t("no_history") });
}

export async function loadFrozen() {
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

export function renderEvents() {
  if (!state.meterPage) return;
  const mine = state.alarms.filter((a) => a.subject === state.meterPage);
  $("#meter-events tbody").replaceChildren(...mine.map((a) => el("tr", {},
    el("td", {}, timeText(a.start)), el("td", {}, alarmLabel(a.kind)), el("td", {}, a.message))));
}

// The audit trail needs the operator role; whether it is given also tells the page whether to
// show the control panel (the head-end still checks every order itself).
export async function loadAudit() {
  try {
    const entries = await api(`/api/audit?meter=${encodeURIComponent(state.meterPage)}&limit=50`);
    state.operator = true;
    $("#audit-note").textContent = "";
    $("#meter-audit tbody").replaceChildren(...entries.map((e) => el("tr", {},
      el("td", {}, timeText(e.at)), el("td", {}, e.user),
      el("td", { title: e.detail }, e.command), el("td", {}, e.outcome))));
  } catch (error) {
    if (error.status !== 403) throw error;
    state.operator = false;
    $("#audit-note").textContent = t("audit_needs_operator");
    $("#meter-audit tbody").replaceChildren();
  }
  $("#control-panel").hidden = !state.operator;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

// An order's answer as the operator reads it: readings labelled and rounded, instants in site
// local time (the API's are UTC), other fields as key: value.
export function answerText(answer) {
  if (Array.isArray(answer)) {
    return answer.map((r) => (r && r.quantity !== undefined
      ? `${quantityLabel(r.quantity)} ${formatQuantity(r.quantity, r.value)} ${r.unit ?? ""}`.trim()
      : answerText(r))).join("; ");
  }
  if (answer && typeof answer === "object") {
    return Object.entries(answer).map(([key, value]) => `${key}: ${answerText(value)}`).join(", ");
  }
  return typeof answer === "string" && ISO_INSTANT.test(answer) ? siteDateTime(answer) : String(answer);
}

export async function control(path, body) {
  const result = $("#control-result");
  result.textContent = t("sending");
  try {
    const answer = await api(path, { method: "POST", body: JSON.stringify(body ?? {}) });
    result.textContent = `${t("done")}: ${answerText(answer)}`;
    await openMeter(state.meterPage);
  } catch (error) {
    result.textContent = `${refusal(error)}: ${error.message}`;
  }
}

export function sendRelay() {
  const action = $("#relay-action").value;
  const reason = $("#relay-reason").value.trim();
  if (!reason) { $("#control-result").textContent = t("reason_needed"); return; }
  if (!confirm(t("relay_confirm", { action: t(`relay_${action}`), meter: state.meterPage }))) return;
  control(`/api/meters/${encodeURIComponent(state.meterPage)}/relay`, { action, reason });
}
