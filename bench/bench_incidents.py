"""One incident pass (``IncidentBook.reconcile``) over a storm of open alarms.

Run: ``.venv/bin/python bench/bench_incidents.py``. The pass runs on the engine's event loop
every 2 s, so it must stay short while the evening peak holds thousands of alarms open: 100,000
meters (1,000 transformers x 5 buildings x 20 meters), 5,060 open alarms (2.5 % of meters low,
each with both voltage alarms, 20 overloaded transformers, a channel of 40 meters offline),
after the first pass has filed them (the steady state: nothing new, worst values re-judged, the
overloads' meters' loads read). Goal: a pass under 50 ms in every round on a 2-core machine.

    incident_pass_5k_alarms: 26.3 ms (18.1-30.9) goal < 50 ms PASS
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from headend.anomaly.alarms import Alarm
from headend.incidents.book import IncidentBook
from headend.incidents.records import WorstValue
from headend.incidents.topology import MeterLocation, Topology

TRANSFORMERS = 1_000
BUILDINGS = 5
PER_BUILDING = 20
REPEATS = 7
ROUNDS = 5
GOAL_MS = 50.0
START = datetime(2026, 7, 15, 11, 0, tzinfo=UTC)


def topology() -> Topology:
    places = []
    for t in range(TRANSFORMERS):
        for b in range(BUILDINGS):
            for m in range(PER_BUILDING):
                meter = f"m{t:04d}-{b}-{m:02d}"
                places.append(
                    MeterLocation(meter, f"T{t:04d}", f"B{t:04d}-{b}", f"bus-{t:04d}-{b}")
                )
    return Topology.of(places)


def alarm(kind: str, subject_kind: str, subject: str, value: float | None, unit: str) -> Alarm:
    return Alarm(
        f"{kind}/{subject_kind}/{subject}",
        subject_kind,
        subject,
        kind,
        "warning",
        START,
        None,
        value,
        value,
        unit,
        kind,
    )


def storm(places: Topology) -> list[Alarm]:
    meters = sorted(places.places)
    alarms = []
    for meter in meters[::40]:  # 2.5 %: both voltage alarms
        alarms.append(alarm("voltage_low", "meter", meter, 190.0, "V"))
        alarms.append(alarm("voltage_low_sustained", "meter", meter, 189.0, "V"))
    for t in range(0, TRANSFORMERS, TRANSFORMERS // 20):
        alarms.append(alarm("overload", "transformer", f"T{t:04d}", 1.2, "ratio"))
    for meter in places.meters_of("channel", "bus-0001-0")[: PER_BUILDING * 2]:
        alarms.append(alarm("meter_offline", "meter", meter, None, ""))
    return alarms


def main() -> None:
    places = topology()
    alarms = storm(places)
    load = WorstValue("power_active_total", 1.0, "kW", START)
    book = IncidentBook(places)
    book.reconcile(alarms, START, lambda meter: load)
    rounds = []
    now = START
    for _ in range(ROUNDS):
        times = []
        for _ in range(REPEATS):
            now += timedelta(seconds=2)
            began = time.perf_counter()
            book.reconcile(alarms, now, lambda meter: load)
            times.append((time.perf_counter() - began) * 1000.0)
        rounds.append(statistics.median(times))
    print(f"open alarms: {len(alarms)}, incidents: {len(book.active())}")
    median, low, high = statistics.median(rounds), min(rounds), max(rounds)
    verdict = "PASS" if high < GOAL_MS else "FAIL"
    print(
        f"incident_pass_5k_alarms: {median:.1f} ms ({low:.1f}-{high:.1f}) "
        f"goal < {GOAL_MS:.0f} ms {verdict}"
    )


if __name__ == "__main__":
    main()
