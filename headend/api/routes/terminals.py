"""Operator routes to dial-in terminals: clock check and sync, pause, resume or re-read a
reading port, and trip or allow closing a control output (遥控). All change the terminal, so
the commands layer audits them before they go out; this layer only translates the request and
the failure into HTTP (an unknown terminal 404, one that is not logged in 502 with reason
``connection_lost``, a refusal 502 ``error_response``, a turn out of range 422).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from headend.api.auth import Caller
from headend.api.context import ApiContext
from headend.api.problems import InvalidField
from headend.api.terminal_models import (
    TerminalClockOut,
    TerminalPortIn,
    TerminalPortOut,
    TerminalSwitchIn,
    TerminalSwitchOut,
)
from headend.commands.terminal_ports import MAX_PORT, PortAction
from headend.commands.terminal_switches import MAX_TURN, SwitchAction


def terminals_router(ctx: ApiContext) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix="/api/terminals", tags=["terminals"])

    @router.post("/{name}/clock", response_model=TerminalClockOut)
    async def check_clock(name: str, caller: Caller = ctx.operator) -> TerminalClockOut:
        """Read the terminal's clock (AFN 0C F2); over the drift threshold, set it (05 F31)."""
        return TerminalClockOut.of(await headend.check_terminal_clock(name, caller.name))

    @router.post("/{name}/ports/{port}/{action}", response_model=TerminalPortOut)
    async def port_command(
        name: str,
        port: Annotated[int, Path(ge=1, le=MAX_PORT)],
        action: PortAction,
        request: Annotated[TerminalPortIn | None, Body()] = None,
        caller: Caller = ctx.operator,
    ) -> TerminalPortOut:
        """AFN 05 F49 pause, F50 resume or F51 re-read the meters of one port."""
        reason = request.reason if request else ""
        await headend.terminal_port(name, port, action, caller.name, reason)
        return TerminalPortOut(terminal=name, port=port, action=action.value, user=caller.name)

    @router.post("/{name}/switches/{turn}/{action}", response_model=TerminalSwitchOut)
    async def switch_command(
        name: str,
        turn: Annotated[int, Path(ge=1, le=MAX_TURN)],
        action: SwitchAction,
        request: TerminalSwitchIn,
        caller: Caller = ctx.operator,
    ) -> TerminalSwitchOut:
        """AFN 05 F1 trip or F2 allow closing the control output of one turn (1-8)."""
        try:
            await headend.terminal_switch(
                name,
                turn,
                action,
                caller.name,
                request.reason,
                limit_half_hours=request.limit_half_hours,
                alarm_delay_minutes=request.alarm_delay_minutes,
            )
        except ValueError as exc:
            raise InvalidField(("path", "turn"), str(exc)) from None
        return TerminalSwitchOut(terminal=name, turn=turn, action=action.value, user=caller.name)

    return router
