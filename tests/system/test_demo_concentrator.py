"""``headend demo --scenario retrofit-concentrator`` (what ``make demo
DEMO_SCENARIO=retrofit-concentrator`` runs): the retrofitted community read through one
concentrator per transformer in one process. Both concentrators log in, the first midnight's
freeze is pulled, and billing shows each meter's day equal to the community model.
"""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.demo import dashboard, start_demo
from tests.system.truth import GroundTruth

SCENARIO = "retrofit-concentrator"
DAY = date(2026, 7, 15)
"""The model's first day: frozen at its end, billed (and ``GroundTruth.frozen``) on the next."""
TOTAL = "energy_active_import_total"
FREEZE = datetime(2026, 7, 16, tzinfo=timezone(timedelta(hours=8)))
"""The end of ``DAY``, site time: the instant its freeze is stamped with."""


def _frozen_of(
    events: httpx.Response, meters: set[str], freeze: datetime
) -> dict[str, dict[str, Any]]:
    """The frozen total stamped ``freeze`` of each of ``meters`` as it comes on the stream
    (the pull after that midnight; the login's pull of the day before comes first)."""
    found: dict[str, dict[str, Any]] = {}
    event = ""
    for line in events.iter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "reading":
            reading = json.loads(line.removeprefix("data: "))
            stamped = datetime.fromisoformat(reading["timestamp"])
            if reading["kind"] == "frozen" and reading["quantity"] == TOTAL and stamped == freeze:
                found.setdefault(reading["meter"], reading)
                if meters <= set(found):
                    return found
    raise AssertionError(f"the stream ended with {len(found)} of {len(meters)} frozen values")


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
            with http.stream(
                "GET", "/api/stream", params={"access_token": token}, timeout=240
            ) as events:
                frozen = _frozen_of(events, set(meters), FREEZE)
            terminals = http.get("/api/terminals").json()
            billed = [
                http.get(
                    "/api/billing",
                    params={
                        "transformer": t["transformer"],
                        "start": "2026-07-16",
                        "end": "2026-07-16",
                    },
                ).json()
                for t in terminals
            ]
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
    for meter, reading in frozen.items():
        assert reading["quality"] == "actual", reading
        assert reading["value"] == round(truth.frozen(meter, FREEZE.date()), 4), meter
    rows = [r for report in billed for r in report["daily"] if r["quantity"] == TOTAL]
    assert {r["meter"] for r in rows if r["state"] == "collected"} == set(meters)
