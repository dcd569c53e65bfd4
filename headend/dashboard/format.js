// Numbers rounded per quantity, as an operator reads them: V to 0.1, A to 0.01, kW to 0.001,
// kWh to 0.01, PF to 0.001, Hz to 0.01. A quantity's family is the start of its name, as
// headend/units.py defines it (a settlement_ or frozen_ prefix is the reading's kind).
"use strict";

const DECIMALS = [
  ["voltage", 1], ["current", 2], ["power_factor", 3], ["power_active", 3],
  ["power_reactive", 3], ["power_apparent", 3], ["demand", 3], ["frequency", 2],
  ["energy", 2], ["load_rate", 1], ["clock_drift", 0], ["prepaid_balance", 2],
];
const TEMPERATURE_DECIMALS = 1;
const DEFAULT_DECIMALS = 2;

export function decimalsOf(quantity) {
  const name = quantity.replace(/^(settlement_|frozen_)/, "");
  if (name.endsWith("temperature")) return TEMPERATURE_DECIMALS;
  for (const [family, decimals] of DECIMALS) if (name.startsWith(family)) return decimals;
  return DEFAULT_DECIMALS;
}

export function formatQuantity(quantity, value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (typeof value !== "number") return String(value);
  return value.toFixed(decimalsOf(quantity));
}

export function formatNumber(value, decimals) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toFixed(decimals);
}

export function percent(rate, decimals = 0) {
  return rate === null || rate === undefined ? "–" : `${(rate * 100).toFixed(decimals)} %`;
}
