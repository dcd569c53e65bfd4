"""A stand-in for a site's vendor security module adapter, loaded by import path from a fleet
file's ``[security] module`` (``tests.support.vendor_security:VendorModule``)."""

from __future__ import annotations

from headend.drivers.dlt645.security_module import (
    Authentication,
    Session,
    SoftwareSecurityModule,
)


class VendorModule:
    """Takes its options as a vendor adapter would (``host``, a hex key); delegates the work."""

    def __init__(self, *, key_version: int, host: str, key_hex: str) -> None:
        self.host = host
        self._inner = SoftwareSecurityModule(bytes.fromhex(key_hex), key_version)

    @property
    def key_version(self) -> int:
        return self._inner.key_version

    async def authenticate(self, dispersion: bytes) -> Authentication:
        return await self._inner.authenticate(dispersion)

    async def seal(self, session: Session, data: bytes) -> bytes:
        return await self._inner.seal(session, data)


class NotAModule:
    def __init__(self, *, key_version: int) -> None:
        self.key_version = key_version
