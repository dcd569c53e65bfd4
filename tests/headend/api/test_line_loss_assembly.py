"""Which meters a transformer's line loss weighs (archive first, one point per exchange chain,
only those in service that day) and the CT x PT still to apply to each stored register."""

from __future__ import annotations

from datetime import date

import pytest

from headend.api.line_loss_assembly import FleetMember, area_meters, multipliers
from headend.api.vee_assembly import ArchiveView
from storage.archive.records import ArchiveMeter, MeterRole
from tests.storage.vee.cases import EXCHANGE

DAY = date(2026, 6, 3)
ARCHIVE = ArchiveView(
    {
        m.id: m
        for m in (
            ArchiveMeter("B", "1", transformer="T1", removed=DAY),
            ArchiveMeter("C", "2", transformer="T1", installed=DAY),
            ArchiveMeter("OLD", "3", transformer="T1", removed=date(2026, 5, 1)),
            ArchiveMeter("NEW", "4", transformer="T1", installed=date(2026, 7, 1)),
            ArchiveMeter("EV", "5", transformer="T1", kind=MeterRole.EV_PILE),
            ArchiveMeter("OTHER", "6", transformer="T2"),
            ArchiveMeter(
                "T1-LV", "7", transformer="T1", kind=MeterRole.TRANSFORMER_LV, ct_ratio=40.0
            ),
        )
    },
    (EXCHANGE,),
    (),
)
FLEET = [
    FleetMember("C", "T1", supply=False),
    FleetMember("T1-LV", "T1", supply=True, stored_scale=40.0),
    FleetMember("F1", "T3", supply=False),
    FleetMember("F1-LV", "T3", supply=True),
]


def test_the_archive_gives_one_point_per_chain_in_service_that_day() -> None:
    area = area_meters("T1", DAY, ARCHIVE, FLEET)
    assert area.supply == "T1-LV"
    # B and C are one point (named C, the id the fleet reads); OLD and NEW are not in service.
    assert area.customers == (("C", MeterRole.HOUSEHOLD), ("EV", MeterRole.EV_PILE))


def test_without_archive_rows_the_fleet_files_meters_are_the_area() -> None:
    area = area_meters("T3", DAY, ARCHIVE, FLEET)
    assert (area.supply, area.customers) == ("F1-LV", (("F1", MeterRole.HOUSEHOLD),))


def test_a_ratio_the_driver_already_applied_is_not_applied_again() -> None:
    found = multipliers(ARCHIVE, FLEET)
    assert found["T1-LV"] == pytest.approx(1.0)  # archive CT 40, the Modbus driver's 40
    assert found["C"] == pytest.approx(1.0)
    assert found["F1"] == pytest.approx(1.0)


def test_an_archive_ratio_beyond_the_drivers_is_applied_and_a_lower_one_is_not() -> None:
    meters = dict(ARCHIVE.meters)
    meters["C"] = ArchiveMeter("C", "2", transformer="T1", ct_ratio=30.0, pt_ratio=2.0)
    meters["T1-LV"] = ArchiveMeter("T1-LV", "7", transformer="T1", kind=MeterRole.TRANSFORMER_LV)
    found = multipliers(ArchiveView(meters, ARCHIVE.exchanges, ()), FLEET)
    assert found["C"] == pytest.approx(60.0)  # a DL/T 645 register is secondary: all of it
    assert found["T1-LV"] == pytest.approx(1.0)  # archive left at 1: the driver's 40 stands
    half = dict(meters, **{"T1-LV": ArchiveMeter("T1-LV", "7", ct_ratio=80.0)})
    found = multipliers(ArchiveView(half, ARCHIVE.exchanges, ()), FLEET)
    assert found["T1-LV"] == pytest.approx(2.0)  # 80 installed, 40 applied by the driver
