"""A whole scenario running at once: community model, one TCP gateway per bus, the terminal.

A demo or an end-to-end test wants "the community of scenario X, reachable over the network"
in one line; wiring the model, the clock, one DL/T 645 gateway per RS-485 bus and the MQTT
terminal by hand in every caller would let them drift apart (two clocks, two seeds). Here they
all share one ``Community`` and one clock (the caller's, e.g. ``WarpedClock.now``), so a value
read over TCP and a terminal message describe the same simulated instant, and the same seed
gives the same values.

Building buses are DL/T 645 (a bus with another protocol is refused rather than silently
served as DL/T 645). A transformer's Modbus LV-side meter (``[transformers.lv_meter]``) gets a
line of its own: RTU on a pseudo-terminal, serving the transformer's LV totals from the same
model, secondary side (primary / CT), through its register map.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import quote

from simulators.community.model import Community
from simulators.concentrator.community import (
    ConcentratorPlan,
    PlacedConcentrator,
    concentrators_for,
)
from simulators.concentrator.forwarding import port_for
from simulators.dlt645.community_adapter import bus_from_community
from simulators.dlt645.dial_out import DialOutGateway
from simulators.dlt645.esam import EsamConfig
from simulators.dlt645.tcp_gateway import TcpGateway
from simulators.errors import SimulatorError
from simulators.scenario import BusSpec, LvMeterSpec, Scenario, TransformerSpec
from simulators.terminal.config import TerminalConfig
from simulators.terminal.simulator import TerminalSimulator
from transports import SerialSettings
from transports.settings import Parity

if TYPE_CHECKING:
    from simulators.modbus import ModbusPtyPort, SimulatedMeter

log = logging.getLogger(__name__)

LV_METER_QUANTITIES = (
    "voltage_a",
    "voltage_b",
    "voltage_c",
    "current_a",
    "current_b",
    "current_c",
    "power_active_total",
    "power_reactive_total",
    "power_factor_total",
    "frequency",
    "energy_active_import_total",
)
"""What the model knows of a transformer's LV side (``TransformerValues``) that a meter map
can serve; a map's other points read as "not available"."""

SERVED_PROTOCOLS = ("dlt645-2007",)
DTU_REGISTRATION = "SIMDTU-{}"
DTU_HEARTBEAT = "HEARTBEAT-{}"
DTU_HEARTBEAT_PERIOD_S = 30.0
"""Bus protocols the runner can put behind a gateway."""

ADVANCE_EVERY_S = 1.0
"""Real seconds between model advances when nobody reads: keeps each advance small, so a read
after a quiet spell at high speed does not stall the event loop integrating hours at once."""


LOAD_PROFILE_INTERVAL = timedelta(minutes=15)
"""The simulated DL/T 645 meters' load profile interval (their default too)."""
LOAD_PROFILE_SLOTS_KEPT = 96
"""A day of load profile records: the community keeps what each meter showed at each slot."""


class RunnerError(SimulatorError):
    """The scenario cannot be run as asked (unsupported bus, bad start, port in use)."""


@dataclass(frozen=True, slots=True)
class TerminalTopics:
    """Where one transformer terminal publishes and listens."""

    transformer: str
    device: str
    """The ``dev`` name inside its JSON payloads."""
    telemetry: str
    request: str
    response: str


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    terminals: tuple[TerminalTopics, ...]

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """What listens where, for printing and for deriving the head-end's fleet config."""

    buses: Mapping[str, str]
    """Bus id -> ``tcp://host:port`` of its gateway, in scenario order."""
    mqtt: MqttEndpoint | None
    lv_meters: Mapping[str, str] = field(default_factory=dict)
    """Transformer id -> ``serial:///dev/pts/N?baud=..&parity=N`` of its LV-side meter's line."""
    concentrators: tuple[PlacedConcentrator, ...] = ()
    """The concentrators that dial in to ``master`` (one per transformer), with their meters."""
    master: tuple[str, int] | None = None
    dial_in: tuple[str, int] | None = None
    """Where the buses' DTUs dial in (``headend simulate --dial-in``); ``buses`` then holds
    their ``dialin://`` URLs."""


def dtu_url(bus_id: str) -> str:
    """The ``dialin://`` URL of a simulated bus's DTU: its registration and heartbeat packets
    (long and distinct, so bus bytes never contain one)."""
    return f"dialin://{quote(DTU_REGISTRATION.format(bus_id), safe='')}?heartbeat=" + quote(
        DTU_HEARTBEAT.format(bus_id), safe=""
    )


def terminal_topics(scenario: Scenario, config: TerminalConfig) -> tuple[TerminalTopics, ...]:
    """The topics each transformer's terminal uses under ``config``."""
    return tuple(
        TerminalTopics(
            transformer=t.id,
            device=config.topic(config.dev_name, t.id),
            telemetry=config.topic(config.telemetry_topic, t.id),
            request=config.topic(config.request_topic, t.id),
            response=config.topic(config.response_topic, t.id),
        )
        for t in scenario.transformers
    )


def lv_meter_url(path: str, baud: int) -> str:
    """The head-end's URL of a pty line: parity N, which ptys require."""
    return f"serial://{path}?baud={baud}&parity=N"


def serial_settings(bus: BusSpec, baud: int | None = None) -> SerialSettings:
    """The line settings the simulated bus paces its bytes at (``baud`` overrides the bus)."""
    return SerialSettings(
        bus.id,
        baud=baud or bus.baud,
        parity=Parity(bus.parity),
        bytesize=bus.data_bits,
        stopbits=float(bus.stop_bits),
    )


class ScenarioRunner:
    """``async with ScenarioRunner(scenario, seed=0, speed=60, clock=clock.now) as runner:``
    serves everything.

    ``clock`` is the simulated now (the head-end's ``WarpedClock(start, speed).now``); ``speed``
    is that clock's speed, which sets how often the terminal publishes.

    Ports: ``base_port`` > 0 puts bus i on ``base_port + i``; otherwise a bus's own
    ``gateway_port`` is used, 0 meaning a free port picked at start. ``mqtt`` is the broker the
    terminal simulator publishes to; without one no terminal runs. ``baud`` overrides every
    bus's line speed (tests use 115200 to keep wire time short).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int,
        speed: float,
        start: datetime | None = None,
        host: str = "127.0.0.1",
        base_port: int = 0,
        mqtt: tuple[str, int] | None = None,
        baud: int | None = None,
        terminal_interval_s: float | None = None,
        concentrators: ConcentratorPlan | None = None,
        dial_in: tuple[str, int] | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        for bus in scenario.buses:
            if bus.protocol not in SERVED_PROTOCOLS:
                raise RunnerError(
                    f"{scenario.source}: bus {bus.id}: protocol {bus.protocol!r} cannot be "
                    f"simulated (supported: {', '.join(SERVED_PROTOCOLS)})"
                )
        if base_port < 0 or base_port + len(scenario.buses) - 1 > 65535:
            raise RunnerError(f"base port {base_port}: the buses would not fit below 65536")
        begin = start or scenario.start
        if begin.tzinfo is None:
            raise RunnerError(f"start {begin.isoformat()}: must be timezone-aware")
        if begin < scenario.start:
            raise RunnerError(
                f"start {begin.isoformat()}: before the scenario's start "
                f"{scenario.start.isoformat()} (the model cannot run backwards)"
            )
        self.scenario = scenario
        self.seed = seed
        self.speed = speed
        self.start = begin
        self.host = host
        self.base_port = base_port
        self.mqtt = mqtt
        self.baud = baud
        self.community = Community.from_scenario(scenario, seed)
        # The meters' load profiles (06xxxxxx) answer from these: a day of 15-minute slots.
        self.community.keep_snapshots(LOAD_PROFILE_INTERVAL, LOAD_PROFILE_SLOTS_KEPT)
        if begin > scenario.start:
            self.community.advance_to(begin)
        self.clock = clock
        """Simulated now: every gateway, the terminal and the model read this clock, which is
        the head-end's clock in ``headend simulate`` and ``headend demo``."""
        self.terminal_config = TerminalConfig(
            utc_offset=scenario.utc_offset,
            interval_s=terminal_interval_s or max(1.0, 60.0 / speed),
        )
        self.gateways: dict[str, TcpGateway] = {}
        self.dial_in = dial_in
        """Where the buses' DTUs call instead of listening (the head-end's ``[dial_in]``)."""
        self.dial_outs: dict[str, DialOutGateway] = {}
        self.lv_ports: dict[str, ModbusPtyPort] = {}
        self.terminal: TerminalSimulator | None = None
        self.concentrator_plan = concentrators
        self.concentrators: list[PlacedConcentrator] = []
        if concentrators is not None:
            self.concentrators = concentrators_for(
                scenario, self.community, self._advancing_clock, concentrators
            )
        self._stop = asyncio.Event()
        self._stack: contextlib.AsyncExitStack | None = None

    def now(self) -> datetime:
        return self.clock()

    def _port_for(self, index: int, bus: BusSpec) -> int:
        return self.base_port + index if self.base_port else bus.gateway_port

    def endpoints(self) -> Endpoints:
        """Where the gateways and the terminal are reachable (ports known once started)."""
        buses = {
            bus_id: f"tcp://{gateway.host}:{gateway.port}"
            for bus_id, gateway in self.gateways.items()
        }
        buses.update({bus_id: dtu_url(bus_id) for bus_id in self.dial_outs})
        mqtt = None
        if self.mqtt is not None:
            host, port = self.mqtt
            mqtt = MqttEndpoint(host, port, terminal_topics(self.scenario, self.terminal_config))
        lv_meters = {
            transformer: lv_meter_url(port.path, port.baud)
            for transformer, port in self.lv_ports.items()
        }
        plan = self.concentrator_plan
        return Endpoints(
            buses=buses,
            mqtt=mqtt,
            lv_meters=lv_meters,
            concentrators=tuple(self.concentrators),
            master=None if plan is None else plan.master,
            dial_in=self.dial_in,
        )

    async def __aenter__(self) -> ScenarioRunner:
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            for index, bus in enumerate(self.scenario.buses):
                meter_bus = bus_from_community(
                    self.community,
                    bus.id,
                    serial_settings(bus, self.baud),
                    clock=self._advancing_clock,
                    seed=self.seed,
                    esam=esam_of(bus),
                )
                if self.dial_in is not None:
                    self.dial_outs[bus.id] = DialOutGateway(
                        meter_bus,
                        *self.dial_in,
                        DTU_REGISTRATION.format(bus.id).encode(),
                        DTU_HEARTBEAT.format(bus.id).encode(),
                        # Simulated seconds, as every period here: at 60x it beats twice a second.
                        heartbeat_period=max(0.1, DTU_HEARTBEAT_PERIOD_S / self.speed),
                    )
                    continue
                gateway = TcpGateway(meter_bus, self.host, self._port_for(index, bus))
                try:
                    await stack.enter_async_context(gateway)
                except OSError as exc:
                    raise RunnerError(
                        f"bus {bus.id}: cannot listen on {self.host}:"
                        f"{self._port_for(index, bus)}: {exc.strerror or exc}"
                    ) from exc
                self.gateways[bus.id] = gateway
                log.info("bus %s listening on %s:%d", bus.id, self.host, gateway.port)
            buses = [gateway.bus for gateway in self.gateways.values()]
            buses += [dtu.bus for dtu in self.dial_outs.values()]
            for placed in self.concentrators:  # AFN 10 forwarding reaches the same meters
                placed.concentrator.forward_to = port_for(
                    placed.concentrator.store,
                    buses,
                    self._advancing_clock,
                    seed=self.seed,
                    name=placed.name,
                )
            for transformer, meter in self.scenario.lv_meters:
                port = self._lv_port(transformer, meter)
                await stack.enter_async_context(port)
                self.lv_ports[transformer.id] = port
                log.info("LV meter of %s on %s", transformer.id, port.path)
            group = await stack.enter_async_context(asyncio.TaskGroup())
            group.create_task(self._advance_loop())
            if self.mqtt is not None:
                self.terminal = TerminalSimulator(
                    self.community, self._advancing_clock, self.terminal_config
                )
                group.create_task(self.terminal.run(*self.mqtt))
            for placed in self.concentrators:
                group.create_task(self._dial_in(placed))
            for dtu in self.dial_outs.values():
                group.create_task(self._until_stopped(dtu.run()))
        except BaseException as exc:
            self._stop.set()
            await stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Ask the tasks to finish first, then leave the task group (which waits for them),
        # then close the gateways (entered before the group, so closed after it).
        self._stop.set()
        if self.terminal is not None:
            self.terminal.stop()
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    async def _dial_in(self, placed: PlacedConcentrator) -> None:
        """The concentrator dials (and redials) the master until the runner stops."""
        assert self.concentrator_plan is not None
        host, port = self.concentrator_plan.master
        dialling = asyncio.create_task(placed.concentrator.run(host, port))
        try:
            await self._stop.wait()
        finally:
            dialling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dialling

    async def _until_stopped(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.create_task(work)
        try:
            await self._stop.wait()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _lv_port(self, transformer: TransformerSpec, meter: LvMeterSpec) -> ModbusPtyPort:
        # pymodbus (and its serial extra) only for scenarios that have a Modbus meter.
        from simulators.modbus import ModbusPtyPort

        return ModbusPtyPort({meter.unit_id: self.lv_meter(transformer.id)}, baud=meter.baud)

    def lv_meter(self, transformer_id: str) -> SimulatedMeter:
        """The simulated LV-side meter of ``transformer_id``: the model's LV totals, pulled at
        every read, encoded through the meter's map with its firmware's energy address."""
        from protocols.modbus import ENERGY_BASE, Ratios, builtin_register_map
        from simulators.modbus import SimulatedMeter

        spec = next(m for t, m in self.scenario.lv_meters if t.id == transformer_id)
        bases = None if spec.energy_base is None else {ENERGY_BASE: spec.energy_base}
        register_map = builtin_register_map(spec.register_map, bases=bases)
        served = [q for q in LV_METER_QUANTITIES if q in register_map.quantities]

        def values() -> dict[str, float]:
            self._advancing_clock()
            totals = self.community.transformer_values(transformer_id)
            return {quantity: float(getattr(totals, quantity)) for quantity in served}

        return SimulatedMeter(register_map, values, Ratios(ct=spec.ct_ratio, pt=spec.pt_ratio))

    def _advancing_clock(self) -> datetime:
        """The simulated now, with the model brought up to it (never moves it backwards)."""
        moment = self.clock()
        if moment > self.community.now:
            self.community.advance_to(moment)
        return moment

    async def _advance_loop(self) -> None:
        while not self._stop.is_set():
            self._advancing_clock()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ADVANCE_EVERY_S):
                    await self._stop.wait()


def esam_of(bus: BusSpec) -> EsamConfig | None:
    """The ESAM of a secured bus's meters, its master key from the environment."""
    if bus.esam_key_env is None:
        return None
    text = os.environ.get(bus.esam_key_env, "")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 16:
        raise RunnerError(
            f"bus {bus.id}: esam_key_env: environment variable {bus.esam_key_env} must hold "
            "the ESAM master key as 32 hex digits"
        )
    return EsamConfig(key)
