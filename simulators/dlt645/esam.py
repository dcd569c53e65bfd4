"""A simulated meter's ESAM (embedded secure access module): identity authentication and the
opening of sealed orders, with the software key scheme of ``protocols.dlt645.esam_crypto``.

A secured meter (``SimulatedMeterConfig.esam``) refuses plaintext relay control, meter clear and
event clear; it takes them after an identity authentication (03 / 070000FF) whose ciphertext
proves the master holds this meter's key, sealed with that session's key. Each authentication
replaces the previous session, as in a real ESAM; a refused one ends it.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from protocols.dlt645 import Address
from protocols.dlt645.esam_crypto import (
    KEY_LENGTH,
    auth_matches,
    dispersion_factor,
    meter_key,
    session_key,
    unseal,
)
from protocols.dlt645.security import (
    IdentityAuthRequest,
    IdentityAuthResponse,
    OpenedOrder,
    SealedOrderRequest,
    SecurityErrorResponse,
    SecurityErrorWord,
    parse_order_data,
)
from protocols.errors import ProtocolError
from simulators.dlt645.errors import SimulatorConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EsamConfig:
    """The ESAM of one secured meter: the master key it was personalised with, and its serial."""

    master_key: bytes
    key_version: int = 1
    serial: bytes = b""
    """8 bytes; empty: derived from the meter's address (``00 00`` + the address digits)."""

    def __post_init__(self) -> None:
        if len(self.master_key) != KEY_LENGTH:
            raise SimulatorConfigError(f"ESAM master key: {len(self.master_key)} bytes, needs 16")
        if not 0 <= self.key_version <= 0xFF:
            raise SimulatorConfigError(f"ESAM key version {self.key_version}: not 0..255")
        if self.serial and len(self.serial) != 8:
            raise SimulatorConfigError(f"ESAM serial: {len(self.serial)} bytes, needs 8")


@dataclass(slots=True)
class _Session:
    random2: bytes
    key: bytes


@dataclass(slots=True)
class Esam:
    config: EsamConfig
    address: Address
    rng: random.Random = field(default_factory=random.Random)
    authentications: int = 0
    refusals: int = 0
    """Authentications and sealed orders refused (for tests: a forged order is counted)."""
    _session: _Session | None = None

    @property
    def serial(self) -> bytes:
        return self.config.serial or dispersion_factor(self.address.digits)

    def authenticate(
        self, request: IdentityAuthRequest
    ) -> IdentityAuthResponse | SecurityErrorResponse:
        """Check ciphertext1 against this meter's key; a new session on success."""
        self._session = None
        dispersion = dispersion_factor(self.address.digits)
        key = meter_key(self.config.master_key, dispersion, self.config.key_version)
        if request.dispersion != dispersion or not auth_matches(
            key, request.random, request.ciphertext
        ):
            self.refusals += 1
            log.info("meter %s: ESAM identity authentication refused", self.address)
            return SecurityErrorResponse(self.address, SecurityErrorWord.AUTHENTICATION_FAILED)
        random2 = self.rng.randbytes(4)
        self._session = _Session(random2, session_key(key, request.random, random2))
        self.authentications += 1
        return IdentityAuthResponse(self.address, random2, self.serial)

    def open(self, request: SealedOrderRequest) -> OpenedOrder | None:
        """The order's data, or None (refused: no session, forged or corrupted)."""
        session = self._session
        if session is None:
            self.refusals += 1
            log.info("meter %s: sealed order without an identity authentication", self.address)
            return None
        try:
            opened = parse_order_data(unseal(session.key, session.random2, request.sealed))
        except ProtocolError as exc:  # SealBroken, or opened data that is no order
            self.refusals += 1
            log.info("meter %s: sealed order refused: %s", self.address, exc)
            return None
        return opened
