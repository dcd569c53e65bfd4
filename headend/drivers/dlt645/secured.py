"""Secured control: identity authentication with the meter's ESAM, then the order sealed by the
security module (relay control 1C, meter clear 1A, event clear 1B with password level 98).

The two exchanges run back to back in one bus job, so no other frame to the meter comes
between the authentication and the order (a meter keeps one session). Which meters take orders
this way is per meter (``control = "secured"``, the State Grid default; docs/configuration.md).
"""

from __future__ import annotations

from datetime import datetime

from headend.bus.link import BusLink
from headend.drivers.dlt645.editions import address_of
from headend.drivers.dlt645.security_module import SecurityModule, Session
from headend.drivers.dlt645.session import exchange, refused
from headend.drivers.settings import MeterSettings
from headend.errors import ReadFailed
from protocols.dlt645 import AckResponse, Control, ErrorResponse, Frame, Function
from protocols.dlt645.esam_crypto import dispersion_factor
from protocols.dlt645.security import (
    SECURED_LEVEL,
    SECURITY_FUNCTION,
    IdentityAuthRequest,
    IdentityAuthResponse,
    SealedOrderRequest,
    SecurityErrorWord,
    order_data,
    parse_security_response,
)
from protocols.errors import ProtocolError
from storage.records import FailureReason

SECURED = "secured"
PLAINTEXT = "plaintext"
CONTROL_MODES = (SECURED, PLAINTEXT)
"""Values of a meter's ``control`` setting."""


def no_module(meter_id: str) -> ReadFailed:
    return ReadFailed(
        FailureReason.UNSUPPORTED,
        f'meter {meter_id}: takes secured control (control = "secured") but the fleet file '
        "names no security module ([security] module)",
    )


def module_failed(meter_id: str, step: str, exc: Exception) -> ReadFailed:
    """The security module (a vendor's, over its network link) could not do its part: the
    order fails with the reason, nothing is sent, and the bus goes on with other work."""
    return ReadFailed(
        FailureReason.UNSUPPORTED,
        f"meter {meter_id}: the security module could not {step}: {type(exc).__name__}: {exc}",
    )


async def authenticate(
    link: BusLink,
    meter: MeterSettings,
    security: SecurityModule,
    operator: bytes,
    *,
    reply_timeout: float,
) -> Session:
    """Identity authentication (03 / 070000FF): the session the order is then sealed for."""
    address = address_of(meter)
    dispersion = dispersion_factor(address.digits)
    try:
        auth = await security.authenticate(dispersion)
    except Exception as exc:  # a vendor module is a network peer: its failure fails the order
        raise module_failed(meter.id, "authenticate", exc) from exc
    request = IdentityAuthRequest(address, auth.ciphertext, auth.random, dispersion, operator)
    reply = await exchange(link, request.to_frame(), reply_timeout=reply_timeout)
    if isinstance(reply, ErrorResponse):
        word = SecurityErrorWord(reply.error)
        raise ReadFailed(
            FailureReason.ERROR_RESPONSE,
            f"meter {meter.id}: ESAM refused the identity authentication: security error word "
            f"0x{reply.error:04X} ({word.name or 'none'}); check the security module's key "
            f"(key version {security.key_version})",
            error_word=reply.error,
        )
    if not isinstance(reply, AckResponse) or reply.function != SECURITY_FUNCTION:
        raise ReadFailed(FailureReason.MALFORMED, f"meter {meter.id}: odd reply to 03/070000FF")
    frame = Frame(address, Control(SECURITY_FUNCTION, from_meter=True), reply.data)
    try:
        answer = parse_security_response(frame)
    except ProtocolError as exc:
        raise ReadFailed(FailureReason.MALFORMED, f"meter {meter.id}: {exc}") from None
    if not isinstance(answer, IdentityAuthResponse):  # an error is an ErrorResponse above
        raise ReadFailed(FailureReason.MALFORMED, f"meter {meter.id}: odd reply to 03/070000FF")
    return Session(dispersion, auth, answer.random, answer.esam_serial)


async def send_sealed(
    link: BusLink,
    meter: MeterSettings,
    security: SecurityModule,
    function: Function,
    code: int,
    valid_until: datetime,
    what: str,
    *,
    password: bytes,
    operator: bytes,
    tail: bytes = b"",
    reply_timeout: float,
) -> Session:
    """Authenticate, then send one sealed order; raises on a refusal of either."""
    address = address_of(meter)
    session = await authenticate(link, meter, security, operator, reply_timeout=reply_timeout)
    try:
        sealed = await security.seal(session, order_data(code, valid_until, tail))
    except Exception as exc:
        raise module_failed(meter.id, "seal", exc) from exc
    level = bytes((SECURED_LEVEL,)) + password[1:]
    request = SealedOrderRequest(address, function, sealed, level, operator)
    reply = await exchange(link, request.to_frame(), reply_timeout=reply_timeout)
    if isinstance(reply, ErrorResponse):
        raise refused(address, f"sealed {what}", reply)
    if not isinstance(reply, AckResponse):
        raise ReadFailed(FailureReason.MALFORMED, f"meter {meter.id}: odd reply to {what}")
    return session


def plaintext_hint(meter: MeterSettings, error: ReadFailed) -> ReadFailed:
    """A plaintext order refused as unauthorised, with the likely cause named."""
    if error.error_word is None or not error.error_word & 0x04:
        return error
    return ReadFailed(
        error.reason,
        f"{error.detail}: a wrong password, or a secured (State Grid) meter that refuses "
        f'plaintext control (then set control = "secured" for meter {meter.id} and name a '
        "[security] module)",
        error_word=error.error_word,
    )
