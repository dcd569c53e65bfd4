"""On-demand reads and relay orders of concentrator meters, by AFN 10 F1 forwarding.

A meter under ``[[terminals]]`` is on no bus of ours; the concentrator's RS-485 port is. The
DL/T 645 driver reads and controls it as it would on a bus, over a ``BusLink`` whose transport
forwards each frame through the terminal's session (``headend.terminals.forward_transport``).
One bus worker per terminal port keeps its half-duplex rule (one request in flight) and puts
operator work in the control lane. As for bus meters, an on-demand read is stored before the
caller gets it, and a relay order is audited (fsync'd) before it is queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from headend.bus.backoff import Backoff
from headend.bus.lanes import Lane
from headend.bus.link import BusLink
from headend.bus.worker import BusPolicy, BusWorker
from headend.commands.context import CommandContext
from headend.commands.relay_order import send_relay_order
from headend.config.meters import RegistryError
from headend.config.terminals import ConcentratorConfig, MasterConfig, TerminalMeterConfig
from headend.drivers.base import Driver
from headend.drivers.dlt645.control import RelayResult
from headend.drivers.dlt645.secured import SECURED, no_module
from headend.drivers.registry import driver_for
from headend.errors import ReadFailed, UnknownMeter
from headend.terminals.forward_transport import ForwardingTransport, ForwardSettings
from headend.terminals.server import TerminalServer
from protocols.dlt645 import RelayAction
from storage.records import FailureReason, Reading

PROTOCOL = "dlt645-2007"
"""What the forwarded frames speak (the archive records the master writes say DL/T 645-2007)."""
ON_DEMAND_QUANTITIES = (
    "energy_active_import_total",
    "voltage_a",
    "current_a",
    "power_active_total",
)
"""An on-demand read that names no quantities: the register and the instantaneous values a
single-phase meter has (a terminal meter has no plan of ours)."""
LINK_TIMEOUT = 1.0
"""The driver's wait for bytes once a forwarded reply is in (the round trip is the transport's,
bounded by ``[master] reply_timeout``): only a reply the driver cannot use waits this long."""


@dataclass(frozen=True, slots=True)
class ForwardedMeter:
    """A terminal meter in the shape the DL/T 645 driver reads (``drivers.settings``)."""

    config: TerminalMeterConfig
    protocol: str = PROTOCOL
    unit_id: int | None = None
    register_map: str | None = None
    energy_base: int | None = None
    ct_ratio: float = 1.0
    pt_ratio: float = 1.0

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def address(self) -> str | None:
        return self.config.address

    @property
    def password(self) -> str:
        return self.config.password

    @property
    def operator_code(self) -> str:
        return self.config.operator_code

    @property
    def control(self) -> str:
        return self.config.control

    def tags(self) -> dict[str, str]:
        return self.config.tags()


@dataclass(frozen=True, slots=True)
class ForwardChannel:
    """The terminal's meter port as the driver sees a channel (``drivers.settings``)."""

    name: str
    url: str
    protocol: str = PROTOCOL
    timeout: float = LINK_TIMEOUT
    inter_frame_gap: float = 0.0
    """The concentrator keeps its own port's gap."""


class ForwardedMeters:
    """Every terminal's meter port: ``read_now`` and ``relay`` for meters behind terminals."""

    def __init__(
        self,
        ctx: CommandContext,
        server: TerminalServer,
        terminals: Mapping[str, ConcentratorConfig],
        master: MasterConfig,
        *,
        policy: BusPolicy | None = None,
    ) -> None:
        self.ctx = ctx
        self.server = server
        self.terminals = dict(terminals)
        self.meters = {m.id: m for t in terminals.values() for m in t.meters}
        self.driver: Driver[Any] = driver_for(PROTOCOL)
        settings = ForwardSettings(reply_timeout=master.reply_timeout)
        policy = policy or BusPolicy(retries=1, retry_backoff=Backoff(0.2, 1.0))
        self.channels: dict[str, ForwardChannel] = {}
        self.workers: dict[str, BusWorker[BusLink]] = {}
        for name, terminal in terminals.items():
            transport = ForwardingTransport(server, terminal.address, name=name, settings=settings)
            self.channels[name] = ForwardChannel(
                f"terminal {name}", f"gdw1376://{terminal.address}/port/{settings.port}"
            )
            self.workers[name] = BusWorker(f"terminal {name}", BusLink(transport, gap=0.0), policy)

    async def run(self) -> None:
        """Serve the terminals' ports until cancelled (the engine's TaskGroup)."""
        async with asyncio.TaskGroup() as group:
            for name, worker in self.workers.items():
                group.create_task(worker.run(), name=f"forwarding {name}")

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()

    def knows(self, meter_id: str) -> bool:
        return meter_id in self.meters

    def _meter(self, meter_id: str) -> ForwardedMeter:
        config = self.meters.get(meter_id)
        if config is None:
            raise UnknownMeter(meter_id)
        if config.address is None:
            raise ReadFailed(
                FailureReason.UNSUPPORTED,
                f"meter {meter_id} (terminal {config.terminal}, pn {config.pn}): the fleet file "
                "gives no address, which forwarding needs to reach it",
            )
        return ForwardedMeter(config)

    async def read_now(
        self, meter_id: str, quantities: Sequence[str] | None = None
    ) -> list[Reading]:
        """An operator's on-demand read through the meter's terminal, stored before returned."""
        meter = self._meter(meter_id)
        wanted = tuple(quantities or ON_DEMAND_QUANTITIES)
        problem = self.driver.quantity_problem(meter, wanted)
        if problem is not None:
            raise RegistryError(f"on-demand read of {meter.id}", problem.message, key=problem.key)
        terminal = meter.config.terminal
        action = self.driver.read_action(
            self.channels[terminal], meter, wanted, self.ctx.clock.now()
        )
        worker = self.workers[terminal]
        readings: list[Reading] = await worker.call(Lane.CONTROL, f"on-demand {meter.id}", action)
        await self.ctx.live.publish(readings, durable=True)
        return readings

    async def relay(
        self, meter_id: str, action: RelayAction, user: str, reason: str = ""
    ) -> RelayResult:
        """Trip or close the relay of a meter behind a terminal; audited before it is queued,
        and completed whatever the outcome, as bus meters' orders are."""
        ctx = self.ctx
        meter = self._meter(meter_id)
        if meter.control == SECURED and ctx.security is None:
            raise no_module(meter.id)
        terminal = meter.config.terminal
        channel = self.channels[terminal]
        command = f"relay {action.name.lower()}"
        facts: dict[str, Any] = {
            "control": meter.control,
            "terminal": terminal,
            "pn": meter.config.pn,
        }
        if reason:
            facts["reason"] = reason
        if meter.control == SECURED and ctx.security is not None:
            facts["key_version"] = ctx.security.key_version
        intent = ctx.audit.begin(
            ctx.clock.now(),
            user,
            meter.id,
            command,
            f"address {meter.address} through terminal {terminal} (pn {meter.config.pn})"
            + (f"; reason: {reason}" if reason else ""),
            data=facts,
        )
        return await send_relay_order(
            ctx,
            self.workers[terminal],
            self.driver,
            meter,
            action,
            reply_timeout=channel.timeout,
            intent=intent,
            user=user,
            tags=meter.tags(),
            via=f" through terminal {terminal}",
        )
