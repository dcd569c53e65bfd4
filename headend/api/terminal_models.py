"""Bodies of the terminal command routes (clock check and sync, port commands, switches)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from headend.collection.terminal_parameters import TerminalParameters
from headend.commands.terminal_clock import TerminalClockCheck


class TerminalClockOut(BaseModel):
    terminal: str
    drift_seconds: float = Field(
        description="The terminal's clock minus the head-end's when checked (negative: behind)"
    )
    checked_at: datetime
    synced: bool = Field(description="Over [clock] drift_threshold, so it was set (AFN 05 F31)")
    drift_after_seconds: float | None = Field(description="Read back after the set")

    @classmethod
    def of(cls, check: TerminalClockCheck) -> TerminalClockOut:
        return cls(
            terminal=check.terminal,
            drift_seconds=round(check.drift, 3),
            checked_at=check.checked_at,
            synced=check.synced,
            drift_after_seconds=None if check.after is None else round(check.after, 3),
        )


class TerminalPortIn(BaseModel):
    reason: str = Field(
        default="",
        max_length=200,
        description="Why (meter exchange on this bus, wiring fault ...): kept in the audit trail",
    )


class TerminalPortOut(BaseModel):
    terminal: str
    port: int
    action: Literal["pause", "resume", "reread"]
    user: str


class TerminalSwitchIn(BaseModel):
    reason: str = Field(
        min_length=1,
        max_length=200,
        description="Why the load is cut or let back (kept in the audit trail): required",
    )
    limit_half_hours: int = Field(
        default=0, ge=0, le=15, description="F1: limit time in half hours (0: until F2)"
    )
    alarm_delay_minutes: int = Field(
        default=0, ge=0, le=15, description="F1: minutes of alarm before the output opens"
    )


class TerminalSwitchOut(BaseModel):
    terminal: str
    turn: int
    action: Literal["trip", "allow_close"]
    user: str


class TerminalParametersOut(BaseModel):
    """AFN 0A F1/F3 as the terminal reported them at its last login."""

    read_at: datetime
    heartbeat_minutes: int | None
    master: str | None = Field(description="ip:port of the primary master station it dials")
    backup: str | None
    apn: str | None

    @classmethod
    def of(cls, read: TerminalParameters | None) -> TerminalParametersOut | None:
        if read is None:
            return None
        return cls(
            read_at=read.read_at,
            heartbeat_minutes=read.heartbeat_minutes,
            master=read.master,
            backup=read.backup,
            apn=read.apn,
        )
