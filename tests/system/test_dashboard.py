"""The control-room story in a browser: ``headend simulate`` -> ``headend run`` -> the dashboard
in headless chromium, its figures compared with the simulator's model.

An operator opens the page: each simulated transformer has its 24 h load curve drawn with the
80 % and 100 % lines, the live voltage shown for a meter is a value the model showed in one of
its read slots, rounded to 0.1 V, and the page reads in Chinese at a click.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from headend.collection.schedule import meter_offset
from tests.headend.dashboard.browser import CHROMIUM, chromium_page
from tests.support.binaries import require_binary
from tests.system.conftest import HeadEndFactory
from tests.system.processes import Simulation
from tests.system.truth import VOLTAGE_STEP, GroundTruth, matches_one

METER = "S2-H001"
LAPTOP = (1280, 720)
PAGE_TIMEOUT_S = 60.0
CELL = f'#meters td[data-meter="{METER}"][data-quantity="voltage_a"]'


async def test_the_dashboard_shows_the_simulated_fleet(
    simulation: Simulation,
    headend: HeadEndFactory,
    truth: GroundTruth,
    profile: Path,
    screenshots: Path,
) -> None:
    require_binary(CHROMIUM or "chromium", "chromium")
    running = headend()
    transformers = sorted(simulation.config().transformers)
    reader = simulation.tokens["reader"]
    async with asyncio.timeout(PAGE_TIMEOUT_S), chromium_page(profile) as page:
        await page.set_viewport(*LAPTOP)
        await page.goto(f"{running.url.rstrip('/')}/#token={reader}")
        for name in transformers:
            await page.wait_until(
                f"document.querySelector('svg[data-chart=\"load-{name}\"] [data-series]')"
            )
            limits = await page.evaluate(
                f"[...document.querySelectorAll('svg[data-chart=\"load-{name}\"] line.limit-line')]"
                ".map((line) => Number(line.getAttribute('data-limit')))"
            )
            assert sorted(limits) == [0.8, 1.0], name
        shown = await page.wait_until(
            f"((text) => /^\\d+\\.\\d$/.test(text) && text)"
            f"(document.querySelector('{CELL}')?.textContent ?? '')"
        )
        await page.screenshot(screenshots / "system-overview.png")
        await page.evaluate("document.querySelector('#language').click()")
        await page.wait_for_text("#transformers th", "变压器")
        await page.screenshot(screenshots / "system-overview-zh-CN.png")

    history = running.get(f"/api/meters/{METER}/readings", quantity="voltage_a")
    read = next(
        r
        for plan in simulation.config().plans.values()
        for r in plan.reads
        if "voltage_a" in r.quantities
    )
    matching = [
        p for p in history["points"] if p["value"] is not None and f"{p['value']:.1f}" == shown
    ]
    assert matching, f"{shown} V shown is one of the stored reads"
    point = matching[-1]
    slot = datetime.fromisoformat(point["timestamp"])
    earliest = slot + timedelta(seconds=meter_offset(METER, read.interval))
    model = truth.values_between(
        METER, "voltage_a", earliest, slot + timedelta(seconds=read.interval)
    )
    assert matches_one(float(shown), model, VOLTAGE_STEP), (shown, model)
