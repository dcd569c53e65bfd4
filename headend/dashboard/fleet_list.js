// The meter list (search, filter, sort and pages, client side: GET /api/meters lists every
// meter) and the topology page (transformer -> buildings -> meters, channels, concentrators).
"use strict";

import { $, api, el, state, timeText } from "/dashboard/core.js";
import { formatQuantity } from "/dashboard/format.js";
import { stateLabel, t } from "/dashboard/i18n.js";
export const LIVE_QUANTITIES = ["voltage_a", "current_a", "power_active_total"];
export const PAGE_SIZE = 50; // meters per page of the meter list

// -- meter list: search, filter, sort, pages (client side: /api/meters lists every meter) -----

export function meterKey(meter, key) {
  if (LIVE_QUANTITIES.includes(key)) return meter.latest[key]?.value ?? -Infinity;
  return meter[key] ?? "";
}

export function visibleMeters() {
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

export function renderMeters() {
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

export async function renderTopology() {
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
    el("td", { title: x.address }, x.name), el("td", {}, x.transformer ?? "–"),
    el("td", { class: x.status === "online" ? "" : "offline" }, stateLabel(x.status)),
    el("td", { class: "num" }, x.meters), el("td", {}, x.last_pull ? timeText(x.last_pull) : "–"))));
}
