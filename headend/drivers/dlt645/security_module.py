"""The security module (密码机) interface that secured control runs through, and the software one.

A State Grid meter takes control orders only from a master its ESAM has authenticated, sealed
with that session's key. The keys live in the utility's security module, a network appliance
or a card with a vendor library, never in the head-end. So the driver asks a ``SecurityModule``
for three things: the identity authentication's ciphertext for a fresh random
(``authenticate``), the seal (ciphertext + MAC) of an order's data for the session the meter
answered with (``seal``), and its key version (for the audit, and to tell test keys from formal
ones). The methods are async because a real module is a round trip away.

``SoftwareSecurityModule`` holds a master key itself and follows the scheme of
``protocols.dlt645.esam_crypto``, which the simulated meters' ESAM shares: it exists for tests,
demos and sites whose meters were personalised with a key the site holds. A site plugs in its
vendor's module by naming a class with the same methods in ``[security] module`` (an import
path ``package.module:Class``; docs/configuration.md).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from protocols.dlt645.esam_crypto import (
    KEY_LENGTH,
    RANDOM1_LENGTH,
    auth_ciphertext,
    meter_key,
    seal,
    session_key,
)


@dataclass(frozen=True, slots=True)
class Authentication:
    """What the module hands over for one identity authentication (03 / 070000FF)."""

    random: bytes
    """random1, 8 bytes."""
    ciphertext: bytes
    """ciphertext1, 8 bytes: random1 under the meter's dispersed key."""


@dataclass(frozen=True, slots=True)
class Session:
    """One authenticated session with a meter's ESAM: what sealing an order needs."""

    dispersion: bytes
    authentication: Authentication
    random: bytes
    """random2, 4 bytes, from the meter's reply."""
    esam_serial: bytes


@runtime_checkable
class SecurityModule(Protocol):
    @property
    def key_version(self) -> int:
        """The version of the keys the module holds (00: test keys; sites run formal keys)."""
        ...

    async def authenticate(self, dispersion: bytes) -> Authentication:
        """random1 and ciphertext1 for the meter with this dispersion factor."""
        ...

    async def seal(self, session: Session, data: bytes) -> bytes:
        """``data`` encrypted with the session's key, then its 4-byte MAC."""
        ...


class SoftwareSecurityModule:
    """A security module in software: a master key held in the head-end's memory."""

    def __init__(self, master_key: bytes, key_version: int = 1) -> None:
        if len(master_key) != KEY_LENGTH:
            raise ValueError(f"master key: {len(master_key)} bytes, SM4 needs {KEY_LENGTH}")
        self._master = master_key
        self._version = key_version

    def __repr__(self) -> str:  # never the key
        return f"SoftwareSecurityModule(key_version={self._version})"

    @property
    def key_version(self) -> int:
        return self._version

    async def authenticate(self, dispersion: bytes) -> Authentication:
        random1 = secrets.token_bytes(RANDOM1_LENGTH)
        key = meter_key(self._master, dispersion, self._version)
        return Authentication(random1, auth_ciphertext(key, random1))

    async def seal(self, session: Session, data: bytes) -> bytes:
        key = meter_key(self._master, session.dispersion, self._version)
        session_secret = session_key(key, session.authentication.random, session.random)
        return seal(session_secret, session.random, data)
