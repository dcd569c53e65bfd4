"""``headend demo --scenario retrofit-concentrator`` (what ``make demo
DEMO_SCENARIO=retrofit-concentrator`` runs): the retrofitted community read through one
concentrator per transformer in one process. Both concentrators log in, the first midnight's
freeze is pulled, and billing shows each meter's day equal to the community model.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.demo import dashboard, start_demo
from tests.system.processes import POLL_INTERVAL_S
from tests.system.truth import GroundTruth

SCENARIO = "retrofit-concentrator"
DAY = date(2026, 7, 15)
"""The model's first day: frozen at its end, billed (and ``GroundTruth.frozen``) on the next."""
TOTAL = "energy_active_import_total"
FREEZE = datetime(2026, 7, 16, tzinfo=timezone(timedelta(hours=8)))
"""The end of ``DAY``, site time: the instant its freeze is stamped with."""


def _billed_freezes(
    http: httpx.Client, transformers: list[str], meters: set[str], freeze: datetime
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The billed total stamped ``freeze`` of each of ``meters`` (the pull after that
    midnight) and the billing answers it came in, asked again until every meter has one.

    Polled, not read off the live stream: a pull commits thousands of values at once (F161,
    F163 and F177 for every meter) and the stream drops a slow viewer's oldest ones, so
    waiting there for every meter's value could wait forever."""
    deadline = time.monotonic() + 240
    while True:
        billed = [
            http.get(
                "/api/billing",
                params={"transformer": t, "start": "2026-07-16", "end": "2026-07-16"},
            ).json()
            for t in transformers
        ]
        found = {
            row["meter"]: row
            for report in billed
            for row in report["daily"]
            if row["quantity"] == TOTAL
            and row["state"] == "collected"
            and datetime.fromisoformat(row["timestamp"]) == freeze
        }
        if meters <= set(found):
            return found, billed
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} of {len(meters)} freezes billed in 240 s")
        time.sleep(POLL_INTERVAL_S)


def test_the_concentrator_demo_pulls_the_first_freeze_equal_to_the_model(tmp_path: Path) -> None:
    process, lines = start_demo(
        ["--scenario", SCENARIO, "--start", "23:58", "--speed", "60"], tmp_path
    )
    try:
        url, token = dashboard(lines)
        told = [line for line in lines if line.startswith("concentrator ")]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            meters = {m["id"]: m for m in http.get("/api/meters").json()}
            terminals = http.get("/api/terminals").json()
            frozen, billed = _billed_freezes(
                http, [t["transformer"] for t in terminals], set(meters), FREEZE
            )
            terminals = http.get("/api/terminals").json()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
            pytest.fail(f"the demo did not stop within 60 s of Ctrl-C: {stderr[-3000:]}")
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert len(told) == 2, lines
    assert len(meters) == len(GroundTruth(SCENARIO, 0).scenario.meters)
    assert {m["terminal"] for m in meters.values()} == {t["name"] for t in terminals}
    assert all(t["status"] == "online" for t in terminals)
    truth = GroundTruth(SCENARIO, 0)
    assert set(frozen) == set(meters)
    for meter, reading in frozen.items():
        assert reading["quality"] == "actual", reading
        assert reading["value"] == round(truth.frozen(meter, FREEZE.date()), 4), meter
    rows = [r for report in billed for r in report["daily"] if r["quantity"] == TOTAL]
    assert {r["meter"] for r in rows if r["state"] == "collected"} == set(meters)
