"""The overview, the language toggle and the incident list in headless chromium, at 1280x720
and on a 1920x1080 wall screen; screenshots saved for docs/dashboard.md."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.headend.api.fleet import WAIT_SECONDS, LiveFleet, raise_low_voltage
from tests.headend.dashboard.browser import CHROMIUM, CLOCK_LIKE, Page, chromium_page
from tests.support.binaries import require_binary

LABELS = {
    language: json.loads(
        (Path(__file__).parents[3] / "headend/dashboard/i18n" / f"{language}.json").read_text()
    )
    for language in ("en", "zh-CN")
}
LAPTOP = (1280, 720)
WALL = (1920, 1080)
LOAD_CURVE = 'svg[data-chart="load-T1"] [data-series="load_rate"]'
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture(autouse=True)
def _chromium() -> None:
    require_binary(CHROMIUM or "chromium", "chromium")


def chinese_fonts() -> list[str]:
    """Font files fontconfig offers for Chinese (Debian fonts-noto-cjk, .ci/system-deps)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    listed = subprocess.run([fc_list, ":lang=zh", "file"], capture_output=True, text=True)
    return [line for line in listed.stdout.splitlines() if line.strip()]


async def _open(page: Page, url: str, size: tuple[int, int]) -> None:
    await page.set_viewport(*size)
    await page.goto(url)


async def test_the_overview_draws_the_transformer_load_curve_with_its_limits(
    fleet: LiveFleet, base_url: str, profile: Path, screenshots: Path
) -> None:
    async with asyncio.timeout(4 * WAIT_SECONDS), chromium_page(profile) as page:
        await _open(page, f"{base_url}/#token=reader-secret", LAPTOP)
        await page.wait_until(f"document.querySelector('{LOAD_CURVE}')")
        limits = await page.evaluate(
            """[...document.querySelectorAll('svg[data-chart="load-T1"] line.limit-line')]
                 .map((line) => Number(line.getAttribute('data-limit')))"""
        )
        assert sorted(limits) == [0.8, 1.0], "the 80 % and 100 % lines"
        caption = await page.evaluate(
            "document.querySelector('#load-charts figcaption').textContent"
        )
        assert caption == "T1 (100 kVA)"
        trends = await page.evaluate(
            "fetch('/api/trends', { headers: { Authorization: 'Bearer reader-secret' } })"
            ".then((r) => r.json())"
        )
        drawn = [rate for rate in trends["transformers"][0]["load_rate"] if rate is not None]
        assert drawn, "the head-end stored load for T1"
        assert drawn[-1] == pytest.approx(13.2 / 95.0)  # 2 x 6.6 kW over 100 kVA x PF 0.95
        await page.wait_until("document.querySelector('svg[data-chart=\"voltage-B1\"] .band')")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)
        await page.screenshot(screenshots / "overview-1280x720.png")
        await page.set_viewport(*WALL)
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)
        await page.screenshot(screenshots / "overview-wall-1920x1080.png")


async def test_the_chinese_toggle_labels_quantities_alarms_and_headings(
    fleet: LiveFleet, base_url: str, profile: Path, screenshots: Path
) -> None:
    if not chinese_fonts():
        pytest.skip("no Chinese font installed (Debian fonts-noto-cjk, see .ci/system-deps)")
    await raise_low_voltage(fleet, "m1")
    assert fleet.engine.incidents.run_pass(), "the alarm was filed into an incident"
    async with asyncio.timeout(4 * WAIT_SECONDS), chromium_page(profile) as page:
        await _open(page, f"{base_url}/#token=reader-secret", LAPTOP)
        kind_cell = '#alarms td[data-kind="voltage_low"]'
        await page.wait_for_text(kind_cell, "Low voltage")
        await page.evaluate("document.querySelector('#language').click()")
        await page.wait_for_text(kind_cell, "低电压")
        assert await page.evaluate("document.documentElement.lang") == "zh-CN"
        heading = await page.evaluate("document.querySelector('#transformers th').textContent")
        assert heading == "变压器"
        kind = await page.wait_until("document.querySelector('#incidents tbody tr')?.dataset.kind")
        label = await page.evaluate(
            "document.querySelector('#incidents tbody tr td:nth-child(2)').innerText"
        )
        assert label == LABELS["zh-CN"]["incident"][kind], "text drawn by the script too"
        await page.screenshot(screenshots / "overview-zh-CN.png")

        await page.evaluate("location.hash = 'meter=m1'")
        await page.wait_until(
            "[...document.querySelectorAll('#meter-latest td')]"
            ".some((cell) => cell.textContent === 'A相电压')"
        )
        shown = await page.evaluate(
            "document.querySelector('#meter-latest td[data-quantity=\"voltage_a\"]').textContent"
        )
        assert shown == "180.0", "V to 0.1"
        await page.screenshot(screenshots / "meter-zh-CN.png")

        await page.evaluate("location.reload()")
        await page.wait_event("Page.loadEventFired")
        await page.wait_for_text(kind_cell, "低电压")  # the choice is remembered


INCIDENT = {
    "id": "transformer_overload:T1:1741579200",
    "kind": "transformer_overload",
    "severity": "critical",
    "state": "open",
    "transformer": "T1",
    "building": None,
    "subject": "T1",
    "opened_at": "2026-03-10T11:30:00+00:00",
    "updated_at": "2026-03-10T11:40:00+00:00",
    "cleared_at": None,
    "acknowledged": None,
    "alarm_count": 3,
    "meters": [
        {
            "meter": "m1",
            "worst": {
                "quantity": "power_active_total",
                "value": 40.0,
                "unit": "kW",
                "at": "2026-03-10T11:35:00+00:00",
            },
        }
    ],
    "alarm_ids": ["overload/transformer/T1/1741579200"],
}


async def test_incidents_of_the_contract_are_listed_with_labels_and_filtered(
    fleet: LiveFleet, base_url: str, profile: Path, screenshots: Path
) -> None:
    """Incidents as the contract shapes them (docs/incidents.md), drawn by the page: labelled,
    the worst value rounded, an acknowledgement shown, filtered by kind."""
    acknowledged = {
        **INCIDENT,
        "id": "building_low_voltage:B1:1",
        "kind": "building_low_voltage",
        "severity": "major",
        "state": "acknowledged",
        "subject": "B1",
        "acknowledged": {"by": "control-room", "at": INCIDENT["updated_at"], "note": "crew sent"},
    }
    async with asyncio.timeout(4 * WAIT_SECONDS), chromium_page(profile) as page:
        await _open(page, f"{base_url}/#token=operator-secret", LAPTOP)
        await page.wait_until("!document.querySelector('#incidents').hidden")
        await page.evaluate(f"renderIncidents({json.dumps([INCIDENT, acknowledged])})")
        rows = await page.evaluate(
            "[...document.querySelectorAll('#incidents tbody tr')].map((r) => r.innerText)"
        )
        assert "Transformer overload" in rows[0]
        assert "critical" in rows[0]
        assert "by control-room crew sent" in rows[1]
        assert "3 · m1 Active power, total 40.000 kW" in rows[0], "the worst value, rounded"
        await page.evaluate(
            "(($) => { $.value = 'building_low_voltage'; $.dispatchEvent(new Event('change')); })"
            "(document.querySelector('#incident-kind'))"
        )
        kinds = await page.evaluate(
            "[...document.querySelectorAll('#incidents tbody tr')].map((r) => r.dataset.kind)"
        )
        assert kinds == ["building_low_voltage"]
        await page.screenshot(screenshots / "incidents.png")


ERROR_SHOWN = "(($) => ($.hidden ? '' : $.textContent))(document.querySelector('#error'))"


async def test_a_real_incident_is_acknowledged_by_an_operator_and_refused_to_a_reader(
    fleet: LiveFleet, base_url: str, profile: Path
) -> None:
    """m1's low voltage, grouped by the head-end's own incidents: a reader's acknowledgement
    is refused on the page with the reason, an operator's is kept and shown."""
    await raise_low_voltage(fleet, "m1")
    assert fleet.engine.incidents.run_pass(), "the alarm was filed into an incident"
    row = "#incidents tbody tr"
    async with asyncio.timeout(4 * WAIT_SECONDS), chromium_page(profile) as page:
        await _open(page, f"{base_url}/#token=reader-secret", LAPTOP)
        kind = await page.wait_until(f"document.querySelector('{row}')?.dataset.kind")
        label = await page.evaluate(f"document.querySelector('{row} td:nth-child(2)').innerText")
        assert label == LABELS["en"]["incident"][kind]
        await page.evaluate(f"document.querySelector('{row} .ack button').click()")
        refused = await page.wait_until(ERROR_SHOWN)
        assert "403" in refused, refused
        assert "operator" in refused, refused

        await page.evaluate("sessionStorage.setItem('headend.token', 'operator-secret')")
        await page.evaluate("location.reload()")
        await page.wait_event("Page.loadEventFired")
        await page.wait_until(f"document.querySelector('{row} .ack button')")
        await page.evaluate(
            f"document.querySelector('{row} .ack-note').value = 'crew sent';"
            f"document.querySelector('{row} .ack button').click()"
        )
        shown = await page.wait_until(
            f"(($) => $.innerText.includes('crew sent') && $.innerText)"
            f"(document.querySelector('{row}'))"
        )
    assert "by control-room crew sent" in shown, shown
    (incident,) = [i for i in fleet.engine.incidents.active() if i.kind.value == kind]
    assert incident.acknowledged is not None
    assert incident.acknowledged.note == "crew sent"


PANEL_SHOWN = "!document.querySelector('#control-panel').hidden"


async def test_the_meter_page_gives_the_controls_to_an_operator_only(
    fleet: LiveFleet, base_url: str, profile: Path, screenshots: Path
) -> None:
    async with asyncio.timeout(4 * WAIT_SECONDS), chromium_page(profile) as page:
        await _open(page, f"{base_url}/#token=reader-secret&meter=m1", LAPTOP)
        await page.wait_until("document.querySelector('#audit-note').textContent")
        note = await page.evaluate("document.querySelector('#audit-note').textContent")
        assert note == "The audit trail and the controls need an operator token."
        assert not await page.evaluate(PANEL_SHOWN)

        await page.evaluate("sessionStorage.setItem('headend.token', 'operator-secret')")
        await page.evaluate("location.reload()")
        await page.wait_event("Page.loadEventFired")
        await page.wait_until(PANEL_SHOWN)
        await page.evaluate("document.querySelector('#read-now').click()")
        result = await page.wait_until(
            "((text) => /^(done|failed|needs)/.test(text) && text)"
            "(document.querySelector('#control-result').textContent)"
        )
        assert result.startswith("done: Voltage A 229.0 V; Current A 10.00 A"), result
        assert CLOCK_LIKE.findall(result) == [], "no UTC time of the API's answer is shown"

        await page.screenshot(screenshots / "meter-operator.png")


ROWS = "[...document.querySelectorAll('#meters tbody tr')].map((row) => row.cells[0].textContent)"


async def test_the_meter_list_searches_and_sorts_and_the_topology_shows_the_tree(
    fleet: LiveFleet, base_url: str, profile: Path
) -> None:
    async with asyncio.timeout(4 * WAIT_SECONDS), chromium_page(profile) as page:
        await _open(page, f"{base_url}/#token=reader-secret&page=meters", LAPTOP)
        await page.wait_until(f"({ROWS}).length === 2")
        voltage_header = "document.querySelector('#meters th[data-sort=\"voltage_a\"]')"
        await page.evaluate(f"{voltage_header}.click(); {voltage_header}.click()")  # descending
        assert await page.evaluate(ROWS) == ["m2", "m1"], "230 V before 229 V"
        await page.evaluate(
            "const box = document.querySelector('#meter-search'); box.value = 'B1';"
            "box.dispatchEvent(new Event('input'))"
        )
        assert await page.evaluate(ROWS) == ["m1"], "m1 is B1's meter"
        info = await page.evaluate("document.querySelector('#meter-page-info').textContent")
        assert info == "page 1 of 1 (1 meters)"

        await page.evaluate("location.hash = 'page=topology'")
        await page.wait_until("document.querySelector('#channels tbody tr')")
        tree = await page.evaluate(
            "document.querySelector('details[data-transformer=\"T1\"]').innerText"
        )
        assert "Building B1: m1" in tree
        assert "Building B2: m2" in tree
        channel = await page.evaluate("document.querySelector('#channels tbody tr').innerText")
        assert channel.split("\t")[:2] == ["bus-1", "2/2"]


async def test_a_relay_order_needs_a_reason_and_a_confirmation_and_lands_in_the_audit_trail(
    fleet: LiveFleet, base_url: str, profile: Path
) -> None:
    result = "document.querySelector('#control-result').textContent"
    async with asyncio.timeout(4 * WAIT_SECONDS), chromium_page(profile) as page:
        await _open(page, f"{base_url}/#token=operator-secret&meter=m1", LAPTOP)
        await page.wait_until(PANEL_SHOWN)
        await page.evaluate("document.querySelector('#relay-send').click()")
        assert await page.evaluate(result) == "a reason is needed for a relay order"

        await page.evaluate("document.querySelector('#relay-reason').value = 'unpaid'")
        # confirm() blocks the page's script: click later, then answer the dialog.
        await page.evaluate("setTimeout(() => document.querySelector('#relay-send').click(), 0)")
        dialog = await page.wait_event("Page.javascriptDialogOpening")
        assert dialog["params"]["message"] == "Trip the relay of meter m1?"
        await page.call("Page.handleJavaScriptDialog", accept=True)
        await page.wait_until(
            "[...document.querySelectorAll('#meter-audit tbody tr')]"
            ".some((row) => row.innerText.includes('relay trip'))"
        )
        rows = await page.evaluate(
            "[...document.querySelectorAll('#meter-audit tbody tr')].map((row) => row.innerText)"
        )
    assert any("control-room\trelay trip\tok" in row for row in rows), rows
    [entry] = [
        e for e in fleet.engine.audit.recent() if e.command == "relay trip" and e.outcome == "ok"
    ]
    assert entry.data["reason"] == "unpaid"
