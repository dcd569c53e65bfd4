"""What the commands to dial-in terminals share: the sessions, the fleet's terminals, the audit.

A command that changes a terminal (its clock, its reading ports) is audited like one that
changes a meter: an fsync'd intent before the frame goes out, then the outcome. The audit's
``meter`` field holds the terminal's name, so ``GET /api/audit?meter=jzq-T1`` finds them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from headend.clock import Clock
from headend.commands.audit import AuditLog, outcome_of_error
from headend.config.terminals import ConcentratorConfig, MasterConfig
from headend.terminals import TerminalServer, TerminalSession
from headend.terminals.errors import TerminalRequestFailed, UnknownTerminal
from protocols.gdw1376.master_session import TerminalReply
from protocols.gdw1376.messages import UnitSpec
from storage.records import FailureReason

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TerminalCommandContext:
    server: TerminalServer
    terminals: Mapping[str, ConcentratorConfig]
    master: MasterConfig
    audit: AuditLog
    clock: Clock
    tz: ZoneInfo

    def terminal(self, name: str) -> ConcentratorConfig:
        terminal = self.terminals.get(name)
        if terminal is None:
            raise UnknownTerminal(name)
        return terminal

    def session(self, terminal: ConcentratorConfig) -> TerminalSession:
        """Its logged-in session, or ``TerminalOffline`` at once (nothing is audited then)."""
        return self.server.session(terminal.address)

    def wall_clock(self) -> datetime:
        """Site local time without a zone: what a 1376.1 terminal's clock carries (A.1)."""
        return self.clock.now().astimezone(self.tz).replace(tzinfo=None)

    async def ask(self, session: TerminalSession, afn: int, units: list[UnitSpec]) -> TerminalReply:
        return await session.request(
            afn, units, reply_timeout=self.master.reply_timeout, retries=self.master.retries
        )

    async def command(
        self, session: TerminalSession, afn: int, units: list[UnitSpec], what: str
    ) -> None:
        """Send a control request; a denial (AFN 00 F2) is ``TerminalRequestFailed`` (refused)."""
        reply = await self.ask(session, afn, units)
        if reply.denied:
            raise TerminalRequestFailed(
                session.key, FailureReason.ERROR_RESPONSE, f"{what}: denied (AFN 00 F2)"
            )

    async def audited(
        self,
        terminal: ConcentratorConfig,
        user: str,
        command: str,
        detail: str,
        act: Callable[[], Awaitable[T]],
        done: Callable[[T], str],
        data: Mapping[str, Any] | None = None,
    ) -> T:
        """Run ``act`` between an fsync'd intent and its outcome (``done`` words a success)."""
        facts = {"terminal": terminal.address, **(data or {})}
        intent = self.audit.begin(self.clock.now(), user, terminal.name, command, detail, facts)
        try:
            result = await act()
        except BaseException as exc:
            outcome, why = outcome_of_error(exc, sent=True)
            self.audit.complete(intent, outcome, why, at=self.clock.now())
            raise
        self.audit.complete(intent, "ok", done(result), at=self.clock.now())
        return result
