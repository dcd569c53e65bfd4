"""The 12-digit meter address, kept in the order printed on the meter's nameplate.

Strings are always human order ("123456789012"); only ``to_wire``/``from_wire`` deal with the
low-byte-first wire order. Some public libraries take address strings in wire order, which
silently swaps meters; we refuse that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from protocols.dlt645.errors import InvalidAddress

ADDRESS_LENGTH = 6
"""Bytes of the address field."""

_DIGITS = re.compile(r"A*[0-9]*")


@dataclass(frozen=True, slots=True, order=True)
class Address:
    """A meter address: 12 BCD digits, or leading 'A' wildcard digits for abbreviated addressing.

    ``999999999999`` is the broadcast address (time sync, freeze: no meter replies);
    ``AAAAAAAAAAAA`` addresses whichever single meter is on the bus (read/write address).
    """

    digits: str

    BROADCAST: ClassVar[Address]
    WILDCARD: ClassVar[Address]

    def __post_init__(self) -> None:
        if len(self.digits) != 2 * ADDRESS_LENGTH or not _DIGITS.fullmatch(self.digits):
            raise InvalidAddress(
                f"meter address {self.digits!r}: need 12 digits 0-9 (in nameplate order), "
                "optionally starting with 'A' wildcard digits"
            )

    @classmethod
    def parse(cls, text: str) -> Address:
        """Read an address as printed on the meter; lower-case 'a' wildcards are accepted."""
        return cls(text.upper())

    @classmethod
    def from_int(cls, number: int) -> Address:
        """Address from its numeric value (e.g. the decoded 04000401 meter-address item)."""
        if not 0 <= number <= 999_999_999_999:
            raise InvalidAddress(f"meter address {number}: must be 0..999999999999")
        return cls(f"{number:012d}")

    @classmethod
    def from_wire(cls, raw: bytes) -> Address:
        """Address from the 6 address-field bytes, low byte first."""
        if len(raw) != ADDRESS_LENGTH:
            raise InvalidAddress(f"address field {raw.hex(' ')}: need {ADDRESS_LENGTH} bytes")
        text = bytes(reversed(raw)).hex().upper()
        try:
            return cls(text)
        except InvalidAddress:
            raise InvalidAddress(
                f"address field {raw.hex(' ')}: not BCD digits or leading 0xA wildcards"
            ) from None

    def to_wire(self) -> bytes:
        """The 6 address-field bytes, low byte first."""
        return bytes(reversed(bytes.fromhex(self.digits)))

    @property
    def is_broadcast(self) -> bool:
        return self.digits == "999999999999"

    @property
    def is_wildcard(self) -> bool:
        """True if any digit is a wildcard: the request may reach a meter it does not name."""
        return self.digits.startswith("A")

    def matches(self, meter: Address) -> bool:
        """Whether a frame sent to this address is meant for ``meter`` (the simulator's test).

        Broadcast reaches everyone; a wildcard digit matches any digit; otherwise all digits
        must be equal. A meter must stay silent for any other address.
        """
        if self.is_broadcast:
            return True
        return all(
            mine in ("A", theirs) for mine, theirs in zip(self.digits, meter.digits, strict=True)
        )

    def __str__(self) -> str:
        return self.digits


Address.BROADCAST = Address("999999999999")
Address.WILDCARD = Address("AAAAAAAAAAAA")
