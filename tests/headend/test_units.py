"""Issue 11, units: one canonical unit per quantity, checked at the engine's one door."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from headend.api.metrics import render, unit_families
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from headend.units import UnitError, canonical_unit, to_canonical
from protocols.dlt645 import catalogue
from protocols.dlt645.control import Standard
from storage.embedded import SqliteStore
from storage.records import Reading, ReadingKind
from tests.headend.api.fleet import fleet_table
from transports.memory import MemoryNetwork

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("quantity", "unit"),
    [
        ("voltage_a", "V"),
        ("current_c", "A"),
        ("power_active_total", "kW"),
        ("power_reactive_total", "kvar"),
        ("power_apparent_total", "kVA"),
        ("energy_active_import_total", "kWh"),
        ("frozen_energy_active_import", "kWh"),
        ("energy_reactive_1_total", "kvarh"),
        ("load_rate", "%"),
        ("frequency", "Hz"),
        ("oil_temperature", "°C"),
        ("power_factor_total", ""),
        ("clock", None),
        ("meter_status_1", None),
    ],
)
def test_every_quantity_family_has_one_canonical_unit(quantity: str, unit: str | None) -> None:
    assert canonical_unit(quantity) == unit


@pytest.mark.parametrize("standard", list(Standard))
def test_dlt645_catalogue_speaks_canonical_units(standard: Standard) -> None:
    for item in catalogue(standard):
        wanted = canonical_unit(item.name)
        if wanted is not None:
            assert item.unit == wanted, f"{standard}: {item.name} in {item.unit!r}"


@pytest.mark.parametrize("standard", list(Standard))
def test_dlt645_record_fields_speak_canonical_units(standard: Standard) -> None:
    """A record's values (an event's energies, a demand's time) are named and united too."""
    for item in catalogue(standard):
        for name in item.value_names():
            wanted = canonical_unit(name)
            unit = item.part_of(name).unit
            if wanted is not None:
                assert unit == wanted, f"{standard}: {name} of {item.name} in {unit!r}"


def test_known_unit_is_converted_and_unknown_unit_named() -> None:
    watts = Reading("m1", "power_active_total", 1500.0, "W", T0)
    assert (to_canonical(watts).value, to_canonical(watts).unit) == (1.5, "kW")
    odd = Reading("m1", "power_active_total", 1.0, "hp", T0)
    with pytest.raises(UnitError, match=r"meter m1: quantity 'power_active_total': unit 'hp'"):
        to_canonical(odd)


async def test_engine_converts_or_refuses_by_unit_and_keeps_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_fleet_config(fleet_table(), "units-test")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    network = MemoryNetwork()
    network.listen("bus-1")  # the engine opens its bus when built; nothing needs to answer
    engine = Engine(
        config,
        store,
        memory=network,
        options=EngineOptions(audit_path=tmp_path / "audit.jsonl"),
    )
    live = engine.live.subscribe()
    batch = [
        Reading("m1", "power_active_total", 2500.0, "W", T0),
        Reading("m1", "voltage_a", 230.0, "furlong", T0),
        Reading("m2", "energy_active_import_total", 12000.0, "Wh", T0, ReadingKind.ENERGY),
        Reading("m2", "voltage_a", 231.0, "V", T0),
    ]
    with caplog.at_level(logging.WARNING, logger="headend.units"):
        await engine.live.publish(batch)
        await engine.live.publish(batch[1:2])  # the same bad point again: counted, not re-logged
    await engine.writer.flush()  # live consumers are told once the readings are stored
    await store.aclose()
    seen = [live.get_nowait() for _ in range(live.qsize())]
    assert [(r.meter, r.quantity, r.value, r.unit) for r in seen] == [
        ("m1", "power_active_total", 2.5, "kW"),
        ("m2", "energy_active_import_total", 12.0, "kWh"),
        ("m2", "voltage_a", 231.0, "V"),
    ]
    assert engine.live.latest["m1", "power_active_total"].unit == "kW"
    assert ("m1", "voltage_a") not in engine.live.latest
    assert engine.units.refused == {("voltage_a", "furlong"): 2}
    assert engine.units.converted == 2
    [warning] = [r.getMessage() for r in caplog.records]
    assert "m1" in warning
    assert "voltage_a" in warning
    assert "'furlong'" in warning
    assert engine.detector.snapshot.power_kw[engine.detector.layout.meter_index["m1"]] == 2.5
    exported = render(unit_families(engine.units)).splitlines()
    assert (
        'headend_readings_unit_refused_total{quantity="voltage_a",unit="furlong"} 2.0' in exported
    )
    assert "headend_readings_unit_converted_total 2.0" in exported
