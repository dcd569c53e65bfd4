"""The concentrator's event log (AFN 0E): numbered records, the EC counters, and what to push.

A terminal keeps two rings of 256 event records, important (read with F1) and normal (F2);
EC1 / EC2 count the records ever logged, modulo 256, and travel in the AUX of its frames so
the master can tell it has missed some (its own pointer is behind EC). Important events are
also pushed (AFN 0E F1 with CON) and pushed again until the master confirms. Records are kept
encoded (``protocols.gdw1376.events.encode_record``): a read answers with the same bytes the
push carried. The builders below make the records of the events a simulated terminal has:
power off/on (ERC 14), meter fault (13), register decrease (27), RS-485 read failure (31) and an
unknown meter found on a port (35).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from protocols.gdw1376.aux import EventCounter
from protocols.gdw1376.events import encode_record
from protocols.gdw1376.messages import UnitSpec

RING = 256
"""Records a ring holds: EC is one byte, so record numbers are 0..255."""
IMPORTANT, NORMAL = 1, 2
"""The Fn reading each ring (AFN 0E F1 important, F2 normal)."""
NORMAL_ERCS = frozenset({35})
"""ERCs logged as normal events (not pushed); the rest are important."""


@dataclass(frozen=True, slots=True)
class TerminalLogRecord:
    erc: int
    values: dict[str, Any]


def power_off_on(off: datetime, on: datetime) -> TerminalLogRecord:
    return TerminalLogRecord(14, {"power_off": off, "power_on": on})


def meter_fault(
    point: int, at: datetime, flags: int = 0x01, *, started: bool = True
) -> TerminalLogRecord:
    return TerminalLogRecord(
        13, {"time": at, "point": point, "started": started, "fault_flags": flags}
    )


def register_decrease(point: int, at: datetime, before: float, after: float) -> TerminalLogRecord:
    values = {"time": at, "point": point, "energy_before": before, "energy_after": after}
    return TerminalLogRecord(27, values)


def read_failure(point: int, at: datetime, last_read: datetime, energy: float) -> TerminalLogRecord:
    """ERC 31: the terminal could not read the meter of ``point`` (its last good read)."""
    values = {
        "time": at,
        "point": point,
        "started": True,
        "last_read": last_read,
        "last_forward_active": energy,
        "last_forward_reactive": 0.0,
    }
    return TerminalLogRecord(31, values)


def unknown_meter(at: datetime, port: int, address: str) -> TerminalLogRecord:
    meters = [{"address": address, "phase_and_signal": 0, "protocol": 30}]
    return TerminalLogRecord(35, {"time": at, "port": port, "count": 1, "meters": meters})


@dataclass(slots=True)
class _Ring:
    records: list[bytes | None] = field(default_factory=lambda: [None] * RING)
    count: int = 0
    """Records ever logged (EC is this modulo 256)."""

    def add(self, record: bytes) -> int:
        number = self.count % RING
        self.records[number] = record
        self.count += 1
        return number

    def between(self, first: int, end: int) -> list[bytes]:
        """Records ``first`` .. ``end`` - 1, round the ring when ``first`` > ``end``."""
        numbers = range(first, end) if first <= end else [*range(first, RING), *range(end)]
        return [r for n in numbers if (r := self.records[n % RING]) is not None]


class EventLog:
    """Both rings, and the important records not yet confirmed by the master."""

    def __init__(self) -> None:
        self._rings = {IMPORTANT: _Ring(), NORMAL: _Ring()}
        self.unconfirmed: list[int] = []
        """Numbers of important records pushed (or to push) and not confirmed yet."""

    def log(self, event: TerminalLogRecord) -> int:
        """Log one event; returns its record number (important ones wait for a push)."""
        fn = NORMAL if event.erc in NORMAL_ERCS else IMPORTANT
        number = self._rings[fn].add(encode_record(event.erc, event.values))
        if fn == IMPORTANT:
            self.unconfirmed.append(number)
        return number

    @property
    def empty(self) -> bool:
        return not any(ring.count for ring in self._rings.values())

    def counter(self) -> EventCounter:
        return EventCounter(self._rings[IMPORTANT].count % RING, self._rings[NORMAL].count % RING)

    def unit(self, fn: int, first: int, end: int) -> UnitSpec:
        """The AFN 0E F1/F2 unit of records ``first`` .. ``end`` - 1 (a read or a push)."""
        counter = self.counter()
        records = b"".join(self._rings[fn].between(first, end))
        values = {"ec1": counter.important, "ec2": counter.normal, "pm": first, "pn": end}
        return (0, fn, {**values, "records": records})

    def push_unit(self, number: int) -> UnitSpec:
        return self.unit(IMPORTANT, number, (number + 1) % RING)

    def confirmed(self, number: int) -> None:
        if number in self.unconfirmed:
            self.unconfirmed.remove(number)
