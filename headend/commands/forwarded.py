"""Operator commands to concentrator meters, by AFN 10 F1 forwarding: on-demand reads, relay
orders, administrative orders (demand, meter and event clear) and clock checks.

A meter under ``[[terminals]]`` is on no bus of ours; the concentrator's RS-485 port is. The
DL/T 645 driver reads and controls it as it would on a bus, over a ``BusLink`` whose transport
forwards each frame through the terminal's session (``headend.terminals.forward_transport``).
One bus worker per terminal port keeps its half-duplex rule (one request in flight) and puts
operator work in the control lane. As for bus meters, an on-demand read is stored before the
caller gets it, and an order (relay, admin, a clock set) is audited (fsync'd) before it is
queued. A command to a terminal that is not logged in fails at once, with nothing audited.
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
from headend.commands.admin import NotConfirmed
from headend.commands.admin_order import send_admin_order
from headend.commands.clock_check import check_meter_clock
from headend.commands.context import CommandContext
from headend.commands.relay_order import send_relay_order
from headend.config.meters import RegistryError
from headend.config.terminals import ConcentratorConfig, MasterConfig, TerminalMeterConfig
from headend.drivers.base import Driver
from headend.drivers.dlt645.admin import AdminOrder
from headend.drivers.dlt645.control import RelayResult
from headend.drivers.registry import driver_for
from headend.errors import ReadFailed, UnknownMeter
from headend.terminals.errors import TerminalOffline
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

    def _reachable(self, meter_id: str) -> ForwardedMeter:
        """The meter, once its terminal is logged in: a command to an offline terminal fails
        at once (``TerminalOffline`` naming terminal and meter) with nothing audited."""
        meter = self._meter(meter_id)
        terminal = self.terminals[meter.config.terminal]
        if terminal.address not in self.server.sessions:
            raise TerminalOffline(
                terminal.address,
                f"terminal {terminal.name} is not logged in: meter {meter.id} (pn "
                f"{meter.config.pn}) not reached",
            )
        return meter

    def _facts(self, meter: ForwardedMeter, reason: str) -> dict[str, Any]:
        """The bus meters' order facts, plus the terminal and pn the order went through."""
        facts = self.ctx.order_facts(meter, reason)
        facts.update(terminal=meter.config.terminal, pn=meter.config.pn)
        return facts

    def _through(self, meter: ForwardedMeter, reason: str = "") -> str:
        terminal, pn = meter.config.terminal, meter.config.pn
        detail = f"address {meter.address} through terminal {terminal} (pn {pn})"
        return detail + (f"; reason: {reason}" if reason else "")

    async def relay(
        self, meter_id: str, action: RelayAction, user: str, reason: str = ""
    ) -> RelayResult:
        """Trip or close the relay of a meter behind a terminal; audited before it is queued,
        and completed whatever the outcome, as bus meters' orders are."""
        ctx = self.ctx
        meter = self._reachable(meter_id)
        ctx.security_for(meter)
        terminal = meter.config.terminal
        command = f"relay {action.name.lower()}"
        intent = ctx.audit.begin(
            ctx.clock.now(),
            user,
            meter.id,
            command,
            self._through(meter, reason),
            data=self._facts(meter, reason),
        )
        return await send_relay_order(
            ctx,
            self.workers[terminal],
            self.driver,
            meter,
            action,
            reply_timeout=self.channels[terminal].timeout,
            intent=intent,
            user=user,
            tags=meter.tags(),
            via=f" through terminal {terminal}",
        )

    async def admin_order(
        self,
        meter_id: str,
        order: AdminOrder,
        user: str,
        *,
        confirm: str | None,
        reason: str = "",
        new_password: str | None = None,
    ) -> str:
        """Demand, meter or event clear of a meter behind a terminal, confirmed by naming the
        meter and audited before it is queued, as bus meters' orders are.

        A password change is refused before anything is audited: a terminal meter's password
        lives in the fleet file only (no run-time overlay keeps it), so every later order to
        the meter would go out with the old one and be refused as unauthorised."""
        ctx = self.ctx
        what = order.value.replace("_", " ")
        meter = self._meter(meter_id)
        if order is AdminOrder.CHANGE_PASSWORD:
            raise self.driver.unsupported(
                meter.id,
                "password change through a concentrator (the fleet file keeps a terminal "
                "meter's password; change it there and on site)",
            )
        if confirm != meter.id:
            raise NotConfirmed(meter.id, order, confirm)
        meter = self._reachable(meter_id)
        ctx.security_for(meter)
        facts = self._facts(meter, reason)
        intent = ctx.audit.begin(
            ctx.clock.now(), user, meter.id, what, self._through(meter, reason), data=facts
        )
        terminal = meter.config.terminal
        return await send_admin_order(
            ctx,
            self.workers[terminal],
            self.driver,
            meter,
            order,
            reply_timeout=self.channels[terminal].timeout,
            intent=intent,
            facts=facts,
            new_password=new_password,
        )

    async def check_clock(self, meter_id: str, user: str) -> float:
        """Read the clock of a meter behind a terminal; set it (audited) when it drifts.

        The head-end's time is taken as the request is written, as on a bus, so the
        forwarding round trip (two hops and the concentrator's own port) counts as drift;
        ``[clock] drift_threshold`` must allow for it. Only on demand: the scheduled clock
        pass would put one forwarded exchange per meter on every terminal, whose own job is
        to keep its meters' clocks (it broadcasts time on its port)."""
        meter = self._reachable(meter_id)
        terminal = meter.config.terminal
        return await check_meter_clock(
            self.ctx,
            self.workers[terminal],
            self.driver,
            meter,
            reply_timeout=self.channels[terminal].timeout,
            user=user,
            lane=Lane.CONTROL,
            facts={"terminal": terminal, "pn": meter.config.pn},
        )
