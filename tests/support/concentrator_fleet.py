"""One concentrator with three meters, as the engine and API tests of the master station use it:
the fleet document and the frozen totals its simulated store holds (a pure function of meter
and day, so a test recomputes what billing must show)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 0, 30, tzinfo=TZ)
TODAY = NOW.date()
KEEPS = 4
"""Days the concentrator keeps."""
POINTS = (1, 2, 3)
"""Its measurement points; meter ``m<p>`` at address ``<p>`` (12 digits)."""


def frozen_total(meter_id: str, day: date) -> float:
    return 800.0 + int(meter_id[1:]) * 50.0 + (day - date(2026, 11, 1)).days * 5.5


def concentrator_fleet() -> dict[str, object]:
    return {
        "site": {"name": "test", "timezone": "Asia/Shanghai"},
        "transformers": [{"name": "T1", "rated_kva": 400}],
        "master": {"host": "127.0.0.1", "port": 0, "reply_timeout": "5s", "retries": 1},
        "terminals": [
            {
                "name": "jzq-T1",
                "address": "4403-00012",
                "heartbeat": "60s",
                "transformer": "T1",
                "keeps_days": KEEPS,
                "meters": [
                    {"id": f"m{p}", "pn": p, "address": f"{p:012d}", "household": f"flat-{p}"}
                    for p in POINTS
                ],
            }
        ],
    }
