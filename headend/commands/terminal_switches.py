"""Remote control (遥控) of a terminal's own control outputs: trip (AFN 05 F1), allow closing (F2).

A load-management terminal switches loads through its control outputs, one per control turn
(轮次, pn 1..8): F1 opens the turn's output (the load it feeds goes off, after the alarm
delay), F2 lets it close again. Cutting a load is as serious as tripping a meter's relay, so
each order is audited (an fsync'd intent naming the user, the turn and the reason) before the
frame goes out, and completed with the terminal's answer: ``ok`` (AFN 00 F1), ``refused``
(F2), or ``unknown`` when no answer came (the terminal may have acted). A terminal that is not
logged in fails at once with nothing audited.

The F1 data unit is one byte; as the codec's catalogue reads it, D7..D4 the limit time (限电
时间, half hours, 0: until allowed to close) and D3..D0 the alarm delay (告警延时, minutes).
That split is not checked against the primary text here: both default to 0.
"""

from __future__ import annotations

import enum

from headend.commands.terminal_context import TerminalCommandContext

MAX_TURN = 8
"""Control turns 1..8 (pn of AFN 05 F1/F2)."""
MAX_NIBBLE = 15


class SwitchAction(enum.StrEnum):
    TRIP = "trip"
    ALLOW_CLOSE = "allow_close"

    @property
    def fn(self) -> int:
        return 1 if self is SwitchAction.TRIP else 2


def trip_control(limit_half_hours: int, alarm_delay_minutes: int) -> int:
    """The F1 byte: limit time in the high nibble, alarm delay in the low one."""
    for name, value in (
        ("limit_half_hours", limit_half_hours),
        ("alarm_delay_minutes", alarm_delay_minutes),
    ):
        if not 0 <= value <= MAX_NIBBLE:
            raise ValueError(f"{name}: {value} is not 0 .. {MAX_NIBBLE}")
    return limit_half_hours << 4 | alarm_delay_minutes


class TerminalSwitches:
    def __init__(self, ctx: TerminalCommandContext) -> None:
        self.ctx = ctx

    async def command(
        self,
        name: str,
        turn: int,
        action: SwitchAction,
        user: str,
        reason: str = "",
        *,
        limit_half_hours: int = 0,
        alarm_delay_minutes: int = 0,
    ) -> None:
        """Send the order; ``ValueError`` for a turn or timing out of range and
        ``TerminalOffline`` (not logged in), both before anything is audited; ``ReadFailed``
        (audited: refused, or unknown after a lost reply) otherwise."""
        if not 1 <= turn <= MAX_TURN:
            raise ValueError(f"turn {turn}: a terminal's control turns are 1 .. {MAX_TURN}")
        values: dict[str, int] = {}
        if action is SwitchAction.TRIP:
            values["trip_control"] = trip_control(limit_half_hours, alarm_delay_minutes)
        ctx = self.ctx
        terminal = ctx.terminal(name)
        session = ctx.session(terminal)
        what = f"AFN 05 F{action.fn} turn {turn}"

        async def send() -> None:
            await ctx.command(session, 0x05, [(turn, action.fn, values)], what)

        facts: dict[str, object] = {"turn": turn, **values}
        if reason:
            facts["reason"] = reason
        detail = f"turn {turn}" + (f": {reason}" if reason else "")
        await ctx.audited(
            terminal, user, f"terminal switch {action.value}", detail, send, lambda _: what, facts
        )
