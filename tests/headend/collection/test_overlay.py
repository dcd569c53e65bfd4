"""Fleet changes made at run time survive a restart (the overlay in the data dir), and the rule
when the fleet TOML was edited in between: the TOML wins for the meters it changed."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from headend.cli import main
from headend.collection import overlay as fleet_overlay
from headend.collection.overlay import FleetOverlay, OverlayError
from headend.config.fleet import TRANSFORMER_LV_METER, MeterConfig, parse_fleet_config
from headend.config.meters import RegistryError
from headend.engine import Engine, EngineOptions
from headend.errors import ReadFailed
from storage.embedded import SqliteStore
from storage.records import FailureReason, Reading
from tests.support.fleet_text import one_meter_fleet
from transports.memory import MemoryNetwork


def fleet(
    *, m2_building: str = "B1", channels: tuple[str, ...] = ("bus-1", "bus-2")
) -> dict[str, object]:
    return {
        "site": {"name": "overlay-test", "timezone": "Asia/Shanghai"},
        "channels": [
            {"name": name, "url": f"memory://{name}", "protocol": "dlt645-2007"}
            for name in channels
        ],
        "transformers": [{"name": "T1", "rated_kva": 400}],
        "plans": {"flat": {"reads": [{"quantities": ["voltage_a"], "interval": "15m"}]}},
        "meters": [
            {
                "id": "m1",
                "address": "000000000001",
                "channel": "bus-1",
                "plan": "flat",
                "transformer": "T1",
            },
            {
                "id": "m2",
                "address": "000000000002",
                "channel": "bus-1",
                "plan": "flat",
                "transformer": "T1",
                "building": m2_building,
            },
        ],
    }


async def start(tmp_path: Path, table: dict[str, object]) -> Engine:
    """An engine as ``headend run`` builds it at start (not running: nothing here reads)."""
    config = parse_fleet_config(table, "fleet.toml")
    network = MemoryNetwork()
    for name in config.channels:
        network.listen(name)
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    await store.aclose()
    return Engine(
        config,
        store,
        memory=network,
        options=EngineOptions(
            audit_path=tmp_path / "audit.jsonl",
            fleet_overlay_path=tmp_path / "fleet-overlay.json",
        ),
    )


NEW = MeterConfig(
    id="m3",
    channel="bus-2",
    protocol="dlt645-2007",
    plan="flat",
    address="000000000003",
    transformer="T1",
    household="flat-301",
)


async def test_added_updated_and_removed_meters_are_still_so_after_a_restart(
    tmp_path: Path,
) -> None:
    first = await start(tmp_path, fleet())
    await first.fleet.change(NEW, "fleet-admin")
    moved = dataclasses.replace(first.registry.get("m2"), building="B7")
    await first.fleet.change(moved, "fleet-admin")
    await first.fleet.remove("m1", "fleet-admin")

    second = await start(tmp_path, fleet())
    assert sorted(m.id for m in second.registry) == ["m2", "m3"]
    assert second.registry.get("m3") == NEW
    assert second.registry.get("m2").building == "B7"
    assert second.collectors["bus-2"] is not None
    commands = [(e.meter, e.command) for e in second.audit.recent()]
    assert commands == [("m1", "meter remove"), ("m2", "meter update"), ("m3", "meter add")]
    leftovers = sorted(tmp_path.glob(".fleet-overlay*"))  # noqa: ASYNC240 (test inspection)
    assert leftovers == [], "no temp file left behind"


async def test_a_meter_edited_in_the_toml_since_the_api_change_follows_the_toml(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = await start(tmp_path, fleet())
    await first.fleet.change(dataclasses.replace(first.registry.get("m2"), building="B7"), "a")
    await first.fleet.change(dataclasses.replace(first.registry.get("m1"), building="B8"), "a")

    with caplog.at_level(logging.WARNING):
        second = await start(tmp_path, fleet(m2_building="B9"))
    assert second.registry.get("m2").building == "B9", "the TOML changed m2: the TOML wins"
    assert second.registry.get("m1").building == "B8", "m1 untouched in the TOML: API change kept"
    assert "meter m2: the fleet TOML changed this meter" in caplog.text
    kept = json.loads((tmp_path / "fleet-overlay.json").read_text())["meters"]
    assert sorted(kept) == ["m1"], "the dropped change is forgotten, not re-applied later"

    third = await start(tmp_path, fleet(m2_building="B9"))
    assert (third.registry.get("m1").building, third.registry.get("m2").building) == ("B8", "B9")


async def test_a_change_that_no_longer_fits_the_toml_is_dropped_and_the_engine_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = await start(tmp_path, fleet())
    await first.fleet.change(NEW, "fleet-admin")
    with caplog.at_level(logging.WARNING):
        second = await start(tmp_path, fleet(channels=("bus-1",)))
    assert "m3" not in second.registry
    assert "meter m3 no longer fits the fleet TOML" in caplog.text
    assert "unknown channel 'bus-2'" in caplog.text


def test_an_unreadable_overlay_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fleet-overlay.json"
    path.write_text('{"version": 1, "meters": {"m1": {"meter": {"id": "m1", "colour": 3}}}}')
    with pytest.raises(OverlayError, match=r"fleet-overlay\.json: meters\.m1\.meter: .*'colour'"):
        FleetOverlay(path)
    path.write_text(
        '{"version": 1, "meters": {"m1": {"meter": {"id": "m1", "channel": "bus-1", '
        '"protocol": 7, "plan": "flat"}, "base": null}}}'
    )
    with pytest.raises(OverlayError, match=r"meters\.m1\.meter\.protocol: expected str, got 7"):
        FleetOverlay(path)
    path.write_text("{")
    with pytest.raises(OverlayError, match=r"fleet-overlay\.json: cannot read"):
        FleetOverlay(path)


def test_headend_run_refuses_an_unreadable_overlay_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(
        one_meter_fleet()
        + f"""
[storage]
kind = "embedded"
path = "{tmp_path / "store.sqlite"}"
"""
    )
    (tmp_path / "fleet-overlay.json").write_text('{"version": 7}')
    code = main(["run", "--config", str(config), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "fleet-overlay.json: version: expected 1" in err
    assert "Traceback" not in err


async def test_a_meter_moved_to_the_address_of_a_removed_one_keeps_it_after_a_restart(
    tmp_path: Path,
) -> None:
    """The overlay keeps one entry per meter in the order first changed: here the move of m1
    comes before the removal of m2 whose address it takes, and must still apply at start."""
    first = await start(tmp_path, fleet())

    async def no_bus(meter: MeterConfig, quantities: Sequence[str]) -> list[Reading]:
        raise ReadFailed(FailureReason.TIMEOUT, "no bus in this test")

    first.fleet._read = no_bus  # the replacement's energy reads: stated missing
    await first.fleet.change(dataclasses.replace(first.registry.get("m1"), building="B8"), "a")
    await first.fleet.remove("m2", "a")
    moved = dataclasses.replace(first.registry.get("m1"), address="000000000002")
    await first.fleet.change(moved, "a")  # a replacement: new address, same id

    second = await start(tmp_path, fleet())
    assert [m.id for m in second.registry] == ["m1"]
    assert second.registry.get("m1") == moved


async def test_a_transformer_lv_meter_without_its_transformer_is_refused_as_at_load(
    tmp_path: Path,
) -> None:
    engine = await start(tmp_path, fleet())
    lv = dataclasses.replace(NEW, transformer=None, kind=TRANSFORMER_LV_METER)
    with pytest.raises(RegistryError, match="meter m3: kind: a transformer_lv meter needs"):
        await engine.fleet.change(lv, "fleet-admin")
    with pytest.raises(RegistryError, match="meter m3: kind: unknown kind 'pole'"):
        await engine.fleet.change(dataclasses.replace(NEW, kind="pole"), "fleet-admin")
    assert "m3" not in engine.registry


async def test_a_crash_while_the_overlay_is_written_cannot_split_a_replacement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """m9 replaces m2: a disk that dies after one overlay write must leave m2, or m9 in its
    place, never a fleet with neither."""
    first = await start(tmp_path, fleet())

    async def no_bus(meter: MeterConfig, quantities: Sequence[str]) -> list[Reading]:
        raise ReadFailed(FailureReason.TIMEOUT, "no bus in this test")

    first.fleet._read = no_bus
    writes = 0
    write = fleet_overlay.write_atomically

    def dies_after_one_write(path: Path, text: str) -> None:
        nonlocal writes
        writes += 1
        if writes > 1:
            raise OSError("disk died")
        write(path, text)

    monkeypatch.setattr(fleet_overlay, "write_atomically", dies_after_one_write)
    m9 = dataclasses.replace(first.registry.get("m2"), id="m9")
    with contextlib.suppress(OSError):
        await first.fleet.change(m9, "a", replaces="m2")

    second = await start(tmp_path, fleet())
    ids = sorted(m.id for m in second.registry)
    assert ids in (["m1", "m2"], ["m1", "m9"])
    assert ids == ["m1", "m9"]  # one write holds the whole replacement
