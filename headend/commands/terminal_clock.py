"""Terminal clocks: read a concentrator's clock (AFN 0C F2), set it (AFN 05 F31) when it drifts.

A concentrator freezes its meters' day values at its own midnight and stamps its events with
its own clock, so a terminal that runs minutes off files a day's freeze under the wrong day
and its event times disagree with ours. The master therefore checks every terminal's clock
when it logs in, before the day's pull (``FrozenPull``'s login hook), and again every
``[clock] check_interval``; above ``[clock] drift_threshold`` the clock is set, audited before
the frame goes out, and read back to prove it took.

The drift is the terminal's clock minus the head-end's at the middle of the round trip: over
4G a reply takes seconds, and the midpoint halves what the link adds to the figure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from headend.collection.schedule import next_slot
from headend.commands.terminal_context import TerminalCommandContext
from headend.config.terminals import ConcentratorConfig
from headend.errors import ReadFailed
from headend.terminals import TerminalOffline, TerminalRequestFailed, TerminalSession
from storage.records import FailureReason

log = logging.getLogger(__name__)

SYNC = "terminal clock set"


@dataclass(frozen=True, slots=True)
class TerminalClockCheck:
    terminal: str
    drift: float
    """Seconds the terminal's clock was ahead of the head-end's (negative: behind)."""
    checked_at: datetime
    after: float | None = None
    """The drift read back after the set (None when it was not set)."""

    @property
    def synced(self) -> bool:
        """Whether the drift was over the threshold and the clock was set."""
        return self.after is not None


class TerminalClocks:
    def __init__(self, ctx: TerminalCommandContext, threshold: float, interval: float) -> None:
        self.ctx = ctx
        self.threshold = threshold
        self.interval = interval
        self.last: dict[str, TerminalClockCheck] = {}
        """Terminal name -> its latest check (what ``/api/terminals`` shows)."""

    async def check(self, name: str, user: str = "scheduler") -> TerminalClockCheck:
        """Read ``name``'s clock and set it when it drifts; ``TerminalOffline`` at once if it
        is not logged in, ``ReadFailed`` if it does not answer or refuses."""
        terminal = self.ctx.terminal(name)
        return await self.check_session(self.ctx.session(terminal), terminal, user)

    async def check_session(
        self, session: TerminalSession, terminal: ConcentratorConfig, user: str = "scheduler"
    ) -> TerminalClockCheck:
        ctx = self.ctx
        drift = await self._drift(session)
        check = TerminalClockCheck(terminal.name, drift, ctx.clock.now())
        if abs(drift) > self.threshold:

            async def set_and_verify() -> float:
                await ctx.command(session, 0x05, [(0, 31, {"time": ctx.wall_clock()})], "F31")
                return await self._drift(session)

            after = await ctx.audited(
                terminal,
                user,
                SYNC,
                f"drift was {drift:+.0f} s",
                set_and_verify,
                lambda left: f"drift was {drift:+.0f} s, {left:+.0f} s after the set",
                {"drift_s": round(drift, 1)},
            )
            check = TerminalClockCheck(terminal.name, drift, ctx.clock.now(), after)
            if abs(after) > self.threshold:
                log.warning(
                    "terminal %s: clock still %+.0f s off after the set", terminal.name, after
                )
        self.last[terminal.name] = check
        return check

    async def _drift(self, session: TerminalSession) -> float:
        clock = self.ctx.clock
        before = clock.now()
        reply = await self.ctx.ask(session, 0x0C, [(0, 2, {})])
        after = clock.now()
        shown = next((u.values.get("clock") for u in reply.units if u.item == 2), None)
        if reply.denied or not isinstance(shown, datetime):
            raise TerminalRequestFailed(
                session.key, FailureReason.MALFORMED, "AFN 0C F2: no clock in the reply"
            )
        middle = before + (after - before) / 2
        return (shown.replace(tzinfo=self.ctx.tz) - middle).total_seconds()

    async def on_login(self, session: TerminalSession, terminal: ConcentratorConfig) -> None:
        """``FrozenPull``'s hook: check a terminal that has just logged in before its pull; a
        terminal that does not answer is logged and pulled anyway (its values keep its times)."""
        try:
            await self.check_session(session, terminal)
        except TerminalOffline:
            raise
        except ReadFailed as exc:
            log.warning("terminal %s: clock check failed: %s", terminal.name, exc.detail)

    async def loop(self) -> None:
        """Every logged-in terminal once per ``interval``, at interval boundaries (not at
        start: a login already had its check)."""
        clock = self.ctx.clock
        while True:
            await clock.sleep_until(next_slot(clock.now(), self.interval))
            for name, terminal in self.ctx.terminals.items():
                if terminal.address not in self.ctx.server.sessions:
                    continue
                try:
                    await self.check(name)
                except ReadFailed as exc:
                    log.info("terminal %s: clock check failed: %s", name, exc.detail)
