"""A transformer's Modbus LV-side meter in a scenario: served on a pty from the same model,
written into the fleet config, and read by the head-end's own Modbus read."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.drivers.modbus import ModbusAdapter
from headend.drivers.modbus.reader import ModbusLink, modbus_target, read_modbus
from simulators.fleet_export import fleet_config_for
from simulators.runner import ScenarioRunner
from simulators.scenario import ScenarioError, load_scenario, lv_meter_id
from storage.records import FailureReason, Quality

SCENARIO = load_scenario("smoke-lv")
TIMEOUT_S = 10.0


def test_the_lv_meter_is_the_transformers_not_a_load() -> None:
    smoke = load_scenario("smoke")
    ((transformer, meter),) = SCENARIO.lv_meters
    assert (transformer.id, meter.register_map, meter.unit_id) == ("T1", "chint_dtsu666", 1)
    assert (meter.ct_ratio, meter.energy_base) == (40.0, 0x101E)
    assert [m.id for m in SCENARIO.meters] == [m.id for m in smoke.meters]


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('{ register_map = "nosuch" }', "transformers[0].lv_meter.register_map: unknown"),
        ('{ register_map = "eastron_sdm630", energy_base = 0x101E }', "no movable energy"),
        ('{ register_map = "chint_dtsu666", link = "tcp" }', "transformers[0].lv_meter.link"),
    ],
)
def test_a_wrong_lv_meter_names_its_key(tmp_path: Path, table: str, problem: str) -> None:
    text = Path(SCENARIO.source).read_text(encoding="utf-8")
    start = text.index("lv_meter = ")
    end = text.index("\n", start)
    path = tmp_path / "bad.toml"
    path.write_text(text[:start] + f"lv_meter = {table}" + text[end:], encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


async def test_the_head_end_reads_the_models_lv_totals_through_the_written_config() -> None:
    clock = WarpedClock(SCENARIO.start, 1.0)
    async with ScenarioRunner(SCENARIO, seed=5, speed=1.0, clock=clock.now) as runner:
        endpoints = runner.endpoints()
        config = parse_fleet_config(fleet_config_for(SCENARIO, endpoints), "written")
        meter = config.meters[lv_meter_id("T1")]
        assert meter.kind == "transformer_lv"
        channel = config.channels[meter.channel]
        quantities = [q for read in config.plans[meter.plan].reads for q in read.quantities]
        link = ModbusLink(ModbusAdapter(modbus_target(channel.url), timeout=1.0))
        await link.open()
        try:
            before = runner.community.transformer_values("T1")
            async with asyncio.timeout(TIMEOUT_S):
                readings = await read_modbus(link, meter, quantities, clock.now())
            after = runner.community.transformer_values("T1")
            # without the meter's energy address the firmware refuses that block only
            moved = dataclasses.replace(meter, energy_base=None)
            partial = await read_modbus(link, moved, quantities, clock.now())
        finally:
            await link.aclose()
    values = {r.quantity: r for r in readings}
    assert all(r.quality is Quality.ACTUAL for r in readings), readings
    for quantity in ("voltage_a", "current_b", "power_active_total"):
        low, high = sorted((getattr(before, quantity), getattr(after, quantity)))
        value = values[quantity].value
        assert value is not None
        assert low * (1 - 1e-6) <= value <= high * (1 + 1e-6), (quantity, value, low, high)
    energy = values["energy_active_import_total"].value
    assert energy is not None
    assert before.energy_active_import_total * (1 - 1e-6) <= energy
    assert energy <= after.energy_active_import_total * (1 + 1e-6)
    refused = {r.quantity: r for r in partial}
    assert refused["energy_active_import_total"].reason == FailureReason.ERROR_RESPONSE
    assert refused["voltage_a"].quality is Quality.ACTUAL
