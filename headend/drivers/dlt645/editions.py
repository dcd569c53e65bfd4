"""The DL/T 645 editions this driver serves, by protocol name, and a meter's typed address.

The protocol names (``dlt645-2007``, ``dlt645-1997``) are this table's keys, not strings
compared across the head-end: the registry, the CLI and the readers all look them up here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from headend.drivers.settings import MeterSettings
from headend.errors import ReadFailed
from protocols.dlt645 import Address, InvalidAddress, Standard
from storage.records import FailureReason

STANDARDS: Mapping[str, Standard] = MappingProxyType(
    {"dlt645-2007": Standard.DLT645_2007, "dlt645-1997": Standard.DLT645_1997}
)
"""Protocol name -> edition; the order is the one fleet files and ``--help`` list."""


def protocol_name(standard: Standard) -> str:
    return f"dlt645-{standard.value}"


def standard_of(protocol: str) -> Standard:
    try:
        return STANDARDS[protocol]
    except KeyError:
        raise ValueError(
            f"{protocol!r} is not a DL/T 645 edition (known: {', '.join(STANDARDS)})"
        ) from None


def address_of(meter: MeterSettings) -> Address:
    """The meter's address as the codec takes it.

    A DL/T 645 meter cannot join the fleet without a valid address (``Dlt645Driver``'s meter
    check), so this refuses only a meter that skipped validation, as a failed read naming it.
    """
    if meter.address is None:
        raise ReadFailed(
            FailureReason.UNSUPPORTED, f"meter {meter.id}: a DL/T 645 meter needs its address"
        )
    try:
        return Address.parse(meter.address)
    except InvalidAddress as exc:
        raise ReadFailed(FailureReason.UNSUPPORTED, f"meter {meter.id}: {exc}") from None
