"""A concentrator's events, archive, unread meters and reading status, over TCP: the simulated
concentrator pushes and answers, the real ``TerminalServer``, ``FrozenPull`` and
``TerminalWatch`` turn what it says into alarms and the status the API shows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from headend.anomaly.alarms import Alarm, AlarmBook
from headend.clock import WarpedClock
from headend.collection.event_pointers import EventPointers
from headend.collection.terminal_events import TerminalEvents
from headend.collection.terminal_pull import FrozenPull
from headend.collection.terminal_watch import TerminalWatch
from headend.config.terminals import ConcentratorConfig, MasterConfig, TerminalMeterConfig
from headend.terminals import TerminalServer
from protocols.gdw1376 import Address
from protocols.gdw1376.master_session import Report
from protocols.gdw1376.messages import DataUnit
from simulators.concentrator import (
    ConcentratorFaults,
    FrozenStore,
    SimulatedConcentrator,
    StoreMeter,
)
from simulators.concentrator.events import meter_fault, power_off_on, unknown_meter
from simulators.concentrator.status import CARRIER_PORT
from storage.records import EventRecord
from tests.support.frozen_writer import Stored
from tests.support.ports import free_tcp_port
from tests.support.stored_events import StoredEvents

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 2)
NOW = datetime(2026, 12, 2, 0, 20, tzinfo=TZ)
WALL = NOW.replace(tzinfo=None)
KEY = "4403-00012"
POINTS = (1, 2, 3)
MASTER = MasterConfig(reply_timeout=5.0, retries=0, unread_days=3)
TERMINAL = ConcentratorConfig(
    name="jzq-T1",
    address=KEY,
    heartbeat=60.0,
    transformer="T1",
    keeps_days=5,
    meters=tuple(
        TerminalMeterConfig(f"m{p}", "jzq-T1", p, address=f"{p:012d}", transformer="T1")
        for p in POINTS
    ),
)


def _total(meter_id: str, day: date) -> float:
    return 500.0 + int(meter_id[1:]) * 100.0 + (day - date(2026, 11, 1)).days * 4.25


@dataclass
class Rig:
    server: TerminalServer
    concentrator: SimulatedConcentrator
    alarms: AlarmBook
    events: TerminalEvents
    watch: TerminalWatch
    pull: FrozenPull
    records: list[EventRecord] = field(default_factory=list)

    def alarms_of(self, kind: str) -> list[Alarm]:
        return [a for a in self.alarms.recent() if a.kind == kind]


async def _rig(faults: ConcentratorFaults, unreachable: set[int]) -> AsyncIterator[Rig]:
    store = FrozenStore(
        [StoreMeter(p, f"m{p}", f"{p:012d}") for p in POINTS], _total, lambda: TODAY, keeps_days=5
    )
    store.unreachable |= unreachable
    concentrator = SimulatedConcentrator(
        Address("4403", 12), store, lambda: WALL, faults=faults, push_retry=0.05
    )
    alarms = AlarmBook()
    stored = StoredEvents()
    records = stored.records
    clock = WarpedClock(NOW.astimezone(UTC), speed=1)
    events = TerminalEvents(
        alarms, {TERMINAL.name: TERMINAL}, MASTER, TZ, clock, record_events=stored
    )
    watch = TerminalWatch(events, alarms, MASTER, TZ, clock, records.extend)
    async with (
        TerminalServer(heartbeat_periods={KEY: 60.0}, on_report=events.on_report) as server,
        asyncio.TaskGroup() as group,
    ):
        pull = FrozenPull(server, {TERMINAL.name: TERMINAL}, MASTER, TZ, Stored(), watch=watch)
        task = group.create_task(concentrator.run("127.0.0.1", server.port))
        async with asyncio.timeout(10):
            await server.wait_online(KEY)
            await concentrator.logged_in.wait()
            await concentrator.pushes_confirmed.wait()  # the master handled every push
        yield Rig(server, concentrator, alarms, events, watch, pull, records)
        task.cancel()


@pytest.fixture
async def power_rig() -> AsyncIterator[Rig]:
    """A concentrator that was off from 00:02 to 00:15 and does not see our first confirm."""
    off, on = WALL.replace(minute=2), WALL.replace(minute=15)
    faults = ConcentratorFaults(events=[power_off_on(off, on)], lose_confirms=1)
    async for rig in _rig(faults, set()):
        yield rig


async def test_a_push_sent_again_for_a_lost_confirm_raises_one_power_off_alarm(
    power_rig: Rig,
) -> None:
    rig = power_rig
    assert rig.concentrator.pushes_sent >= 2  # the first confirm was lost: pushed again
    assert rig.server.counters.skipped["duplicate_report"] >= 1
    (alarm,) = rig.alarms_of("terminal_power_off")
    assert (alarm.subject_kind, alarm.subject) == ("terminal", "jzq-T1")
    assert alarm.start == WALL.replace(minute=2, tzinfo=TZ).astimezone(UTC)
    assert alarm.end == WALL.replace(minute=15, tzinfo=TZ).astimezone(UTC)  # power came back
    assert "ERC14" in alarm.message
    assert [r.active for r in rig.records] == [True, False]  # raised, then closed, stored
    await rig.pull.run_pass(NOW)  # after login: the push moved the pointer, nothing is missed
    assert rig.events.read_up_to == {("jzq-T1", 1): 1}
    assert rig.events.stats.reads == 0
    assert len(rig.alarms_of("terminal_power_off")) == 1


@pytest.fixture
async def missed_rig() -> AsyncIterator[Rig]:
    """An unknown meter on the carrier port (a normal event: never pushed) and a meter fault
    of pn 2 that started and ended."""
    faults = ConcentratorFaults(
        events=[
            unknown_meter(WALL, CARRIER_PORT, "000000009999"),
            meter_fault(2, WALL.replace(minute=5)),
            meter_fault(2, WALL.replace(minute=9), started=False),
        ]
    )
    async for rig in _rig(faults, set()):
        yield rig


async def test_events_not_pushed_are_read_after_login_once_and_a_fault_end_closes_it(
    missed_rig: Rig,
) -> None:
    rig = missed_rig
    assert rig.alarms_of("unknown_meter") == []  # normal events are not pushed
    (fault,) = rig.alarms_of("meter_fault")
    assert (fault.subject, fault.open) == ("m2", False)  # pushed: started, then ended
    assert fault.message.startswith("ended: terminal jzq-T1 pn 2 (meter m2): ERC13")
    await rig.pull.run_pass(NOW)
    (unknown,) = rig.alarms_of("unknown_meter")
    assert unknown.open
    assert (unknown.subject_kind, unknown.subject) == ("terminal", "jzq-T1")
    assert "000000009999" in unknown.message
    assert rig.events.read_up_to == {("jzq-T1", 1): 2, ("jzq-T1", 2): 1}
    assert rig.events.stats.reads == 1  # the normal ring: the pushes moved the important one
    await rig.pull.run_pass(NOW)  # the same session: nothing read again
    assert rig.events.stats.reads == 1
    assert len(rig.alarms_of("unknown_meter")) == 1


@pytest.fixture
async def unreachable_rig() -> AsyncIterator[Rig]:
    async for rig in _rig(ConcentratorFaults(), {2}):
        yield rig


async def test_an_unreachable_meter_is_a_read_failure_then_unread_until_its_values_come(
    unreachable_rig: Rig,
) -> None:
    rig = unreachable_rig
    (failure,) = rig.alarms_of("rs485_read_failure")  # ERC 31, pushed at login
    assert (failure.subject, failure.open) == ("m2", True)
    await rig.pull.run_pass(NOW)
    assert rig.alarms_of("meter_unread") == []  # judged on what earlier passes stored
    status = rig.watch.reading_status["jzq-T1"]
    (port,) = status.ports
    assert (port.port, port.meters, port.read_ok) == (CARRIER_PORT, 3, 2)
    await rig.pull.run_pass(NOW)
    (unread,) = rig.alarms_of("meter_unread")
    assert (unread.subject, unread.open) == ("m2", True)
    assert "no frozen value for 5 day(s)" in unread.message
    rig.concentrator.store.unreachable.clear()  # its carrier reads it again
    await rig.pull.run_pass(NOW)  # gets m2's days
    await rig.pull.run_pass(NOW)  # and judges it read
    (closed,) = rig.alarms_of("meter_unread")
    assert not closed.open
    assert rig.pull.latest_day("m2") == TODAY - timedelta(days=1)


async def test_archive_differences_are_alarms_until_the_archive_agrees() -> None:
    faults = ConcentratorFaults(archive={3: "999999999999"})
    async for rig in _rig(faults, set()):
        await rig.pull.run_pass(NOW)
        (alarm,) = rig.alarms_of("archive_difference")
        assert (alarm.subject, alarm.open) == ("m3", True)
        assert "999999999999" in alarm.message
        rig.pull.archive["jzq-T1"] = []  # as the next login's read-back would find it
        await rig.watch.after_login(rig.pull, rig.server.session(KEY), TERMINAL)
        (closed,) = rig.alarms_of("archive_difference")
        assert not closed.open


def test_bad_and_unknown_records_are_counted_and_skipped_and_the_rest_kept() -> None:
    alarms = AlarmBook()
    stored = StoredEvents()
    records = stored.records
    clock = WarpedClock(NOW.astimezone(UTC), speed=1)
    events = TerminalEvents(
        alarms, {TERMINAL.name: TERMINAL}, MASTER, TZ, clock, record_events=stored
    )
    good = {"erc": 27, "event": "register decrease", "time": WALL, "point": 1, "started": True}
    good |= {"energy_before": 10.0, "energy_after": 9.0}
    bad = {"erc": 14, "event": "terminal power off/on", "raw": "00", "problem": "Le 1"}
    unknown = {"erc": 99, "event": "not decoded", "raw": "0102"}
    unit = DataUnit(0, 1, {"ec1": 3, "ec2": 0, "pm": 0, "pn": 3, "records": [bad, unknown, good]})
    events.on_report(KEY, Report(0x0E, (unit,)))
    events.on_report("4403-09999", Report(0x0E, (unit,)))  # not a terminal of the fleet
    assert (events.stats.bad, events.stats.unknown, events.stats.alarms) == (1, 1, 1)
    (alarm,) = alarms.open_alarms()
    assert (alarm.kind, alarm.subject) == ("register_decrease", "m1")
    assert "energy_before 10.0, energy_after 9.0" in alarm.message
    assert len(records) == 1


async def test_a_heartbeat_set_on_site_unlike_the_fleet_is_an_alarm_until_it_agrees() -> None:
    """AFN 0A F1/F3 read back at each login: the period and the master it dials."""
    faults = ConcentratorFaults(configured_heartbeat_minutes=15)
    async for rig in _rig(faults, set()):
        await rig.pull.run_pass(NOW.astimezone(UTC))
        read = rig.watch.parameters[TERMINAL.name]
        assert (read.heartbeat_minutes, read.master) == (15, f"127.0.0.1:{rig.server.port}")
        (alarm,) = rig.alarms_of("terminal_parameters")
        assert (alarm.subject_kind, alarm.subject, alarm.end) == ("terminal", TERMINAL.name, None)
        assert "every 15 min" in alarm.message
        rig.concentrator.faults.configured_heartbeat_minutes = None  # fixed on site
        old = rig.server.sessions[KEY]
        rig.concentrator.drop_connection()
        async with asyncio.timeout(10):
            while rig.server.sessions.get(KEY) in (None, old):
                await rig.server.wait_change()
        await rig.pull.run_pass(NOW.astimezone(UTC))
        assert rig.watch.parameters[TERMINAL.name].heartbeat_minutes == 1
        (closed,) = rig.alarms_of("terminal_parameters")
        assert closed.end is not None


CLOCK = WarpedClock(NOW.astimezone(UTC), speed=1)


def _master(alarms: AlarmBook, stored: StoredEvents, pointers: EventPointers) -> TerminalEvents:
    return TerminalEvents(
        alarms,
        {TERMINAL.name: TERMINAL},
        MASTER,
        TZ,
        CLOCK,
        record_events=stored,
        pointers=pointers,
    )


async def _one_run(
    concentrator: SimulatedConcentrator, events: TerminalEvents, port: int = 0
) -> int:
    """A master's life: listen, let the concentrator log in and push, one pass, stop.
    Returns the port it listened on (the concentrator redials there)."""
    alarms = AlarmBook()
    watch = TerminalWatch(events, alarms, MASTER, TZ, CLOCK, lambda records: None)
    async with TerminalServer(
        port=port, heartbeat_periods={KEY: 60.0}, on_report=events.on_report
    ) as server:
        pull = FrozenPull(server, {TERMINAL.name: TERMINAL}, MASTER, TZ, Stored(), watch=watch)
        async with asyncio.timeout(10):
            await server.wait_online(KEY)
            await concentrator.pushes_confirmed.wait()
        await pull.run_pass(NOW)
        return server.port


async def test_a_restart_neither_reads_events_again_nor_loses_those_logged_meanwhile(
    tmp_path: Path,
) -> None:
    """The pointers are in the data dir: the second master reads only the record the
    concentrator logged while no master listened."""
    path = tmp_path / "terminal-events.json"
    store = FrozenStore(
        [StoreMeter(p, f"m{p}", f"{p:012d}") for p in POINTS], _total, lambda: TODAY, keeps_days=5
    )
    faults = ConcentratorFaults(
        events=[unknown_meter(WALL, CARRIER_PORT, "000000009999"), meter_fault(2, WALL)]
    )
    concentrator = SimulatedConcentrator(
        Address("4403", 12),
        store,
        lambda: WALL,
        faults=faults,
        push_retry=0.05,
        reconnect_delay=0.05,
    )
    first_stored, second_stored = StoredEvents(), StoredEvents()
    first = _master(AlarmBook(), first_stored, EventPointers(path))
    listening = free_tcp_port()
    async with asyncio.TaskGroup() as group:
        dialler = group.create_task(concentrator.run("127.0.0.1", listening))
        await _one_run(concentrator, first, listening)
        concentrator.log_event(unknown_meter(WALL, CARRIER_PORT, "000000008888"))  # master down
        second = _master(AlarmBook(), second_stored, EventPointers(path))
        await _one_run(concentrator, second, listening)
        dialler.cancel()

    first_kinds = sorted(r.event for r in first_stored.records if r.active)
    assert first_kinds == ["meter_fault", "unknown_meter"]
    assert first.read_up_to == {("jzq-T1", 1): 1, ("jzq-T1", 2): 1}
    (raised,) = second_stored.records  # only the record logged while no master listened
    assert (raised.event, raised.active) == ("unknown_meter", True)
    assert "000000008888" in raised.detail
    assert second.stats.reads == 1
    assert second.read_up_to == {("jzq-T1", 1): 1, ("jzq-T1", 2): 2}
    assert json.loads(path.read_text())["terminals"] == {KEY: {"1": 1, "2": 2}}


def test_events_the_writer_dropped_leave_the_pointer_so_they_are_read_again() -> None:
    stored = StoredEvents()
    events = _master(AlarmBook(), stored, EventPointers())
    good = {"erc": 27, "event": "register decrease", "time": WALL, "point": 1, "started": True}
    good |= {"energy_before": 10.0, "energy_after": 9.0}
    unit = DataUnit(0, 1, {"ec1": 1, "ec2": 0, "pm": 0, "pn": 1, "records": [good]})
    stored.accept = False  # storage refuses: the alarm is not kept
    events.on_report(KEY, Report(0x0E, (unit,)))
    assert events.read_up_to == {}
    later = {**good, "time": WALL.replace(minute=30)}
    unit = DataUnit(0, 1, {"ec1": 2, "ec2": 0, "pm": 0, "pn": 2, "records": [good, later]})
    stored.accept = True  # the read after the next login gets both again
    events.on_report(KEY, Report(0x0E, (unit,)))
    assert events.read_up_to == {("jzq-T1", 1): 2}
    assert [r.timestamp.minute for r in stored.records] == [20, 30]  # neither a repeat
