"""The concentrator's AFN 05 control commands: its clock (F31), its reading ports (F49-F51) and
its control outputs (F1 remote trip, F2 allow closing).

A real terminal keeps its own clock, which drifts; the master reads it (AFN 0C F2) and sets it
(F31). Its meters hang on ports (RS-485 2, carrier 31) whose reading the master can pause
(F49), resume (F50) or restart from the first meter (F51, re-read). The simulator keeps the
state the commands leave so tests can compare the head-end's audit with what the terminal did.
A terminal's control outputs (its trip relays, one per control turn 轮次, pn 1..8) open the
load they switch on F1 and may close again after F2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from protocols.gdw1376 import DataUnit

PAUSE, RESUME, REREAD = 49, 50, 51
PORT_STATES: dict[int, str] = {PAUSE: "paused", RESUME: "reading", REREAD: "reading"}
TRIP, ALLOW_CLOSE = 1, 2
SWITCH_STATES: dict[int, str] = {TRIP: "tripped", ALLOW_CLOSE: "close allowed"}


@dataclass(slots=True)
class TerminalControl:
    drift: timedelta = timedelta()
    """How far the terminal's clock is ahead of the true time (a fault, or what F31 left)."""
    ports: dict[int, str] = field(default_factory=dict)
    """Port -> ``paused`` or ``reading``, for the ports a command named."""
    rereads: dict[int, int] = field(default_factory=dict)
    """Port -> how many F51 re-reads it was told to start."""
    clock_sets: int = 0
    switches: dict[int, str] = field(default_factory=dict)
    """Control turn -> ``tripped`` or ``close allowed``, for the turns a command named."""
    trip_controls: dict[int, int] = field(default_factory=dict)
    """Control turn -> the F1 byte of its last trip (limit time and alarm delay)."""

    def now(self, true_now: datetime) -> datetime:
        """The terminal's clock: the true wall clock plus its drift, to the second."""
        return (true_now + self.drift).replace(microsecond=0)

    def apply(self, units: Sequence[DataUnit], true_now: datetime) -> list[str] | None:
        """Carry out every unit of one AFN 05 request and say what was done; None (deny) if
        any is not a command this terminal takes, in which case none is carried out."""
        taken = (31, *PORT_STATES, *SWITCH_STATES)
        if not units or any(u.item not in taken for u in units):
            return None
        done = []
        for unit in units:
            if unit.item == 31:
                self.drift = unit.values["time"] - true_now.replace(microsecond=0)
                self.clock_sets += 1
                done.append(f"clock set: {self.drift.total_seconds():+.0f} s off")
                continue
            if unit.item in SWITCH_STATES:
                self.switches[unit.point] = SWITCH_STATES[unit.item]
                if unit.item == TRIP:
                    self.trip_controls[unit.point] = int(unit.values["trip_control"])
                done.append(f"switch {unit.point} {self.switches[unit.point]}")
                continue
            port = int(unit.values["port"])
            self.ports[port] = PORT_STATES[unit.item]
            if unit.item == REREAD:
                self.rereads[port] = self.rereads.get(port, 0) + 1
            done.append(f"port {port} {'re-read' if unit.item == REREAD else self.ports[port]}")
        return done
