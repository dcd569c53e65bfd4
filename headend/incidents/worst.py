"""A meter's worst value in an incident, from its alarms: the lowest voltage, the highest
load, or for an alarm without a value (offline, unread) how long it has been so.

Lower is worse for voltage and outage alarms, higher for the rest; values of different
quantities are not compared: a measured value beats a duration.
"""

from __future__ import annotations

from datetime import datetime

from headend.anomaly.alarms import Alarm
from headend.incidents.records import WorstValue

LOWER_IS_WORSE = frozenset({"voltage_low", "voltage_low_sustained", "outage", "voltage"})
QUANTITY_OF = {
    "voltage_low": "voltage",
    "voltage_low_sustained": "voltage",
    "voltage_high": "voltage",
    "outage": "voltage",
    "clock_drift": "clock_drift",
    "energy_jump": "power_active_total",
}
DURATION_UNIT = "min"


def alarm_worst(alarm: Alarm, now: datetime) -> WorstValue:
    value = alarm.peak if alarm.peak is not None else alarm.value
    if value is None:
        minutes = max(0.0, ((alarm.end or now) - alarm.start).total_seconds() / 60.0)
        return WorstValue(f"{alarm.kind}_duration", round(minutes, 1), DURATION_UNIT, alarm.start)
    quantity = QUANTITY_OF.get(alarm.kind, alarm.kind)
    return WorstValue(quantity, float(value), alarm.unit, now if alarm.open else alarm.start)


def worse_of(old: WorstValue | None, new: WorstValue) -> WorstValue:
    if old is None:
        return new
    if old.quantity != new.quantity:
        measured_new = new.unit != DURATION_UNIT
        return new if measured_new and old.unit == DURATION_UNIT else old
    if old.quantity == new.quantity and old.unit == DURATION_UNIT:
        return new if new.value >= old.value else old
    lower = old.quantity in LOWER_IS_WORSE
    if (new.value < old.value) if lower else (new.value > old.value):
        return new
    return old
