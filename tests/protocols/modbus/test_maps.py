"""Register map files: the shipped ones validate; broken ones fail naming file, point and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.modbus import (
    RatioUse,
    RegisterMapError,
    Table,
    UnknownQuantityError,
    ValueType,
    builtin_map_description,
    builtin_map_names,
    builtin_register_map,
    load_register_map,
)
from storage.records import ReadingKind

CATALOGUE_PREFIXES = (
    "voltage_",
    "current_",
    "power_active_",
    "power_reactive_",
    "power_factor_",
    "frequency",
    "energy_active_",
    "ct_ratio",
    "pt_ratio",
)


def test_all_required_models_are_shipped() -> None:
    names = builtin_map_names()
    for expected in ("chint_dtsu666", "eastron_sdm630", "eastron_sdm120"):
        assert expected in names
    assert any(name.startswith("acrel_") for name in names)


@pytest.mark.parametrize("name", builtin_map_names())
def test_builtin_map_loads_with_sources_and_catalogue_names(name: str) -> None:
    register_map = builtin_register_map(name)
    assert register_map.name == name
    assert register_map.sources, "every shipped map cites where its addresses come from"
    for point in register_map.points:
        assert point.quantity.startswith(CATALOGUE_PREFIXES), point.quantity
    assert "energy_active_import_total" in register_map.quantities
    assert register_map.point("energy_active_import_total").kind == ReadingKind.ENERGY


def test_eastron_maps_are_unscaled_float_input_registers() -> None:
    """Eastron registers are engineering units; only W and var become kW and kvar."""
    for name in ("eastron_sdm630", "eastron_sdm120"):
        for point in builtin_register_map(name).points:
            assert point.table is Table.INPUT
            assert point.value_type is ValueType.FLOAT32
            power = point.unit in ("kW", "kvar")
            assert point.scale == (0.001 if power else 1.0), point.quantity
            assert point.ratio is RatioUse.NONE


def test_dtsu666_energy_base_is_configurable() -> None:
    default = builtin_register_map("chint_dtsu666")
    moved = builtin_register_map("chint_dtsu666", bases={"energy": 0x101E})
    for quantity in ("energy_active_import_total", "energy_active_export_total"):
        shift = moved.point(quantity).address - default.point(quantity).address
        assert shift == 0x101E - default.bases["energy"]
    assert moved.point("voltage_a") == default.point("voltage_a")


def test_dtsu666_declares_ct_pt_ratio_points() -> None:
    register_map = builtin_register_map("chint_dtsu666")
    assert register_map.point(register_map.ct_quantity or "").address == 0x0006
    assert register_map.point(register_map.pt_quantity or "").address == 0x0007
    assert register_map.point("current_a").ratio is RatioUse.CT
    assert register_map.point("voltage_a").ratio is RatioUse.PT
    assert register_map.point("power_active_total").ratio is RatioUse.CT_PT


def test_unknown_base_override_is_rejected() -> None:
    with pytest.raises(RegisterMapError, match="no base 'energi'"):
        builtin_register_map("chint_dtsu666", bases={"energi": 0x101E})


def test_unknown_quantity_names_the_map() -> None:
    with pytest.raises(UnknownQuantityError, match=r"eastron_sdm120.*voltage_b"):
        builtin_register_map("eastron_sdm120").point("voltage_b")


def test_unknown_builtin_map_lists_the_known_ones() -> None:
    with pytest.raises(RegisterMapError, match="eastron_sdm630"):
        builtin_register_map("no_such_meter")


GOOD_MAP = """
[meter]
name = "test_meter"
sources = ["unit test"]

[defaults]
table = "holding"
type = "float32"
kind = "instant"

[[points]]
quantity = "voltage_a"
address = 0
unit = "V"

[[points]]
quantity = "current_a"
address = 2
unit = "A"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "meter.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_map_loads(tmp_path: Path) -> None:
    register_map = load_register_map(_write(tmp_path, GOOD_MAP))
    assert register_map.quantities == ("voltage_a", "current_a")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('type = "float32"', 'type = "flaot32"', r"defaults\.type: unknown value 'flaot32'"),
        (
            'address = 2\nunit = "A"',
            'address = 70000\nunit = "A"',
            r"points\[1\]\.address \(current_a\): register 70000 is outside 0\.\.65535",
        ),
        ('address = 2\nunit = "A"', 'address = 1\nunit = "A"', r"'current_a' at 0x0001 overlaps"),
        (
            'address = 2\nunit = "A"',
            'address = 2\nunit = "A"\nscale = 0',
            r"points\[1\]\.scale \(current_a\): must be finite and non-zero",
        ),
        (
            'address = 2\nunit = "A"',
            'address = 2\nunit = "A"\nratoi = "ct"',
            r"points\[1\]\.ratoi \(current_a\): unknown key",
        ),
        (
            'address = 2\nunit = "A"',
            'address = 2\nunit = "A"\nratio = "dt"',
            r"points\[1\]\.ratio \(current_a\): unknown value 'dt'",
        ),
        (
            'address = 2\nunit = "A"',
            'address = "two"\nunit = "A"',
            r"points\[1\]\.address \(current_a\): expected an integer, got 'two'",
        ),
        (
            'address = 2\nunit = "A"',
            'address = 2\nunit = "A"\nbase = "x"',
            r"points\[1\]\.base \(current_a\): unknown base 'x'",
        ),
        ('kind = "instant"', 'kind = "sometimes"', r"defaults\.kind: unknown value 'sometimes'"),
        (
            'quantity = "current_a"',
            'quantity = "voltage_a"',
            r"points\[1\]\.quantity \(voltage_a\): 'voltage_a' is defined twice",
        ),
        ('unit = "V"', "", r"points\[0\]\.unit \(voltage_a\): is required"),
        ('name = "test_meter"', "", r"meter\.name: is required"),
        (
            "[defaults]",
            "[defaults]\n[read]\nmax_registers = 200",
            r"read\.max_registers: must be <= 125, got 200",
        ),
        (
            "[[points]]",
            "[ratios]\nct = 'nope'\n[[points]]",
            r"ratios\.ct: names unknown quantity 'nope'",
        ),
        ("[meter]", "[meter\n", r"not valid TOML"),
    ],
)
def test_bad_map_error_names_file_point_and_key(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD_MAP
    path = _write(tmp_path, GOOD_MAP.replace(old, new, 1))
    with pytest.raises(RegisterMapError, match=expected) as caught:
        load_register_map(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "key", "quantity", "problem"),
    [
        # unknown key
        (
            "[defaults]",
            "[defaults]\nwordorder = 'low_first'",
            "defaults.wordorder",
            None,
            "unknown key",
        ),
        (
            'unit = "V"',
            'unit = "V"\nregister = 0',
            "points[0].register",
            "voltage_a",
            "unknown key",
        ),
        # wrong type
        (
            'address = 2\nunit = "A"',
            'address = true\nunit = "A"',
            "points[1].address",
            "current_a",
            "expected an integer, got True",
        ),
        (
            'sources = ["unit test"]',
            'sources = "unit test"',
            "meter.sources",
            None,
            "expected a list",
        ),
        ('unit = "V"', "unit = 1", "points[0].unit", "voltage_a", "expected text, got 1"),
        # out of range
        ("[defaults]", "[read]\nmax_gap = -1\n[defaults]", "read.max_gap", None, "must be >= 0"),
        (
            "[defaults]",
            "[bases]\nenergy = 65536\n[defaults]",
            "bases.energy",
            None,
            "must be <= 65535, got 65536",
        ),
        (
            'address = 2\nunit = "A"',
            'address = 65535\nunit = "A"',
            "points[1].address",
            "current_a",
            "register 65536 is outside 0..65535",
        ),
    ],
)
def test_bad_map_error_carries_file_key_path_and_problem(
    tmp_path: Path, old: str, new: str, key: str, quantity: str | None, problem: str
) -> None:
    """The parts are attributes too, so a caller never parses the message for the key."""
    assert old in GOOD_MAP
    path = _write(tmp_path, GOOD_MAP.replace(old, new, 1))
    with pytest.raises(RegisterMapError) as caught:
        load_register_map(path)
    error = caught.value
    assert (error.source, error.key, error.quantity) == (str(path), key, quantity)
    assert problem in (error.problem or "")
    where = key if quantity is None else f"{key} ({quantity})"
    assert str(error) == f"{path}: {where}: {error.problem}"


def test_a_map_without_points_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_MAP.split("[[points]]")[0])
    with pytest.raises(RegisterMapError, match=r"meter\.toml: points: is required"):
        load_register_map(path)


@pytest.mark.parametrize("name", builtin_map_names())
def test_listed_description_is_the_loaded_maps(name: str) -> None:
    """``--list-maps`` reads only ``[meter] description``; it must say what loading says."""
    assert builtin_map_description(name) == builtin_register_map(name).description
