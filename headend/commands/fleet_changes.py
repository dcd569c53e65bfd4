"""Fleet changes at run time: add, update, replace (换表) and remove meters, durably and audited.

A change is kept in the fleet overlay (``fleet_overlay.py``) before it takes effect, so an
acknowledged change survives a restart. A meter replacement is the one change that touches
the bus: billing needs the old meter's last register and the new meter's first, so both are
read during the change and written into the audit entry (or stated missing, with the reason,
when a meter does not answer). Changes run one at a time: a replacement awaits the bus twice
and a removal arriving in between must not be undone by its second half.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from headend.clock import Clock
from headend.collection.overlay import FleetOverlay
from headend.collection.registry import MeterRegistry
from headend.commands.audit import AuditEntry, AuditLog
from headend.config.fleet import MeterConfig
from headend.config.meters import RegistryError
from headend.errors import ReadFailed
from storage.records import Reading

log = logging.getLogger(__name__)

ReadMeter = Callable[[MeterConfig, Sequence[str]], Awaitable[list[Reading]]]
"""Read these quantities of this meter (as given, not as the registry has it) on its bus."""
FALLBACK_ENERGY = "energy_active_import_total"


class FleetChanges:
    def __init__(
        self,
        registry: MeterRegistry,
        overlay: FleetOverlay,
        audit: AuditLog,
        clock: Clock,
        *,
        toml_meters: Mapping[str, MeterConfig],
        plan_quantities: Callable[[MeterConfig], list[str]],
        read: ReadMeter,
    ) -> None:
        self.registry = registry
        self.overlay = overlay
        self.audit = audit
        self.clock = clock
        self._toml_meters = toml_meters
        self._plan_quantities = plan_quantities
        self._read = read
        self._one_at_a_time = asyncio.Lock()

    def apply_overlay(self) -> None:
        """At start: the changes made through the API before the last stop, on top of the TOML."""
        dropped = []
        # Removals first: a meter moved to the address of one removed later (the overlay keeps
        # the order meters were first changed in) must find that address free.
        entries = sorted(
            self.overlay.effective(self._toml_meters), key=lambda e: e.meter is not None
        )
        for entry in entries:
            try:
                if entry.meter is None:
                    if entry.meter_id in self.registry:
                        self.registry.remove(entry.meter_id)
                else:
                    self.registry.add(entry.meter)
            except RegistryError as exc:
                log.warning(
                    "%s: the change of meter %s no longer fits the fleet TOML and is dropped: %s",
                    self.overlay.path,
                    entry.meter_id,
                    exc,
                )
                dropped.append(entry.meter_id)
        if dropped:
            self.overlay.forget(dropped)

    async def change(
        self, meter: MeterConfig, user: str, *, replaces: str | None = None
    ) -> AuditEntry:
        """Add or update a meter, or replace one; durable before it returns.

        A replacement is a new address (unit id, channel) for the same meter id, or a new meter
        id taking the place of ``replaces``. Returns the audit entry that records the change.
        """
        async with self._one_at_a_time:
            return await self._change(meter, user, replaces)

    async def remove(self, meter_id: str, user: str) -> None:
        async with self._one_at_a_time:
            meter = self.registry.get(meter_id)
            self._persist({meter_id: None})
            self.registry.remove(meter_id)
            self.audit.append(
                AuditEntry(self.clock.now(), user, meter_id, "meter remove", "ok", where(meter))
            )

    async def _change(self, meter: MeterConfig, user: str, replaces: str | None) -> AuditEntry:
        old = self.registry.by_id().get(replaces or meter.id)
        if replaces is not None and old is None:
            raise RegistryError(
                f"meter {meter.id}", f"replaces: unknown meter {replaces!r}", key="replaces"
            )
        if replaces is not None and replaces != meter.id and meter.id in self.registry:
            raise RegistryError(f"meter {meter.id}", "id: already in the fleet", key="id")
        self.registry.validate(meter, replacing=replaces)
        now = self.clock.now()
        if old is None or (same_device(old, meter) and replaces is None):
            command = "meter add" if old is None else "meter update"
            self._persist({meter.id: meter})
            self.registry.add(meter)
            detail = f"channel {meter.channel}, plan {meter.plan}, {where(meter)}"
            entry = AuditEntry(now, user, meter.id, command, "ok", detail)
            self.audit.append(entry)
            return entry
        return await self._replace(old, meter, user, replaces)

    async def _replace(
        self, old: MeterConfig, meter: MeterConfig, user: str, replaces: str | None
    ) -> AuditEntry:
        facts: dict[str, Any] = {
            "old_meter": old.id,
            "old_address": where(old),
            "new_meter": meter.id,
            "new_address": where(meter),
        }
        summary = f"{old.id} {where(old)} -> {meter.id} {where(meter)}"
        intent = self.audit.begin(self.clock.now(), user, meter.id, "meter replace", summary, facts)
        try:
            facts["final_read_old"] = await self._energy_snapshot(old)
            if replaces is not None and replaces != meter.id:
                self._persist({replaces: None, meter.id: meter})
                self.registry.replace(replaces, meter)
            else:
                self._persist({meter.id: meter})
                self.registry.add(meter)
            facts["first_read_new"] = await self._energy_snapshot(meter)
        except BaseException as exc:  # e.g. the overlay could not be written: say so
            detail = f"{type(exc).__name__}: {exc}"
            self.audit.complete(intent, "failed", detail, at=self.clock.now(), data=facts)
            raise
        detail = (
            f"final read of old: {describe_snapshot(facts['final_read_old'])}; "
            f"first read of new: {describe_snapshot(facts['first_read_new'])}"
        )
        return self.audit.complete(intent, "ok", detail, at=self.clock.now(), data=facts)

    def _persist(self, changes: Mapping[str, MeterConfig | None]) -> None:
        self.overlay.record(changes, self._toml_meters)

    async def _energy_snapshot(self, meter: MeterConfig) -> dict[str, Any]:
        """The meter's energy registers as read on the bus now, or why they are missing."""
        wanted = [q for q in self._plan_quantities(meter) if q.startswith("energy_")]
        wanted = wanted or [FALLBACK_ENERGY]
        try:
            self.registry.validate_quantities(meter, wanted, where=f"meter {meter.id}")
        except RegistryError as exc:
            return {"missing": f"no energy register to read: {exc}"}
        try:
            readings = await self._read(meter, wanted)
        except ReadFailed as exc:
            return {"missing": f"{exc.reason.value}: {exc.detail}"}
        return {
            "readings": [
                {
                    "quantity": r.quantity,
                    "value": r.value,
                    "unit": r.unit,
                    "timestamp": r.timestamp.isoformat(),
                    "quality": r.quality.value,
                    "reason": r.reason,
                }
                for r in readings
            ]
        }


def same_device(old: MeterConfig, new: MeterConfig) -> bool:
    return (old.channel, old.address, old.unit_id) == (new.channel, new.address, new.unit_id)


def where(meter: MeterConfig) -> str:
    if meter.address is not None:
        return f"address {meter.address} on {meter.channel}"
    return f"unit {meter.unit_id} on {meter.channel}"


def describe_snapshot(snapshot: Mapping[str, Any]) -> str:
    if "missing" in snapshot:
        return f"missing ({snapshot['missing']})"
    parts = []
    for reading in snapshot["readings"]:
        if reading["value"] is None:
            parts.append(f"{reading['quantity']} missing ({reading['reason']})")
        else:
            parts.append(f"{reading['quantity']} {reading['value']} {reading['unit']}")
    return ", ".join(parts) or "nothing read"
