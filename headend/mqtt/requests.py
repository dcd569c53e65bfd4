"""On-demand requests arriving over MQTT: ``read`` and ``clock``, parsed and answered here.

Never relay control: switching a supply needs the API's operator token and audit. The bridge
has checked the requester's token and rate before a request gets here. Its work goes in the
billing lane, never the control lane: MQTT requests share the bus with billing reads by weighted
round robin instead of overtaking them without bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from headend.bus.lanes import Lane
from headend.mqtt.messages import reading_to_json
from storage.records import Reading


class OnDemandReads(Protocol):
    """``headend.commands.operations.Operations``, as far as MQTT may use it."""

    async def read_now(
        self, meter_id: str, quantities: Sequence[str] | None = None, *, lane: Lane = ...
    ) -> list[Reading]: ...


class ClockChecks(Protocol):
    """``headend.commands.clock.ClockCommands``, as far as MQTT may use it."""

    async def check_clock(
        self, meter_id: str, *, user: str = ..., lane: Lane | None = ...
    ) -> float: ...


class MqttRequests:
    """The bridge's ``on_request``: one request document in, one answer document out."""

    def __init__(self, reads: OnDemandReads, clocks: ClockChecks) -> None:
        self._reads = reads
        self._clocks = clocks

    async def __call__(
        self, request: Mapping[str, Any], requester: str = "mqtt"
    ) -> Mapping[str, Any]:
        """Raises ``ValueError`` naming the field for a request it cannot run; the bridge turns
        that into an error answer."""
        user = f"mqtt:{requester}"
        action = request.get("action")
        meter = request.get("meter")
        if not isinstance(meter, str):
            raise ValueError("request needs a 'meter' (text)")
        if action == "read":
            quantities = request.get("quantities")
            if quantities is not None and not (
                isinstance(quantities, list) and all(isinstance(q, str) for q in quantities)
            ):
                raise ValueError("'quantities' must be a list of quantity names")
            readings = await self._reads.read_now(meter, quantities, lane=Lane.BILLING)
            return {"readings": [reading_to_json(r) for r in readings]}
        if action == "clock":
            drift = await self._clocks.check_clock(meter, user=user, lane=Lane.BILLING)
            return {"drift_seconds": drift}
        raise ValueError(f"unknown action {action!r} (read, clock)")
