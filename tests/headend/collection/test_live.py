"""The readings fan-out: nothing is live before it is stored, and latest values per meter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from headend.collection.live import LatestValues, LiveReadings
from headend.collection.writer import Overflow, RecordWriter, WriterLimits
from headend.units import UnitGate
from storage.records import EventRecord, Quality, Reading, ReadingKind
from tests.support.sinks import ListSink

AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


class Outlet:
    """What the MQTT bridge would be told."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.events: list[EventRecord] = []

    def publish_reading(self, reading: Reading) -> None:
        self.readings.append(reading)

    def publish_event(self, record: EventRecord) -> None:
        self.events.append(record)


def reading(
    meter: str,
    quantity: str,
    value: float | None = 1.0,
    *,
    at: datetime = AT,
    kind: ReadingKind = ReadingKind.INSTANT,
    missing: str | None = None,
) -> Reading:
    """A reading in its quantity's canonical unit; ``missing`` is the reason of a missing one."""
    unit = {"voltage_a": "V", "energy_active_import_total": "kWh"}.get(quantity, "A")
    quality = Quality.MISSING if missing else Quality.ACTUAL
    return Reading(meter, quantity, value, unit, at, kind, quality, reason=missing)


def fan_out(
    limits: WriterLimits | None = None,
) -> tuple[LiveReadings, RecordWriter, Outlet, list[list[Reading]]]:
    writer = RecordWriter(ListSink(), limits=limits)
    ingested: list[list[Reading]] = []
    outlet = Outlet()
    live = LiveReadings(writer, units=UnitGate(), ingest=ingested.append, outlet=outlet)
    return live, writer, outlet, ingested


def test_latest_values_are_a_mapping_indexed_by_meter() -> None:
    latest = LatestValues()
    for meter in ("m1", "m2"):
        for quantity in ("voltage_a", "current_a"):
            latest.set(reading(meter, quantity))
    latest.set(reading("m1", "voltage_a", 230.0))  # a newer value replaces, not adds
    assert len(latest) == 4
    assert set(latest) == {(m, q) for m in ("m1", "m2") for q in ("voltage_a", "current_a")}
    assert latest["m1", "voltage_a"].value == 230.0
    assert ("m2", "current_a") in latest
    assert ("m3", "current_a") not in latest
    assert "m1" not in latest  # type: ignore[comparison-overlap]  # a meter id is no key
    assert set(latest.of_meter("m1")) == {"voltage_a", "current_a"}
    assert latest.of_meter("m3") == {}


async def test_readings_go_live_only_once_stored() -> None:
    live, writer, outlet, ingested = fan_out()
    viewer = live.subscribe()
    told: list[bool] = []
    value = reading("m1", "voltage_a", 229.5)
    await live.publish([value], then=told.append)
    assert ingested == [[value]], "the anomaly detector sees it at once"
    assert (live.latest.get(("m1", "voltage_a")), viewer.qsize(), outlet.readings) == (None, 0, [])
    await writer.flush()
    assert writer.sink.written == [value]  # type: ignore[attr-defined]
    assert live.latest["m1", "voltage_a"] == value
    assert viewer.get_nowait() == value
    assert outlet.readings == [value]
    assert told == [True]


async def test_dropped_readings_never_go_live() -> None:
    live, writer, outlet, _ = fan_out(WriterLimits(limit=1, overflow=Overflow.DROP_NEWEST))
    viewer = live.subscribe()
    told: list[bool] = []
    await live.publish([reading("m1", "voltage_a"), reading("m1", "current_a")], then=told.append)
    await writer.flush()
    assert told == [False]
    assert (len(live.latest), viewer.qsize(), outlet.readings) == (0, 0, [])


async def test_a_missing_reading_is_announced_but_never_the_latest_value() -> None:
    live, writer, outlet, _ = fan_out()
    good = reading("m1", "voltage_a", 230.0)
    missing = reading("m1", "voltage_a", None, at=AT + timedelta(minutes=1), missing="timeout")
    await live.publish([good, missing])
    await writer.flush()
    assert live.latest["m1", "voltage_a"] == good
    assert outlet.readings == [good, missing]


async def test_a_daily_freeze_does_not_hide_the_live_register() -> None:
    live, writer, _, _ = fan_out()
    register = reading("m1", "energy_active_import_total", 100.0)
    freeze = reading("m1", "energy_active_import_total", 90.0, kind=ReadingKind.FROZEN)
    await live.publish([register, freeze])
    await writer.flush()
    assert live.latest["m1", "energy_active_import_total"] == register


async def test_a_freeze_is_the_latest_value_while_nothing_live_is_known() -> None:
    live, writer, _, _ = fan_out()
    freeze = reading("m1", "energy_active_import_total", 90.0, kind=ReadingKind.FROZEN)
    await live.publish([freeze])
    await writer.flush()
    assert live.latest["m1", "energy_active_import_total"] == freeze


async def test_a_slow_viewer_loses_its_oldest_value_not_the_newest() -> None:
    live, writer, _, _ = fan_out()
    viewer = live.subscribe(maxsize=2)
    values = [reading("m1", "voltage_a", float(v), at=AT + timedelta(seconds=v)) for v in range(3)]
    await live.publish(values)
    await writer.flush()
    assert [viewer.get_nowait().value for _ in range(2)] == [1.0, 2.0]
    live.unsubscribe(viewer)
    await live.publish([reading("m1", "voltage_a", 9.0, at=AT + timedelta(minutes=1))])
    await writer.flush()
    assert viewer.empty(), "an unsubscribed viewer gets nothing more"


async def test_a_reading_in_a_wrong_unit_is_converted_before_anything_sees_it() -> None:
    live, writer, outlet, ingested = fan_out()
    await live.publish([Reading("m1", "power_active_total", 2500.0, "W", AT)])
    await writer.flush()
    assert live.latest["m1", "power_active_total"].unit == "kW"
    assert ingested[0][0].value == 2.5
    assert outlet.readings[0].value == 2.5


async def test_events_are_announced_once_stored() -> None:
    live, writer, outlet, _ = fan_out()
    event = EventRecord("m1", "meter_offline", AT, detail="3 timeouts")
    live.record_events([event])
    assert outlet.events == []
    await writer.flush()
    assert writer.sink.written == [event]  # type: ignore[attr-defined]
    assert outlet.events == [event]


async def test_without_an_outlet_readings_still_reach_latest_and_viewers() -> None:
    writer = RecordWriter(ListSink())
    live = LiveReadings(writer, units=UnitGate(), ingest=lambda readings: None)
    viewer = live.subscribe()
    live.record_events([EventRecord("m1", "meter_offline", AT)])
    await live.publish([reading("m1", "voltage_a")])
    await writer.flush()
    assert viewer.qsize() == 1
    assert ("m1", "voltage_a") in live.latest


@given(
    st.integers(1, 6),
    st.lists(st.integers(0, 9), max_size=8),
    st.lists(st.lists(st.integers(10, 99), max_size=12), max_size=4),
)
async def test_a_viewer_keeps_the_newest_values_in_order_whatever_the_batches(
    maxsize: int, lagging: list[int], commits: list[list[int]]
) -> None:
    """Each commit is offered to a viewer at once; it then holds what it would hold had the
    readings come one by one, the oldest dropped when full: the newest ``maxsize``, in order."""
    live, writer, _, _ = fan_out()
    viewer = live.subscribe(maxsize=maxsize)
    for value in lagging[:maxsize]:  # what the viewer has not read yet
        viewer.put_nowait(reading("m0", "voltage_a", float(value)))
    for commit in commits:
        await live.publish(
            [reading(f"m{v}", "voltage_a", float(v), at=AT + timedelta(seconds=v)) for v in commit]
        )
        await writer.flush()
    held = [viewer.get_nowait().value for _ in range(viewer.qsize())]
    offered = [float(v) for v in lagging[:maxsize]] + [float(v) for c in commits for v in c]
    assert held == offered[-maxsize:]
