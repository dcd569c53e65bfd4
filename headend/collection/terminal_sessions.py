"""A concentrator's session lost is an alarm: ``terminal_offline``, subject the terminal, from
the moment its session ends until it logs in again.

The terminal server keeps the sessions; nothing announces their end, so this looks every
``interval`` real seconds. Only a session that ended raises it (a terminal not yet logged in
since the head-end started has lost nothing we knew of); the incidents file its meters'
``meter_unread`` under the terminal (docs/incidents.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from headend.anomaly.alarms import AlarmBook
from headend.anomaly.events import SubjectKind
from headend.clock import Clock
from headend.config.terminals import ConcentratorConfig
from storage.records import EventRecord, Severity

log = logging.getLogger(__name__)

KIND = "terminal_offline"
INTERVAL = 2.0

RecordEvents = Callable[[list[EventRecord]], None]


class TerminalSessions:
    def __init__(
        self,
        alarms: AlarmBook,
        terminals: Mapping[str, ConcentratorConfig],
        sessions: Callable[[], Mapping[str, object]],
        clock: Clock,
        record_events: RecordEvents,
        *,
        interval: float = INTERVAL,
    ) -> None:
        """``sessions``: the server's sessions by terminal address, now."""
        self._alarms = alarms
        self._terminals = terminals
        self._sessions = sessions
        self._clock = clock
        self._record_events = record_events
        self._interval = interval
        self._online: set[str] = set()
        self._lost: set[str] = set()

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.check()

    def check(self) -> list[EventRecord]:
        online = set(self._sessions())
        records = []
        for terminal in self._terminals.values():
            now_online = terminal.address in online
            if now_online and terminal.name in self._lost:
                self._lost.discard(terminal.name)
                records.append(self._event(terminal, active=False, detail="logged in again"))
            elif not now_online and terminal.name in self._online:
                self._lost.add(terminal.name)
                log.warning("terminal %s: session lost", terminal.name)
                records.append(self._event(terminal, active=True, detail="session lost"))
            if now_online:
                self._online.add(terminal.name)
            else:
                self._online.discard(terminal.name)
        if records:
            self._record_events(records)
        return records

    def _event(self, terminal: ConcentratorConfig, *, active: bool, detail: str) -> EventRecord:
        tags = {"terminal": terminal.name}
        if terminal.transformer:
            tags["transformer"] = terminal.transformer
        return self._alarms.meter_event(
            terminal.name,
            KIND,
            active=active,
            at=self._clock.now(),
            detail=f"terminal {terminal.name}: {detail}",
            severity=Severity.WARNING,
            tags=tags,
            subject_kind=SubjectKind.TERMINAL,
        )
