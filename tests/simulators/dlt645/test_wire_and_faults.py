"""Line timing, collisions, frozen records and every wire fault (sans-IO where possible)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from protocols.dlt645 import (
    Address,
    ChecksumError,
    ErrorResponse,
    ErrorWord,
    Frame,
    FrameDecoder,
    MalformedFrame,
    ReadAddressRequest,
    ReadRequest,
    ReadResponse,
    catalogue,
    decode_value,
    encode,
    parse_response,
)
from simulators.dlt645 import (
    ClockDrift,
    CorruptChecksum,
    ErrorReply,
    FaultScript,
    GarbageBytes,
    MeterReplaced,
    MissingFrozen,
    NoReply,
    RampingSource,
    ScheduledFault,
    SlowReply,
    WireFault,
    WrongAddress,
)
from simulators.dlt645.bus import MeterBus
from tests.simulators.dlt645.master import (
    FAST,
    LOCAL_START,
    REPLY_DELAY,
    START,
    VALUES,
    SettableClock,
    make_bus,
    meter,
)
from transports import wire_time

A1 = Address.parse("000000000001")
VOLTAGE_A = catalogue().by_name("voltage_a").di


def decode_all(data: bytes) -> tuple[list[Frame], int]:
    """Frames in ``data`` and how many malformed ones were met."""
    decoder, bad = FrameDecoder(), 0
    frames: list[Frame] = []
    decoder.feed(data)
    while True:
        try:
            frame = decoder.next_frame()
        except MalformedFrame:
            bad += 1
            continue
        if frame is None:
            return frames, bad
        frames.append(frame)


def one_reply(bus: MeterBus, request: Frame, at: float = 0.0) -> bytes:
    bursts = bus.on_frame(request, at)
    assert len(bursts) == 1
    return bursts[0].data


def read_reply(bus: MeterBus, di: int = VOLTAGE_A) -> ReadResponse | ErrorResponse:
    frames, bad = decode_all(one_reply(bus, ReadRequest(A1, di).to_frame()))
    assert bad == 0
    reply = parse_response(frames[0])
    assert isinstance(reply, ReadResponse | ErrorResponse)
    return reply


def faulty_bus(*faults: WireFault, clock: SettableClock | None = None) -> MeterBus:
    script = FaultScript(ScheduledFault(f, "000000000001") for f in faults)
    return make_bus([meter("000000000001")], faults=script, clock=clock)


# ---------------------------------------------------------------- timing


def test_request_ends_one_wire_time_after_its_bytes_arrive() -> None:
    bus = make_bus([meter("000000000001")])
    request = encode(ReadRequest(A1, VOLTAGE_A).to_frame())
    [burst] = bus.feed(request, arrived_at=10.0)
    assert burst.start == pytest.approx(10.0 + wire_time(len(request), FAST) + REPLY_DELAY)


def test_reply_occupies_the_line_for_exactly_its_wire_time() -> None:
    bus = make_bus([meter("000000000001")])
    [burst] = bus.on_frame(ReadRequest(A1, VOLTAGE_A).to_frame(), 5.0)
    assert burst.duration(FAST) == wire_time(len(burst.data), FAST)
    assert burst.end(FAST) == pytest.approx(burst.start + wire_time(len(burst.data), FAST))


def test_request_split_into_chunks_is_paced_as_one_stream() -> None:
    bus = make_bus([meter("000000000001")])
    request = encode(ReadRequest(A1, VOLTAGE_A).to_frame())
    assert bus.feed(request[:5], arrived_at=1.0) == []
    [burst] = bus.feed(request[5:], arrived_at=1.0)
    assert burst.start == pytest.approx(1.0 + wire_time(len(request), FAST) + REPLY_DELAY)


def test_wildcard_read_with_two_meters_collides() -> None:
    bus = make_bus([meter("000000000001"), meter("000000000002")])
    bursts = bus.on_frame(ReadAddressRequest().to_frame(), 0.0)
    assert len(bursts) == 1
    assert bursts[0].collided
    frames, bad = decode_all(bursts[0].data)
    assert frames == []
    assert bad >= 1


def test_replies_far_enough_apart_do_not_collide() -> None:
    bus = make_bus([meter("000000000001"), meter("000000000002", reply_delay=0.1)])
    bursts = bus.on_frame(ReadAddressRequest().to_frame(), 0.0)
    assert [b.collided for b in bursts] == [False, False]
    addresses = [parse_response(decode_all(b.data)[0][0]).address for b in bursts]
    assert addresses == [A1, Address.parse("000000000002")]


# ---------------------------------------------------------------- frozen records


def ramping_bus(*faults: WireFault) -> tuple[MeterBus, RampingSource]:
    start = START - timedelta(days=5)
    source = RampingSource(start, energy_at_start=100.0, power_kw=1.5)
    script = FaultScript(ScheduledFault(f, "000000000001") for f in faults)
    return make_bus([meter("000000000001", source=source)], faults=script), source


@pytest.mark.parametrize("record", [1, 2, 3])
def test_daily_frozen_records_of_past_days(record: int) -> None:
    bus, source = ramping_bus()
    energy_item = catalogue().by_name("frozen_energy_active_import")
    time_item = catalogue().by_name("frozen_time")
    day = date(2026, 3, 10) - timedelta(days=record - 1)  # record 1 = today's 00:00 freeze
    energy = read_reply(bus, energy_item.di_for(record))
    stamp = read_reply(bus, time_item.di_for(record))
    assert isinstance(energy, ReadResponse)
    assert isinstance(stamp, ReadResponse)
    value = decode_value(energy.di, energy.payload)
    assert value == {"frozen_energy_active_import_total": round(source.frozen_energy(day), 2)}  # type: ignore[arg-type]
    assert decode_value(stamp.di, stamp.payload) == datetime.combine(day, time())


def test_frozen_record_before_the_source_started_is_no_data() -> None:
    bus, _ = ramping_bus()
    reply = read_reply(bus, catalogue().by_name("frozen_energy_active_import").di_for(12))
    assert isinstance(reply, ErrorResponse)
    assert reply.flags == ErrorWord.NO_DATA


def test_missing_frozen_fault_hides_only_its_days() -> None:
    bus, _ = ramping_bus(MissingFrozen((date(2026, 3, 8),)))
    item = catalogue().by_name("frozen_energy_active_import")
    assert isinstance(read_reply(bus, item.di_for(3)), ErrorResponse)  # 10th, 9th, 8th
    assert isinstance(read_reply(bus, item.di_for(2)), ReadResponse)


# ---------------------------------------------------------------- faults


def test_no_reply_keeps_the_meter_silent() -> None:
    bus = faulty_bus(NoReply())
    assert bus.on_frame(ReadRequest(A1, VOLTAGE_A).to_frame(), 0.0) == []


def test_slow_reply_adds_its_delay() -> None:
    normal = make_bus([meter("000000000001")]).on_frame(ReadRequest(A1, VOLTAGE_A).to_frame(), 0)
    slow = faulty_bus(SlowReply(300)).on_frame(ReadRequest(A1, VOLTAGE_A).to_frame(), 0)
    assert slow[0].start - normal[0].start == pytest.approx(0.3)
    assert slow[0].data == normal[0].data


def test_corrupt_checksum_is_caught_by_the_decoder() -> None:
    data = one_reply(faulty_bus(CorruptChecksum()), ReadRequest(A1, VOLTAGE_A).to_frame())
    decoder = FrameDecoder()
    decoder.feed(data)
    with pytest.raises(ChecksumError):
        decoder.next_frame()


def test_garbage_before_the_reply_is_skipped_and_counted() -> None:
    data = one_reply(faulty_bus(GarbageBytes(12)), ReadRequest(A1, VOLTAGE_A).to_frame())
    decoder = FrameDecoder()
    decoder.feed(data)
    frame = decoder.next_frame()
    assert frame is not None
    assert parse_response(frame).address == A1
    assert len(data) == 12 + len(encode(frame))


def test_garbage_is_the_same_for_the_same_seed() -> None:
    request = ReadRequest(A1, VOLTAGE_A).to_frame()
    runs = [one_reply(faulty_bus(GarbageBytes(16)), request) for _ in range(2)]
    assert runs[0] == runs[1]


def test_wrong_address_reply_names_another_meter() -> None:
    bus = faulty_bus(WrongAddress("999999999998"))
    reply = read_reply(bus)
    assert reply.address == Address.parse("999999999998")


def test_error_response_fault_refuses_with_its_word() -> None:
    reply = read_reply(faulty_bus(ErrorReply(int(ErrorWord.UNAUTHORISED))))
    assert isinstance(reply, ErrorResponse)
    assert reply.flags == ErrorWord.UNAUTHORISED


def test_clock_drift_accumulates_from_the_window_start_and_a_sync_resets_it() -> None:
    clock = SettableClock(START)
    bus = faulty_bus(ClockDrift(seconds_per_day=-86.4), clock=clock)  # 1 s slow per 1000 s
    clock.now = START + timedelta(seconds=2000)
    the_meter = bus.meters[0]
    local = LOCAL_START + timedelta(seconds=2000)
    assert the_meter.clock(clock.now) == local - timedelta(seconds=2)
    the_meter.set_clock(local, clock.now)
    assert the_meter.clock(clock.now) == local


def test_meter_replaced_answers_only_to_the_new_address_inside_its_window() -> None:
    clock = SettableClock(START)
    swap = START + timedelta(hours=1)
    script = FaultScript(
        [ScheduledFault(MeterReplaced("000000000555"), "000000000001", start=swap)]
    )
    bus = make_bus([meter("000000000001")], faults=script, clock=clock)
    new = Address.parse("000000000555")
    assert len(bus.on_frame(ReadRequest(A1, VOLTAGE_A).to_frame(), 0)) == 1
    clock.now = swap
    assert bus.on_frame(ReadRequest(A1, VOLTAGE_A).to_frame(), 0) == []
    [burst] = bus.on_frame(ReadRequest(new, VOLTAGE_A).to_frame(), 0)
    assert parse_response(decode_all(burst.data)[0][0]).address == new


def test_fault_window_ends() -> None:
    clock = SettableClock(START)
    script = FaultScript(
        [ScheduledFault(NoReply(), None, start=START, end=START + timedelta(minutes=5))]
    )
    bus = make_bus([meter("000000000001")], faults=script, clock=clock)
    assert bus.on_frame(ReadRequest(A1, VOLTAGE_A).to_frame(), 0) == []
    clock.now = START + timedelta(minutes=5)
    reply = read_reply(bus)
    assert isinstance(reply, ReadResponse)
    assert decode_value(reply.di, reply.payload) == VALUES["voltage_a"]
