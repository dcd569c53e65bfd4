"""What every operator command works with: the fleet, its buses, the site clock, the audit.

Commands that change a meter are audited (``headend.commands.audit``) before they act; the
parts they need to do so, to reach a meter's bus and to announce their results are gathered
here once, so each command module takes one argument instead of eight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from headend.anomaly.alarms import AlarmBook
from headend.bus.worker import BusWorker
from headend.clock import Clock
from headend.collection.live import LiveReadings
from headend.collection.registry import MeterRegistry
from headend.commands.audit import AuditLog
from headend.config.fleet import ChannelConfig, FleetConfig, MeterConfig
from headend.drivers.base import Capability, Driver
from headend.drivers.dlt645.secured import SECURED, no_module
from headend.drivers.dlt645.security_module import SecurityModule
from headend.drivers.registry import driver_for
from headend.drivers.settings import MeterSettings


@dataclass(frozen=True, slots=True)
class CommandContext:
    config: FleetConfig
    registry: MeterRegistry
    workers: Mapping[str, BusWorker[Any]]
    clock: Clock
    tz: ZoneInfo
    audit: AuditLog
    alarms: AlarmBook
    live: LiveReadings
    security: SecurityModule | None = None
    """Seals the orders of meters with ``control = "secured"`` (the ``[security]`` table)."""

    def meter_now(self) -> datetime:
        """Site wall-clock time, what a meter's clock should show."""
        return self.clock.now().astimezone(self.tz)

    def security_for(self, meter: MeterSettings) -> SecurityModule | None:
        """The module that seals ``meter``'s orders, or ``unsupported`` (API 409) before anything
        is audited when the meter takes secured control and no ``[security]`` module is set."""
        if meter.control == SECURED and self.security is None:
            raise no_module(meter.id)
        return self.security

    def order_facts(self, meter: MeterSettings, reason: str) -> dict[str, Any]:
        """What the audit keeps of an order beyond its text: reason, control mode, key version."""
        facts: dict[str, Any] = {"control": meter.control}
        if reason:
            facts["reason"] = reason
        if meter.control == SECURED and self.security is not None:
            facts["key_version"] = self.security.key_version
        return facts

    def meter_that_can(
        self, meter_id: str, capability: Capability, what: str
    ) -> tuple[MeterConfig, ChannelConfig, Driver[Any]]:
        """The meter, its channel and its driver, or ``unsupported`` (API 409) before anything
        is audited or queued when the meter's protocol cannot do ``what``."""
        meter = self.registry.get(meter_id)
        driver = driver_for(meter.protocol)
        if not driver.supports(capability):
            raise driver.unsupported(meter_id, what)
        return meter, self.config.channels[meter.channel], driver
