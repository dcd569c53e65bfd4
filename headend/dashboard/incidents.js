// The list an operator works from: incidents (GET /api/incidents, the stream's `incidents`), or
// the open alarms where the head-end does not group them, with their acknowledgement.
"use strict";

import { $, api, el, refusal, showError, state, timeText } from "/dashboard/core.js";
import { formatQuantity } from "/dashboard/format.js";
import { alarmLabel, incidentLabel, quantityLabel, severityLabel, stateLabel, t } from "/dashboard/i18n.js";
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
  const shown = filterIncidents(incidents);
  $("#incidents tbody").replaceChildren(...shown.map((i) => el("tr",
    { "data-incident": i.id, "data-kind": i.kind },
    el("td", { class: `severity-${i.severity}` }, severityLabel(i.severity)),
    el("td", {}, incidentLabel(i.kind)), el("td", {}, i.subject),
    el("td", {}, timeText(i.opened_at)),
    el("td", { title: i.meters.map((m) => m.meter).join(", ") }, worstText(i)),
    el("td", {}, i.acknowledged ? `${t("by", { user: i.acknowledged.by })} ${i.acknowledged.note}`
      : i.state === "open" ? incidentAckButton(i.id) : stateLabel(i.state)))));
}

const WORST_SHOWN = 3; // meters named in the row; the rest are in its tooltip
const FILTERS = [["#incident-kind", "kind", incidentLabel], ["#incident-transformer", "transformer"],
  ["#incident-building", "building"]];

// The affected meters with their worst values, labelled and rounded: what the crew looks at.
function worstText(incident) {
  const named = incident.meters.slice(0, WORST_SHOWN).map((m) => m.worst
    ? `${m.meter} ${quantityLabel(m.worst.quantity)} ${formatQuantity(m.worst.quantity, m.worst.value)} ${m.worst.unit}`
    : m.meter);
  const more = incident.meters.length - named.length;
  return `${incident.alarm_count} · ${named.join("; ")}${more > 0 ? ` +${more}` : ""}`;
}

// Filters by kind, transformer and building, offered from the incidents present (a choice
// no longer present is kept, so a filter does not jump while incidents come and go).
function filterIncidents(incidents) {
  $("#incident-filters").hidden = false;
  for (const [selector, field, label] of FILTERS) {
    const select = $(selector);
    const chosen = select.value;
    const values = [...new Set(incidents.map((i) => i[field]).filter(Boolean).concat(chosen ? [chosen] : []))].sort();
    select.replaceChildren(el("option", { value: "" }, `${t(field)}: ${t("all")}`),
      ...values.map((v) => el("option", { value: v }, label ? label(v) : v)));
    select.value = chosen;
  }
  return incidents.filter((i) => FILTERS.every(([selector, field]) =>
    !$(selector).value || i[field] === $(selector).value));
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

for (const [selector] of FILTERS) {
  $(selector).addEventListener("change", () => { if (state.incidents) renderIncidents(state.incidents); });
}
