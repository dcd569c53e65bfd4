"""The DL/T 645 session as an IO loop: bytes over an in-memory link, failures as ``ReadFailed``.

The matching rules are tested byte by byte in tests/protocols/dlt645/test_exchange.py; here
only what the loop adds: sending each follow-up, the reply deadline, and the mapping of the
machine's failures onto the stored reason codes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from headend.bus.link import BusLink, Direction
from headend.drivers.dlt645.session import exchange, read_payload, refused, send_broadcast
from headend.errors import ReadFailed
from protocols.dlt645 import (
    Address,
    ChecksumError,
    ErrorResponse,
    ErrorWord,
    FrameDecoder,
    Function,
    ReadFollowUpRequest,
    ReadRequest,
    ReadResponse,
    Request,
    Standard,
    TimeSyncRequest,
    WriteRequest,
    encode,
    parse_request,
)
from storage.records import FailureReason
from transports.errors import ConnectionLost
from transports.memory import MemoryTransport, memory_pair

METER = Address.parse("000000000161")
OTHER = Address.parse("000000000162")
DI = 0x06000001
REPLY_TIMEOUT = 0.05
"""Only the tests where our reply never comes wait it out; the others are answered at once."""

Answer = Callable[[Request], bytes]


class Device:
    """The meter end of the link: decodes each request and writes what ``answer`` gives."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.heard: list[Request] = []

    async def serve(self, end: MemoryTransport) -> None:
        decoder = FrameDecoder()
        while True:
            try:
                decoder.feed(await end.read(256))
            except ConnectionLost:
                return
            while (frame := decoder.next_frame()) is not None:
                request = parse_request(frame)
                self.heard.append(request)
                reply = self.answer(request)
                if reply:
                    await end.write(reply)


@pytest.fixture
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[tuple[BusLink, Device]]:
    answer: Answer = request.param
    device = Device(answer)
    master_end, device_end = memory_pair("dlt645-session")
    server = asyncio.create_task(device.serve(device_end))
    yield BusLink(master_end, gap=0), device
    master_end.link.cut("test over")
    await server  # ends on the cut; a failure inside the device surfaces here


def in_parts(payload: bytes, size: int) -> Answer:
    """A meter that splits ``payload`` over follow-up frames of ``size`` bytes."""

    def answer(request: Request) -> bytes:
        assert isinstance(request, ReadRequest | ReadFollowUpRequest)
        index = request.seq if isinstance(request, ReadFollowUpRequest) else 0
        part = payload[index * size : (index + 1) * size]
        more = (index + 1) * size < len(payload)
        follow_up = isinstance(request, ReadFollowUpRequest)
        return encode(ReadResponse(METER, request.di, part, more, follow_up, index).to_frame())

    return answer


def silent(request: Request) -> bytes:
    return b""


def from_other_address(request: Request) -> bytes:
    assert isinstance(request, ReadRequest)
    return encode(ReadResponse(OTHER, request.di, b"\x01\x00\x00\x00").to_frame())


def corrupt(request: Request) -> bytes:
    assert isinstance(request, ReadRequest)
    wire = encode(ReadResponse(METER, request.di, b"\x01\x00\x00\x00").to_frame())
    return wire[:-2] + bytes(((wire[-2] + 1) & 0xFF,)) + wire[-1:]


def no_data(request: Request) -> bytes:
    function = Function.WRITE if isinstance(request, WriteRequest) else Function.READ
    return encode(ErrorResponse(METER, function, ErrorWord.NO_DATA).to_frame())


async def read(link: BusLink) -> bytes:
    return await read_payload(link, METER, DI, Standard.DLT645_2007, reply_timeout=REPLY_TIMEOUT)


@pytest.mark.parametrize("bus", [in_parts(bytes(range(250)), 100)], indirect=True)
async def test_read_payload_sends_each_follow_up_and_joins_the_parts(
    bus: tuple[BusLink, Device],
) -> None:
    link, device = bus
    assert await read(link) == bytes(range(250))
    assert device.heard == [
        ReadRequest(METER, DI),
        ReadFollowUpRequest(METER, DI, 1),
        ReadFollowUpRequest(METER, DI, 2),
    ]


@pytest.mark.parametrize("bus", [silent], indirect=True)
async def test_a_silent_meter_is_a_timeout(bus: tuple[BusLink, Device]) -> None:
    link, _ = bus
    with pytest.raises(ReadFailed) as caught:
        await read(link)
    assert caught.value.reason is FailureReason.TIMEOUT
    assert caught.value.detail == "meter 000000000161: no reply within 50 ms"


@pytest.mark.parametrize("bus", [from_other_address], indirect=True)
async def test_only_another_address_answering_is_wrong_address(
    bus: tuple[BusLink, Device],
) -> None:
    link, _ = bus
    with pytest.raises(ReadFailed) as caught:
        await read(link)
    assert caught.value.reason is FailureReason.WRONG_ADDRESS
    assert caught.value.retryable


@pytest.mark.parametrize("bus", [corrupt], indirect=True)
async def test_a_corrupt_reply_is_a_checksum_failure_caused_by_the_codec_error(
    bus: tuple[BusLink, Device],
) -> None:
    link, _ = bus
    with pytest.raises(ReadFailed) as caught:
        await read(link)
    assert caught.value.reason is FailureReason.CHECKSUM
    assert isinstance(caught.value.__cause__, ChecksumError)


@pytest.mark.parametrize("bus", [no_data], indirect=True)
async def test_a_refused_read_carries_the_error_word(bus: tuple[BusLink, Device]) -> None:
    link, _ = bus
    with pytest.raises(ReadFailed) as caught:
        await read(link)
    assert caught.value.reason is FailureReason.ERROR_RESPONSE
    assert caught.value.error_word == 0x02
    assert caught.value.detail == (
        "meter 000000000161: refused read of DI 06000001: error word 0x02 (NO_DATA)"
    )


@pytest.mark.parametrize("bus", [no_data], indirect=True)
async def test_exchange_returns_the_error_reply_for_the_caller_to_judge(
    bus: tuple[BusLink, Device],
) -> None:
    link, _ = bus
    request = WriteRequest(METER, 0x04000102, b"\x00\x00\x12").to_frame()
    reply = await exchange(link, request, reply_timeout=REPLY_TIMEOUT)
    assert reply == ErrorResponse(METER, Function.WRITE, ErrorWord.NO_DATA)
    assert isinstance(reply, ErrorResponse)
    failure = refused(METER, "clock write", reply)
    assert (failure.reason, failure.error_word) == (FailureReason.ERROR_RESPONSE, 0x02)
    assert failure.detail == "meter 000000000161: refused clock write: error word 0x02 (NO_DATA)"


@pytest.mark.parametrize("bus", [silent], indirect=True)
async def test_a_broadcast_is_sent_and_not_waited_for(bus: tuple[BusLink, Device]) -> None:
    link, _ = bus
    frame = TimeSyncRequest(datetime(2026, 11, 23, 10, 15, tzinfo=UTC)).to_frame()
    await send_broadcast(link, frame)
    assert [(record.direction, record.data) for record in link.traffic] == [
        (Direction.TX, encode(frame))
    ]
