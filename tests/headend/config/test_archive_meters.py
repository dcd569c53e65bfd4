"""``[archive]``: the fleet's meters from the archive beside the file's own, read as the
table says per channel and terminal; a duplicate id names both places, an unknown channel
names the meter and the channel, removed meters are not collected."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from headend.config.archive_meters import archive_file, with_archive_meters
from headend.config.errors import ConfigError
from headend.config.fleet import FleetConfig, load_fleet_config
from storage.archive.records import ArchiveMeter, MeterRole
from storage.archive.store import ARCHIVE_FILE, ArchiveStore
from tests.support.fleet_text import one_meter_fleet

TODAY = date(2026, 7, 16)
FLEET = (
    one_meter_fleet()
    + """
[[channels]]
name = "bus-2"
url = "tcp://127.0.0.1:9"

[[channels]]
name = "lv"
url = "tcp://127.0.0.1:9"
protocol = "modbus"

[[transformers]]
name = "T1"
rated_kva = 400

[plans.lv]
[[plans.lv.reads]]
quantities = ["energy_active_import_total"]
interval = "15m"

[[terminals]]
name = "C1"
address = "4403-00012"
transformer = "T1"

[archive]
plan = "flat"

[archive.channels.bus-2]
control = "plaintext"

[archive.channels.lv]
plan = "lv"
register_map = "chint_dtsu666"

[archive.terminals.C1]
control = "plaintext"
"""
)
METERS = [
    ArchiveMeter("H1", "000000000011", channel="bus-2", transformer="T1", building="B1"),
    ArchiveMeter("H2", "000000000012", channel="bus-1", phase="A", ct_ratio=2.0),
    ArchiveMeter(
        "LV", "7", protocol="modbus", channel="lv", kind=MeterRole.TRANSFORMER_LV, transformer="T1"
    ),
    ArchiveMeter("P5", "000000000055", terminal="C1", pn=5, building="B2"),
    ArchiveMeter("OLD", "000000000013", channel="bus-2", removed=date(2026, 7, 15)),
    ArchiveMeter("NEW", "000000000014", channel="bus-2", installed=date(2026, 7, 20)),
]


def fleet(tmp_path: Path, meters: list[ArchiveMeter], extra: str = "") -> FleetConfig:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET + extra)
    with ArchiveStore.open(tmp_path / ARCHIVE_FILE) as store:
        store.import_meters(meters)
    return with_archive_meters(load_fleet_config(path), tmp_path, TODAY)


def test_archive_meters_join_the_files_own_read_as_the_table_says(tmp_path: Path) -> None:
    config = fleet(tmp_path, METERS)
    assert sorted(config.meters) == ["000000000001", "H1", "H2", "LV"]  # OLD, NEW out of service
    h1, h2, lv = config.meters["H1"], config.meters["H2"], config.meters["LV"]
    assert (h1.channel, h1.plan, h1.control, h1.transformer, h1.building) == (
        "bus-2",
        "flat",
        "plaintext",
        "T1",
        "B1",
    )
    assert (h2.control, h2.phase, h2.ct_ratio, h2.protocol) == ("secured", "A", 2.0, "dlt645-2007")
    assert (lv.unit_id, lv.register_map, lv.plan, lv.kind, lv.address) == (
        7,
        "chint_dtsu666",
        "lv",
        "transformer_lv",
        None,
    )
    (p5,) = config.terminals["C1"].meters
    assert (p5.id, p5.pn, p5.transformer, p5.building, p5.control) == (
        "P5",
        5,
        "T1",
        "B2",
        "plaintext",
    )


def test_an_id_in_both_places_names_both(tmp_path: Path) -> None:
    twice = ArchiveMeter("000000000001", "000000000021", channel="bus-2")
    with pytest.raises(ConfigError) as caught:
        fleet(tmp_path, [twice])
    message = str(caught.value)
    assert str(tmp_path / ARCHIVE_FILE) in message
    assert f"{tmp_path / 'fleet.toml'} [[meters]]" in message
    assert "meter id '000000000001' is in the archive" in message


@pytest.mark.parametrize(
    ("meter", "named"),
    [
        (ArchiveMeter("X", "000000000031", channel="bus-9"), "channel (meter X): channel 'bus-9'"),
        (ArchiveMeter("X", "000000000031"), "channel (meter X): has no channel and no terminal"),
        (
            ArchiveMeter("X", "000000000031", terminal="C9", pn=1),
            "terminal (meter X): terminal 'C9'",
        ),
        (ArchiveMeter("X", "000000000031", terminal="C1"), "pn (meter X)"),
        (ArchiveMeter("X", "000000000031", channel="bus-2", plan="nope"), "unknown plan 'nope'"),
        (ArchiveMeter("X", "000000000001", channel="bus-1"), "address (meter X): address: "),
        (
            ArchiveMeter("X", "000000000031", channel="bus-2", transformer="T9"),
            "transformer (meter X)",
        ),
        (ArchiveMeter("X", "000000000031", channel="bus-2", phase="AB"), "phase (meter X)"),
    ],
)
def test_an_archive_meter_the_fleet_cannot_read_is_named(
    tmp_path: Path, meter: ArchiveMeter, named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        fleet(tmp_path, [meter])
    assert named in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / ARCHIVE_FILE))


def test_two_archive_meters_on_one_pn_are_refused(tmp_path: Path) -> None:
    same = [
        ArchiveMeter("X", "000000000031", terminal="C1", pn=3),
        ArchiveMeter("Y", "000000000032", terminal="C1", pn=3),
    ]
    with pytest.raises(ConfigError, match="pn 3 of terminal C1 is meter X"):
        fleet(tmp_path, same)


def test_the_table_names_only_what_the_file_has(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET + "\n[archive.channels.bus-7]\nplan = 'flat'\n")
    with pytest.raises(ConfigError, match=r"archive\.channels\.bus-7: unknown channel"):
        load_fleet_config(path)
    path.write_text(FLEET.replace('plan = "lv"', 'plan = "gone"'))
    with pytest.raises(ConfigError, match=r"archive\.channels\.lv\.plan: unknown plan 'gone'"):
        load_fleet_config(path)


def test_the_archive_file_is_the_paths_or_the_data_dirs(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET)
    config = load_fleet_config(path)
    assert archive_file(config, tmp_path / "var") == tmp_path / "var" / ARCHIVE_FILE
    with pytest.raises(ConfigError, match=r"archive\.path: no path, and no data dir"):
        archive_file(config, None)
    path.write_text(FLEET.replace("[archive]\n", '[archive]\npath = "office/a.sqlite"\n'))
    config = load_fleet_config(path)
    assert archive_file(config, tmp_path / "var") == tmp_path / "office" / "a.sqlite"
    with pytest.raises(ConfigError, match="no archive here"):
        with_archive_meters(config, None, TODAY)
