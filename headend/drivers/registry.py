"""The protocol drivers by protocol name: the one table a new protocol is added to.

Fleet files, the API and the CLI name a protocol; everything the head-end does with a meter
of that protocol goes through ``driver_for(meter.protocol)``. Adding a protocol is its folder
under ``headend/drivers/`` (with its codec under ``protocols/``) and one line here
(docs/architecture.md, "How to add a driver").
"""

from __future__ import annotations

from typing import Any

from headend.drivers.base import Driver
from headend.drivers.dlt645 import Dlt645Driver
from headend.drivers.modbus import ModbusDriver
from headend.errors import HeadendError
from protocols.dlt645 import Standard

DRIVERS: dict[str, Driver[Any]] = {
    "dlt645-2007": Dlt645Driver(Standard.DLT645_2007),
    "dlt645-1997": Dlt645Driver(Standard.DLT645_1997),
    "modbus": ModbusDriver(),
}
"""Protocol name -> driver, in the order fleet-file errors list them."""
DEFAULT_PROTOCOL = "dlt645-2007"
"""A channel's protocol when the fleet file names none."""


class UnknownProtocol(HeadendError, LookupError):
    """No driver is registered under ``protocol``; the message lists the ones that are."""

    def __init__(self, protocol: str, known: tuple[str, ...]) -> None:
        self.protocol = protocol
        self.known = known
        super().__init__(f"unknown protocol {protocol!r} (known: {', '.join(known)})")


def known_protocols() -> tuple[str, ...]:
    """The registered protocol names, in registry order (asked each time: tests register)."""
    return tuple(DRIVERS)


def driver_for(protocol: str) -> Driver[Any]:
    try:
        return DRIVERS[protocol]
    except KeyError:
        raise UnknownProtocol(protocol, known_protocols()) from None
