// Shared by the pages: the page state, DOM helpers, the API client and site local time.
"use strict";

import { t } from "/dashboard/i18n.js";

export const TOKEN_KEY = "headend.token";

export const state = { token: null, meters: new Map(), band: { low: 198, high: 235.4 },
  limits: { heavy: 0.8, overload: 1.0 }, meterPage: null, history: [], stream: null,
  timeFormat: null, timeZone: "UTC", fleet: null, alarms: [], incidents: null, trends: null,
  list: { query: "", status: "", sort: "id", descending: false, page: 0 }, operator: null,
  ungrouped: false };

export const $ = (selector) => document.querySelector(selector);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

export function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

// -- time -----------------------------------------------------------------------------------
// One convention on the whole page: site local time (the fleet's [site] timezone, which
// /health gives) with its UTC offset, e.g. "2026-03-10 12:00:00 +08:00". The API's instants
// are UTC; every shown time keeps its instant in a data-utc attribute.

export function useTimeZone(timeZone) {
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

export function siteParts(instant) {
  const parts = Object.fromEntries(state.timeFormat.formatToParts(new Date(instant))
    .map((part) => [part.type, part.value]));
  return { ...parts, offset: parts.timeZoneName.replace("GMT", "") || "+00:00" };
}

export function siteDateTime(instant) {
  const p = siteParts(instant);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.offset}`;
}

export function siteClock(instant) {
  const p = siteParts(instant);
  return `${p.hour}:${p.minute} ${p.offset}`;
}

export function siteDay(instant) {
  const p = siteParts(instant);
  return `${p.year}-${p.month}-${p.day}`;
}

export function timeText(iso) {
  return el("time", { dateTime: iso, "data-utc": iso }, siteDateTime(iso));
}

export function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

// A refused API call, with its HTTP status so callers can tell "no such thing" (404) from
// "not allowed" (401/403) from the head-end or meter failing (5xx).
export class ApiError extends Error {
  constructor(path, status, detail) {
    super(`${path}: ${status} ${detail}`);
    this.status = status;
  }
}

export async function api(path, options = {}) {
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

export function refusal(error) {
  return error.status === 403 ? t("needs_operator") : error.status === 404 ? t("unknown_thing")
    : error.status === 409 ? t("conflict") : t("failed");
}

export function fragmentParams() {
  return new URLSearchParams(location.hash.replace(/^#/, ""));
}

export function showLogin() {
  if (state.stream) state.stream.close();
  $("#app").hidden = true;
  $("#login").hidden = false;
}
