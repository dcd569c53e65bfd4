"""The simulated meter's ESAM stand-in, sans-IO: it refuses plaintext control when secured,
accepts orders sealed for its session by the software security module, refuses forged, replayed
or unauthenticated ones (counted), and carries out meter, demand and event clears."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from headend.drivers.dlt645.security_module import Session, SoftwareSecurityModule
from protocols.dlt645 import (
    AckResponse,
    Address,
    ErrorResponse,
    Function,
    ReadRequest,
    ReadResponse,
    RelayAction,
    RelayControlRequest,
    parse_response,
)
from protocols.dlt645.admin import ClearRequest
from protocols.dlt645.esam_crypto import dispersion_factor
from protocols.dlt645.security import (
    IdentityAuthRequest,
    IdentityAuthResponse,
    SealedOrderRequest,
    SecurityErrorResponse,
    SecurityErrorWord,
    order_data,
    parse_security_response,
)
from simulators.dlt645 import SimulatedMeter, SimulatedMeterConfig, StaticSource
from simulators.dlt645.esam import EsamConfig

NOW = datetime(2026, 11, 23, 4, 0, 0, tzinfo=UTC)
WALL = datetime(2026, 11, 23, 12, 0, 0)  # noqa: DTZ001 - the meter clock (UTC+8)
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
ADDRESS = Address.parse("000000000007")
ENERGY = 512.25


def secured_meter() -> SimulatedMeter:
    source = StaticSource({"energy_active_import_total": ENERGY, "power_outage_count": 4})
    return SimulatedMeter(SimulatedMeterConfig(ADDRESS.digits, source, esam=EsamConfig(KEY)))


async def authenticate(meter: SimulatedMeter, module: SoftwareSecurityModule) -> Session:
    dispersion = dispersion_factor(ADDRESS.digits)
    auth = await module.authenticate(dispersion)
    request = IdentityAuthRequest(ADDRESS, auth.ciphertext, auth.random, dispersion)
    reply = meter.handle(request.to_frame(), NOW)
    assert reply is not None
    answer = parse_security_response(reply)
    assert isinstance(answer, IdentityAuthResponse)
    return Session(dispersion, auth, answer.random, answer.esam_serial)


async def sealed(
    module: SoftwareSecurityModule, session: Session, function: Function, code: int
) -> SealedOrderRequest:
    data = order_data(code, WALL + timedelta(minutes=10))
    return SealedOrderRequest(ADDRESS, function, await module.seal(session, data))


def test_a_secured_meter_refuses_plaintext_relay_control() -> None:
    meter = secured_meter()
    order = RelayControlRequest(ADDRESS, RelayAction.TRIP, WALL + timedelta(minutes=10))
    reply = meter.handle(order.to_frame(), NOW)
    assert reply is not None
    answer = parse_response(reply)
    assert isinstance(answer, ErrorResponse)
    assert answer.error == 0x04
    assert not meter.relay_open


async def test_an_order_sealed_for_the_session_trips_the_relay() -> None:
    meter = secured_meter()
    module = SoftwareSecurityModule(KEY)
    session = await authenticate(meter, module)
    assert session.esam_serial == dispersion_factor(ADDRESS.digits)
    order = await sealed(module, session, Function.RELAY_CONTROL, RelayAction.TRIP)
    reply = meter.handle(order.to_frame(), NOW)
    assert reply is not None
    assert isinstance(parse_response(reply), AckResponse)
    assert meter.relay_open
    assert meter.relay_command_open


async def test_a_forged_order_and_one_without_a_session_are_refused_and_counted() -> None:
    meter = secured_meter()
    module = SoftwareSecurityModule(KEY)
    stranger = SimulatedMeter(
        SimulatedMeterConfig(ADDRESS.digits, StaticSource({}), esam=EsamConfig(KEY))
    )
    session = await authenticate(stranger, module)  # a session with another meter's ESAM
    order = await sealed(module, session, Function.RELAY_CONTROL, RelayAction.TRIP)
    reply = meter.handle(order.to_frame(), NOW)
    assert reply is not None
    assert isinstance(parse_response(reply), ErrorResponse)
    own = await authenticate(meter, module)
    forged = await sealed(module, own, Function.RELAY_CONTROL, RelayAction.TRIP)
    tampered = SealedOrderRequest(ADDRESS, forged.function, forged.sealed[:-1] + b"\x00")
    reply = meter.handle(tampered.to_frame(), NOW)
    assert reply is not None
    assert isinstance(parse_response(reply), ErrorResponse)
    assert not meter.relay_open
    assert meter.esam is not None
    assert meter.esam.refusals == 2


async def test_a_module_with_the_wrong_key_fails_the_identity_authentication() -> None:
    meter = secured_meter()
    module = SoftwareSecurityModule(bytes(16))
    dispersion = dispersion_factor(ADDRESS.digits)
    auth = await module.authenticate(dispersion)
    request = IdentityAuthRequest(ADDRESS, auth.ciphertext, auth.random, dispersion)
    reply = meter.handle(request.to_frame(), NOW)
    assert reply is not None
    assert reply.control.to_byte() == 0xC3
    answer = parse_security_response(reply)
    assert isinstance(answer, SecurityErrorResponse)
    assert answer.error is SecurityErrorWord.AUTHENTICATION_FAILED


async def test_a_sealed_meter_clear_zeroes_energy_and_event_counts() -> None:
    meter = secured_meter()
    module = SoftwareSecurityModule(KEY)
    plain = ClearRequest(ADDRESS, Function.CLEAR_METER, bytes(4), bytes(4))
    reply = meter.handle(plain.to_frame(), NOW)
    assert reply is not None
    assert isinstance(parse_response(reply), ErrorResponse)
    session = await authenticate(meter, module)
    order = await sealed(module, session, Function.CLEAR_METER, Function.CLEAR_METER)
    reply = meter.handle(order.to_frame(), NOW)
    assert reply is not None
    assert isinstance(parse_response(reply), AckResponse)
    later = NOW + timedelta(minutes=1)
    for di in (0x00010000, 0x03110000):
        reply = meter.handle(ReadRequest(ADDRESS, di).to_frame(), later)
        assert reply is not None
        answer = parse_response(reply)
        assert isinstance(answer, ReadResponse)
        assert set(answer.payload) == {0x00}, f"DI {di:08X} reads zero after the clear"


@pytest.mark.parametrize("function", [Function.CLEAR_DEMAND, Function.CLEAR_EVENTS])
def test_plaintext_meters_clear_with_the_password(function: Function) -> None:
    meter = SimulatedMeter(SimulatedMeterConfig(ADDRESS.digits, StaticSource({})))
    wrong = ClearRequest(ADDRESS, function, bytes.fromhex("02111111"), bytes(4))
    reply = meter.handle(wrong.to_frame(), NOW)
    assert reply is not None
    assert isinstance(parse_response(reply), ErrorResponse)
    reply = meter.handle(ClearRequest(ADDRESS, function, bytes(4), bytes(4)).to_frame(), NOW)
    assert reply is not None
    assert isinstance(parse_response(reply), AckResponse)
    if function is Function.CLEAR_DEMAND:
        assert meter.demand_cleared
    else:
        assert meter.cleared_events == [0xFFFFFFFF]


class NowOnlySource:
    """A load model's way: values for the present only (``at`` in the past is not kept), as
    the community adapter answers."""

    def __init__(self) -> None:
        self.energy = 100.0
        self.frozen: dict[date, float] = {}

    def value(self, quantity: str, at: datetime) -> float | None:
        return self.energy if quantity == "energy_active_import_total" else None

    def frozen_energy(self, day: date) -> float | None:
        return self.frozen.get(day)


def kwh(payload: bytes) -> float:
    """XXXXXX.XX, BCD low byte first."""
    return int(payload[:4][::-1].hex()) / 100


def test_energy_counts_up_from_zero_after_a_meter_clear_of_a_present_only_model() -> None:
    """A clear subtracts the registers as they were at the clear, not what the model says
    now for a past moment (which would read zero for ever)."""
    source = NowOnlySource()
    meter = SimulatedMeter(SimulatedMeterConfig(ADDRESS.digits, source))
    clear = ClearRequest(ADDRESS, Function.CLEAR_METER, bytes(4), bytes(4))
    reply = meter.handle(clear.to_frame(), NOW)
    assert reply is not None
    assert isinstance(parse_response(reply), AckResponse)
    source.energy = 103.5
    next_day = (NOW + timedelta(days=1)).date()
    source.frozen[next_day] = 105.25  # the freeze at the next local midnight, after the clear
    later = NOW + timedelta(days=1, hours=1)
    reply = meter.handle(ReadRequest(ADDRESS, 0x00010000).to_frame(), later)
    assert reply is not None
    answer = parse_response(reply)
    assert isinstance(answer, ReadResponse)
    assert kwh(answer.payload) == 3.5
    reply = meter.handle(ReadRequest(ADDRESS, 0x05060101).to_frame(), later)
    assert reply is not None
    answer = parse_response(reply)
    assert isinstance(answer, ReadResponse)
    assert kwh(answer.payload) == 5.25
