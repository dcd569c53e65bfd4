"""Hand-checked register series for the VEE tests (site time UTC+8, June 2026)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone

from storage.archive.records import MeterExchange
from storage.billing import DailyValue, DayState
from storage.records import Quality

TZ = timezone(timedelta(hours=8))
TOTAL = "energy_active_import_total"
T1 = "energy_active_import_t1"
T2 = "energy_active_import_t2"


def day(n: int) -> date:
    return date(2026, 6, n)


def row(meter: str, n: int, quantity: str, value: float | None) -> DailyValue:
    """The row ``storage.billing`` gives for day ``n``: a value, or not collected."""
    if value is None:
        return DailyValue(meter, day(n), quantity, DayState.NOT_COLLECTED, reason="timeout")
    return DailyValue(meter, day(n), quantity, DayState.COLLECTED, value, "kWh", Quality.ACTUAL)


# Meter A: the 3rd is never collected; linear estimate 110 + (130.5 - 110) / 2 = 120.25.
A_TOTAL = {1: 100.0, 2: 110.0, 3: None, 4: 130.5, 5: 140.5, 6: 150.0}
# Tariffs: t1 + t2 = total on every day but the 5th (t2 stuck: 60 + 71 = 131 + 9.5?).
A_T1 = {1: 40.0, 2: 44.0, 3: None, 4: 52.0, 5: 56.0, 6: 60.0}
A_T2 = {1: 60.0, 2: 66.0, 3: None, 4: 78.5, 5: 84.5, 6: 90.0}

# Meter B is exchanged for C on the 3rd at 10:30: B read 205.0 when it came out, C 0.5 when
# it went in. The 3rd's consumption is 205 - 200 + 3.5 - 0.5 = 8.0 (the raw difference of
# the two registers would be 3.5 - 200 = -196.5).
B_TOTAL = {1: 180.0, 2: 195.0, 3: 200.0}
C_TOTAL = {4: 3.5, 5: 10.0, 6: 16.0}
EXCHANGE = MeterExchange(
    old_meter="B",
    new_meter="C",
    at=datetime(2026, 6, 3, 10, 30, tzinfo=TZ),
    old_final={TOTAL: 205.0, T1: 82.0},
    new_initial={TOTAL: 0.5, T1: 0.0},
    reason="display fault",
)


def rows_of(meter: str, quantity: str, values: Mapping[int, float | None]) -> list[DailyValue]:
    return [row(meter, n, quantity, value) for n, value in values.items()]
