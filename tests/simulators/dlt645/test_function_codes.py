"""Every function code the codec supports, against the simulator over an in-memory link."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from protocols.dlt645 import (
    AckResponse,
    Address,
    ChangeBaudRequest,
    ErrorResponse,
    ErrorWord,
    FreezeRequest,
    ReadAddressRequest,
    ReadAddressResponse,
    ReadFollowUpRequest,
    ReadRequest,
    ReadResponse,
    RelayAction,
    RelayControlRequest,
    Standard,
    TimeSyncRequest,
    WriteAddressRequest,
    WriteRequest,
    catalogue,
    decode_value,
    encode_value,
)
from simulators.dlt645 import MeterKind, StaticSource
from tests.simulators.dlt645.master import (
    LOCAL_START,
    START,
    VALUES,
    SettableClock,
    make_bus,
    meter,
    serving,
)

A1 = Address.parse("000000000001")
A2 = Address.parse("000000000002")
PASSWORD = bytes.fromhex("02123456")
LOCAL_NOW = LOCAL_START


def di(name: str) -> int:
    return catalogue().by_name(name).di


async def read(master_di: int, *, address: Address = A1, **bus_options: object) -> object:
    bus = make_bus([meter(str(address))], **bus_options)  # type: ignore[arg-type]
    async with serving(bus) as master:
        reply = await master.ask(ReadRequest(address, master_di).to_frame())
    assert isinstance(reply, ReadResponse)
    return decode_value(reply.di, reply.payload)


async def test_read_single_item_serves_the_source_value() -> None:
    assert await read(di("energy_active_import_total")) == VALUES["energy_active_import_total"]


async def test_block_read_gives_every_phase_of_a_three_phase_meter() -> None:
    voltages = await read(di("voltage"))
    assert voltages == {k: VALUES[k] for k in ("voltage_a", "voltage_b", "voltage_c")}


async def test_block_read_stops_at_the_first_quantity_the_source_lacks() -> None:
    energy = await read(di("energy_active_import"))
    expected = ("energy_active_import_total", "energy_active_import_t1", "energy_active_import_t2")
    assert energy == {k: VALUES[k] for k in expected}


async def test_single_phase_meter_has_no_phase_b() -> None:
    bus = make_bus([meter("000000000001", kind=MeterKind.SINGLE_PHASE)])
    async with serving(bus) as master:
        block = await master.ask(ReadRequest(A1, di("voltage")).to_frame())
        phase_b = await master.ask(ReadRequest(A1, di("voltage_b")).to_frame())
    assert isinstance(block, ReadResponse)
    assert decode_value(block.di, block.payload) == {"voltage_a": VALUES["voltage_a"]}
    assert isinstance(phase_b, ErrorResponse)
    assert phase_b.flags == ErrorWord.NO_DATA


async def test_unknown_identifier_gets_no_requested_data() -> None:
    bus = make_bus([meter("000000000001")])
    async with serving(bus) as master:
        reply = await master.ask(ReadRequest(A1, 0x0F0F0F0F).to_frame())
    assert isinstance(reply, ErrorResponse)
    assert reply.flags == ErrorWord.NO_DATA
    assert reply.address == A1


async def test_meters_stay_silent_for_frames_addressed_elsewhere() -> None:
    bus = make_bus([meter("000000000001"), meter("000000000002")])
    async with serving(bus) as master:
        await master.send(ReadRequest(Address.parse("000000000099"), di("voltage_a")).to_frame())
        reply = await master.ask(ReadRequest(A2, di("voltage_a")).to_frame())
        assert master.decoder.pending == 0
    assert isinstance(reply, ReadResponse)
    assert reply.address == A2
    assert bus.frames_received == 2


async def test_multi_frame_reply_is_completed_with_follow_ups() -> None:
    bus = make_bus([meter("000000000001", max_data_length=9)])
    block = di("energy_active_import")
    async with serving(bus) as master:
        first = await master.ask(ReadRequest(A1, block).to_frame())
        assert isinstance(first, ReadResponse)
        payload, seq, reply = first.payload, 0, first
        while reply.more:
            seq += 1
            reply = await master.ask(ReadFollowUpRequest(A1, block, seq).to_frame())  # type: ignore[assignment]
            assert isinstance(reply, ReadResponse)
            assert reply.follow_up
            assert reply.seq == seq
            payload += reply.payload
    assert first.more
    assert seq >= 2
    assert decode_value(block, payload) == {
        name: VALUES[name] for name in VALUES if name.startswith("energy_active_import")
    }


async def test_follow_up_without_a_pending_reply_is_no_data() -> None:
    bus = make_bus([meter("000000000001")])
    async with serving(bus) as master:
        reply = await master.ask(ReadFollowUpRequest(A1, di("voltage"), 1).to_frame())
    assert isinstance(reply, ErrorResponse)
    assert reply.flags == ErrorWord.NO_DATA


async def test_read_address_with_one_meter_on_the_bus() -> None:
    bus = make_bus([meter("123456789012")])
    async with serving(bus) as master:
        reply = await master.ask(ReadAddressRequest().to_frame())
    assert reply == ReadAddressResponse(Address.parse("123456789012"))


async def test_broadcast_time_sync_sets_every_clock_and_gets_no_reply() -> None:
    clock = SettableClock()
    bus = make_bus([meter("000000000001"), meter("000000000002")], clock=clock)
    target = LOCAL_NOW + timedelta(minutes=3, seconds=7)
    async with serving(bus) as master:
        await master.send(TimeSyncRequest(target).to_frame())
        times = []
        for address in (A1, A2):
            reply = await master.ask(ReadRequest(address, di("time")).to_frame())
            assert isinstance(reply, ReadResponse)
            times.append(decode_value(reply.di, reply.payload))
            assert reply.address == address  # the first reply is the read, not a sync answer
    assert times == [target.time(), target.time()]
    assert all(m.clock(clock.now) == target for m in bus.meters)


async def test_time_sync_beyond_the_configured_limit_is_ignored() -> None:
    clock = SettableClock()
    bus = make_bus([meter("000000000001", time_sync_max_offset=timedelta(minutes=5))], clock=clock)
    async with serving(bus) as master:
        await master.send(TimeSyncRequest(LOCAL_NOW + timedelta(hours=1)).to_frame())
        reply = await master.ask(ReadRequest(A1, di("time")).to_frame())
    assert isinstance(reply, ReadResponse)
    assert decode_value(reply.di, reply.payload) == LOCAL_NOW.time()


@pytest.mark.parametrize(("name", "value"), [("date", date(2026, 4, 1)), ("time", time(8, 9, 10))])
async def test_write_date_or_time_with_the_right_password(name: str, value: object) -> None:
    clock = SettableClock()
    bus = make_bus([meter("000000000001", password=PASSWORD)], clock=clock)
    payload = encode_value(di(name), value)  # type: ignore[arg-type]
    async with serving(bus) as master:
        ack = await master.ask(WriteRequest(A1, di(name), payload, PASSWORD).to_frame())
        reply = await master.ask(ReadRequest(A1, di(name)).to_frame())
    assert isinstance(ack, AckResponse)
    assert isinstance(reply, ReadResponse)
    assert decode_value(reply.di, reply.payload) == value


async def test_write_with_a_wrong_password_is_refused_and_changes_nothing() -> None:
    bus = make_bus([meter("000000000001", password=PASSWORD)])
    payload = encode_value(di("time"), time(1, 2, 3))
    async with serving(bus) as master:
        refusal = await master.ask(WriteRequest(A1, di("time"), payload, bytes(4)).to_frame())
        reply = await master.ask(ReadRequest(A1, di("time")).to_frame())
    assert isinstance(refusal, ErrorResponse)
    assert refusal.flags == ErrorWord.UNAUTHORISED
    assert isinstance(reply, ReadResponse)
    assert decode_value(reply.di, reply.payload) == LOCAL_NOW.time()


async def test_write_of_a_read_only_item_is_refused() -> None:
    bus = make_bus([meter("000000000001")])
    payload = encode_value(di("voltage_a"), 1.0)
    async with serving(bus) as master:
        reply = await master.ask(WriteRequest(A1, di("voltage_a"), payload).to_frame())
    assert isinstance(reply, ErrorResponse)
    assert reply.flags == ErrorWord.OTHER


async def test_write_address_renames_the_meter() -> None:
    new = Address.parse("000000000777")
    bus = make_bus([meter("000000000001")])
    async with serving(bus) as master:
        ack = await master.ask(WriteAddressRequest(new).to_frame())
        await master.send(ReadRequest(A1, di("voltage_a")).to_frame())  # old address: silence
        reply = await master.ask(ReadRequest(new, di("voltage_a")).to_frame())
    assert isinstance(ack, AckResponse)
    assert ack.address == new
    assert isinstance(reply, ReadResponse)
    assert reply.address == new


async def test_freeze_is_acknowledged_when_addressed_and_silent_when_broadcast() -> None:
    clock = SettableClock()
    bus = make_bus([meter("000000000001")], clock=clock)
    async with serving(bus) as master:
        await master.send(FreezeRequest(Address.BROADCAST).to_frame())
        ack = await master.ask(FreezeRequest(A1).to_frame())
    assert isinstance(ack, AckResponse)
    assert ack.function == 0x16
    assert bus.meters[0].freezes == [LOCAL_NOW, LOCAL_NOW]


async def test_change_baud_acknowledges_then_the_meter_leaves_the_bus_rate() -> None:
    bus = make_bus([meter("000000000001")])
    async with serving(bus) as master:
        ack = await master.ask(ChangeBaudRequest(A1, 9600).to_frame())
    assert ack == AckResponse(A1, 0x17, ChangeBaudRequest(A1, 9600).to_frame().data)
    assert bus.meters[0].baud == 9600
    assert bus.on_frame(ReadRequest(A1, di("voltage_a")).to_frame(), 0.0) == []  # deaf now


async def test_change_to_an_unsupported_baud_is_refused() -> None:
    bus = make_bus([meter("000000000001")])
    async with serving(bus) as master:
        refused = await master.ask(ChangeBaudRequest(A1, 600).to_frame())
    assert isinstance(refused, ErrorResponse)
    assert refused.flags == ErrorWord.BAUD_UNCHANGEABLE
    assert bus.meters[0].baud is None


def relay(action: RelayAction, password: bytes = PASSWORD) -> RelayControlRequest:
    return RelayControlRequest(A1, action, LOCAL_NOW + timedelta(minutes=10), password)


async def test_relay_trip_zeroes_current_and_power_and_sets_the_status_bit() -> None:
    bus = make_bus([meter("000000000001", password=PASSWORD)])
    status = catalogue().by_name("meter_status_3")
    async with serving(bus) as master:
        ack = await master.ask(relay(RelayAction.TRIP).to_frame())
        current = await master.ask(ReadRequest(A1, di("current")).to_frame())
        power = await master.ask(ReadRequest(A1, di("power_active_total")).to_frame())
        energy = await master.ask(ReadRequest(A1, di("energy_active_import_total")).to_frame())
        word = await master.ask(ReadRequest(A1, status.di).to_frame())
    assert isinstance(ack, AckResponse)
    for reply in (current, power, energy, word):
        assert isinstance(reply, ReadResponse)
    assert decode_value(current.di, current.payload) == {  # type: ignore[union-attr]
        "current_a": 0.0,
        "current_b": 0.0,
        "current_c": 0.0,
    }
    assert decode_value(power.di, power.payload) == 0.0  # type: ignore[union-attr]
    energy_value = decode_value(energy.di, energy.payload)  # type: ignore[union-attr]
    assert energy_value == VALUES["energy_active_import_total"]
    flags = status.decode_flags(decode_value(word.di, word.payload))  # type: ignore[union-attr, arg-type]
    assert flags["relay_open"]
    assert flags["relay_command_open"]


async def test_close_permitted_waits_for_the_button_and_direct_close_does_not() -> None:
    bus = make_bus([meter("000000000001", password=PASSWORD)])
    the_meter = bus.meters[0]
    async with serving(bus) as master:
        await master.ask(relay(RelayAction.TRIP).to_frame())
        await master.ask(relay(RelayAction.CLOSE_PERMITTED).to_frame())
        assert the_meter.relay_open
        the_meter.press_button()
        assert not the_meter.relay_open
        await master.ask(relay(RelayAction.TRIP).to_frame())
        await master.ask(relay(RelayAction.CLOSE_DIRECT).to_frame())
        power = await master.ask(ReadRequest(A1, di("power_active_total")).to_frame())
    assert not the_meter.relay_open
    assert isinstance(power, ReadResponse)
    assert decode_value(power.di, power.payload) == VALUES["power_active_total"]


async def test_relay_control_with_a_wrong_password_is_refused() -> None:
    bus = make_bus([meter("000000000001", password=PASSWORD)])
    async with serving(bus) as master:
        reply = await master.ask(relay(RelayAction.TRIP, bytes(4)).to_frame())
    assert isinstance(reply, ErrorResponse)
    assert reply.flags == ErrorWord.UNAUTHORISED
    assert not bus.meters[0].relay_open


async def test_expired_relay_order_is_refused() -> None:
    bus = make_bus([meter("000000000001", password=PASSWORD)])
    order = RelayControlRequest(A1, RelayAction.TRIP, LOCAL_NOW - timedelta(minutes=1), PASSWORD)
    async with serving(bus) as master:
        reply = await master.ask(order.to_frame())
    assert isinstance(reply, ErrorResponse)
    assert not bus.meters[0].relay_open


async def test_dlt645_1997_meter_answers_two_byte_identifiers() -> None:
    bus = make_bus([meter("000000000001", standard=Standard.DLT645_1997)])
    item = catalogue(Standard.DLT645_1997).by_name("energy_active_import_total")
    async with serving(bus) as master:
        reply = await master.ask(ReadRequest(A1, item.di, Standard.DLT645_1997).to_frame())
    assert isinstance(reply, ReadResponse)
    assert reply.standard is Standard.DLT645_1997
    assert decode_value(reply.di, reply.payload, Standard.DLT645_1997) == VALUES[item.name]


def test_static_source_is_what_the_meters_serve() -> None:
    source = StaticSource({"voltage_a": 1.0})
    assert source.value("voltage_a", START) == 1.0
    assert source.value("voltage_b", START) is None
