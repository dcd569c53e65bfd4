"""Interoperability quirks of real meters, as faults a scenario or a test switches on.

Each is a frozen dataclass that sits in the fault plan like a wire fault (so it has a window
and a target), but changes *what* the meter answers rather than how the reply sounds:

- ``RefusesBlocks``: many meters answer a block read (``0201FF00``, ``0001FF00``) with an
  error word, an empty data field or not at all, while every single item reads fine.
- ``MoreTariffs``: an energy block with more than the catalogue's four tariffs (the meter
  sends total + ``tariffs`` values; the extra tariffs carry 0).
- ``WideValue``: one identifier sent in more bytes than the standard's format (e.g. a voltage
  in 3 bytes), zero-padded on the high side so the number itself is unchanged.
- ``EchoesWildcard``: a 1997 meter that answers a wildcard-addressed read with the request's
  address (``AAAAAAAAAAAA``) in the header instead of its own; only the data says who it is.

``apply_to_payload`` and ``refusal_of`` are the meter's hooks (``simulators.dlt645.meter``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.dlt645 import DataItem, ErrorWord
from simulators.dlt645.errors import SimulatorConfigError


class RefusalStyle(enum.StrEnum):
    ERROR_WORD = "error_word"
    """An error reply (the word ``error_word``, default "no requested data")."""
    EMPTY = "empty"
    """A normal reply with the identifier and no value bytes."""
    SILENT = "silent"
    """No reply at all, as for an identifier the meter does not know."""


@dataclass(frozen=True, slots=True)
class RefusesBlocks:
    style: RefusalStyle = RefusalStyle.ERROR_WORD
    error_word: int = int(ErrorWord.NO_DATA)

    def __post_init__(self) -> None:
        if not 0 <= self.error_word <= 0xFF:
            raise SimulatorConfigError(f"refuses_blocks: error word {self.error_word} not 0..255")


@dataclass(frozen=True, slots=True)
class MoreTariffs:
    tariffs: int

    def __post_init__(self) -> None:
        if not 5 <= self.tariffs <= 14:
            raise SimulatorConfigError(f"more_tariffs: tariffs {self.tariffs} not 5..14")


@dataclass(frozen=True, slots=True)
class WideValue:
    di: int
    length: int

    def __post_init__(self) -> None:
        if not 1 <= self.length <= 32:
            raise SimulatorConfigError(f"wide_value: length {self.length} not 1..32")


@dataclass(frozen=True, slots=True)
class EchoesWildcard:
    pass


Behaviour = RefusesBlocks | MoreTariffs | WideValue | EchoesWildcard

_TARIFF_SUFFIX = "_total"


def is_tariff_block(item: DataItem) -> bool:
    """An energy block of total + tariffs (``0001FF00`` and its kin), not a phase block."""
    return item.is_block and item.members[0].endswith(_TARIFF_SUFFIX) and item.kind == "energy"


def refusal_of(behaviours: Sequence[object], item: DataItem) -> RefusesBlocks | None:
    """The block refusal that applies to a read of ``item``, if any."""
    if not item.is_block or item.history:
        return None
    for behaviour in behaviours:
        if isinstance(behaviour, RefusesBlocks):
            return behaviour
    return None


def apply_to_payload(
    behaviours: Sequence[object], item: DataItem, di: int, payload: bytes
) -> bytes:
    """The payload as a quirky meter sends it for ``di`` (``item``'s identifier)."""
    for behaviour in behaviours:
        if isinstance(behaviour, MoreTariffs) and is_tariff_block(item) and not item.history:
            sent = len(payload) // item.format.length
            missing = 1 + behaviour.tariffs - sent
            payload += item.format.encode(0.0) * max(0, missing)
        elif isinstance(behaviour, WideValue) and behaviour.di == di:
            payload = payload + bytes(max(0, behaviour.length - len(payload)))
    return payload
