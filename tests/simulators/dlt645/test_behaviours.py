"""The interoperability quirks a simulated meter can be given, frame in, frame out, and their
scenario kinds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols.dlt645 import (
    Address,
    ErrorResponse,
    Frame,
    ReadRequest,
    ReadResponse,
    Standard,
    catalogue,
    parse_response,
)
from simulators.community.faults import Fault, FaultKind, TargetKind
from simulators.dlt645 import (
    EchoesWildcard,
    MoreTariffs,
    RefusalStyle,
    RefusesBlocks,
    ScheduledFault,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    WideValue,
    WireFault,
)
from simulators.dlt645.community_adapter import wire_fault
from simulators.dlt645.faults import FaultScript

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
ADDRESS = Address.parse("000000000161")
VALUES = {
    "voltage_a": 230.1,
    "voltage_b": 229.9,
    "voltage_c": 231.2,
    "energy_active_import_total": 100.0,
    "energy_active_import_t1": 40.0,
    "energy_active_import_t2": 60.0,
    "meter_address": 161.0,
}


def meter(*quirks: WireFault, standard: Standard = Standard.DLT645_2007) -> SimulatedMeter:
    faults = FaultScript(ScheduledFault(q) for q in quirks)
    config = SimulatedMeterConfig(ADDRESS.digits, StaticSource(VALUES), standard=standard)
    return SimulatedMeter(config, faults)


def ask(target: SimulatedMeter, name: str, address: Address = ADDRESS) -> Frame | None:
    standard = target.config.standard
    di = catalogue(standard).by_name(name).di
    return target.handle(ReadRequest(address, di, standard).to_frame(), NOW)


def test_a_block_refusing_meter_refuses_blocks_with_no_data_and_answers_single_items() -> None:
    refusing = meter(RefusesBlocks())
    block = ask(refusing, "voltage")
    assert block is not None
    refused = parse_response(block)
    assert isinstance(refused, ErrorResponse)
    assert refused.error == 0x02
    single = ask(refusing, "voltage_b")
    assert single is not None
    answer = parse_response(single)
    assert isinstance(answer, ReadResponse)
    assert catalogue().by_name("voltage_b").decode(answer.payload) == pytest.approx(229.9)


def test_a_block_refusal_can_be_an_empty_reply_or_silence() -> None:
    empty = ask(meter(RefusesBlocks(RefusalStyle.EMPTY)), "voltage")
    assert empty is not None
    reply = parse_response(empty)
    assert isinstance(reply, ReadResponse)
    assert reply.payload == b""
    assert ask(meter(RefusesBlocks(RefusalStyle.SILENT)), "voltage") is None


def test_more_tariffs_lengthen_the_energy_block_only() -> None:
    quirky = meter(MoreTariffs(8))
    energy = ask(quirky, "energy_active_import")
    voltage = ask(quirky, "voltage")
    assert energy is not None
    assert voltage is not None
    energy_reply, voltage_reply = parse_response(energy), parse_response(voltage)
    assert isinstance(energy_reply, ReadResponse)
    assert isinstance(voltage_reply, ReadResponse)
    assert len(energy_reply.payload) == 4 * (1 + 8)  # total + 8 tariffs of XXXXXX.XX
    assert len(voltage_reply.payload) == 2 * 3


def test_a_wide_value_keeps_its_number_in_more_bytes() -> None:
    item = catalogue().by_name("voltage_a")
    frame = ask(meter(WideValue(item.di, 3)), "voltage_a")
    assert frame is not None
    reply = parse_response(frame)
    assert isinstance(reply, ReadResponse)
    assert len(reply.payload) == 3
    assert reply.payload[2] == 0
    assert item.decode(reply.payload[:2]) == pytest.approx(230.1)


def test_a_1997_meter_echoing_the_wildcard_says_who_it_is_only_in_the_data() -> None:
    echoing = meter(EchoesWildcard(), standard=Standard.DLT645_1997)
    frame = ask(echoing, "meter_address", Address.WILDCARD)
    assert frame is not None
    assert frame.address == Address.WILDCARD
    reply = parse_response(frame)
    assert isinstance(reply, ReadResponse)
    item = catalogue(Standard.DLT645_1997).by_name("meter_address")
    assert item.decode(reply.payload) == 161
    direct = ask(echoing, "meter_address")  # addressed by its own address: its own header
    assert direct is not None
    assert direct.address == ADDRESS


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(FaultKind.REFUSES_BLOCKS, TargetKind.METER, "m1"), RefusesBlocks()),
        (
            Fault(FaultKind.REFUSES_BLOCKS, TargetKind.METER, "m1", error_word=0x04),
            RefusesBlocks(error_word=0x04),
        ),
        (Fault(FaultKind.ECHOES_WILDCARD, TargetKind.BUS, "bus-1"), EchoesWildcard()),
    ],
)
def test_scenario_kinds_become_the_simulators_behaviours(fault: Fault, expected: object) -> None:
    assert wire_fault(fault) == expected
