"""Port commands to a terminal: pause (AFN 05 F49), resume (F50) or re-read (F51) a port.

A concentrator reads the meters on each of its ports (RS-485, carrier) in a round of its own.
Field work on a bus (a meter being exchanged, a wiring fault flooding the bus) calls for
pausing that port's round and resuming it after; a re-read restarts the round from the first
meter, so a day the terminal missed is read again before the master's 补抄 asks for it. Each
changes what the terminal does, so each is audited before it goes out.
"""

from __future__ import annotations

import enum

from headend.commands.terminal_context import TerminalCommandContext

MAX_PORT = 31
"""Q/GDW 1376.1 numbers a terminal's ports 1 .. 31 (carrier is 31)."""


class PortAction(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    REREAD = "reread"

    @property
    def fn(self) -> int:
        return {PortAction.PAUSE: 49, PortAction.RESUME: 50, PortAction.REREAD: 51}[self]


class TerminalPorts:
    def __init__(self, ctx: TerminalCommandContext) -> None:
        self.ctx = ctx

    async def command(
        self, name: str, port: int, action: PortAction, user: str, reason: str = ""
    ) -> None:
        """Send the command; ``TerminalOffline`` at once (nothing audited) if it is not logged
        in, ``ReadFailed`` (audited: refused, or unknown after a lost reply) otherwise."""
        if not 1 <= port <= MAX_PORT:
            raise ValueError(f"port {port}: a terminal's ports are 1 .. {MAX_PORT}")
        ctx = self.ctx
        terminal = ctx.terminal(name)
        session = ctx.session(terminal)
        what = f"AFN 05 F{action.fn} port {port}"

        async def send() -> None:
            await ctx.command(session, 0x05, [(0, action.fn, {"port": port})], what)

        facts = {"port": port, **({"reason": reason} if reason else {})}
        detail = f"port {port}" + (f": {reason}" if reason else "")
        await ctx.audited(
            terminal, user, f"terminal port {action.value}", detail, send, lambda _: what, facts
        )
