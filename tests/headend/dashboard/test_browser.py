"""The dashboard in headless chromium: live values change on screen when the meter changes."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from headend.api import create_app
from storage.records import Reading
from tests.headend.api.fleet import (
    TOKENS,
    WAIT_SECONDS,
    LiveFleet,
    fleet_table,
    live_fleet,
    raise_low_voltage,
)
from tests.headend.dashboard.browser import CHROMIUM, CLOCK_LIKE, Page, chromium_page
from tests.headend.dashboard.server import serving
from tests.support.binaries import require_binary


@pytest.fixture(autouse=True)
def _chromium() -> None:
    require_binary(CHROMIUM or "chromium", "chromium")


VOLTAGE_CELL = 'td[data-meter="m1"][data-quantity="voltage_a"]'


async def test_live_voltage_changes_on_screen(
    fleet: LiveFleet, base_url: str, tmp_path: Path
) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    async with asyncio.timeout(4 * WAIT_SECONDS), chromium_page(profile) as page:
        await page.goto(f"{base_url}/#token=reader-secret")
        await page.wait_for_text(VOLTAGE_CELL, "229.0")  # V to 0.1
        assert await page.evaluate("location.hash") == "", "the token leaves the address bar"
        assert await page.evaluate("sessionStorage.getItem('headend.token')") == "reader-secret"

        fleet.values["m1"]["voltage_a"] = 212.3  # the simulated meter now says 212.3 V
        await page.wait_for_text(VOLTAGE_CELL, "212.3")
        await page.wait_for_text("#connection", "live")

        limits = await page.evaluate("document.querySelectorAll('#transformers line.limit').length")
        assert limits == 4, "band 198/235.4 V and load 80/100 % are drawn"
        average = f"{(212.3 + 230.0) / 2:.1f}"
        await page.wait_for_text('td[data-group="T1"][data-figure="voltage"]', f"212.3 / {average}")
        png = await page.screenshot(tmp_path / "fleet.png")
        assert png.startswith(b"\x89PNG")

        await page.evaluate("location.hash = 'meter=m1'")
        await page.wait_for_text("#meter-title", "m1")
        points = await page.evaluate(
            """new Promise((resolve) => {
                 const check = () => {
                   const line = document.querySelector('#history-chart polyline');
                   if (line) { observer.disconnect(); resolve(line.getAttribute('points')); }
                 };
                 const observer = new MutationObserver(check);
                 observer.observe(document, { subtree: true, childList: true });
                 check();
               })"""
        )
        assert isinstance(points, str)
        assert points.count(",") >= 1


ALARM_ROW = "#alarms tbody tr"
ERROR_TEXT = "(($) => ($.hidden ? '' : $.textContent))(document.querySelector('#error'))"


async def _acknowledge_on_page(page: Page, url: str) -> None:
    """Open the dashboard at ``url`` and press the first alarm's acknowledge button."""
    await page.goto(url)
    await page.wait_until(f"document.querySelector('{ALARM_ROW} button')")
    await page.evaluate(f"document.querySelector('{ALARM_ROW} button').click()")


async def test_an_operator_acknowledges_an_anomaly_alarm_on_the_page(
    fleet: LiveFleet, base_url: str, tmp_path: Path
) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    await raise_low_voltage(fleet, "m1")
    async with asyncio.timeout(4 * WAIT_SECONDS), chromium_page(profile) as page:
        await _acknowledge_on_page(page, f"{base_url}/#token=operator-secret")
        outcome = await page.wait_until(
            f"({ERROR_TEXT}) || [...document.querySelectorAll('{ALARM_ROW}')]"
            ".some((row) => row.textContent.includes('by control-room')) && 'acknowledged'"
        )
        assert outcome == "acknowledged"
    [alarm] = fleet.engine.alarms.open_alarms()
    assert (alarm.kind, alarm.acknowledged_by) == ("voltage_low", "control-room")


async def test_a_failed_acknowledgement_shows_the_real_reason(
    fleet: LiveFleet, base_url: str, tmp_path: Path
) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    await raise_low_voltage(fleet, "m1")
    async with asyncio.timeout(4 * WAIT_SECONDS), chromium_page(profile) as page:
        await _acknowledge_on_page(page, f"{base_url}/#token=reader-secret")
        refused = await page.wait_until(ERROR_TEXT)
        assert "403" in refused
        assert "operator token" in refused

        await page.evaluate("sessionStorage.setItem('headend.token', 'operator-secret')")
        await page.evaluate("location.reload()")
        await page.wait_event("Page.loadEventFired")
        await page.wait_until(f"document.querySelector('{ALARM_ROW} button')")
        # An alarm the head-end no longer knows (e.g. the page is older than a restart); the
        # button works unattached, so a re-render from the stream cannot remove it first.
        await page.evaluate("ackButton('voltage_low/meter/gone/1').click()")
        unknown = await page.wait_until(ERROR_TEXT)
        assert "404" in unknown
        assert "unknown alarm" in unknown
        assert "operator token" not in unknown


RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (event) => window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));
"""


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("/docs", "document.querySelector('.swagger-ui .info .title')?.textContent"),
        ("/#token=reader-secret", "document.querySelector('#connection').textContent === 'live'"),
    ],
)
async def test_pages_render_offline_under_their_content_security_policy(
    base_url: str, tmp_path: Path, path: str, ready: str
) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    async with asyncio.timeout(4 * WAIT_SECONDS), chromium_page(profile) as page:
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_CSP_VIOLATIONS)
        await page.goto(f"{base_url}{path}")
        shown = await page.wait_until(ready)
        if path == "/docs":
            assert "Head-end API" in shown
            operations = await page.evaluate("document.querySelectorAll('.opblock').length")
            assert operations > 10, "the operations of /openapi.json are listed"
            await page.evaluate("void document.querySelector('.opblock-summary-control').click()")
            await page.wait_until("document.querySelector('.opblock-body .responses-wrapper')")
        assert await page.evaluate("window.cspViolations") == []


SHOWN_TIMES = """[...document.querySelectorAll('[data-utc]')]
  .map((node) => [node.parentElement.closest('[id]').id, node.getAttribute('data-utc'),
                  node.textContent, node instanceof SVGElement])"""


async def test_every_time_on_the_page_is_site_local_with_its_offset(
    fleet: LiveFleet, base_url: str, tmp_path: Path
) -> None:
    zone = ZoneInfo(fleet.engine.config.timezone)
    assert str(zone) == "Asia/Shanghai"
    profile = tmp_path / "profile"
    profile.mkdir()
    await raise_low_voltage(fleet, "m1")
    async with asyncio.timeout(4 * WAIT_SECONDS), chromium_page(profile) as page:
        await page.goto(f"{base_url}/#token=reader-secret")
        await page.wait_until(
            "document.querySelector('#alarms time') && document.querySelector('#clock time') && "
            "document.querySelector('#load-charts text[data-utc]')"
        )
        await page.evaluate("location.hash = 'meter=m1'")
        await page.wait_until(
            "document.querySelectorAll('#history-chart text[data-utc]').length === 2 && "
            "document.querySelector('#meter-latest time')"
        )
        shown = await page.evaluate(SHOWN_TIMES)
        body = await page.evaluate("document.body.innerText")
        assert await page.evaluate("document.querySelector('#zone').textContent") == (
            "Asia/Shanghai (UTC+08:00)"
        )
    places = {place for place, _, _, _ in shown}
    assert places >= {"clock", "alarms", "meter-latest", "history-chart", "load-charts"}
    for place, utc, text, on_chart_axis in shown:
        instant = datetime.fromisoformat(utc.replace("Z", "+00:00"))
        assert instant.utcoffset() == timedelta(0), f"{place}: the API gives UTC"
        local = instant.astimezone(zone)
        offset = local.isoformat()[-6:]
        assert offset == "+08:00"
        pattern = "%H:%M" if on_chart_axis else "%Y-%m-%d %H:%M:%S"
        assert text == f"{local.strftime(pattern)} {offset}", place
    assert CLOCK_LIKE.findall(body) == [], "no time on the page lacks its zone"


LOAD_CELL = 'td[data-group="T1"][data-figure="load"]'
TERMINAL_CELL = 'td[data-group="T1"][data-figure="terminal"]'
RATE_CELL = 'td[data-group="T1"][data-figure="load-rate"]'


async def test_the_transformer_row_shows_the_judged_load_and_the_terminals_own(
    tmp_path: Path,
) -> None:
    """The load rate drawn is the rules' (from the terminal's power); the terminal's own
    reported rate is shown apart, so the two are never taken for one another."""
    table = fleet_table()
    table["transformers"] = [{"name": "T1", "rated_kva": 100, "terminal": "TTU-T1"}]
    profile = tmp_path / "profile"
    profile.mkdir()
    async with (
        live_fleet(tmp_path, table) as fleet,
        serving(create_app(fleet.engine, tokens=TOKENS, store=fleet.store)) as base_url,
        asyncio.timeout(4 * WAIT_SECONDS),
        chromium_page(profile) as page,
    ):
        await page.goto(f"{base_url}/#token=reader-secret")
        await page.wait_for_text(LOAD_CELL, "13.20 kW of 100 kVA (meters 2/2)")  # 2 x 6.6 kW
        now = fleet.engine.clock.now()
        telemetry = [  # as the MQTT bridge hands the terminal's message over
            Reading("TTU-T1", "power_active_total", 76.0, "kW", now),
            Reading("TTU-T1", "load_rate", 75.0, "%", now),
        ]
        await fleet.engine.live.publish(telemetry, durable=True)
        await page.wait_for_text(LOAD_CELL, "76.00 kW of 100 kVA (measured)")
        await page.wait_for_text(TERMINAL_CELL, "TTU-T1: 76.00 kW, 75 %")
        power_factor = fleet.engine.detector.config.assumed_power_factor
        judged = round(76.0 / power_factor)  # 80 %: what the heavy-load rule judges
        rate = await page.evaluate(f"document.querySelector('{RATE_CELL}').textContent")
    assert rate.strip() == f"{judged} %"
