"""Finding every meter on a bus (搜表) with wildcard addresses narrowed by collisions.

A read of the meter-address item (2007 ``04000401``, 1997 ``C032``) sent to an address whose
leading digits are the wildcard ``A`` is answered by every meter whose trailing digits match.
One meter answers with a clean frame; several drive the RS-485 line at once and the master
hears a garbled frame (a bad checksum, noise), or several frames; none leaves the line
silent. So the search asks ``AAAAAAAAAAAA`` first, and wherever several answer it fixes one
more trailing digit (``AAAAAAAAAAA0`` .. ``AAAAAAAAAAA9``, then ``AAAAAAAAAA00`` ..) until
each branch is silent or has one meter: about 10 requests per digit of each collision, so
the cost grows with the meters and their shared trailing digits, not with the 10^12
addresses.

The address found is the one in the *data* (the meter-address item), never the header's: a
1997 meter may echo the wildcard address in its header (``AAAAAAAAAAAA``), and a garbled
frame that happens to pass its checksum is caught because its data and header disagree or
the data does not match the digits asked for.

DL/T 645 lets a meter take up to 500 ms to answer, so after a clean reply the search listens
``settle`` seconds more for a second meter before it calls the branch done.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from headend.bus.link import BusLink
from protocols.dlt645 import (
    Address,
    ErrorResponse,
    Frame,
    FrameDecoder,
    MalformedFrame,
    ReadRequest,
    ReadResponse,
    Standard,
    catalogue,
    encode,
    parse_response,
)
from protocols.errors import ProtocolError

DIGITS = "0123456789"
ADDRESS_DIGITS = 12
DEFAULT_SETTLE = 0.5
"""Seconds to keep listening after a clean reply: the standard's longest reply delay."""


class Heard(enum.StrEnum):
    NOTHING = "nothing"
    ONE = "one meter"
    SEVERAL = "several meters"


@dataclass(frozen=True, slots=True)
class Probe:
    """What one wildcard request heard; ``address`` is the meter's when one answered."""

    target: Address
    heard: Heard
    address: Address | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Progress:
    """After each request: how many were sent, what was found, what is still to narrow."""

    asked: int
    found: tuple[Address, ...]
    pending: int
    probe: Probe


def address_item_di(standard: Standard) -> int:
    return catalogue(standard).by_name("meter_address").di


async def probe(
    link: BusLink,
    target: Address,
    standard: Standard,
    *,
    reply_timeout: float,
    settle: float = DEFAULT_SETTLE,
) -> Probe:
    """Ask ``target`` (a wildcard address) for the meter address; what answered."""
    request = ReadRequest(target, address_item_di(standard), standard).to_frame()
    await link.send(encode(request))
    decoder = FrameDecoder()
    replies: list[Frame] = []
    garbled = ""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(reply_timeout) as deadline:
            while not garbled and len(replies) < 2:
                decoder.feed(await link.receive())
                while True:
                    try:
                        frame = decoder.next_frame()
                    except MalformedFrame as exc:
                        garbled = garbled or str(exc)
                        continue
                    if frame is None:
                        break
                    if frame.control.from_meter:  # not the echo of our own request
                        replies.append(frame)
                if len(replies) == 1 and not garbled:
                    deadline.reschedule(min(deadline.when() or 0.0, loop.time() + settle))
    except TimeoutError:
        pass
    if garbled:
        return Probe(target, Heard.SEVERAL, detail=f"garbled reply: {garbled}")
    if len(replies) > 1:
        return Probe(target, Heard.SEVERAL, detail=f"{len(replies)} replies")
    if not replies:
        if decoder.discarded:
            return Probe(target, Heard.SEVERAL, detail=f"{decoder.discarded} bytes of noise")
        return Probe(target, Heard.NOTHING)
    return _one(target, replies[0], standard)


def address_in(target: Address, frame: Frame, standard: Standard) -> Probe:
    """What one clean reply to a wildcard address read says (also ``read --scan``'s rule)."""
    return _one(target, frame, standard)


def _one(target: Address, frame: Frame, standard: Standard) -> Probe:
    header = frame.address
    try:
        reply = parse_response(frame)
    except ProtocolError as exc:
        return Probe(target, Heard.SEVERAL, detail=f"reply does not parse: {exc}")
    if isinstance(reply, ErrorResponse):
        if header.is_wildcard or not target.matches(header):
            return Probe(target, Heard.SEVERAL, detail=f"refusal from {header}")
        return Probe(target, Heard.ONE, header, "refuses the address read; header address")
    if not isinstance(reply, ReadResponse):
        return Probe(target, Heard.SEVERAL, detail=f"odd reply {reply}")
    try:
        number = catalogue(standard).by_name("meter_address").decode(reply.payload)
        assert isinstance(number, int)
        address = Address.from_int(number)
    except (ProtocolError, ValueError, AssertionError) as exc:
        return Probe(target, Heard.SEVERAL, detail=f"address data does not decode: {exc}")
    if not target.matches(address):
        return Probe(target, Heard.SEVERAL, detail=f"address {address} does not match {target}")
    if header != address and header != target:
        return Probe(target, Heard.SEVERAL, detail=f"header {header} and data {address} differ")
    echo = " (header echoes the wildcard)" if header == target else ""
    return Probe(target, Heard.ONE, address, echo.strip())


def _wildcard(suffix: str) -> Address:
    return Address("A" * (ADDRESS_DIGITS - len(suffix)) + suffix)


async def search(
    link: BusLink,
    standard: Standard,
    *,
    reply_timeout: float,
    settle: float = DEFAULT_SETTLE,
    on_progress: Callable[[Progress], None] | None = None,
) -> tuple[list[Address], list[Probe]]:
    """Every meter address on the bus, in ascending order, and the branches that could not
    be narrowed (several meters answering one full address: a duplicated address)."""
    found: set[Address] = set()
    unresolved: list[Probe] = []
    pending: deque[str] = deque([""])
    asked = 0
    while pending:
        suffix = pending.popleft()
        targets = [suffix] if not suffix and asked == 0 else [d + suffix for d in DIGITS]
        for fixed in targets:
            result = await probe(
                link, _wildcard(fixed), standard, reply_timeout=reply_timeout, settle=settle
            )
            asked += 1
            if result.heard is Heard.ONE and result.address is not None:
                found.add(result.address)
            elif result.heard is Heard.SEVERAL:
                if len(fixed) == ADDRESS_DIGITS:
                    unresolved.append(result)
                else:
                    pending.append(fixed)
            if on_progress is not None:
                on_progress(Progress(asked, tuple(sorted(found)), len(pending), result))
    return sorted(found), unresolved
