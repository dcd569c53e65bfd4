"""The software key scheme shared by the head-end's software security module and the simulated
meters' ESAM stand-in: SM4 key dispersion, identity authentication, sealing of control data.

A State Grid meter's ESAM and the utility's security module (密码机) share a master key; the
meter's own key is dispersed from it with the meter's dispersion factor (``0000`` + the
12-digit address), so one leaked meter key opens one meter. The real algorithms and keys are
the utility's and are not public: this scheme follows the same steps with SM4 (GB/T 32907) so
that the whole path (authenticate, seal, verify, act) can be run and tested without a 密码机.
A site with a real module plugs in the vendor's implementation instead
(``headend.drivers.dlt645.security_module``).

The steps, all SM4 with 16-byte blocks:

- meter key = ECB(master, dispersion || key version || 7 zero bytes)
- identity authentication: the module draws random1 (8 bytes) and sends
  ciphertext1 = ECB(meter key, random1 || 8 zero bytes)[:8]; the ESAM recomputes it and, when it
  matches, answers random2 (4 bytes) and its serial number.
- session key = ECB(meter key, random1 || random2 || 4 zero bytes): bound to one authentication.
- sealing: ciphertext = CBC(session key, IV 0, data padded 80 00..), MAC = the last CBC block of
  (random2 || ciphertext) under the session key, first 4 bytes.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from protocols.dlt645.errors import EncodeError
from protocols.errors import RemoteProtocolError

BLOCK = 16
KEY_LENGTH = 16
RANDOM1_LENGTH = 8
RANDOM2_LENGTH = 4
CIPHERTEXT1_LENGTH = 8
DISPERSION_LENGTH = 8
MAC_LENGTH = 4


class SealBroken(RemoteProtocolError):
    """Sealed data whose MAC or padding does not verify: forged, corrupted or another session's."""


def _ecb(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def _cbc(key: bytes, data: bytes) -> bytes:
    encryptor = Cipher(algorithms.SM4(key), modes.CBC(bytes(BLOCK))).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def _cbc_decrypt(key: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.SM4(key), modes.CBC(bytes(BLOCK))).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 method 2: 0x80 then zeros to a whole block (always at least one byte)."""
    padded = data + b"\x80"
    return padded + bytes(-len(padded) % BLOCK)


def _unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise SealBroken("sealed data: bad padding")
    return stripped[:-1]


def dispersion_factor(address_digits: str) -> bytes:
    """``0000`` + the 12 address digits, as the 密码机 interfaces take it (8 bytes)."""
    if len(address_digits) != 12 or not address_digits.isdigit():
        raise EncodeError(f"dispersion factor: address {address_digits!r} is not 12 digits")
    return bytes.fromhex("0000" + address_digits)


def meter_key(master: bytes, dispersion: bytes, key_version: int) -> bytes:
    if len(master) != KEY_LENGTH:
        raise EncodeError(f"master key: {len(master)} bytes, SM4 needs {KEY_LENGTH}")
    if len(dispersion) != DISPERSION_LENGTH:
        raise EncodeError(f"dispersion factor: {len(dispersion)} bytes, needs 8")
    if not 0 <= key_version <= 0xFF:
        raise EncodeError(f"key version {key_version}: must be 0..255")
    return _ecb(master, dispersion + bytes((key_version,)) + bytes(7))


def auth_ciphertext(key: bytes, random1: bytes) -> bytes:
    """ciphertext1 of the identity authentication for ``random1``."""
    if len(random1) != RANDOM1_LENGTH:
        raise EncodeError(f"random1: {len(random1)} bytes, needs {RANDOM1_LENGTH}")
    return _ecb(key, random1 + bytes(8))[:CIPHERTEXT1_LENGTH]


def auth_matches(key: bytes, random1: bytes, ciphertext1: bytes) -> bool:
    return hmac.compare_digest(auth_ciphertext(key, random1), ciphertext1)


def session_key(key: bytes, random1: bytes, random2: bytes) -> bytes:
    if len(random2) != RANDOM2_LENGTH:
        raise EncodeError(f"random2: {len(random2)} bytes, needs {RANDOM2_LENGTH}")
    return _ecb(key, random1 + random2 + bytes(4))


def _mac(session: bytes, random2: bytes, ciphertext: bytes) -> bytes:
    return _cbc(session, _pad(random2 + ciphertext))[-BLOCK:][:MAC_LENGTH]


def seal(session: bytes, random2: bytes, data: bytes) -> bytes:
    """``data`` encrypted, then its 4-byte MAC: what the 1C/1A/1B data field carries."""
    ciphertext = _cbc(session, _pad(data))
    return ciphertext + _mac(session, random2, ciphertext)


def unseal(session: bytes, random2: bytes, sealed: bytes) -> bytes:
    """The data inside ``sealed``; ``SealBroken`` when the MAC does not verify."""
    ciphertext, mac = sealed[:-MAC_LENGTH], sealed[-MAC_LENGTH:]
    if not ciphertext or len(ciphertext) % BLOCK or len(mac) != MAC_LENGTH:
        raise SealBroken(f"sealed data: {len(sealed)} bytes is not whole blocks plus a MAC")
    if not hmac.compare_digest(_mac(session, random2, ciphertext), mac):
        raise SealBroken("sealed data: MAC does not verify")
    return _unpad(_cbc_decrypt(session, ciphertext))
