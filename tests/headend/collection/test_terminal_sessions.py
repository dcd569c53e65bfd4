"""A concentrator's session lost raises ``terminal_offline``; its next login closes it; a
terminal that never logged in raises nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from headend.anomaly.alarms import AlarmBook
from headend.clock import WarpedClock
from headend.collection.terminal_sessions import KIND, TerminalSessions
from headend.config.terminals import ConcentratorConfig
from storage.records import EventRecord

C1 = ConcentratorConfig("C1", "4403-00001", 60.0, "T2", 31, ())
C2 = ConcentratorConfig("C2", "4403-00002", 60.0, None, 31, ())


def test_lost_then_back() -> None:
    alarms = AlarmBook()
    sessions: dict[str, object] = {}
    recorded: list[EventRecord] = []
    watch = TerminalSessions(
        alarms,
        {"C1": C1, "C2": C2},
        lambda: sessions,
        WarpedClock(datetime(2026, 7, 15, tzinfo=UTC), 1.0),
        recorded.extend,
    )
    assert watch.check() == []  # neither logged in yet: nothing lost
    sessions[C1.address] = object()
    assert watch.check() == []
    del sessions[C1.address]

    (lost,) = watch.check()

    assert (lost.meter, lost.event, lost.active) == ("C1", KIND, True)
    assert lost.tags == {"terminal": "C1", "transformer": "T2"}
    (alarm,) = alarms.open_alarms()
    assert (alarm.subject_kind, alarm.subject, alarm.kind) == ("terminal", "C1", KIND)
    assert watch.check() == []  # still lost: said once
    sessions[C1.address] = object()
    (back,) = watch.check()
    assert back.active is False
    assert alarms.open_alarms() == []
    assert recorded == [lost, back]
