// The list an operator works from: incidents (GET /api/incidents, the stream's `incidents`), or
// the open alarms where the head-end does not group them, with their acknowledgement.
"use strict";

import { $, api, el, refusal, showError, state, timeText } from "/dashboard/core.js";
import { alarmLabel, incidentLabel, severityLabel, stateLabel, t } from "/dashboard/i18n.js";
import { renderEvents } from "/dashboard/meter.js";

// -- incidents and alarms -----------------------------------------------------------------------
// Incidents group the alarms that share a cause (GET /api/incidents). A head-end without that
// route answers 404: the page then lists the alarms themselves, and says so.

export function renderAlarms(alarms) {
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

export function renderIncidents(incidents) {
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

export async function loadIncidents() {
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

export function ackButton(alarmId) {
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
export function incidentAckButton(incidentId) {
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
