"""``headend read dlt645`` against ``headend simulate`` when one identifier of several fails:
the others are printed equal to what the simulated meter holds, the failed one is a row with
its reason, and the exit code is 8 (partial), as for Modbus."""

from __future__ import annotations

import json

from headend.cli.errors import ExitCode
from protocols.dlt645 import catalogue
from tests.system.processes import Simulation, cli

METER = "S1-H002"


def test_a_refused_identifier_among_answered_ones_is_a_partial_read(
    simulation: Simulation,
) -> None:
    meter = simulation.config().meters[METER]
    address = str(meter.address)
    absent = catalogue().by_name("demand_active_import_t7")  # the meter reports 4 tariffs
    url = simulation.buses[meter.channel]
    args = ["read", "dlt645", url, "--address", address, "--json"]
    args += ["--quantity", "meter_number", "--quantity", absent.name, "--quantity", "tariff_count"]
    done = cli(args)
    assert done.returncode == ExitCode.PARTIAL, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)["values"]}
    assert rows["meter_number"]["value"] == int(address)
    assert rows["tariff_count"]["value"] == 4
    assert rows[absent.name]["value"] is None
    assert rows[absent.name]["problem"] == "error word 0x02"  # no requested data
    assert absent.label() in done.stderr
    assert "partial read: 1 of 3 identifier(s) failed, 2 read" in done.stderr


def test_every_identifier_refused_keeps_the_meter_error_code(simulation: Simulation) -> None:
    meter = simulation.config().meters[METER]
    url = simulation.buses[meter.channel]
    args = ["read", "dlt645", url, "--address", str(meter.address)]
    args += ["--quantity", "demand_active_import_t7", "--quantity", "demand_active_import_t8"]
    done = cli(args)
    assert done.returncode == ExitCode.METER_ERROR, done.stderr
    assert "partial read" not in done.stderr
