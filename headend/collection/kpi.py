"""Which meters were due a daily frozen value on a day, and what each meter-day came to.

Due: every bus meter whose plan reads daily frozen values, and every concentrator meter (the
frozen pull asks each of them for every day). Where the meter archive (``storage/archive/``)
knows a meter it is the authority for its transformer and building, and a meter not in service
that day (installed later, removed earlier) is not due; otherwise the fleet file's labels
stand. A concentrator meter's terminal is its concentrator and its channel is that
concentrator's connection (the terminal's name); a bus meter has no terminal and its channel
is its bus.

The outcome of each meter-day is read from the stored frozen values, through the same
``storage.billing.daily_values`` billing uses (``storage.kpi.outcomes``), so the KPIs and the
billing read cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, tzinfo
from typing import Final

from headend.config.fleet import MeterConfig, PlanConfig
from headend.config.terminals import ConcentratorConfig
from headend.drivers.base import Capability
from headend.drivers.registry import driver_for
from storage.archive.records import ArchiveMeter
from storage.billing import BillingSource, daily_values
from storage.kpi.outcomes import MeterDay, MeterDue, outcome_of

KPI_QUANTITY: Final = "energy_active_import_total"
"""The register whose daily value counts as collected (the billing value)."""
QUERY_METERS: Final = 500
"""Meters per store query (SQLite's bound-parameter limit, and a bounded answer)."""


def daily_frozen_bus_meters(
    meters: Iterable[MeterConfig], plans: Mapping[str, PlanConfig]
) -> list[MeterConfig]:
    """The bus meters due a daily frozen value: plan ``daily_frozen`` and a driver that reads
    frozen records (the meters the backfill passes read)."""
    return [
        m
        for m in meters
        if m.plan in plans
        and plans[m.plan].daily_frozen
        and driver_for(m.protocol).supports(Capability.FROZEN)
    ]


def due_meters(
    bus_meters: Iterable[MeterConfig],
    terminals: Mapping[str, ConcentratorConfig],
    archive: Mapping[str, ArchiveMeter],
    day: date,
) -> list[MeterDue]:
    """The meters due a daily value on ``day``, by id (each once)."""
    due: dict[str, MeterDue] = {}
    for meter in bus_meters:
        due[meter.id] = MeterDue(
            meter.id,
            channel=meter.channel,
            transformer=meter.transformer or "",
            building=meter.building or "",
        )
    for terminal in terminals.values():
        for behind in terminal.meters:
            due[behind.id] = MeterDue(
                behind.id,
                terminal=terminal.name,
                channel=terminal.name,
                transformer=behind.transformer or terminal.transformer or "",
                building=behind.building or "",
            )
    out: list[MeterDue] = []
    for meter_id in sorted(due):
        item = due[meter_id]
        known = archive.get(meter_id)
        if known is not None:
            if not known.in_service(day):
                continue
            item = MeterDue(
                item.meter,
                terminal=item.terminal,
                channel=item.channel,
                transformer=known.transformer or item.transformer,
                building=known.building or item.building,
            )
        out.append(item)
    return out


async def meter_days(
    source: BillingSource, due: Sequence[MeterDue], day: date, tz: tzinfo
) -> list[MeterDay]:
    """The outcome of each due meter's ``day`` (the local day of its freeze, as billing)."""
    out: list[MeterDay] = []
    for first in range(0, len(due), QUERY_METERS):
        chunk = due[first : first + QUERY_METERS]
        values = await daily_values(source, [d.meter for d in chunk], [KPI_QUANTITY], day, day, tz)
        by_meter = {value.meter: value for value in values}
        out.extend(MeterDay(day, item, outcome_of(by_meter[item.meter])) for item in chunk)
    return out
