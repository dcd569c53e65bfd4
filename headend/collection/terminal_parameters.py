"""A terminal's own communication parameters (AFN 0A F1 and F3), read after each login.

The master ends a session after three of the terminal's heartbeat periods of silence, and it
takes that period from the fleet file. A terminal configured on site with a longer period
(an installer's tool, a factory default of 15 minutes) would be cut off between its beats and
redial for ever; one whose master address points elsewhere goes to another station after its
next power cycle. So both are read back at every login, shown in ``/api/terminals``, and a
heartbeat that disagrees with the fleet file is a ``terminal_parameters`` alarm (closed at the
first login that agrees). Writing them (AFN 04 F1/F3) is left to the operator on purpose: a
wrong master address written remotely loses the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from headend.config.terminals import ConcentratorConfig, MasterConfig
from headend.terminals import TerminalSession
from protocols.gdw1376.master_session import TerminalReply

UPLINK, MASTER_ADDRESS = 1, 3
"""AFN 0A F1 (terminal uplink parameters: heartbeat period ...) and F3 (master address)."""


@dataclass(frozen=True, slots=True)
class TerminalParameters:
    read_at: datetime
    heartbeat_minutes: int | None
    master: str | None
    """``ip:port`` of the primary master station it dials."""
    backup: str | None
    apn: str | None

    def problem(self, terminal: ConcentratorConfig) -> str | None:
        """Why these disagree with the fleet file, or None."""
        if self.heartbeat_minutes is None:
            return None
        configured = terminal.heartbeat / 60
        if self.heartbeat_minutes * 60 == terminal.heartbeat:
            return None
        return (
            f"terminal {terminal.name} heartbeats every {self.heartbeat_minutes} min, the fleet "
            f"file says {configured:g} min: the master ends its session after three of the "
            "fleet's periods"
        )


async def read_parameters(
    session: TerminalSession, master: MasterConfig, at: datetime
) -> TerminalParameters | None:
    """Both units in one request; None if the terminal denies it (it keeps its own)."""
    reply = await session.request(
        0x0A,
        [(0, UPLINK, {}), (0, MASTER_ADDRESS, {})],
        reply_timeout=master.reply_timeout,
        retries=master.retries,
    )
    return None if reply.denied else parameters_of(reply, at)


def parameters_of(reply: TerminalReply, at: datetime) -> TerminalParameters:
    values = {unit.item: unit.values for unit in reply.units}
    uplink = values.get(UPLINK, {})
    address = values.get(MASTER_ADDRESS, {})
    heartbeat = uplink.get("heartbeat_minutes")
    return TerminalParameters(
        read_at=at,
        heartbeat_minutes=heartbeat if isinstance(heartbeat, int) else None,
        master=_endpoint(address.get("primary_ip"), address.get("primary_port")),
        backup=_endpoint(address.get("backup_ip"), address.get("backup_port")),
        apn=str(address["apn"]).strip() or None if address.get("apn") is not None else None,
    )


def _endpoint(ip: object, port: object) -> str | None:
    if ip is None or port is None:
        return None
    return f"{ip}:{port}"
