"""The concentrator's meter port: forwarded DL/T 645 frames reach the simulated meters."""

from __future__ import annotations

from datetime import date

from protocols.dlt645 import (
    Address,
    FrameDecoder,
    MalformedFrame,
    ReadRequest,
    ReadResponse,
    encode,
    parse_response,
)
from protocols.dlt645.catalogue import decode_value
from simulators.concentrator import FrozenStore, StoreMeter
from simulators.concentrator.forwarding import MeterPort, port_for
from simulators.dlt645 import SimulatedMeter
from tests.simulators.dlt645.master import VALUES, SettableClock, make_bus, meter

ADDRESSES = ("000000000001", "000000000002")
ENERGY = 0x00010000
"""energy_active_import_total (DL/T 645-2007)."""


def _store() -> FrozenStore:
    meters = [StoreMeter(pn, f"m{pn}", address) for pn, address in enumerate(ADDRESSES, 1)]
    return FrozenStore(meters, lambda meter_id, day: None, lambda: date(2026, 3, 10))


def _port(store: FrozenStore) -> MeterPort:
    meters = [SimulatedMeter(meter(a, meter_id=f"m{n}")) for n, a in enumerate(ADDRESSES, 1)]
    return MeterPort(meters, store, SettableClock())


def _read(address: str) -> bytes:
    return encode(ReadRequest(Address.parse(address), ENERGY).to_frame())


def _value(reply: bytes) -> float:
    decoder = FrameDecoder()
    decoder.feed(reply)
    frame = decoder.next_frame()
    assert frame is not None
    response = parse_response(frame)
    assert isinstance(response, ReadResponse)
    value = decode_value(response.di, response.payload)
    assert isinstance(value, float)
    return value


def test_a_forwarded_read_is_answered_by_the_addressed_meter() -> None:
    port = _port(_store())
    reply = port(_read(ADDRESSES[1]))
    assert reply is not None
    assert _value(reply) == VALUES["energy_active_import_total"]
    assert (port.counters.frames, port.counters.answered) == (1, 1)


def test_an_unreachable_point_and_an_unknown_address_give_no_reply() -> None:
    store = _store()
    store.unreachable.add(1)
    port = _port(store)
    assert port(_read(ADDRESSES[0])) is None  # pn 1 is cut off
    assert port(_read("000000000099")) is None  # no such meter on the port
    assert port(_read(ADDRESSES[1])) is not None  # the other one still answers
    assert (port.counters.unanswered, port.counters.answered) == (2, 1)


def test_bytes_without_a_frame_are_counted_and_not_answered() -> None:
    port = _port(_store())
    assert port(b"\x68\x01\x02garbage") is None
    broken = bytearray(_read(ADDRESSES[0]))
    broken[-2] ^= 0xFF  # checksum
    assert port(bytes(broken)) is None
    assert port.counters.malformed == 2


def test_a_wildcard_read_of_two_meters_collides_on_the_port() -> None:
    port = _port(_store())
    reply = port(_read("AAAAAAAAAAAA"))
    assert reply is not None
    decoder = FrameDecoder()
    decoder.feed(reply)
    frames = []
    while True:
        try:
            frame = decoder.next_frame()
        except MalformedFrame:
            continue
        if frame is None:
            break
        frames.append(frame)
    assert len(frames) < 2  # the two answers overlapped: at most one survives intact


def test_port_for_takes_the_bus_meters_of_the_stores_meters() -> None:
    store = _store()
    bus = make_bus([meter(ADDRESSES[0], meter_id="m1"), meter("000000000077", meter_id="x")])
    port = port_for(store, [bus], SettableClock())
    assert [m.meter_id for m in port.meters] == ["m1"]  # m2 is on no bus; x is not the store's
    assert port.meters[0] is bus.meter("m1")  # one meter, one state: the gateway's too
