"""Every quantity and alarm kind the head-end can show has a label in zh-CN and in English.

The names come from where the code gets them, not from a list kept by hand: the DL/T 645
catalogues, the built-in Modbus maps, the terminal (MQTT) points, the frozen pull and the
head-end's own quantities; the alarm kinds from the anomaly rules' enum, the concentrator's ERC
table, the relay actions, and every ``meter_event`` call in ``headend/`` read from its source
(an unrecognised form of the kind argument fails the test, so a new kind cannot ship without a
label). Labels are composed as ``headend/dashboard/i18n.js`` composes them.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from headend.anomaly.events import AnomalyKind
from headend.api.routes.fleet import HEADEND_QUANTITIES
from headend.collection.health import HealthChange
from headend.collection.terminal_events import ERC_ALARMS
from headend.collection.terminal_pull import FROZEN_PULL_QUANTITIES
from headend.config.terminal_points import TERMINAL_QUANTITIES
from protocols.dlt645.catalogue import catalogue
from protocols.dlt645.control import Standard
from protocols.dlt645.load_profile import QUANTITIES as LOAD_PROFILE_QUANTITIES
from protocols.dlt645.messages import RelayAction
from protocols.modbus.maps import builtin_map_names, builtin_register_map

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "headend" / "dashboard"
LANGUAGES = ("zh-CN", "en")
INCIDENT_KINDS = (  # the incidents API contract (docs/dashboard.md)
    "transformer_overload",
    "building_low_voltage",
    "channel_down",
    "terminal_down",
    "area_outage",
    "meter",
)
SEVERITIES = ("critical", "major", "minor", "info", "warning")
ALARM_CALLS = frozenset({"meter_event", "_meter_alarm"})
"""Calls whose second argument is an alarm kind."""
TARIFF = re.compile(r"^(.*)_t(\d+)$")
HAN = re.compile(r"[\u4e00-\u9fff]")


@cache
def table(language: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASHBOARD / "i18n" / f"{language}.json").read_text())
    return data


def quantity_label(language: str, name: str) -> str | None:
    """As ``quantityLabel`` in i18n.js: exact, else prefix + rest, else base + tariff."""
    labels = table(language)
    if name in labels["quantity"]:
        return str(labels["quantity"][name])
    for prefix, label in labels["quantity_prefix"].items():
        if name.startswith(prefix):
            rest = quantity_label(language, name.removeprefix(prefix))
            return None if rest is None else label + rest
    tariff = TARIFF.match(name)
    if tariff and tariff[1] in labels["quantity"]:
        return str(labels["ui"]["tariff_of"])
    return None


def quantity_names() -> set[str]:
    names = {item.name for standard in Standard for item in catalogue(standard)}
    for map_name in builtin_map_names():
        names |= set(builtin_register_map(map_name).quantities)
    names |= set(TERMINAL_QUANTITIES) | set(FROZEN_PULL_QUANTITIES) | set(HEADEND_QUANTITIES)
    names |= set(LOAD_PROFILE_QUANTITIES)
    return names


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _literals(function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> set[str]:
    """The string constants assigned to the local ``name`` in ``function``."""
    return {
        node.value.value
        for node in ast.walk(function)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def _module_constants(tree: ast.Module) -> dict[str, str]:
    """The module's top-level string constants (``KIND = "terminal_offline"``)."""
    constants = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if (
            isinstance(target, ast.Name)
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            constants[target.id] = value.value
    return constants


def _kinds_of_call(
    kind: ast.expr,
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    where: str,
    constants: dict[str, str],
) -> set[str]:
    """The kinds one call can raise, from the form of its kind argument."""
    if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
        return {kind.value}
    text = ast.unparse(kind)
    if text == "HealthChange.WENT_OFFLINE.value":
        return {change.value for change in HealthChange}
    if text == "'relay_' + action.name.lower()":
        return {f"relay_{action.name.lower()}" for action in RelayAction}
    if text == "alarm.kind":
        return {alarm.kind for alarm in ERC_ALARMS.values()}
    if isinstance(kind, ast.Attribute) and ast.unparse(kind.value) == "self":
        # An alarm kept on the object to close later: the kinds stored into it here
        stored = {
            node.value.id
            for node in ast.walk(function)
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Name)
            and any(ast.unparse(t) == text for t in node.targets)
        }
        kinds = {k for name in stored for k in _literals(function, name)}
        if kinds:
            return kinds
    if isinstance(kind, ast.Name):
        parameters = {a.arg for a in function.args.args + function.args.kwonlyargs}
        if kind.id in parameters and function.name in ALARM_CALLS:
            return set()  # passed through: its callers are scanned too
        assigned = _literals(function, kind.id)
        if assigned:
            return assigned
        if kind.id in constants:
            return {constants[kind.id]}
    raise AssertionError(f"{where}: alarm kind {text!r} not understood; teach test_labels.py")


def raised_alarm_kinds() -> set[str]:
    kinds = {kind.value for kind in AnomalyKind}
    for path in sorted((ROOT / "headend").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        constants = _module_constants(tree)
        for function in _functions(tree):
            for node in ast.walk(function):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                if node.func.attr in ALARM_CALLS and len(node.args) >= 2:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    kinds |= _kinds_of_call(node.args[1], function, where, constants)
    return kinds


def test_the_scan_finds_the_kinds_of_every_source() -> None:
    kinds = raised_alarm_kinds()
    assert {"overload", "meter_offline", "relay_trip", "terminal_power_off"} <= kinds
    assert {"meter_unread", "archive_difference", "disk_full", "terminal_parameters"} <= kinds


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_quantity_has_a_label(language: str) -> None:
    names = quantity_names()
    assert len(names) > 500, "the catalogues were read"
    missing = sorted(name for name in names if quantity_label(language, name) is None)
    assert missing == [], f"{language}: quantities without a label"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_alarm_incident_and_severity_has_a_label(language: str) -> None:
    labels = table(language)
    assert sorted(set(raised_alarm_kinds()) - set(labels["alarm"])) == []
    assert sorted(set(INCIDENT_KINDS) - set(labels["incident"])) == []
    assert sorted(set(SEVERITIES) - set(labels["severity"])) == []


def test_both_languages_label_the_same_names_and_chinese_is_chinese() -> None:
    zh, en = table("zh-CN"), table("en")
    for section in ("ui", "quantity", "quantity_prefix", "alarm", "incident", "severity", "state"):
        assert set(zh[section]) == set(en[section]), section
    for name in ("voltage_a", "energy_active_import_total", "frequency"):
        assert HAN.search(zh["quantity"][name]), name
    assert HAN.search(zh["alarm"]["voltage_low_sustained"])
    assert not HAN.search(json.dumps(en, ensure_ascii=False))


UI_KEYS = re.compile(r"""data-i18n(?:-placeholder)?="([a-z_]+)"|\bt\("([a-z_]+)\"""")


def test_every_ui_string_the_page_uses_is_in_both_tables() -> None:
    used = set()
    pages = [DASHBOARD / "index.html", *DASHBOARD.glob("*.js")]
    for path in pages:
        if path.name == "i18n.js":  # the lookup itself, no keys of its own
            continue
        for match in UI_KEYS.finditer(path.read_text()):
            used.add(match[1] or match[2])
    assert len(used) > 50
    for language in LANGUAGES:
        assert sorted(used - set(table(language)["ui"])) == [], language
