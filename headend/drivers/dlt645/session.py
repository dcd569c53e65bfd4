"""DL/T 645 request/response over a bus link: the IO loop around the sans-IO exchange.

Every matching rule (echoes, late replies, other addresses, corrupt frames, follow-up frames,
error replies) lives in ``protocols.dlt645.exchange``; this module only sends the bytes it is
given, feeds what arrives back into it until it has an answer or the reply deadline passes,
and turns a ``Failed`` event into a ``ReadFailed`` with the reason code that completeness and
offline detection count.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, TypeVar

from headend.bus.link import BusLink
from headend.errors import ReadFailed
from protocols.dlt645 import Address, ErrorResponse, Frame, Response, Standard
from protocols.dlt645.exchange import (
    MAX_FOLLOW_UPS,
    NEED_DATA,
    Exchange,
    Failed,
    NeedData,
    Payload,
    ReadExchange,
    Reply,
    SendFollowUp,
    refusal,
)
from storage.records import FailureReason

__all__ = ["MAX_FOLLOW_UPS", "exchange", "read_payload", "refused", "send_broadcast"]

_Event = TypeVar("_Event", covariant=True)


class _Machine(Protocol[_Event]):
    def receive_data(self, data: bytes) -> None: ...
    def next_event(self) -> _Event | NeedData: ...
    def deadline_passed(self, waited: float) -> Failed: ...


async def _await_event(link: BusLink, machine: _Machine[_Event], reply_timeout: float) -> _Event:
    """Feed received bytes until the machine has something to say, or the deadline passes."""
    deadline = asyncio.get_running_loop().time() + reply_timeout
    try:
        while (event := machine.next_event()) is NEED_DATA:
            machine.receive_data(await link.receive_before(deadline))
        return event
    except TimeoutError:
        raise _read_failed(machine.deadline_passed(reply_timeout)) from None


def _read_failed(failed: Failed) -> ReadFailed:
    error = ReadFailed(FailureReason(failed.reason), failed.detail, error_word=failed.error_word)
    error.__cause__ = failed.cause
    return error


async def exchange(link: BusLink, request: Frame, *, reply_timeout: float) -> Response:
    """Send ``request`` and return the addressed meter's parsed reply."""
    machine = Exchange(request, reply_expected=True)
    await link.send(machine.send())
    event = await _await_event(link, machine, reply_timeout)
    if isinstance(event, Failed):
        raise _read_failed(event)
    if not isinstance(event, Reply):
        raise AssertionError(f"meter {request.address}: {event} awaiting a reply")
    return event.response


def refused(address: Address, what: str, reply: ErrorResponse) -> ReadFailed:
    return _read_failed(refusal(address, what, reply))


async def read_payload(
    link: BusLink,
    address: Address,
    di: int,
    standard: Standard,
    *,
    reply_timeout: float,
    request: tuple[Frame, bytes] | None = None,
) -> bytes:
    """The whole payload of one data identifier, following multi-frame replies; ``request``
    is its ``read_request`` when the caller keeps it."""
    machine = ReadExchange(address, di, standard, request=request)
    data = machine.send()
    loop = asyncio.get_running_loop()
    while True:
        await link.send(data)
        # ``_await_event`` inlined: this is every scheduled read's path, one frame less. A
        # frame just sent has its own exchange with no byte yet, so it is not asked for an
        # event before the first bytes arrive. The deadline is the link's (one timer per
        # bus), not an ``asyncio.timeout`` per exchange.
        deadline = loop.time() + reply_timeout
        try:
            machine.receive_data(await link.receive_before(deadline))
            while (event := machine.next_event()) is NEED_DATA:
                machine.receive_data(await link.receive_before(deadline))
        except TimeoutError:
            raise _read_failed(machine.deadline_passed(reply_timeout)) from None
        if isinstance(event, Payload):
            return event.data
        if isinstance(event, Failed):
            raise _read_failed(event)
        if not isinstance(event, SendFollowUp):
            raise AssertionError(f"meter {address}: {event} in a read")
        data = event.data


async def send_broadcast(link: BusLink, frame: Frame) -> None:
    """A frame no meter answers (time sync, freeze): send it and keep the line quiet after."""
    await link.send(Exchange(frame, reply_expected=False).send())
