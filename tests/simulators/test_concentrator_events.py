"""The simulated concentrator's event log and reading status, through the codec both sides use."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from protocols.gdw1376 import build_body
from protocols.gdw1376.aux import EventCounter
from protocols.gdw1376.catalogue import layout_of
from protocols.gdw1376.events import read_records
from protocols.gdw1376.layout import read
from simulators.concentrator import FrozenStore, StoreMeter
from simulators.concentrator.events import (
    IMPORTANT,
    NORMAL,
    RING,
    EventLog,
    meter_fault,
    power_off_on,
    register_decrease,
    unknown_meter,
)
from simulators.concentrator.status import CARRIER_PORT, reading_status

AT = datetime(2026, 12, 2, 0, 30)  # noqa: DTZ001 - the terminal wall clock 1376.1 carries


def _decoded(fn: int, values: Mapping[str, Any]) -> dict[str, Any]:
    """The unit as the master reads it: encoded by the catalogue, decoded by its layout."""
    body = build_body(0x0E, True, [(0, fn, values)])
    layout = layout_of(0x0E, fn, True)
    assert layout is not None
    decoded, end = read(layout, body[4:], 0, "test")
    assert end == len(body) - 4
    return decoded


def test_important_events_wait_for_a_push_and_normal_ones_do_not() -> None:
    log = EventLog()
    assert log.empty
    assert log.log(power_off_on(AT.replace(hour=0, minute=1), AT)) == 0
    assert log.log(unknown_meter(AT, CARRIER_PORT, "000000009999")) == 0
    assert log.log(meter_fault(2, AT)) == 1
    assert log.counter() == EventCounter(2, 1)
    assert log.unconfirmed == [0, 1]
    log.confirmed(0)
    assert log.unconfirmed == [1]


def test_a_read_by_pointers_returns_those_records_decoded_by_the_master() -> None:
    log = EventLog()
    log.log(power_off_on(AT.replace(minute=1), AT))
    log.log(register_decrease(3, AT, 120.5, 110.25))
    log.log(meter_fault(2, AT, started=False))
    _, fn, values = log.unit(IMPORTANT, 1, 3)
    decoded = _decoded(fn, values)
    assert (decoded["ec1"], decoded["ec2"], decoded["pm"], decoded["pn"]) == (3, 0, 1, 3)
    records = decoded["records"]
    assert isinstance(records, list)
    assert [(r["erc"], r.get("point"), r.get("started")) for r in records] == [
        (27, 3, True),
        (13, 2, False),
    ]
    assert (records[0]["energy_before"], records[0]["energy_after"]) == (120.5, 110.25)
    _, _, empty = log.unit(NORMAL, 0, 0)
    assert _decoded(NORMAL, empty)["records"] == []


def test_the_ring_wraps_and_a_read_across_its_end_gets_both_parts() -> None:
    log = EventLog()
    for n in range(RING + 2):  # the first two records are overwritten by the last two
        log.log(register_decrease(1 + n % 7, AT, float(n + 1), float(n)))
    assert log.counter() == EventCounter(2, 0)
    _, _, values = log.unit(IMPORTANT, RING - 1, 2)
    records = values["records"]
    assert isinstance(records, bytes)
    befores = [r["energy_before"] for r in read_records(records)]
    assert befores == [float(RING), float(RING + 1), float(RING + 2)]


def test_the_push_unit_is_one_record_with_the_counters() -> None:
    log = EventLog()
    log.log(power_off_on(AT.replace(minute=2), AT))
    decoded = _decoded(IMPORTANT, dict(log.push_unit(0)[2]))
    assert (decoded["pm"], decoded["pn"], decoded["ec1"]) == (0, 1, 1)
    records = decoded["records"]
    assert isinstance(records, list)
    assert records[0]["power_off"] == AT.replace(minute=2)


def test_reading_status_counts_the_unreachable_points_as_not_read() -> None:
    store = FrozenStore(
        [StoreMeter(p, f"m{p}", f"{p:012d}") for p in (1, 2, 3)],
        lambda meter, day: 1.0,
        lambda: AT.date(),
    )
    store.unreachable.add(2)
    point, fn, values = reading_status(store, AT)
    assert (point, fn) == (0, 11)
    body = build_body(0x0C, True, [(point, fn, values)])
    layout = layout_of(0x0C, 11, True)
    assert layout is not None
    decoded, _ = read(layout, body[4:], 0, "test")
    (port,) = decoded["ports"]
    assert (port["port"], port["meters"], port["read_ok"]) == (CARRIER_PORT, 3, 2)
