"""The head-end's own alarms: storage refusing writes, and meters going offline and back."""

from __future__ import annotations

from datetime import UTC, datetime

from headend.anomaly.alarms import AlarmBook
from headend.clock import WarpedClock
from headend.collection.health import HealthChange
from headend.collection.state_alarms import StateAlarms
from headend.collection.writer import Overflow, StorageState, WriterLimits
from headend.config.fleet import MeterConfig
from storage.errors import LocalStoreFailed, OutboxFull, StorageFull
from storage.records import EventRecord, Severity

START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
METER = MeterConfig(id="m1", channel="bus-1", protocol="dlt645-2007", plan="flat", address="1")


def state_alarms() -> tuple[StateAlarms, AlarmBook, list[EventRecord]]:
    book = AlarmBook()
    recorded: list[EventRecord] = []
    alarms = StateAlarms(
        book,
        WarpedClock(START, speed=1.0),
        record_events=recorded.extend,
        writer_limits=WriterLimits(limit=500, overflow=Overflow.DROP_NEWEST),
    )
    return alarms, book, recorded


def test_a_full_disk_is_a_critical_alarm_naming_the_buffer_and_its_policy() -> None:
    alarms, book, recorded = state_alarms()
    alarms.storage_state_changed(StorageState.FULL, StorageFull("no space left on device"))
    [event] = recorded
    assert (event.meter, event.event, event.active) == ("storage", "disk_full", True)
    assert event.severity is Severity.CRITICAL
    assert event.detail == (
        "no space left on device (buffering up to 500 records, then drop_newest)"
    )
    assert [a.kind for a in book.open_alarms()] == ["disk_full"]


def test_storage_working_again_closes_the_alarm_it_raised() -> None:
    alarms, book, recorded = state_alarms()
    alarms.storage_state_changed(StorageState.FULL, OutboxFull("outbox budget used up"))
    alarms.storage_state_changed(StorageState.OK, None)
    assert [(e.event, e.active) for e in recorded] == [
        ("outbox_full", True),
        ("outbox_full", False),
    ]
    assert recorded[-1].detail == "storage accepts writes again"
    assert book.open_alarms() == []


def test_a_change_of_refusal_closes_the_old_alarm_and_opens_the_new() -> None:
    alarms, book, recorded = state_alarms()
    alarms.storage_state_changed(StorageState.FULL, StorageFull("disk full"))
    alarms.storage_state_changed(StorageState.FAILING, LocalStoreFailed("I/O error"))
    assert [(e.event, e.active) for e in recorded] == [
        ("disk_full", True),
        ("disk_full", False),
        ("storage_failing", True),
    ]
    assert [a.kind for a in book.open_alarms()] == ["storage_failing"]


async def test_a_meter_going_offline_and_back_opens_and_closes_one_alarm() -> None:
    alarms, book, recorded = state_alarms()
    await alarms.health_changed(METER, HealthChange.WENT_OFFLINE, "3 timeouts in a row")
    assert [a.subject for a in book.open_alarms()] == ["m1"]
    await alarms.health_changed(METER, HealthChange.CAME_ONLINE, "answered")
    assert [(e.event, e.active, e.severity) for e in recorded] == [
        ("meter_offline", True, Severity.WARNING),
        ("meter_offline", False, Severity.WARNING),
    ]
    assert book.open_alarms() == []
