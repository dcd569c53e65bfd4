"""DL/T 645 request/response over a bus link: the master side of one exchange.

The codec is sans-IO; this module is where bytes meet time. It sends one frame, then feeds
what arrives into a fresh decoder until the addressed meter's reply shows up or the deadline
passes, and turns every way that can go wrong into a ``ReadFailed`` with the reason code that
completeness and offline detection count:

- our own frame echoed back by a 2-wire adapter is skipped (direction bit = to meter);
- a late reply to an earlier request (other DI) is skipped, not mistaken for this one;
- a reply from another address is skipped (a slow neighbour's late reply); if ours never
  comes, the failure is ``wrong_address`` (a replaced meter, a mis-wired bus), not a timeout;
- a corrupt frame is ``checksum`` / ``malformed`` at once: the meter will not send another;
- a meter's error reply is ``error_response`` carrying the error word.
"""

from __future__ import annotations

import asyncio

from headend.bus.link import BusLink
from headend.errors import ReadFailed
from protocols.dlt645 import (
    Address,
    ChecksumError,
    ErrorResponse,
    Frame,
    FrameDecoder,
    Function,
    MalformedFrame,
    ReadFollowUpRequest,
    ReadRequest,
    ReadResponse,
    Response,
    Standard,
    UnexpectedMessage,
    encode,
    parse_response,
)
from storage.records import FailureReason

MAX_FOLLOW_UPS = 16
"""A reply split over more frames than this is a meter bug, not data."""


async def exchange(link: BusLink, request: Frame, *, reply_timeout: float) -> Response:
    """Send ``request`` and return the addressed meter's parsed reply."""
    await link.send(encode(request))
    decoder = FrameDecoder()
    target = request.address
    stray: Address | None = None
    try:
        async with asyncio.timeout(reply_timeout):
            while True:
                decoder.feed(await link.receive())
                while True:
                    frame = _next_frame(decoder, target)
                    if frame is None:
                        break
                    if not frame.control.from_meter:
                        continue  # our own request, echoed by the adapter
                    if frame.control.function != request.control.function:
                        continue  # a late reply to an earlier request
                    if _other_identifier(request, frame):
                        continue  # a late reply of this meter to an earlier read
                    if not (target.is_wildcard or target.is_broadcast) and (
                        frame.address != target
                    ):
                        # A late reply of a slow neighbour, or a meter answering under another
                        # address: keep listening for ours, and say so if it never comes.
                        stray = frame.address
                        continue
                    try:
                        return parse_response(frame)
                    except UnexpectedMessage as exc:
                        raise ReadFailed(FailureReason.MALFORMED, f"meter {target}: {exc}") from exc
    except TimeoutError:
        if stray is not None:
            raise ReadFailed(
                FailureReason.WRONG_ADDRESS,
                f"meter {target}: no reply, but one from address {stray}",
            ) from None
        raise ReadFailed(
            FailureReason.TIMEOUT, f"meter {target}: no reply within {reply_timeout * 1000:.0f} ms"
        ) from None


_READS = {
    Function.READ: 4,
    Function.READ_FOLLOW_UP: 4,
    Function.READ_1997: 2,
    Function.READ_FOLLOW_UP_1997: 2,
}


def _other_identifier(request: Frame, reply: Frame) -> bool:
    """A normal read reply naming another data identifier than the one we asked for."""
    width = _READS.get(Function(request.control.function)) if not reply.control.error else None
    return width is not None and reply.data[:width] != request.data[:width]


def _next_frame(decoder: FrameDecoder, target: Address) -> Frame | None:
    try:
        return decoder.next_frame()
    except ChecksumError as exc:
        raise ReadFailed(FailureReason.CHECKSUM, f"meter {target}: {exc}") from exc
    except MalformedFrame as exc:
        raise ReadFailed(FailureReason.MALFORMED, f"meter {target}: {exc}") from exc


def refused(address: Address, what: str, reply: ErrorResponse) -> ReadFailed:
    flags = reply.flags.name
    return ReadFailed(
        FailureReason.ERROR_RESPONSE,
        f"meter {address}: refused {what}: error word 0x{reply.error:02X} ({flags or 'none'})",
        error_word=reply.error,
    )


async def read_payload(
    link: BusLink, address: Address, di: int, standard: Standard, *, reply_timeout: float
) -> bytes:
    """The whole payload of one data identifier, following multi-frame replies."""
    label = f"DI {di:0{2 * standard.di_length}X}"
    request = ReadRequest(address, di, standard).to_frame()
    reply = await exchange(link, request, reply_timeout=reply_timeout)
    payload = b""
    for seq in range(1, MAX_FOLLOW_UPS + 2):
        if isinstance(reply, ErrorResponse):
            raise refused(address, f"read of {label}", reply)
        if not isinstance(reply, ReadResponse) or reply.di != di:
            raise ReadFailed(FailureReason.MALFORMED, f"meter {address}: odd reply to {label}")
        payload += reply.payload
        if not reply.more:
            return payload
        follow_up = ReadFollowUpRequest(address, di, seq, standard).to_frame()
        reply = await exchange(link, follow_up, reply_timeout=reply_timeout)
    raise ReadFailed(
        FailureReason.MALFORMED, f"meter {address}: {label} split over > {MAX_FOLLOW_UPS} frames"
    )


async def send_broadcast(link: BusLink, frame: Frame) -> None:
    """A frame no meter answers (time sync, freeze): send it and keep the line quiet after."""
    await link.send(encode(frame))
