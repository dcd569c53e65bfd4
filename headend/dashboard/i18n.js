// Labels in zh-CN and English. The tables are data (i18n/<lang>.json); this module picks the
// language (the user's toggle, else the site's, else the browser's), names quantities and
// kinds, and relabels the static page (elements with data-i18n="key").
// Quantity names are composed the same way tests/headend/dashboard/test_labels.py checks them:
// an exact entry, else a known prefix (settlement_, frozen_) plus the rest, else a tariff
// suffix _tN on a known base; anything else shows its raw name (and the test fails first).
"use strict";

export const LANGUAGES = ["zh-CN", "en"];
const LANGUAGE_KEY = "headend.language";
const tables = {};
let current = "en";

export function chooseLanguage(siteLanguage) {
  const chosen = localStorage.getItem(LANGUAGE_KEY) || siteLanguage
    || (navigator.language || "en");
  return chosen.toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

export async function useLanguage(language, remember = false) {
  if (!tables[language]) {
    const response = await fetch(`/dashboard/i18n/${language}.json`);
    if (!response.ok) throw new Error(`labels ${language}: ${response.status}`);
    tables[language] = await response.json();
  }
  current = language;
  if (remember) localStorage.setItem(LANGUAGE_KEY, language);
  document.documentElement.lang = language;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.getAttribute("data-i18n"));
  }
  for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.getAttribute("data-i18n-placeholder"));
  }
}

export function language() { return current; }

/** A UI string, with {name} placeholders filled from ``values``. */
export function t(key, values = {}) {
  const text = tables[current]?.ui?.[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

function section(name) { return tables[current]?.[name] ?? {}; }

export function quantityLabel(name) {
  const table = section("quantity");
  if (table[name]) return table[name];
  for (const [prefix, label] of Object.entries(section("quantity_prefix"))) {
    if (name.startsWith(prefix)) {
      const rest = quantityLabel(name.slice(prefix.length));
      return rest === name.slice(prefix.length) ? name : `${label}${rest}`;
    }
  }
  const tariff = /^(.*)_t(\d+)$/.exec(name);
  if (tariff && table[tariff[1]]) {
    return t("tariff_of", { base: table[tariff[1]], n: tariff[2] });
  }
  return name;
}

export function alarmLabel(kind) { return section("alarm")[kind] ?? kind; }
export function incidentLabel(kind) { return section("incident")[kind] ?? kind; }
export function severityLabel(severity) { return section("severity")[severity] ?? severity; }
export function stateLabel(state) { return section("state")[state] ?? state; }
