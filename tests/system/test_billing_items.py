"""``headend read dlt645`` against ``headend simulate``: every billing-grade item (settlement
periods, demand, events, nameplate, prepaid balance, daily frozen reverse energy...) comes
back equal to what the simulated meter holds.

The ground truth is the meter's ``StoredRegisters``: a pure function of its address, so the
test recomputes it without the simulator logging what it answered. The daily record's day is
the one its own freeze time says (the simulated clock runs at 60x and may pass midnight).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from headend.cli.errors import ExitCode
from protocols.dlt645 import DataItem, catalogue
from simulators.dlt645.sources import StoredRegisters
from tests.system.processes import Simulation, cli

METER = "S1-H002"
BY_NAME = [
    "settlement_day",
    "tariff_count",
    "meter_number",
    "asset_number",
    "prepaid_balance",
    "temperature",
    "battery_voltage_clock",
    "power_apparent_total",
    "demand_active_import",
    "programming_count",
    "cover_open_count",
]
BY_PERIOD = [
    ("settlement_energy_active_import", 2),
    ("settlement_energy_active_export", 1),
    ("settlement_energy_reactive_1", 12),
    ("settlement_demand_active_import", 1),
    ("cover_open", 1),
    ("meter_clear", 1),
    ("event_clear", 3),
    ("programming", 1),
    ("loss_of_voltage_a", 1),
    ("power_outage_last", 10),
    ("relay_trip_time", 1),
    ("relay_close_time", 2),
]
BY_NAME_AND_PERIOD = [("settlement_energy_active_export", 2), ("meter_clear", 4)]
"""Read as ``--quantity NAME[N]``."""


def as_json(value: object) -> object:
    return value.isoformat() if isinstance(value, date | datetime) else value


def truth_rows(item: DataItem, period: int, key: int, stored: StoredRegisters) -> dict[str, Any]:
    """The rows ``headend read`` must print for ``item`` (``period`` ago), by row name."""
    shown = f"[{period}]" if period > 1 else ""
    rows: dict[str, Any] = {}
    for base in item.members or (item.name,):
        fields = {
            base + part.suffix: stored.value(base + part.suffix, key, part.format)
            for part in item.parts
        }
        if None in fields.values():
            break
        rows |= {name + shown: as_json(value) for name, value in fields.items()}
    return rows


def test_cli_reads_every_billing_item_equal_to_the_simulators(simulation: Simulation) -> None:
    meter = simulation.config().meters[METER]
    address = str(meter.address)
    table = catalogue()
    frozen_time, frozen_export = (
        table.by_name("frozen_time"),
        table.by_name("frozen_energy_active_export"),
    )
    args = ["read", "dlt645", simulation.buses[meter.channel], "--address", address, "--json"]
    for name in BY_NAME:
        args += ["--quantity", name]
    for name, period in BY_PERIOD:
        args += ["--di", f"{table.by_name(name).di_for(period):08X}"]
    for name, period in BY_NAME_AND_PERIOD:
        args += ["--quantity", f"{name}[{period}]"]
    args += ["--di", f"{frozen_time.di_for(1):08X}", "--di", f"{frozen_export.di_for(1):08X}"]
    done = cli(args)
    assert done.returncode == 0, done.stderr
    read = {row["name"]: row["value"] for row in json.loads(done.stdout)["values"]}

    stored = StoredRegisters(address)
    expected: dict[str, Any] = {}
    for name in BY_NAME:
        expected |= truth_rows(table.by_name(name), 0, 0, stored)
    for name, period in BY_PERIOD + BY_NAME_AND_PERIOD:
        expected |= truth_rows(table.by_name(name), period, period, stored)
    frozen_day = datetime.fromisoformat(read["frozen_time"]).date()
    expected |= truth_rows(frozen_export, 1, frozen_day.toordinal(), stored)
    expected["frozen_time"] = read["frozen_time"]

    assert read == expected
    # what the rows say, in the meter's own words
    assert read["meter_number"] == int(address)
    assert read["tariff_count"] == 4
    assert read["settlement_day"] == 1
    assert read["cover_open_end"] > read["cover_open_start"]
    assert "demand_active_import_t4_time" in read
    assert "demand_active_import_t5" not in read  # the meter reports 4 tariffs


def test_cli_refuses_a_period_the_item_does_not_keep(simulation: Simulation) -> None:
    meter = simulation.config().meters[METER]
    url = simulation.buses[meter.channel]
    done = cli(
        ["read", "dlt645", url, "--address", str(meter.address), "--quantity", "frozen_time[63]"]
    )
    assert done.returncode == ExitCode.USAGE, done.stdout
    assert "--quantity frozen_time[63]" in done.stderr
    assert "period 63 not 1..62" in done.stderr
