"""One connected charger: its OCPP 1.6 messages answered, its sessions and draw kept.

The ocpp library routes and validates; this class holds what the curb needs (the charger's
transactions, in arrival order, and its latest power) and hands MeterValues to the central
as samples. Nothing a charger sends may end the connection, let alone the process: a frame
that is not OCPP is dropped and counted, a call the schemas refuse is answered with the
library's CallError and counted, and our handler failing is a CallError too (the library).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ocpp.exceptions import OCPPError
from ocpp.messages import MessageType, unpack
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    ChargingProfileKindType,
    ChargingProfilePurposeType,
    ChargingRateUnitType,
    RegistrationStatus,
)

from headend.ocpp.measurands import Sample, UnusedSample, samples

log = logging.getLogger(__name__)

_transaction_ids = itertools.count(1)


@dataclass(slots=True)
class Transaction:
    id: int
    connector: int
    id_tag: str
    meter_start_wh: int


class CentralHooks(Protocol):
    """What the central system does with what a charger says."""

    def meter_values(
        self, charger: str, found: list[Sample], skipped: list[UnusedSample]
    ) -> None: ...

    def sessions_changed(self, charger: str) -> None: ...

    def rejected_frame(self, charger: str, why: str) -> None: ...


class ChargerSession(ChargePoint):  # type: ignore[misc]
    """The central side of one charger's WebSocket (the library names both ends ChargePoint)."""

    def __init__(
        self,
        charger: str,
        connection: Any,
        hooks: CentralHooks,
        *,
        heartbeat_interval: int,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        response_timeout: float = 30.0,
    ) -> None:
        super().__init__(charger, connection, response_timeout=response_timeout)
        self.hooks = hooks
        self.heartbeat_interval = heartbeat_interval
        self.now = now
        self.transactions: dict[int, Transaction] = {}
        self.draw_kw = 0.0
        self.status: dict[int, str] = {}
        self.booted = False

    # -- robustness ---------------------------------------------------------------------------

    async def route_message(self, raw_msg: str | bytes) -> None:
        """The library's routing, with every refused frame counted (it only logs them)."""
        try:
            msg = unpack(raw_msg)
        except OCPPError as exc:
            self.hooks.rejected_frame(self.id, f"not OCPP: {exc}")
            return
        if msg.message_type_id != MessageType.Call:
            self._response_queue.put_nowait(msg)
            return
        try:
            await self._handle_call(msg)
        except OCPPError as error:
            self.hooks.rejected_frame(self.id, f"{msg.action}: {type(error).__name__}: {error}")
            await self._send(msg.create_call_error(error).to_json())

    def _stamp(self) -> str:
        return self.now().isoformat()

    # -- the charger's calls ------------------------------------------------------------------

    @on(Action.boot_notification)
    def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        self.booted = True
        return call_result.BootNotification(
            current_time=self._stamp(),
            interval=self.heartbeat_interval,
            status=RegistrationStatus.accepted,
        )

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=self._stamp())

    @on(Action.status_notification)
    def on_status_notification(
        self, connector_id: int, status: str, **_: Any
    ) -> call_result.StatusNotification:
        self.status[connector_id] = status
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str) -> call_result.Authorize:
        # Who may charge is the charger operator's business; the curb only limits how fast.
        return call_result.Authorize(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.start_transaction)
    def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, **_: Any
    ) -> call_result.StartTransaction:
        transaction = Transaction(next(_transaction_ids), connector_id, id_tag, meter_start)
        self.transactions[transaction.id] = transaction
        self.hooks.sessions_changed(self.id)
        return call_result.StartTransaction(
            transaction_id=transaction.id,
            id_tag_info={"status": AuthorizationStatus.accepted},
        )

    @on(Action.stop_transaction)
    def on_stop_transaction(self, transaction_id: int, **_: Any) -> call_result.StopTransaction:
        if self.transactions.pop(transaction_id, None) is not None and not self.transactions:
            self.draw_kw = 0.0
        self.hooks.sessions_changed(self.id)
        return call_result.StopTransaction(id_tag_info={"status": AuthorizationStatus.accepted})

    @on(Action.meter_values)
    def on_meter_values(self, meter_value: list[dict[str, Any]], **_: Any) -> Any:
        found, skipped = samples(meter_value)
        powers = [s.value for s in found if s.quantity == "power_active_total"]
        if powers:
            self.draw_kw = powers[-1]
        self.hooks.meter_values(self.id, found, skipped)
        return call_result.MeterValues()

    # -- our calls ----------------------------------------------------------------------------

    async def set_limit(self, transaction: Transaction, amps: float, profile_id: int) -> str:
        """A TxProfile for the running transaction; the charger's answer status."""
        profile = {
            "charging_profile_id": profile_id,
            "stack_level": 1,
            "charging_profile_purpose": ChargingProfilePurposeType.tx_profile,
            "charging_profile_kind": ChargingProfileKindType.relative,
            "transaction_id": transaction.id,
            "charging_schedule": {
                "charging_rate_unit": ChargingRateUnitType.amps,
                "charging_schedule_period": [{"start_period": 0, "limit": round(amps, 1)}],
            },
        }
        request = call.SetChargingProfile(
            connector_id=transaction.connector, cs_charging_profiles=profile
        )
        return await self._status_of(request)

    async def clear_limit(self, profile_id: int) -> str:
        return await self._status_of(call.ClearChargingProfile(id=profile_id))

    async def _status_of(self, request: Any) -> str:
        response = await self.call(request, suppress=False)
        return str(response.status)
