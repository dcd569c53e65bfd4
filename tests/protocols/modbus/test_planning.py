"""Read coalescing: covers every wanted point, respects limits and tables, merges what it may."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.modbus import (
    MAX_READ_REGISTERS,
    Point,
    RegisterDecodeError,
    RegisterMap,
    RegisterMapError,
    Table,
    UnknownQuantityError,
    ValueType,
    WordOrder,
    builtin_map_names,
    builtin_register_map,
    plan_all,
    plan_ratio_read,
    plan_reads,
)
from storage.records import ReadingKind


def _point(quantity: str, table: Table, address: int, value_type: ValueType) -> Point:
    return Point(
        quantity=quantity,
        table=table,
        address=address,
        value_type=value_type,
        word_order=WordOrder.HIGH_FIRST,
        scale=1.0,
        unit="",
        kind=ReadingKind.INSTANT,
    )


@st.composite
def register_maps(draw: st.DrawFn) -> RegisterMap:
    """Random non-overlapping points in both tables, spread out enough to force splits."""
    points: list[Point] = []
    for table in Table:
        address = draw(st.integers(0, 200))
        for _ in range(draw(st.integers(0, 40))):
            value_type = draw(st.sampled_from(list(ValueType)))
            if address + value_type.width > 0x10000:
                break
            points.append(_point(f"q{len(points)}", table, address, value_type))
            address += value_type.width + draw(st.integers(0, 30))
    if not points:
        points.append(_point("q0", Table.HOLDING, 0, ValueType.UINT16))
    return RegisterMap(name="random", source="hypothesis", points=tuple(points))


@settings(max_examples=200, deadline=None)
@given(
    register_map=register_maps(),
    data=st.data(),
    max_gap=st.integers(0, 40),
    max_registers=st.integers(4, MAX_READ_REGISTERS),
)
def test_plan_covers_each_wanted_point_once_within_limits(
    register_map: RegisterMap, data: st.DataObject, max_gap: int, max_registers: int
) -> None:
    wanted = data.draw(st.sets(st.sampled_from(register_map.quantities), min_size=1))
    plan = plan_reads(register_map, wanted, max_gap=max_gap, max_registers=max_registers)

    assert sorted(plan.quantities) == sorted(wanted)
    for request in plan.requests:
        assert 1 <= request.count <= max_registers
        ordered = sorted(request.points, key=lambda p: p.address)
        assert ordered[0].address == request.address
        assert ordered[-1].end == request.address + request.count
        for point in request.points:
            assert point.table is request.table
            assert request.address <= point.address
            assert point.end <= request.address + request.count
        for before, after in itertools.pairwise(ordered):
            assert after.address - before.end <= max_gap


@settings(max_examples=100, deadline=None)
@given(register_map=register_maps(), max_gap=st.integers(0, 40))
def test_neighbouring_requests_could_not_have_been_merged(
    register_map: RegisterMap, max_gap: int
) -> None:
    plan = plan_all(register_map, max_gap=max_gap)
    for first, second in zip(plan.requests, plan.requests[1:], strict=False):
        if first.table is not second.table:
            continue
        gap = second.address - (first.address + first.count)
        merged = second.address + second.count - first.address
        assert gap > max_gap or merged > MAX_READ_REGISTERS


def test_adjacent_points_become_one_request() -> None:
    register_map = builtin_register_map("eastron_sdm630")
    plan = plan_reads(register_map, ["voltage_a", "voltage_b", "voltage_c", "current_a"])
    assert len(plan.requests) == 1
    assert plan.requests[0].count == register_map.point("current_a").end


def test_gap_larger_than_limit_splits() -> None:
    register_map = builtin_register_map("eastron_sdm630")
    voltage, frequency = register_map.point("voltage_a"), register_map.point("frequency")
    gap = frequency.address - voltage.end
    wanted = ["voltage_a", "frequency"]
    assert len(plan_reads(register_map, wanted, max_gap=gap - 1).requests) == 2
    assert len(plan_reads(register_map, wanted, max_gap=gap).requests) == 1


def test_length_limit_splits() -> None:
    register_map = builtin_register_map("eastron_sdm630")
    plan = plan_reads(register_map, ["voltage_a", "voltage_b", "voltage_c"], max_registers=4)
    assert [request.count for request in plan.requests] == [4, 2]


@pytest.mark.parametrize("name", builtin_map_names())
def test_builtin_maps_plan_within_spec(name: str) -> None:
    plan = plan_all(builtin_register_map(name))
    assert all(request.count <= MAX_READ_REGISTERS for request in plan.requests)
    assert sorted(plan.quantities) == sorted(builtin_register_map(name).quantities)


def test_unknown_quantity_is_rejected() -> None:
    with pytest.raises(UnknownQuantityError, match="voltage_z"):
        plan_reads(builtin_register_map("eastron_sdm630"), ["voltage_z"])


@pytest.mark.parametrize(("gap", "limit"), [(-1, 125), (0, 126), (0, 1)])
def test_bad_limits_are_rejected(gap: int, limit: int) -> None:
    with pytest.raises(RegisterMapError):
        plan_reads(
            builtin_register_map("eastron_sdm630"),
            ["voltage_a"],
            max_gap=gap,
            max_registers=limit,
        )


def test_ratio_plan_only_for_maps_with_ratios() -> None:
    ratio_plan = plan_ratio_read(builtin_register_map("chint_dtsu666"))
    assert ratio_plan is not None
    assert sorted(ratio_plan.quantities) == ["ct_ratio", "pt_ratio"]
    assert plan_ratio_read(builtin_register_map("eastron_sdm630")) is None


def test_decode_rejects_responses_that_do_not_fit_the_plan() -> None:
    plan = plan_reads(builtin_register_map("eastron_sdm630"), ["voltage_a"])
    with pytest.raises(RegisterDecodeError, match="returned 3"):
        plan.decode([[0, 0, 0]])
    with pytest.raises(RegisterDecodeError, match="1 request"):
        plan.decode([])
