"""One simulated charge point with one EV: boot, arrive, charge under its profile, leave.

Built on the same ocpp library as the central system, from the other end. The EV draws
``min(max_current, profile limit)`` per phase until its energy need is met. ``mode`` is how it
treats a SetChargingProfile: ``follow`` (Accepted, obeyed), ``reject`` (Rejected),
``ignore`` (Accepted, not obeyed: the fault a later slice must detect) and ``unsupported``
(no smart charging: the library answers NotImplemented). The charger's truth (its draw and
delivered energy) is kept for tests to compare with what the head-end stored.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, ChargingProfileStatus, ClearChargingProfileStatus

Mode = Literal["follow", "reject", "ignore", "unsupported"]


@dataclass(slots=True)
class EvSpec:
    charger: str
    max_current: float
    energy_kwh: float
    arrival_s: float = 0.0
    """Real seconds after connecting that the EV plugs in."""
    mode: Mode = "follow"
    password: str | None = None
    volts: float = 230.0
    phases: int = 3


@dataclass(slots=True)
class ChargerTruth:
    limit: float | None = None
    """The limit the charger obeys now (None: its own maximum)."""
    profiles: list[float] = field(default_factory=list)
    """Every limit received, obeyed or not, in order."""
    delivered_kwh: float = 0.0
    draw_kw: float = 0.0


class _Endpoint(ChargePoint):  # type: ignore[misc]
    def __init__(self, spec: EvSpec, connection: Any, truth: ChargerTruth) -> None:
        super().__init__(spec.charger, connection)
        self.spec = spec
        self.truth = truth

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any]
    ) -> call_result.SetChargingProfile:
        if self.spec.mode == "unsupported":
            raise NotImplementedError  # never reached: see route_map below
        limit = float(
            cs_charging_profiles["charging_schedule"]["charging_schedule_period"][0]["limit"]
        )
        self.truth.profiles.append(limit)
        if self.spec.mode == "reject":
            return call_result.SetChargingProfile(status=ChargingProfileStatus.rejected)
        if self.spec.mode == "follow":
            self.truth.limit = limit
        return call_result.SetChargingProfile(status=ChargingProfileStatus.accepted)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **_: Any) -> call_result.ClearChargingProfile:
        if self.spec.mode == "follow":
            self.truth.limit = None
        return call_result.ClearChargingProfile(status=ClearChargingProfileStatus.accepted)


class SimulatedCharger:
    def __init__(self, spec: EvSpec, url: str, *, meter_interval: float = 0.2) -> None:
        """``url`` is the central's base (``ws://127.0.0.1:9010``)."""
        self.spec = spec
        self.url = f"{url.rstrip('/')}/{spec.charger}"
        self.meter_interval = meter_interval
        self.truth = ChargerTruth()
        self.charging = asyncio.Event()
        """Set once the central accepted the transaction."""
        self.metered = asyncio.Event()
        """Set once the central answered the first MeterValues (it has the draw)."""
        self.done = asyncio.Event()
        """Set once the EV's need is met and the transaction stopped."""

    def draw_kw(self) -> float:
        amps = self.spec.max_current if self.truth.limit is None else self.truth.limit
        amps = min(amps, self.spec.max_current)
        return amps * self.spec.phases * self.spec.volts / 1000.0

    async def run(self) -> None:
        headers = {}
        if self.spec.password is not None:
            token = base64.b64encode(f"{self.spec.charger}:{self.spec.password}".encode())
            headers["Authorization"] = "Basic " + token.decode()
        async with websockets.connect(
            self.url,
            subprotocols=[websockets.Subprotocol("ocpp1.6")],
            additional_headers=headers,
        ) as connection:
            endpoint = _Endpoint(self.spec, connection, self.truth)
            if self.spec.mode == "unsupported":
                endpoint.route_map.pop(Action.set_charging_profile, None)
            async with asyncio.TaskGroup() as group:
                listener = group.create_task(endpoint.start())
                await self._session(endpoint)
                listener.cancel()

    async def _session(self, endpoint: _Endpoint) -> None:
        await endpoint.call(
            call.BootNotification(charge_point_model="SimEV", charge_point_vendor="headend")
        )
        await endpoint.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
        await asyncio.sleep(self.spec.arrival_s)  # the EV's arrival time (simulated time)
        await endpoint.call(call.Authorize(id_tag=f"EV-{self.spec.charger}"))
        started = await endpoint.call(
            call.StartTransaction(
                connector_id=1, id_tag=f"EV-{self.spec.charger}", meter_start=0, timestamp=_now()
            )
        )
        self.charging.set()
        await endpoint.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )
        need = self.spec.energy_kwh
        while self.truth.delivered_kwh < need:
            self.truth.draw_kw = self.draw_kw()
            await endpoint.call(call.MeterValues(connector_id=1, meter_value=[self._sample()]))
            self.metered.set()
            await asyncio.sleep(self.meter_interval)  # the meter's sampling period
            self.truth.delivered_kwh += self.truth.draw_kw * self.meter_interval / 3600.0
        self.truth.draw_kw = 0.0
        await endpoint.call(
            call.StopTransaction(
                transaction_id=started.transaction_id,
                meter_stop=round(self.truth.delivered_kwh * 1000),
                timestamp=_now(),
            )
        )
        self.done.set()

    def _sample(self) -> dict[str, Any]:
        amps = self.truth.draw_kw * 1000.0 / (self.spec.phases * self.spec.volts)
        return {
            "timestamp": _now(),
            "sampled_value": [
                {
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "Wh",
                    "value": f"{self.truth.delivered_kwh * 1000:.1f}",
                },
                {
                    "measurand": "Power.Active.Import",
                    "unit": "W",
                    "value": f"{self.truth.draw_kw * 1000:.1f}",
                },
                {"measurand": "Current.Import", "phase": "L1", "unit": "A", "value": f"{amps:.2f}"},
            ],
        }


def _now() -> str:
    return datetime.now(UTC).isoformat()
