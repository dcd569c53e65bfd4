// The overview: live transformer and building rows, the 24 h curves, the KPI tiles.
"use strict";

import { lineChart } from "/dashboard/chart.js";
import { $, api, el, siteClock, siteDay, state, svg, timeText } from "/dashboard/core.js";
import { formatNumber, formatQuantity, percent } from "/dashboard/format.js";
import { t } from "/dashboard/i18n.js";
export const VOLTAGE_SCALE = [180, 250]; // drawn range of the voltage bars, V
export const LOAD_SCALE = 1.2; // load bars run to 120 % of rated kVA

export function voltageBar(min, avg) {
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

export function loadBar(rate) {
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

export const volts = (v) => formatQuantity("voltage", v);

export function voltageText(group) {
  const text = `${volts(group.voltage_min)} / ${volts(group.voltage_avg)}`;
  const out = group.voltage_min !== null && group.voltage_min < state.band.low;
  return el("td", { class: out ? "num out-of-band" : "num", "data-group": group.name, "data-figure": "voltage" }, text);
}

// -- overview -----------------------------------------------------------------------------------

// The load the overload rule judges, and where it comes from: measured (terminal or LV-side
// meter) or the sum of the load meters that answered, scaled up to all of them.
export function loadText(tr) {
  const source = tr.load_source === "terminal" ? t("measured")
    : tr.load_source === "meters" ? t("from_meters", { n: tr.meters_answered, of: tr.meters })
      : t("unknown");
  return t("load_of", { kw: formatNumber(tr.load_kw, 2), kva: tr.rated_kva, source });
}

// What the terminal itself reports, its own load rate included: shown apart from the judged
// rate, which may differ (the terminal's power factor is not the rules' assumed one).
export function terminalText(terminal) {
  if (!terminal) return "–";
  return `${terminal.device}: ${formatNumber(terminal.power_kw, 2)} kW, ${percent(terminal.load_rate)}`;
}

export function renderFleet(fleet) {
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

export function chartFigure(title, name) {
  const chart = svg("svg", { class: "chart", role: "img", "data-chart": name });
  return [el("figure", {}, el("figcaption", {}, title), chart), chart];
}

export function renderTrends() {
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

export async function loadTrends() {
  state.trends = await api("/api/trends?hours=24&bucket_minutes=15");
  renderTrends();
}

export async function loadKpis() {
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

export async function loadCompleteness() {
  const rows = await api("/api/completeness?group_by=transformer");
  $("#completeness tbody").replaceChildren(...rows.map((r) => el("tr", {},
    el("td", {}, r.group), el("td", { class: "num" }, r.expected),
    el("td", { class: "num" }, r.received), el("td", { class: "num" }, r.backfilled),
    el("td", { class: "num" }, percent(r.success_rate, 1)),
    el("td", {}, Object.entries(r.failures).map(([k, v]) => `${k}: ${v}`).join(", ")))));
}
