"""The June community of the billing system tests: a concentrator's month of freezes with one
day freeze lost (``LOST``) and one meter replaced (``REPLACED`` by ``NEW_METER``), and its truth
from the community model. Shared by ``test_vee_billing`` (billing's API) and
``test_month_billed_from_export`` (the settlement export)."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from simulators.community.model import Community
from simulators.concentrator.store import tariff_split
from simulators.scenario import load_scenario
from tests.system.processes import REPO

SEED = 3
START = "2026-07-01T00:10"
"""The concentrator holds the records of May 31st .. June 30th: billing days June 1st ..
July 1st (a record of day D is the freeze at D + 1's 00:00)."""
LOST = "S1-H001"
LOST_DAY = date(2026, 6, 10)
"""Its freeze of 00:00 on this day is lost (``missing_frozen``): never collected."""
REPLACED = "S2-H001"
NEW_METER = "S2-H001-N"
EXCHANGED_AT = "2026-06-20T10:30:00+08:00"
EXCHANGE_DAY = date(2026, 6, 20)
QUANTITIES = ["energy_active_import_total"] + [f"energy_active_import_t{n}" for n in (1, 2, 3, 4)]
TOTAL = QUANTITIES[0]
JUNE = [date(2026, 6, 1) + timedelta(days=n) for n in range(30)]
ALL_DAYS = [*JUNE, date(2026, 7, 1)]
FAULTS = f"""
[[faults]]
kind = "missing_frozen"
meter = "{LOST}"
days = [{LOST_DAY.isoformat()}]

[[faults]]
kind = "meter_replaced"
meter = "{REPLACED}"
new_address = "000000000199"
start = {EXCHANGED_AT}
"""


def scenario_file(tmp_path: Path, name: str = "smoke") -> Path:
    """The bundled smoke community (or ``smoke-lv``, with the transformer's LV meter), started
    on May 31st, with the two faults."""
    text = (REPO / "simulators" / "scenarios" / f"{name}.toml").read_text()
    text = text.replace("start = 2026-07-15T00:00:00+08:00", "start = 2026-05-31T00:00:00+08:00")
    assert "2026-05-31" in text
    path = tmp_path / "june.toml"
    path.write_text(text + FAULTS)
    return path


def model_freezes(scenario: Path) -> dict[tuple[str, date], tuple[float, ...]]:
    """Total and tariffs 1..4 at each billing day's freeze, as the concentrator reports them."""
    loaded = load_scenario(str(scenario))
    community = Community.from_scenario(loaded, SEED)
    community.advance_to(datetime(2026, 7, 1, 0, 0, 1, tzinfo=loaded.utc_offset))
    freezes = {}
    for spec in loaded.meters:
        for day in ALL_DAYS:
            total = community.daily_frozen(spec.id, day)
            if total is not None:
                freezes[(spec.id, day)] = tariff_split(total)
    return freezes


def old_meter_final(scenario: Path) -> float:
    """What the replaced meter showed when it came out (read by the crew to 2 decimals)."""
    loaded = load_scenario(str(scenario))
    community = Community.from_scenario(loaded, SEED)
    community.advance_to(datetime.fromisoformat(EXCHANGED_AT) - timedelta(microseconds=1))
    return round(community.meter_values(REPLACED).energy_active_import_total, 2)


def write_archive_csv(path: Path, meters: list[Any]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "address", "terminal", "pn", "kind", "transformer"])
        for meter in meters:
            writer.writerow(
                [meter.id, meter.address, meter.terminal, meter.pn, "household", meter.transformer]
            )


def wait_for_the_month(headend: Any, transformer: str | None, meters: list[str]) -> None:
    """Until every meter's total of every billing day (but the lost one) is stored: those
    stored before the stream opened are in billing already, the rest arrive on the stream."""
    waiting = {(m, d) for m in meters for d in ALL_DAYS} - {(LOST, LOST_DAY)}
    with headend.stream() as events:
        before = headend.get(
            "/api/billing",
            transformer=transformer,
            start=ALL_DAYS[0].isoformat(),
            end=ALL_DAYS[-1].isoformat(),
        )
        waiting -= {
            (r["meter"], date.fromisoformat(r["day"]))
            for r in before["daily"]
            if r["state"] == "collected"
        }
        local = datetime.fromisoformat(EXCHANGED_AT).tzinfo
        while waiting:
            reading = events.next_reading(
                lambda r: r["kind"] == "frozen" and r["quantity"] == TOTAL, timeout=180
            )
            day = datetime.fromisoformat(reading["timestamp"]).astimezone(local).date()
            waiting.discard((reading["meter"], day))
