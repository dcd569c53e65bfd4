"""Wire-accurate DL/T 645 meter and RS-485 bus simulator with scriptable faults.

Build meters (``SimulatedMeterConfig`` + a ``ValueSource``), put them on a ``MeterBus`` with line
settings and a simulated clock, and serve the bus over TCP (``TcpGateway``), a pseudo-terminal
(``PtyPort``) or an in-memory link (``bus.serve(TransportLink(network.listen(name)))``).
``community_adapter`` builds a bus from a community scenario; it is not imported here so that
this package does not pull in the community model.
"""

from __future__ import annotations

from simulators.dlt645.behaviours import (
    Behaviour,
    EchoesWildcard,
    MoreTariffs,
    RefusalStyle,
    RefusesBlocks,
    WideValue,
)
from simulators.dlt645.bus import MeterBus
from simulators.dlt645.config import MeterKind, SimulatedMeterConfig
from simulators.dlt645.errors import MasterProtocolError, SimulatorConfigError, SimulatorError
from simulators.dlt645.faults import (
    ClockDrift,
    CorruptChecksum,
    ErrorReply,
    FaultPlan,
    FaultScript,
    GarbageBytes,
    GatewayDisconnect,
    MeterReplaced,
    MissingFrozen,
    NoReply,
    ScheduledFault,
    SlowReply,
    WireFault,
    WrongAddress,
)
from simulators.dlt645.links import ByteLink, FdLink, StreamLink, TransportLink
from simulators.dlt645.meter import SimulatedMeter
from simulators.dlt645.pty_port import PtyPort
from simulators.dlt645.sources import RampingSource, StaticSource, ValueSource
from simulators.dlt645.tcp_gateway import TcpGateway
from simulators.dlt645.wire import Burst

__all__ = [
    "Behaviour",
    "Burst",
    "ByteLink",
    "ClockDrift",
    "CorruptChecksum",
    "EchoesWildcard",
    "ErrorReply",
    "FaultPlan",
    "FaultScript",
    "FdLink",
    "GarbageBytes",
    "GatewayDisconnect",
    "MasterProtocolError",
    "MeterBus",
    "MeterKind",
    "MeterReplaced",
    "MissingFrozen",
    "MoreTariffs",
    "NoReply",
    "PtyPort",
    "RampingSource",
    "RefusalStyle",
    "RefusesBlocks",
    "ScheduledFault",
    "SimulatedMeter",
    "SimulatedMeterConfig",
    "SimulatorConfigError",
    "SimulatorError",
    "SlowReply",
    "StaticSource",
    "StreamLink",
    "TcpGateway",
    "TransportLink",
    "ValueSource",
    "WideValue",
    "WireFault",
    "WrongAddress",
]
