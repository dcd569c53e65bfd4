"""The customer dimension of the billing exports: who a meter bills, from the archive first.

One assembly for the polled exports (``/api/exports/settlement.csv``) and the daily hand-off, so
both name a meter's account, asset number, customer, household, building, transformer and CT x
PT alike: the meter archive where it knows the meter, else the fleet file's labels (a bus meter
or a concentrator's meter), else nothing (the CSV row falls back to the reading's tags). The
usage point (``storage.exports.exchange_log.usage_points``) ties a replaced meter's rows to its
successors', and the archive's kind lets a billing system leave the LV meter out of the bills.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from headend.config.fleet import MeterConfig
from headend.config.terminals import TerminalMeterConfig
from storage.archive.records import ArchiveMeter
from storage.exports.settlement_csv import Customer


def customers_of(
    meters: Iterable[str],
    archive: Mapping[str, ArchiveMeter],
    bus: Mapping[str, MeterConfig],
    behind: Mapping[str, TerminalMeterConfig],
    usage_points: Mapping[str, str],
) -> dict[str, Customer]:
    """Each meter's ``Customer`` (archive first, the fleet file's labels after); a meter of
    no exchange chain is its own usage point."""
    out: dict[str, Customer] = {}
    for meter_id in meters:
        known = archive.get(meter_id)
        labels: MeterConfig | TerminalMeterConfig | None = bus.get(meter_id) or behind.get(meter_id)
        address = (known.address if known else None) or (labels.address if labels else "")
        out[meter_id] = Customer(
            address=address or "",
            account=(known.account if known else None) or "",
            asset=(known.asset if known else None) or "",
            customer=(known.customer if known else None) or "",
            household=_first(known and known.household, labels and labels.household),
            building=_first(known and known.building, labels and labels.building),
            transformer=_first(known and known.transformer, labels and labels.transformer),
            multiplier=known.multiplier if known else 1.0,
            usage_point=usage_points.get(meter_id, meter_id),
            kind=known.kind.value if known else "",
        )
    return out


def _first(*values: object) -> str:
    for value in values:
        if value:
            return str(value)
    return ""
